"""The seven figures: each measures its targets side by side, run after run."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar, final

from ._clients import HTTPX_SSE, READERS
from ._idle import open_idle_streams
from ._load import HttpConnection, StreamResult, action_body
from ._procs import ServerProcess
from ._results import Figure, quantile
from ._targets import ASYNCIO, TRIO, Servers, Target, stream_once

__all__ = ["AINATIVE_OPENAI", "AINATIVE_SSE", "FULL", "SMOKE", "Bench", "Sizes"]

T = TypeVar("T")

AINATIVE_SSE = Target("ainative SSE", "ainative")
AINATIVE_WS = Target("ainative WS", "ainative", transport="ws")
AINATIVE_WS_BATCHED = Target("ainative WS, batched frames", "ainative", transport="ws-batch")
"""The same socket asking for frames of several events (``?batch=1``)."""
AINATIVE_OPENAI = Target("ainative OpenAI API", "ainative", transport="openai")
"""The same server's ``POST /v1/chat/completions`` (streamed), beside its ``/ai/stream``."""
NAIVE = Target("naive", "naive")
SSE_STARLETTE = Target("sse-starlette", "sse-starlette")
RAW1 = Target("raw1", "raw1")
RAW1_WS = Target("raw1 WS", "raw1", transport="ws")
RAW_BATCHED = Target("raw-batched", "raw-batched")
PEERS = [NAIVE, SSE_STARLETTE, RAW1, RAW_BATCHED, RAW1_WS]
SMALL_PEERS = [NAIVE, SSE_STARLETTE, RAW1, RAW1_WS]
ECHO_IN_PROCESS = "echo provider in-process (no server)"
# A warm-up stream takes both paths (instant and paced), so lazy imports and first-call
# costs (anyio's backend for sleep, ...) are paid before any measurement.
WARM_UP = {**action_body(3), "options": {"tokens": 3, "delay": 0.001}}


@final
@dataclass(frozen=True)
class Sizes:
    """How big each figure's load is."""

    single_tokens: int
    paced_streams: int
    paced_tokens: int
    paced_delay: float
    ttft_requests: int
    resume_events: int
    idle_counts: tuple[int, ...]
    client_tokens: int
    trio_single_tokens: int


FULL = Sizes(
    single_tokens=100_000,
    paced_streams=200,
    paced_tokens=100,
    paced_delay=0.020,
    ttft_requests=200,
    resume_events=10_000,
    idle_counts=(1_000, 5_000),
    client_tokens=100_000,
    trio_single_tokens=100_000,
)
SMOKE = Sizes(
    single_tokens=500,
    paced_streams=5,
    paced_tokens=5,
    paced_delay=0.005,
    ttft_requests=3,
    resume_events=100,
    idle_counts=(100,),
    client_tokens=500,
    trio_single_tokens=500,
)


def _us(seconds: float) -> float:
    return seconds * 1e6


@final
class Bench:
    """Runs figures on one event loop (uvloop when installed) in this process."""

    def __init__(self, sizes: Sizes, runs: int, *, with_ainative: bool, log: Callable[[str], None]):
        self.sizes = sizes
        self.runs = runs
        self.with_ainative = with_ainative
        self.log = log
        self._pool = Servers()
        try:
            import uvloop

            self._runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
            self.loop_name = f"uvloop {metadata.version('uvloop')}"
        except ImportError:
            self._runner = asyncio.Runner()
            self.loop_name = "asyncio"

    def start_servers(self, names: list[str]) -> None:
        """Start, all at once, the shared servers the named figures use (not figure 5's)."""
        shared = set(names) - {"figure5", "pipeline", "abuse"}
        targets = [*self._targets(AINATIVE_SSE, peers=PEERS)] if shared else []
        if "figure7" in names:
            targets += self._trio_targets()
        self._pool.start(targets)

    def close(self) -> None:
        try:
            self._pool.close()
        finally:
            self._runner.close()

    def proc(self, target: Target) -> ServerProcess:
        """The shared server of a target (started now if `start_servers` did not)."""
        return self._pool.get(target)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def _targets(self, *ainative: Target, peers: list[Target]) -> list[Target]:
        return [*(ainative if self.with_ainative else ()), *peers]

    def _check(self, target: Target, result: StreamResult, expected: int) -> None:
        if result.tokens != expected:
            raise RuntimeError(f"{target.label}: {result.tokens} tokens, expected {expected}")

    # Figure 1 ---------------------------------------------------------------------------

    def _single(self, target: Target, proc: ServerProcess, tokens: int) -> tuple[float, float]:
        """``(tokens/s, server CPU µs per token)`` of one instant stream."""
        body = action_body(tokens)
        before = proc.cpu_seconds()
        result = self.run(stream_once(target, proc.port, body))
        time.sleep(0.05)
        cpu = proc.cpu_seconds() - before
        self._check(target, result, tokens)
        return tokens / result.seconds, _us(cpu) / tokens

    def single_stream(
        self,
        targets: list[Target] | None = None,
        tokens: int | None = None,
        key: str = "figure1",
        title: str = "",
    ) -> Figure:
        tokens = tokens or self.sizes.single_tokens
        targets = targets or self._targets(
            AINATIVE_SSE, AINATIVE_WS, AINATIVE_WS_BATCHED, AINATIVE_OPENAI, peers=PEERS
        )
        figure = Figure(
            key,
            title or "Single-stream throughput",
            f"One stream of {tokens:,} tokens from an instant producer, read by the raw byte "
            "reader. 'ainative OpenAI API' is the same server streaming the same echo tokens "
            "as chat.completion.chunk objects (POST /v1/chat/completions, stream: true). "
            "'ainative WS, batched frames': the same socket asking for frames of several "
            "events (?batch=1).",
            ["tokens/s", "server CPU µs/token", "vs naive (tokens/s)"],
            {"tokens/s": ",.0f", "server CPU µs/token": ".2f", "vs naive (tokens/s)": ".2f"},
        )
        for target in targets:
            self.run(stream_once(target, self.proc(target).port, WARM_UP))
            self.run(stream_once(target, self.proc(target).port, action_body(1_000)))
        for run in range(self.runs):
            self.log(f"{key} run {run + 1}/{self.runs}")
            for target in targets:
                rate, cpu = self._single(target, self.proc(target), tokens)
                row = figure.row(target.label)
                row.add("tokens/s", rate)
                row.add("server CPU µs/token", cpu)
            if figure.find(ECHO_IN_PROCESS) is not None or key == "figure1":
                rate, cpu = self.run(_echo_in_process(tokens))
                row = figure.row(ECHO_IN_PROCESS)
                row.add("tokens/s", rate)
                row.add("server CPU µs/token", cpu)
        _ratio_column(figure, "vs naive (tokens/s)", "tokens/s", NAIVE.label)
        return figure

    # Figure 2 ---------------------------------------------------------------------------

    def _paced(self, target: Target, proc: ServerProcess) -> tuple[float, float, float]:
        sizes = self.sizes
        body = action_body(sizes.paced_tokens, sizes.paced_delay)

        async def load() -> list[StreamResult]:
            tasks = [
                stream_once(target, proc.port, body, record_gaps=True)
                for _ in range(sizes.paced_streams)
            ]
            return list(await asyncio.gather(*tasks))

        before = proc.cpu_seconds()
        results = self.run(load())
        time.sleep(0.05)
        cpu = proc.cpu_seconds() - before
        total = 0
        extra: list[float] = []
        for result in results:
            self._check(target, result, sizes.paced_tokens)
            total += result.tokens
            extra.extend(gap - sizes.paced_delay for gap in result.gaps)
        return _us(cpu) / total, quantile(extra, 0.5) * 1e3, quantile(extra, 0.99) * 1e3

    def paced_load(
        self, targets: list[Target] | None = None, key: str = "figure2", title: str = ""
    ) -> Figure:
        sizes = self.sizes
        targets = targets or self._targets(
            AINATIVE_SSE, AINATIVE_WS, AINATIVE_WS_BATCHED, AINATIVE_OPENAI, peers=PEERS
        )
        figure = Figure(
            key,
            title or "Paced load",
            f"{sizes.paced_streams} concurrent streams of {sizes.paced_tokens} tokens at "
            f"{sizes.paced_delay * 1e3:g} ms per token, one connection each, all started at once "
            "by tasks of the load process (which shares the machine's cores with the server). "
            "Extra delay = gap between two tokens seen by the client minus the pacing. "
            "'ainative OpenAI API': the same streams as chat.completion.chunk objects "
            "(POST /v1/chat/completions); 'ainative WS, batched frames': WebSockets asking "
            "for frames of several events (?batch=1).",
            ["server CPU µs/token", "p50 extra delay ms", "p99 extra delay ms", "vs raw1 (CPU)"],
            {
                "server CPU µs/token": ".1f",
                "p50 extra delay ms": ".2f",
                "p99 extra delay ms": ".2f",
                "vs raw1 (CPU)": ".2f",
            },
        )
        for target in targets:
            self.run(stream_once(target, self.proc(target).port, WARM_UP))
        for run in range(self.runs):
            self.log(f"{key} run {run + 1}/{self.runs}")
            for target in targets:
                cpu, p50, p99 = self._paced(target, self.proc(target))
                row = figure.row(target.label)
                row.add("server CPU µs/token", cpu)
                row.add("p50 extra delay ms", p50)
                row.add("p99 extra delay ms", p99)
        _ratio_column(figure, "vs raw1 (CPU)", "server CPU µs/token", RAW1.label)
        return figure

    # Figure 3 ---------------------------------------------------------------------------

    def first_token(self) -> Figure:
        count = self.sizes.ttft_requests
        targets = self._targets(
            AINATIVE_SSE, AINATIVE_WS, peers=[NAIVE, SSE_STARLETTE, RAW1, RAW1_WS]
        )
        figure = Figure(
            "figure3",
            "Time to first token",
            f"{count} sequential requests of 5 tokens on one kept-alive connection per server "
            "(one WebSocket for WS): request sent → first token byte. The in-process row calls "
            "the echo provider directly (open_stream → first text event); 'added' is a server's "
            "p50 minus the in-process p50 of the same run.",
            ["p50 ms", "p99 ms", "added by the server p50 ms"],
            {"p50 ms": ".3f", "p99 ms": ".3f", "added by the server p50 ms": ".3f"},
        )
        for run in range(self.runs):
            self.log(f"figure3 run {run + 1}/{self.runs}")
            base = self.run(_echo_first_token(count))
            row = figure.row(ECHO_IN_PROCESS)
            row.add("p50 ms", quantile(base, 0.5) * 1e3)
            row.add("p99 ms", quantile(base, 0.99) * 1e3)
            row.add("added by the server p50 ms", 0.0)
            for target in targets:
                times = self.run(_server_first_token(target, self.proc(target).port, count))
                row = figure.row(target.label)
                p50 = quantile(times, 0.5)
                row.add("p50 ms", p50 * 1e3)
                row.add("p99 ms", quantile(times, 0.99) * 1e3)
                row.add("added by the server p50 ms", (p50 - quantile(base, 0.5)) * 1e3)
        return figure

    # Figure 4 ---------------------------------------------------------------------------

    def resume(self) -> Figure:
        events = self.sizes.resume_events
        figure = Figure(
            "figure4",
            "Resume",
            f"Fresh: start a stream of {events:,} tokens and read it to the end (SSE: POST; WS: "
            "the ActionRequest frame). Replay: POST the same stream, drop the connection after "
            "the response head, wait until the producer has finished, then reconnect from "
            "event 1 (after the metadata event) and read the "
            f"{events:,} missed tokens to the end (SSE: GET /ai/stream/<id> with "
            'Last-Event-ID: 1; WS: {"type":"resume","stream_id":…,"last_event_id":1}).',
            ["ms", "events/s", "server CPU µs/event", "replay ÷ fresh (time)"],
            {
                "ms": ".1f",
                "events/s": ",.0f",
                "server CPU µs/event": ".2f",
                "replay ÷ fresh (time)": ".2f",
            },
        )
        if not self.with_ainative:
            return figure
        proc = self.proc(AINATIVE_SSE)
        self.run(stream_once(AINATIVE_SSE, proc.port, WARM_UP))
        self.run(stream_once(AINATIVE_SSE, proc.port, action_body(100)))
        for run in range(self.runs):
            self.log(f"figure4 run {run + 1}/{self.runs}")
            for target in (AINATIVE_SSE, AINATIVE_WS):
                before = proc.cpu_seconds()
                fresh = self.run(stream_once(target, proc.port, action_body(events)))
                time.sleep(0.05)
                fresh_cpu = proc.cpu_seconds() - before
                self._check(target, fresh, events)
                stream_id = self.run(_start_and_drop(proc.port, events))
                time.sleep(max(0.2, 3 * fresh.seconds))
                before = proc.cpu_seconds()
                replay = self.run(_replay(proc.port, stream_id, target.transport))
                time.sleep(0.05)
                replay_cpu = proc.cpu_seconds() - before
                self._check(target, replay, events)
                transport = target.transport.upper()
                for label, result, cpu in (
                    (f"fresh stream ({transport})", fresh, fresh_cpu),
                    (f"replay after reconnect ({transport})", replay, replay_cpu),
                ):
                    row = figure.row(label)
                    row.add("ms", result.seconds * 1e3)
                    row.add("events/s", events / result.seconds)
                    row.add("server CPU µs/event", _us(cpu) / events)
                figure.row(f"replay after reconnect ({transport})").add(
                    "replay ÷ fresh (time)", replay.seconds / fresh.seconds
                )
        return figure

    # Figure 5 ---------------------------------------------------------------------------

    def memory(self) -> Figure:
        counts = self.sizes.idle_counts
        targets = self._targets(
            AINATIVE_SSE, AINATIVE_WS, peers=[NAIVE, SSE_STARLETTE, RAW1, RAW1_WS]
        )
        columns = [f"KiB/stream @{n:,}" for n in counts]
        ratios = [f"vs naive @{n:,}" for n in counts]
        figure = Figure(
            "figure5",
            "Memory per idle open stream",
            "A fresh server process per server and size; after one short warm-up stream, N "
            "idle streams are opened (echo with a one-hour delay per token, so no token comes; "
            "SSE: the POST written, WS: the ActionRequest frame sent; 64 opening at a time) and "
            "held; once the server is idle (under 1 % CPU over 0.5 s: every request read and its "
            "stream started), growth = (VmRSS with N open - VmRSS before) / N.",
            [*columns, *ratios],
            {**dict.fromkeys(columns, ",.1f"), **dict.fromkeys(ratios, ".2f")},
        )
        for run in range(self.runs):
            for count in counts:
                self.log(f"figure5 run {run + 1}/{self.runs}, {count:,} streams")
                with Servers(separate=True) as servers:
                    servers.start(targets)
                    for target in targets:
                        proc = servers.get(target)
                        self.run(stream_once(target, proc.port, WARM_UP))
                        time.sleep(0.2)
                        base = proc.rss_bytes()
                        opened, rss, error = self.run(open_idle_streams(target, proc, count))
                        if error is not None:
                            figure.notes.append(
                                f"{target.label}: only {opened:,} of {count:,} streams opened "
                                f"({error})."
                            )
                            continue
                        figure.row(target.label).add(
                            f"KiB/stream @{count:,}", (rss - base) / count / 1024
                        )
        for count in counts:
            _ratio_column(figure, f"vs naive @{count:,}", f"KiB/stream @{count:,}", NAIVE.label)
        return figure

    # Figure 6 ---------------------------------------------------------------------------

    def client(self) -> Figure:
        tokens = self.sizes.client_tokens
        figure = Figure(
            "figure6",
            "Client delivery",
            f"One instant stream of {tokens:,} tokens read by each client in the load process "
            "until every token has reached the application code (client CPU = this process's "
            "CPU time during the read). Source 'ainative': the ainative server (SSE). Source "
            "'fast': the raw-batched peer, same wire format at over a million tokens/s, so "
            "that the client, not the server, is the bottleneck; the goal is judged there.",
            ["tokens/s", "client CPU µs/token", "vs httpx-sse (tokens/s)"],
            {"tokens/s": ",.0f", "client CPU µs/token": ".2f", "vs httpx-sse (tokens/s)": ".2f"},
        )
        if not self.with_ainative:
            return figure
        sources = {
            "ainative": self.proc(AINATIVE_SSE).base_url,
            "fast": self.proc(RAW_BATCHED).base_url,
        }
        for url in sources.values():
            for reader in READERS.values():
                self.run(reader(url, 1_000))
        for run in range(self.runs):
            self.log(f"figure6 run {run + 1}/{self.runs}")
            for source, url in sources.items():
                for label, reader in READERS.items():
                    gc.collect()
                    cpu0, start = time.process_time(), time.perf_counter()
                    got = self.run(reader(url, tokens))
                    seconds = time.perf_counter() - start
                    cpu = time.process_time() - cpu0
                    if got != tokens:
                        raise RuntimeError(f"{label}: {got} tokens, expected {tokens}")
                    row = figure.row(f"{label} ({source})")
                    row.add("tokens/s", tokens / seconds)
                    row.add("client CPU µs/token", _us(cpu) / tokens)
        for source in sources:
            reference = f"{HTTPX_SSE} ({source})"
            for label in READERS:
                name = f"{label} ({source})"
                for value in figure.ratios("tokens/s", name, reference):
                    figure.row(name).add("vs httpx-sse (tokens/s)", value)
        return figure

    # Figure 7 ---------------------------------------------------------------------------

    def _trio_targets(self) -> list[Target]:
        ainative = [
            Target("ainative SSE, Hypercorn-trio", "ainative", TRIO),
            Target("ainative WS, Hypercorn-trio", "ainative", TRIO, "ws"),
            Target("ainative SSE, uvicorn-asyncio", "ainative", ASYNCIO),
            Target("ainative WS, uvicorn-asyncio", "ainative", ASYNCIO, "ws"),
        ]
        return [
            *(ainative if self.with_ainative else []),
            Target("naive, Hypercorn-trio", "naive", TRIO),
            Target("naive", "naive", ASYNCIO),
            Target("raw1, Hypercorn-trio", "raw1", TRIO),
            Target("raw1", "raw1", ASYNCIO),
        ]

    def trio(self) -> tuple[Figure, Figure]:
        on_trio = self._trio_targets()
        single = self.single_stream(
            on_trio, self.sizes.trio_single_tokens, "figure7a", "Trio: single-stream throughput"
        )
        paced = self.paced_load(on_trio, "figure7b", "Trio: paced load")
        return single, paced


def _ratio_column(figure: Figure, column: str, source: str, reference: str) -> None:
    for row in figure.rows:
        for value in figure.ratios(source, row.label, reference):
            row.add(column, value)


async def _echo_in_process(tokens: int) -> tuple[float, float]:
    from ainative_core import EchoProvider, build_request, open_stream

    provider = EchoProvider()
    cpu0, start = time.process_time(), time.perf_counter()
    count = 0
    async with open_stream(provider, build_request(prompt="x", tokens=tokens)) as events:
        async for event in events:
            if event.type == "text":
                count += 1
    seconds = time.perf_counter() - start
    return count / seconds, _us(time.process_time() - cpu0) / count


async def _echo_first_token(count: int) -> list[float]:
    from ainative_core import EchoProvider, build_request, open_stream

    provider = EchoProvider()
    times: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        async with open_stream(provider, build_request(prompt="x", tokens=5)) as events:
            async for event in events:
                if event.type == "text" and len(times) < count:
                    times.append(time.perf_counter() - start)
                    break
    return times


async def _server_first_token(target: Target, port: int, count: int) -> list[float]:
    body = action_body(5)
    times: list[float] = []
    if target.transport == "ws":
        from websockets.asyncio.client import connect

        from ._load import ws_read

        async with connect(
            f"ws://127.0.0.1:{port}/ai/ws", compression=None, max_size=None, ping_interval=None
        ) as ws:
            for _ in range(count + 1):
                result = await ws_read(ws, body)
                times.append(result.ttft)
        return times[1:]
    async with HttpConnection(port) as conn:
        for _ in range(count + 1):
            result = await conn.stream("POST", "/ai/stream", body)
            times.append(result.ttft)
    return times[1:]


async def _start_and_drop(port: int, events: int) -> str:
    async with HttpConnection(port) as conn:
        # A client that resumes says so: its drop then leaves the run to finish.
        head = await conn.send_request(
            "POST", "/ai/stream", action_body(events), {"x-ainative-resumable": "1"}
        )
    return head.headers["x-ainative-stream-id"]


async def _replay(port: int, stream_id: str, transport: str) -> StreamResult:
    if transport == "ws":
        from websockets.asyncio.client import connect

        from ._load import ws_read

        frame = {"type": "resume", "stream_id": stream_id, "last_event_id": 1}
        async with connect(
            f"ws://127.0.0.1:{port}/ai/ws", compression=None, max_size=None, ping_interval=None
        ) as ws:
            return await ws_read(ws, frame)
    async with HttpConnection(port) as conn:
        return await conn.stream("GET", f"/ai/stream/{stream_id}", headers={"last-event-id": "1"})
