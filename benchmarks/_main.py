"""The benchmark runner: argument parsing, the figures in order, goals, the report."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ._abuse import ABUSE_FULL, ABUSE_SMOKE, abuse_figures
from ._figures import AINATIVE_OPENAI, AINATIVE_SSE, ECHO_IN_PROCESS, FULL, SMOKE, Bench
from ._pipeline import PIPELINE_FULL, PIPELINE_SMOKE, Pipeline, pipeline_goals
from ._plot import points_from_goals, render_svg
from ._procs import STARTED, raise_fd_limit
from ._redis import redis_figures
from ._report import busy_seconds, machine, render, versions
from ._results import Figure, Goal
from ._targets import ainative_missing_reason

__all__ = ["FIGURES", "goals_for", "main"]

FIGURES = [
    "figure1",
    "figure2",
    "figure3",
    "figure4",
    "figure5",
    "figure6",
    "figure7",
    "figure8",
    "pipeline",
    "abuse",
]
FD_LIMIT = 20_000
_ANALYSIS = Path(__file__).with_name("analysis.md")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark ainative beside its peers and write docs/benchmarks.md.",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check the runner works")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (3; smoke: 1)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated figures to run, e.g. figure1,figure3 (or 1,3), pipeline or "
        "abuse; "
        "default: all",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="the Markdown report, its plot in images/benchmarks.svg beside it "
        "(default: docs/benchmarks.md; with --smoke, a temporary directory, so that a smoke "
        "run never overwrites the committed figures)",
    )
    parser.add_argument("--json", default=None, help="also write the raw per-run values here")
    parser.add_argument(
        "--litellm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="install and measure LiteLLM's proxy in the pipeline figures (default: not on "
        "--smoke)",
    )
    args = parser.parse_args(argv)
    only = [part.strip() for part in args.only.split(",") if part.strip()]
    only = [f"figure{part}" if part.isdigit() else part for part in only]
    unknown = sorted(set(only) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figures: {', '.join(unknown)} (choose from {', '.join(FIGURES)})")
    args.only = only or FIGURES
    if args.output is None:
        args.output = (
            str(Path(tempfile.mkdtemp(prefix="ainative-bench-")) / "benchmarks.md")
            if args.smoke
            else "docs/benchmarks.md"
        )
    if args.runs is None:
        args.runs = 1 if args.smoke else 3
    if args.litellm is None:
        args.litellm = not args.smoke
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _goal(
    figures: dict[str, Figure],
    text: str,
    ratio_text: str,
    threshold: float,
    direction: str,
    key: str,
    column: str,
    label: str,
) -> Goal:
    goal = Goal(text, ratio_text, threshold, "min" if direction == "min" else "max")
    figure = figures.get(key)
    if figure is not None:
        row = figure.find(label)
        if row is not None:
            goal.ratios = list(row.values.get(column, []))
    return goal


def goals_for(
    figures: dict[str, Figure], idle_counts: tuple[int, ...], litellm_missing: str = ""
) -> list[Goal]:
    """The issue's goals, each read from the ratio column of its figure."""
    goals = [
        _goal(
            figures,
            "Single-stream throughput ≥ 5x naive (SSE)",
            "ainative SSE ÷ naive",
            5.0,
            "min",
            "figure1",
            "vs naive (tokens/s)",
            "ainative SSE",
        ),
        _goal(
            figures,
            "Single-stream throughput ≥ 5x naive (WS)",
            "ainative WS ÷ naive",
            5.0,
            "min",
            "figure1",
            "vs naive (tokens/s)",
            "ainative WS",
        ),
        _goal(
            figures,
            "Paced load server CPU/token ≤ 1.2x raw1 (SSE)",
            "ainative SSE ÷ raw1",
            1.2,
            "max",
            "figure2",
            "vs raw1 (CPU)",
            "ainative SSE",
        ),
        _goal(
            figures,
            "Paced load server CPU/token ≤ 1.2x raw1 (WS, vs raw1 over WS)",
            "ainative WS ÷ raw1 WS",
            1.2,
            "max",
            "figure2",
            "vs raw1 (CPU)",
            "ainative WS",
        ),
        _goal(
            figures,
            "Paced load server CPU/token of the OpenAI API ≤ 1.2x /ai/stream",
            "/v1/chat/completions ÷ /ai/stream (SSE)",
            1.2,
            "max",
            "figure2",
            "server CPU µs/token",
            AINATIVE_OPENAI.label,
        ),
        _goal(
            figures,
            "Resume replay no slower than fresh (SSE)",
            "replay time ÷ fresh time",
            1.0,
            "max",
            "figure4",
            "replay ÷ fresh (time)",
            "replay after reconnect (SSE)",
        ),
        _goal(
            figures,
            "Resume replay no slower than fresh (WS)",
            "replay time ÷ fresh time",
            1.0,
            "max",
            "figure4",
            "replay ÷ fresh (time)",
            "replay after reconnect (WS)",
        ),
    ]
    for count in idle_counts:
        for transport in ("SSE", "WS"):
            goals.append(
                _goal(
                    figures,
                    f"RSS per idle stream ≤ 1.5x naive at {count:,} ({transport})",
                    f"ainative {transport} ÷ naive",
                    1.5,
                    "max",
                    "figure5",
                    f"vs naive @{count:,}",
                    f"ainative {transport}",
                )
            )
    goals.append(
        _goal(
            figures,
            "Client delivery ≥ 2x httpx-sse",
            "ainative client ÷ httpx-sse",
            2.0,
            "min",
            "figure6",
            "vs httpx-sse (tokens/s)",
            "ainative client stream_text (fast)",
        )
    )
    goals += [
        _goal(
            figures,
            "Paced load server CPU/token with the Redis store ≤ 1.5x in-memory (SSE)",
            "Redis store ÷ memory store",
            1.5,
            "max",
            "figure8a",
            "paced CPU ÷ memory",
            "ainative SSE, Redis store",
        ),
        _goal(
            figures,
            "Redis round trips per token ≤ 1 under paced load",
            "round trips ÷ tokens",
            1.0,
            "max",
            "figure8a",
            "Redis round trips/token (paced)",
            "ainative SSE, Redis store",
        ),
        _goal(
            figures,
            "Resume from another replica no slower than fresh (SSE)",
            "replay from B ÷ fresh on A (time)",
            1.0,
            "max",
            "figure8b",
            "replay ÷ fresh (time)",
            "replay from B (SSE)",
        ),
        _goal(
            figures,
            "Resume from another replica no slower than fresh (WS)",
            "replay from B ÷ fresh on A (time)",
            1.0,
            "max",
            "figure8b",
            "replay ÷ fresh (time)",
            "replay from B (WS)",
        ),
        _goal(
            figures,
            "Cancel across replicas ≤ 100 ms at p99",
            "p99 ms ÷ 100 ms",
            1.0,
            "max",
            "figure8b",
            "p99 ms",
            "DELETE on B → A's stream ended",
        ),
    ]
    cancel = figures.get("figure8b")
    if cancel is not None:
        row = cancel.find("DELETE on B → A's stream ended")
        goals[-1].ratios = [v / 100 for v in row.values.get("p99 ms", [])] if row else []
    paced = figures.get("figure2")
    if paced is not None:
        # Over WebSocket the ceiling is raw1's WebSocket endpoint, not its SSE one.
        goals[3].ratios = paced.ratios("server CPU µs/token", "ainative WS", "raw1 WS")
        # The compatibility layer against the native protocol of the same server.
        goals[4].ratios = paced.ratios(
            "server CPU µs/token", AINATIVE_OPENAI.label, AINATIVE_SSE.label
        )
    _add_notes(figures, goals)
    goals.extend(_echo_goals(figures))
    goals.extend(pipeline_goals(figures, litellm_missing))
    return goals


def _echo_goals(figures: dict[str, Figure]) -> list[Goal]:
    """The pipeline issue's goals for the echo figures: per-run ratios of two rows of the
    same figure (side by side in one run)."""
    single, paced = figures.get("figure1"), figures.get("figure2")
    specs = [
        (
            "Echo single stream, WS with our clients' batched frames ≥ 1.0x naive",
            single,
            "tokens/s",
            "ainative WS, batched frames",
            "naive",
            1.0,
            "min",
        ),
        (
            "Echo single stream, WS one event per frame (the seed's) ≥ 1.0x naive",
            single,
            "tokens/s",
            "ainative WS",
            "naive",
            1.0,
            "min",
        ),
        (
            "Echo paced, server CPU/token ≤ 1.0x naive (SSE)",
            paced,
            "server CPU µs/token",
            "ainative SSE",
            "naive",
            1.0,
            "max",
        ),
        (
            "Echo paced, p99 extra delay ≤ 2x naive's (SSE)",
            paced,
            "p99 extra delay ms",
            "ainative SSE",
            "naive",
            2.0,
            "max",
        ),
        (
            "Echo paced, server CPU/token ≤ 1.5x raw1 (SSE, stretch)",
            paced,
            "server CPU µs/token",
            "ainative SSE",
            "raw1",
            1.5,
            "max",
        ),
        (
            "Echo paced WS, server CPU/token ≤ 1.5x raw1 WS",
            paced,
            "server CPU µs/token",
            "ainative WS",
            "raw1 WS",
            1.5,
            "max",
        ),
    ]
    goals = []
    for text, figure, column, numerator, denominator, threshold, direction in specs:
        goal = Goal(
            text,
            f"{numerator} ÷ {denominator} ({column})",
            threshold,
            "min" if direction == "min" else "max",
        )
        if figure is not None:
            goal.ratios = figure.ratios(column, numerator, denominator)
        goals.append(goal)
    return goals


def _runs(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def _add_notes(figures: dict[str, Figure], goals: list[Goal]) -> None:
    """Context a reader needs to judge a goal, computed from the same runs."""
    by_text = {goal.text: goal for goal in goals}
    single = figures.get("figure1")
    throughput = by_text.get("Single-stream throughput ≥ 5x naive (SSE)")
    echo = single.find(ECHO_IN_PROCESS) if single is not None else None
    if single is not None and throughput is not None and echo is not None:
        bound = single.ratios("server CPU µs/token", "naive", ECHO_IN_PROCESS)
        echo_cpu = statistics.median(echo.values["server CPU µs/token"])
        throughput.note = (
            f"the echo provider alone (in-process, no server) costs {echo_cpu:.2f} µs/token "
            "and every ainative token passes through it, so the best ratio a server using it "
            f"can reach is naive's CPU/token ÷ the provider's: {_runs(bound)} per run"
        )
    paced = figures.get("figure2")
    cpu = by_text.get("Paced load server CPU/token ≤ 1.2x raw1 (SSE)")
    if paced is not None and cpu is not None:
        parts = []
        for peer in ("naive", "sse-starlette"):
            ratios = paced.ratios("server CPU µs/token", "ainative SSE", peer)
            if ratios:
                parts.append(f"ainative SSE ÷ {peer} (CPU): {_runs(ratios)}")
        cpu.note = "; ".join(parts)


def _method(bench: Bench, missing: str | None) -> list[str]:
    items = [
        "Each server runs in its own process on 127.0.0.1 on a free port, started by the "
        "runner (`python -m benchmarks._serve`: uvicorn with its defaults for asyncio — uvloop "
        "and httptools when installed —, Hypercorn for trio) and stopped by its pid at the end.",
        "Every server streams the same tokens (`t0`, ` t1`, …) in the same wire format "
        '(`id: N` + `data: {"type":"token",…}` … `done`, `data: [DONE]`) for the same '
        "request body (`options.tokens`, `options.delay`). naive and sse-starlette stream the "
        "echo provider like ainative does (so their producer cost is the same); raw1 and "
        "raw-batched have no provider and, when instant, no await per token: they are the "
        "ceilings of the serving cost alone.",
        f"The load client runs in the runner's process on {bench.loop_name}: a raw HTTP/1.1 "
        "byte reader over asyncio sockets that counts token markers without decoding SSE, and "
        "the `websockets` client (no compression) for WS. The machine has 2 cores: client and "
        "server share them.",
        "Server CPU is the process's CPU-time clock (all threads, nanoseconds: "
        "clock_getcpuclockid + clock_gettime), read before and after each measurement; RSS is "
        "VmRSS from /proc/<pid>/status.",
        "Figure 8 runs its own redis-server (Debian's, persistence off, on a free loopback "
        "port) and stops it by its pid; its version is in the figure's method.",
        "Figures run one after the other; within a figure each run measures every server once, "
        "in the same order, so the ratios of a run are side by side.",
    ]
    if missing:
        items.append(f"ainative was not measured: {missing}.")
    return items


def _own_cpu() -> float:
    """CPU seconds of this process and of its reaped children (the servers, once stopped)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Measure the installation as users run it: with its plugins (the transports are plugins).
    os.environ.pop("AINATIVE_DISABLE_PLUGIN_AUTOLOAD", None)
    # A terminated runner still stops its servers (the `finally` blocks run).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sizes = SMOKE if args.smoke else FULL
    fd_limit = raise_fd_limit(FD_LIMIT)
    missing = ainative_missing_reason()
    start_clock = time.monotonic()

    def log(message: str) -> None:
        elapsed = time.monotonic() - start_clock
        print(f"[{elapsed:7.1f} s] {message}", file=sys.stderr, flush=True)

    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    busy0, own0, wall0 = busy_seconds(), _own_cpu(), time.monotonic()
    machine_info = machine()
    bench = Bench(sizes, args.runs, with_ainative=missing is None, log=log)
    pipeline = Pipeline(
        PIPELINE_SMOKE if args.smoke else PIPELINE_FULL,
        args.runs,
        run=bench.run,
        log=log,
        litellm=args.litellm,
    )
    figures: dict[str, Figure] = {}
    failed = False
    steps: dict[str, Callable[[], list[Figure]]] = {
        "figure1": lambda: [bench.single_stream()],
        "figure2": lambda: [bench.paced_load()],
        "figure3": lambda: [bench.first_token()],
        "figure4": lambda: [bench.resume()],
        "figure5": lambda: [bench.memory()],
        "figure6": lambda: [bench.client()],
        "figure7": lambda: list(bench.trio()),
        "figure8": lambda: redis_figures(bench),
        "pipeline": lambda: list(pipeline.figures()),
        "abuse": lambda: abuse_figures(ABUSE_SMOKE if args.smoke else ABUSE_FULL, log),
    }
    try:
        log("starting the servers …")
        bench.start_servers(args.only)
        for name in args.only:
            log(f"{name} …")
            try:
                for figure in steps[name]():
                    figures[figure.key] = figure
            except Exception:
                failed = True
                log(f"{name} failed:\n{traceback.format_exc()}")
                trace = traceback.format_exc(limit=3)
                figures[name] = Figure(name, f"{name}: failed", f"```\n{trace}```", [])
    finally:
        bench.close()
    if "figure5" in figures and fd_limit < FD_LIMIT:
        figures["figure5"].notes.append(f"open-file limit: {fd_limit}")
    wall = time.monotonic() - wall0
    others = max(0.0, (busy_seconds() - busy0) - (_own_cpu() - own0)) / wall
    goals = goals_for(figures, sizes.idle_counts, pipeline.litellm_missing)
    finished = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    command = "python benchmarks/run.py" + (" " + " ".join(argv) if argv else "")
    if argv is None and sys.argv[1:]:
        command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    text = render(
        figures=list(figures.values()),
        goals=goals,
        machine_info=machine_info,
        versions_info=versions(),
        started=started,
        finished=finished,
        load_after=", ".join(f"{v:.2f}" for v in os.getloadavg()),
        others=f"{others:.2f} cores on average (of {os.cpu_count()}): the machine was "
        + ("quiet" if others < 0.1 else "shared, so the figures carry its noise"),
        command=command,
        runs=args.runs,
        method=_method(bench, missing),
        smoke=args.smoke,
        analysis=_ANALYSIS.read_text() if _ANALYSIS.exists() else "",
    )
    output = Path(args.output)
    if not output.is_absolute():
        output = Path.cwd() / output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    render_svg(points_from_goals(goals), output.parent / "images" / "benchmarks.svg")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "figures": [asdict(f) for f in figures.values()],
                    "goals": [asdict(g) | {"verdict": g.verdict} for g in goals],
                    "server_pids": STARTED,
                },
                indent=1,
            )
        )
    log(f"wrote {output} in {time.monotonic() - start_clock:.0f} s")
    for goal in goals:
        log(f"{goal.verdict:12} {goal.text}")
    return 1 if failed else 0
