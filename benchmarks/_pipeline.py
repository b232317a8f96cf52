"""The pipeline figures: provider plugin → hub → wire, in front of a fake vendor.

Every row reads the same fake upstream (`benchmarks._upstream`, its own process), in the
vendor's own wire format: ainative as users run it (``ainative serve --provider NAME``
pointed at the fake), a naive FastAPI app over the vendor's official SDK
(``benchmarks.peers.naive_<vendor>``), LiteLLM's proxy when it could be installed
(`benchmarks._litellm`), and the upstream read directly by the load client (what every
server adds to).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, final

from ._litellm import LITELLM_VERSION, config_text, environment, install_litellm
from ._load import HttpConnection, StreamResult
from ._procs import ServerProcess
from ._results import Figure, Goal, quantile
from ._upstream import MARK, TOKEN_TEXT, prompt

__all__ = ["PIPELINE_FULL", "PIPELINE_SMOKE", "Pipeline", "PipelineSizes", "pipeline_goals"]

T = TypeVar("T")
Vendor = Literal["openai", "anthropic", "ollama"]
# ``echo``: ainative with its built-in echo provider, no upstream (a reference row).
Source = Literal["openai", "anthropic", "ollama", "echo"]
Kind = Literal["upstream", "ainative", "naive", "litellm"]

VENDORS: Final[tuple[Vendor, ...]] = ("openai", "anthropic", "ollama")
KINDS: Final[tuple[Kind, ...]] = ("upstream", "ainative", "naive", "litellm")
SERVERS: Final[tuple[Kind, ...]] = ("ainative", "naive", "litellm")
PACED: Final = "pipeline-paced"
INSTANT: Final = "pipeline-instant"
TTFT: Final = "pipeline-ttft"
START: Final = "pipeline-start"
_START_TIMEOUT: Final = 180.0
_TTFT_TOKENS: Final = 5

_UPSTREAM_PATHS: Final[dict[Vendor, str]] = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "ollama": "/api/chat",
}
_UPSTREAM_DONE: Final[dict[Vendor, bytes]] = {
    "openai": b"data: [DONE]",
    "anthropic": b'"message_stop"',
    "ollama": b'"done":true',
}


@final
@dataclass(frozen=True)
class PipelineSizes:
    """How big each pipeline figure's load is."""

    paced_streams: int
    paced_tokens: int
    paced_delay: float
    instant_tokens: int
    ttft_requests: int
    start_requests: int


PIPELINE_FULL: Final = PipelineSizes(100, 100, 0.020, 20_000, 100, 10)
PIPELINE_SMOKE: Final = PipelineSizes(3, 5, 0.005, 200, 3, 10)


@final
@dataclass(frozen=True)
class Peer:
    """One row: a server of ``kind`` in front of the fake ``vendor`` (or the fake itself)."""

    kind: Kind
    vendor: Source

    @property
    def label(self) -> str:
        if self.vendor == "echo":
            return "ainative (echo provider, no upstream)"
        names = {"upstream": "upstream direct", "litellm": "LiteLLM"}
        return f"{names.get(self.kind, self.kind)} ({self.vendor})"

    def request(self, tokens: int, delay: float) -> tuple[str, dict[str, Any]]:
        """``(path, JSON body)`` that streams ``tokens`` tokens ``delay`` s apart."""
        # The echo provider echoes the message's words (without pacing).
        words = " ".join([TOKEN_TEXT] * tokens)
        text = words if self.vendor == "echo" else prompt(tokens, delay)
        messages = [{"role": "user", "content": text}]
        if self.kind in ("ainative", "naive"):
            return "/ai/stream", {"action": "chat", "params": {"message": text}}
        if self.kind == "litellm":
            body = {"model": f"bench-{self.vendor}", "messages": messages, "stream": True}
            return "/v1/chat/completions", body
        body = {"model": "bench", "messages": messages, "stream": True, "max_tokens": 1024}
        return _UPSTREAM_PATHS[self.vendor], body  # type: ignore[index]

    @property
    def done_mark(self) -> bytes:
        if self.kind == "upstream":
            return _UPSTREAM_DONE[self.vendor]  # type: ignore[index]
        return b"data: [DONE]"


def label(kind: Kind, vendor: Vendor) -> str:
    return Peer(kind, vendor).label


def _us(seconds: float) -> float:
    return seconds * 1e6


def _ainative_command() -> list[str]:
    script = Path(sys.executable).with_name("ainative")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from ainative_core._cli import main; main()"]


# Installed packages come with their bytecode compiled: a server imports as users' would,
# from cached bytecode (written on its first start when the environment says not to).
_BYTECODE: Final[dict[str, str | None]] = {"PYTHONDONTWRITEBYTECODE": None}
# The load comes from one address at hundreds of requests a second: over ainative's default
# per-client rate limit, which is for clients, not for a benchmark's load generator.
_NO_RATE_LIMIT: Final[dict[str, str | None]] = {"AINATIVE_RATE_LIMIT": "0"}


def _vendor_env(vendor: Source, upstream: str) -> dict[str, str | None]:
    if vendor == "echo":
        found: dict[str, str] = {}
    elif vendor == "openai":
        found = {"OPENAI_BASE_URL": f"{upstream}/v1", "OPENAI_API_KEY": "bench"}
    elif vendor == "anthropic":
        found = {"ANTHROPIC_BASE_URL": upstream, "ANTHROPIC_API_KEY": "bench"}
    else:
        found = {"OLLAMA_HOST": upstream}
    return {**found, **_BYTECODE}


@final
class Pipeline:
    """Runs the pipeline figures; ``run`` and ``log`` are the runner's."""

    def __init__(
        self,
        sizes: PipelineSizes,
        runs: int,
        *,
        run: Callable[[Coroutine[Any, Any, Any]], Any],
        log: Callable[[str], None],
        litellm: bool,
    ) -> None:
        self.sizes = sizes
        self.runs = runs
        self._run = run
        self.log = log
        self._want_litellm = litellm
        self._litellm: Path | None = None
        self.litellm_missing = "" if litellm else "not asked for (--no-litellm, or a smoke run)"
        self._dir = Path(tempfile.mkdtemp(prefix="ainative-pipeline-"))
        self._upstream: ServerProcess | None = None
        self._procs: dict[tuple[Kind, Source], ServerProcess] = {}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        result: T = self._run(coro)
        return result

    # -- processes -------------------------------------------------------------------------

    @property
    def upstream_url(self) -> str:
        if self._upstream is None:
            raise RuntimeError("upstream not started")
        return self._upstream.base_url

    def peers(self) -> list[Peer]:
        kinds = [k for k in KINDS if k != "litellm" or self._litellm is not None]
        return [Peer(kind, vendor) for vendor in VENDORS for kind in kinds]

    def _process(self, peer: Peer) -> ServerProcess:
        upstream = self.upstream_url
        if peer.kind == "ainative":
            provider = "echo" if peer.vendor == "echo" else peer.vendor
            command = [*_ainative_command(), "serve", "--provider", provider]
            command += ["--host", "127.0.0.1", "--port", "{port}", "--no-page"]
            env = {**_vendor_env(peer.vendor, upstream), **_NO_RATE_LIMIT}
            return ServerProcess(f"ainative-{peer.vendor}", command=command, env=env)
        if peer.kind == "naive":
            env = {"BENCH_UPSTREAM": upstream, **_BYTECODE}
            return ServerProcess(f"naive-{peer.vendor}", env=env)
        if self._litellm is None:
            raise RuntimeError("LiteLLM is not installed")
        config = self._dir / "litellm.yaml"
        config.write_text(config_text(upstream))
        command = [str(self._litellm), "--config", str(config), "--host", "127.0.0.1"]
        command += ["--port", "{port}", "--num_workers", "1"]
        return ServerProcess(
            "litellm",
            command=command,
            env={**environment(), **_BYTECODE},
            output=self._dir / "litellm.log",
        )

    def _key(self, peer: Peer) -> tuple[Kind, Source]:
        # One LiteLLM proxy serves the three vendors (one model each).
        return (peer.kind, "openai" if peer.kind == "litellm" else peer.vendor)

    def proc(self, peer: Peer) -> ServerProcess:
        """The server of a row (the upstream for the direct rows)."""
        if peer.kind == "upstream":
            if self._upstream is None:
                raise RuntimeError("upstream not started")
            return self._upstream
        return self._procs[self._key(peer)]

    def start(self) -> None:
        """Install LiteLLM if asked, then start the upstream and every server at once."""
        if self._want_litellm:
            self._litellm, self.litellm_missing = install_litellm(self.log)
        upstream = [sys.executable, "-m", "benchmarks._upstream", "{port}"]
        self._upstream = ServerProcess("upstream", command=upstream).start()
        started = []
        for peer in self.peers():
            key = self._key(peer)
            if peer.kind != "upstream" and key not in self._procs:
                self._procs[key] = proc = self._process(peer)
                started.append(proc.launch())
        for proc in started:
            proc.wait_ready(_START_TIMEOUT)

    def close(self) -> None:
        procs, self._procs = list(self._procs.values()), {}
        if self._upstream is not None:
            procs.append(self._upstream)
            self._upstream = None
        for proc in procs:
            proc.stop()

    # -- streams ---------------------------------------------------------------------------

    async def _stream(
        self,
        peer: Peer,
        conn: HttpConnection,
        tokens: int,
        delay: float = 0.0,
        *,
        record_gaps: bool = False,
    ) -> StreamResult:
        path, body = peer.request(tokens, delay)
        result = await conn.stream(
            "POST", path, body, record_gaps=record_gaps, mark=MARK, done_mark=peer.done_mark
        )
        if result.tokens != tokens:
            raise RuntimeError(f"{peer.label}: {result.tokens} tokens, expected {tokens}")
        return result

    async def _once(
        self, peer: Peer, port: int, tokens: int, delay: float = 0.0, *, record_gaps: bool = False
    ) -> StreamResult:
        async with HttpConnection(port) as conn:
            return await self._stream(peer, conn, tokens, delay, record_gaps=record_gaps)

    def _warm_up(self) -> None:
        for peer in self.peers():
            port = self.proc(peer).port
            self.run(self._once(peer, port, 3, 0.001))
            self.run(self._once(peer, port, 50))

    # -- figures ---------------------------------------------------------------------------

    def figures(self) -> Iterator[Figure]:
        """The four figures; the servers are started before and stopped after them."""
        try:
            self.log("pipeline: starting the upstream and the servers …")
            self.start()
            self._warm_up()
            paced, instant, ttft = self._paced_figure(), self._instant_figure(), self._ttft_figure()
            yield paced
            yield instant
            yield ttft
        finally:
            self.close()
        yield self._start_figure()

    def _note_missing(self, figure: Figure) -> None:
        if self._litellm is None:
            figure.notes.append(
                f"LiteLLM proxy (litellm[proxy]=={LITELLM_VERSION}) not measured: "
                f"{self.litellm_missing}."
            )

    def _paced_figure(self) -> Figure:
        sizes = self.sizes
        figure = Figure(
            PACED,
            "Pipeline: paced load",
            f"{sizes.paced_streams} concurrent streams of {sizes.paced_tokens} tokens, the fake "
            f"upstream sleeping {sizes.paced_delay * 1e3:g} ms before each token, one "
            "connection each, all started at once. Every server is one process in front of the "
            "same fake vendor (its own process, in the vendor's wire format); 'upstream direct' "
            "is the load client reading the fake itself. Time to first token is from the "
            "request sent, under this load; extra delay = gap between two tokens seen by the "
            "client minus the pacing. Upstream CPU is the fake's, per token relayed.",
            [
                "server CPU µs/token",
                "upstream CPU µs/token",
                "TTFT p50 ms",
                "TTFT p99 ms",
                "p50 extra delay ms",
                "p99 extra delay ms",
                "vs naive (CPU)",
                "vs LiteLLM (CPU)",
            ],
            {
                "server CPU µs/token": ".1f",
                "upstream CPU µs/token": ".1f",
                "TTFT p50 ms": ".1f",
                "TTFT p99 ms": ".1f",
                "p50 extra delay ms": ".2f",
                "p99 extra delay ms": ".2f",
                "vs naive (CPU)": ".2f",
                "vs LiteLLM (CPU)": ".2f",
            },
        )
        for number in range(self.runs):
            self.log(f"pipeline paced run {number + 1}/{self.runs}")
            for peer in self.peers():
                self._paced(figure, peer)
        _ratios(figure, "vs naive (CPU)", "server CPU µs/token", "naive")
        _ratios(figure, "vs LiteLLM (CPU)", "server CPU µs/token", "litellm")
        self._note_missing(figure)
        return figure

    def _paced(self, figure: Figure, peer: Peer) -> None:
        sizes = self.sizes
        proc, upstream = self.proc(peer), self.proc(Peer("upstream", peer.vendor))

        async def load() -> list[StreamResult]:
            tasks = [
                self._once(peer, proc.port, sizes.paced_tokens, sizes.paced_delay, record_gaps=True)
                for _ in range(sizes.paced_streams)
            ]
            return list(await asyncio.gather(*tasks))

        before, up_before = proc.cpu_seconds(), upstream.cpu_seconds()
        results = self.run(load())
        time.sleep(0.05)
        cpu, up_cpu = proc.cpu_seconds() - before, upstream.cpu_seconds() - up_before
        total = sum(result.tokens for result in results)
        ttfts = [result.ttft for result in results]
        extra = [gap - sizes.paced_delay for result in results for gap in result.gaps]
        row = figure.row(peer.label)
        if peer.kind != "upstream":
            row.add("server CPU µs/token", _us(cpu) / total)
        row.add("upstream CPU µs/token", _us(up_cpu) / total)
        row.add("TTFT p50 ms", quantile(ttfts, 0.5) * 1e3)
        row.add("TTFT p99 ms", quantile(ttfts, 0.99) * 1e3)
        row.add("p50 extra delay ms", quantile(extra, 0.5) * 1e3)
        row.add("p99 extra delay ms", quantile(extra, 0.99) * 1e3)

    def _instant_figure(self) -> Figure:
        tokens = self.sizes.instant_tokens
        figure = Figure(
            INSTANT,
            "Pipeline: single instant stream",
            f"One stream of {tokens:,} tokens that the fake upstream writes at once (in 64 KiB "
            "writes), relayed by each server to the raw byte reader.",
            ["tokens/s", "server CPU µs/token", "vs naive (CPU)"],
            {"tokens/s": ",.0f", "server CPU µs/token": ".2f", "vs naive (CPU)": ".2f"},
        )
        for number in range(self.runs):
            self.log(f"pipeline instant run {number + 1}/{self.runs}")
            for peer in self.peers():
                proc = self.proc(peer)
                before = proc.cpu_seconds()
                result = self.run(self._once(peer, proc.port, tokens))
                time.sleep(0.05)
                cpu = proc.cpu_seconds() - before
                row = figure.row(peer.label)
                row.add("tokens/s", tokens / result.seconds)
                if peer.kind != "upstream":
                    row.add("server CPU µs/token", _us(cpu) / tokens)
        _ratios(figure, "vs naive (CPU)", "server CPU µs/token", "naive")
        self._note_missing(figure)
        return figure

    def _ttft_figure(self) -> Figure:
        count = self.sizes.ttft_requests
        figure = Figure(
            TTFT,
            "Pipeline: time to first token",
            f"{count} sequential requests of {_TTFT_TOKENS} instant tokens on one kept-alive "
            "connection per server: request sent → first token byte. 'added' is a server's p50 "
            "minus the p50 of the upstream read directly, in the same run.",
            ["p50 ms", "p99 ms", "added by the server p50 ms", "added vs naive"],
            {
                "p50 ms": ".2f",
                "p99 ms": ".2f",
                "added by the server p50 ms": ".2f",
                "added vs naive": ".2f",
            },
        )

        async def times(peer: Peer, port: int) -> list[float]:
            found = []
            async with HttpConnection(port) as conn:
                for _ in range(count + 1):
                    found.append((await self._stream(peer, conn, _TTFT_TOKENS)).ttft)
            return found[1:]

        for number in range(self.runs):
            self.log(f"pipeline time to first token run {number + 1}/{self.runs}")
            base: dict[Source, float] = {}
            for peer in self.peers():
                found = self.run(times(peer, self.proc(peer).port))
                p50 = quantile(found, 0.5)
                base.setdefault(peer.vendor, p50)
                row = figure.row(peer.label)
                row.add("p50 ms", p50 * 1e3)
                row.add("p99 ms", quantile(found, 0.99) * 1e3)
                row.add("added by the server p50 ms", (p50 - base[peer.vendor]) * 1e3)
        _ratios(figure, "added vs naive", "added by the server p50 ms", "naive")
        self._note_missing(figure)
        return figure

    def _start_figure(self) -> Figure:
        count = self.sizes.start_requests
        figure = Figure(
            START,
            "Pipeline: first request after start",
            "Each server in a fresh process of its own, started alone (the fake upstream "
            f"already running): 'ready' is launch → accepting connections; then {count} "
            f"sequential requests of {_TTFT_TOKENS} tokens on one connection, the first and "
            f"the last ({count}th) timed from request sent to first token byte. The echo row "
            "is ainative with its built-in provider: what any first request costs the server "
            "itself, with no provider or upstream to warm.",
            ["ready s", "first TTFT ms", "last TTFT ms", "first ÷ last"],
            {
                "ready s": ".2f",
                "first TTFT ms": ".1f",
                "last TTFT ms": ".2f",
                "first ÷ last": ".2f",
            },
        )
        peers = [peer for peer in self.peers() if peer.kind != "upstream"]
        peers.append(Peer("ainative", "echo"))
        upstream = [sys.executable, "-m", "benchmarks._upstream", "{port}"]
        self._upstream = ServerProcess("upstream", command=upstream).start()
        try:
            for number in range(self.runs):
                self.log(f"pipeline first request run {number + 1}/{self.runs}")
                for peer in peers:
                    self._first_requests(figure, peer, count)
        finally:
            self.close()
        self._note_missing(figure)
        return figure

    def _first_requests(self, figure: Figure, peer: Peer, count: int) -> None:
        proc = self._process(peer)
        launched = time.perf_counter()
        proc.launch()
        try:
            proc.wait_ready(_START_TIMEOUT)
            ready = time.perf_counter() - launched

            async def times() -> list[float]:
                found = []
                async with HttpConnection(proc.port) as conn:
                    for _ in range(count):
                        found.append((await self._stream(peer, conn, _TTFT_TOKENS)).ttft)
                return found

            found = self.run(times())
        finally:
            proc.stop()
        row = figure.row(peer.label)
        row.add("ready s", ready)
        row.add("first TTFT ms", found[0] * 1e3)
        row.add("last TTFT ms", found[-1] * 1e3)
        row.add("first ÷ last", found[0] / found[-1])


def _ratios(figure: Figure, column: str, source: str, kind: Kind) -> None:
    """``column`` of every server row = its ``source`` ÷ the same vendor's ``kind`` row."""
    for vendor in VENDORS:
        for other in SERVERS:
            name = label(other, vendor)
            if other == kind or figure.find(name) is None:
                continue
            for value in figure.ratios(source, name, label(kind, vendor)):
                figure.row(name).add(column, value)


def _goal(
    figures: dict[str, Figure],
    text: str,
    ratio_text: str,
    threshold: float,
    key: str,
    column: str,
    row: str,
) -> Goal:
    goal = Goal(text, ratio_text, threshold, "max")
    figure = figures.get(key)
    found = figure.find(row) if figure is not None else None
    if found is not None:
        goal.ratios = list(found.values.get(column, []))
    return goal


def pipeline_goals(figures: dict[str, Figure], litellm_missing: str = "") -> list[Goal]:
    """The pipeline's goals, each read from a ratio column of its figure."""
    names = {"openai": "OpenAI", "anthropic": "Anthropic", "ollama": "Ollama"}
    goals = []
    for vendor in VENDORS:
        ours = label("ainative", vendor)
        goals.append(
            _goal(
                figures,
                f"Pipeline paced, {names[vendor]} wire: server CPU/token ≤ 0.5x naive + SDK",
                f"{ours} ÷ naive",
                0.5,
                PACED,
                "vs naive (CPU)",
                ours,
            )
        )
        if vendor == "openai":
            litellm = _goal(
                figures,
                "Pipeline paced, OpenAI wire: server CPU/token ≤ 0.2x LiteLLM",
                f"{ours} ÷ LiteLLM",
                0.2,
                PACED,
                "vs LiteLLM (CPU)",
                ours,
            )
            if litellm_missing and not litellm.ratios:
                litellm.note = f"LiteLLM was not measured: {litellm_missing}"
            goals.append(litellm)
    for vendor in VENDORS:
        ours = label("ainative", vendor)
        goals.append(
            _goal(
                figures,
                f"Pipeline time to first token added by the server p50 ≤ naive's ({names[vendor]})",
                f"{ours} added ÷ naive added",
                1.0,
                TTFT,
                "added vs naive",
                ours,
            )
        )
    for vendor in VENDORS:
        ours = label("ainative", vendor)
        goals.append(
            _goal(
                figures,
                f"Pipeline first request after start within 2x the tenth ({names[vendor]})",
                f"{ours} first ÷ tenth",
                2.0,
                START,
                "first ÷ last",
                ours,
            )
        )
    paced = figures.get(PACED)
    if paced is not None:
        cpu_goals: tuple[Vendor, ...] = ("openai", "openai", "anthropic", "ollama")
        for goal, vendor in zip(goals, cpu_goals, strict=False):
            parts = []
            for kind in SERVERS:
                row = paced.find(label(kind, vendor))
                values = row.values.get("server CPU µs/token") if row is not None else None
                if values:
                    parts.append(f"{kind} {statistics.median(values):.1f}")
            if parts and not goal.note:
                goal.note = "server CPU µs/token (median): " + ", ".join(parts)
    return goals
