"""The abuse figures: what clients that misbehave cost ``ainative serve``, on both backends.

Each measurement starts its own ``ainative serve`` process (``--backend asyncio``: uvicorn,
``--backend trio``: Hypercorn) and stops it by its pid: abandoned streams and retention,
a long replay to sockets that do not read, cancels over WebSocket, and ``/health`` while
the ``calculate`` tool is hammered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, final

from ._load import WS_BATCH_QUERY, HttpConnection, action_body
from ._procs import ServerProcess
from ._results import Figure, quantile

__all__ = [
    "ABUSE_FULL",
    "ABUSE_SMOKE",
    "AbuseSizes",
    "abuse_figures",
    "ainative_serve",
    "ws_cancels",
]

BACKENDS: Final = ("asyncio", "trio")
_MIB: Final = 1024 * 1024
EXPENSIVE: Final = "+".join(["7**1400%3**2000"] * 30)
"""An allowed ``calculate`` expression that costs about a millisecond and a half."""


@final
@dataclass(frozen=True)
class AbuseSizes:
    abandoned: int
    retention: float
    replay_events: int
    replay_sockets: int
    cancel_streams: int
    cancel_sockets: int
    attackers: int
    health_probes: int


ABUSE_FULL = AbuseSizes(
    abandoned=3_000,
    retention=5.0,
    replay_events=200_000,
    replay_sockets=100,
    cancel_streams=1_000,
    cancel_sockets=10,
    attackers=20,
    health_probes=400,
)
ABUSE_SMOKE = AbuseSizes(
    abandoned=30,
    retention=1.0,
    replay_events=2_000,
    replay_sockets=5,
    cancel_streams=20,
    cancel_sockets=2,
    attackers=2,
    health_probes=20,
)


def ainative_serve(backend: str, env: dict[str, str] | None = None) -> ServerProcess:
    """``ainative serve`` on ``backend`` in its own process (not started yet); the run caps
    and the rate limits are lifted so that the load, not the caps, is measured."""
    from ._pipeline import _ainative_command

    command = [*_ainative_command(), "serve", "--backend", backend, "--no-page"]
    command += ["--host", "127.0.0.1", "--port", "{port}"]
    caps: dict[str, str | None] = {
        "AINATIVE_MAX_RUNS": "100000",
        "AINATIVE_MAX_RUNS_PER_CLIENT": "100000",
        "AINATIVE_RATE_LIMIT": "0",
        "AINATIVE_WS_MESSAGE_RATE": "0",
        "PYTHONDONTWRITEBYTECODE": None,
    }
    return ServerProcess(
        f"ainative serve ({backend})", command=command, env={**caps, **(env or {})}
    )


async def _get_json(port: int, path: str) -> Any:
    async with HttpConnection(port) as conn:
        result = await conn.send_request("GET", path)
        length = int(result.headers.get("content-length", "0"))
        reader = conn._reader
        assert reader is not None
        return json.loads(await reader.readexactly(length))


async def _active(port: int) -> int:
    health = await _get_json(port, "/health")
    return int(health["active_streams"])


async def _settle(proc: ServerProcess, *, within: float = 60.0) -> None:
    from ._idle import _quiet

    await _quiet(proc, within=within)


# -- abandoned streams ---------------------------------------------------------------------


async def abandoned(proc: ServerProcess, count: int, retention: float) -> dict[str, float]:
    """``count`` SSE streams whose client leaves after the first event; RSS and active
    streams before, right after, and once the runs ended and their logs expired."""
    port = proc.port
    await _settle(proc)
    out = {"rss before MiB": proc.rss_bytes() / _MIB}
    body = action_body(200, 0.05)
    gate = asyncio.Semaphore(64)

    async def leave_after_first() -> None:
        async with gate:
            conn = await HttpConnection(port).open()
            try:
                await conn.send_request("POST", "/ai/stream", body)
                reader = conn._reader
                assert reader is not None
                await reader.readuntil(b"\n\n")
            finally:
                conn.abort()

    results = await asyncio.gather(
        *(leave_after_first() for _ in range(count)), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise RuntimeError(f"{len(failed)} abandoned streams failed, first: {failed[0]!r}")
    out["active right after"] = await _active(port)
    out["rss right after MiB"] = proc.rss_bytes() / _MIB
    for _ in range(480):  # at most 2 minutes
        if not await _active(port):
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(retention + 1.0)
    await _settle(proc)
    out["active after expiry"] = await _active(port)
    out["rss after expiry MiB"] = proc.rss_bytes() / _MIB
    return out


# -- replay to sockets that do not read ----------------------------------------------------


async def replay(proc: ServerProcess, events: int, sockets: int) -> dict[str, float]:
    """A finished log of ``events`` events replayed to ``sockets`` WebSockets that never
    read: server RSS before, at its peak while they hang, and after they left."""
    from websockets.asyncio.client import connect

    port = proc.port
    async with HttpConnection(port) as conn:
        result = await conn.stream("POST", "/ai/stream", action_body(events - 2))
        stream_id = result.headers["x-ainative-stream-id"]
    await _settle(proc)
    before = proc.rss_bytes()
    peak = before
    held = []
    frame = json.dumps({"type": "resume", "stream_id": stream_id, "last_event_id": 0})
    try:
        for _ in range(sockets):
            ws = await connect(
                f"ws://127.0.0.1:{port}/ai/ws",
                compression=None,
                max_size=None,
                ping_interval=None,
                max_queue=1,
            )
            held.append(ws)
            await ws.send(frame)
        cpu = proc.cpu_seconds()
        for _ in range(100):  # until the server is quiet: every socket is full
            await asyncio.sleep(0.1)
            peak = max(peak, proc.rss_bytes())
            now = proc.cpu_seconds()
            if now - cpu < 0.001:
                break
            cpu = now
    finally:
        for ws in held:
            ws.transport.abort()
    await asyncio.sleep(1.0)
    await _settle(proc)
    after = proc.rss_bytes()
    return {
        "rss before MiB": before / _MIB,
        "rss peak MiB": peak / _MIB,
        "rss after MiB": after / _MIB,
        "peak KiB per socket": (peak - before) / sockets / 1024,
    }


# -- /health under a calculator attack -----------------------------------------------------


async def health_under_attack(
    proc: ServerProcess, attackers: int, probes: int
) -> tuple[list[float], list[float], int]:
    """``/health`` latencies (s) when quiet, then while ``attackers`` clients call
    ``calculate`` with `EXPENSIVE` in a loop; and how many calls they made."""
    port = proc.port
    tool = {"tool": "calculate", "arguments": {"expression": EXPENSIVE}}

    async def probe() -> list[float]:
        latencies = []
        async with HttpConnection(port) as conn:
            reader = conn._reader
            assert reader is not None
            for _ in range(probes):
                t0 = time.perf_counter()
                result = await conn.send_request("GET", "/health")
                await reader.readexactly(int(result.headers.get("content-length", "0")))
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.01)
        return latencies

    quiet = await probe()
    stop = asyncio.Event()
    calls = 0

    async def attack() -> None:
        nonlocal calls
        async with HttpConnection(port) as conn:
            reader = conn._reader
            assert reader is not None
            while not stop.is_set():
                result = await conn.send_request("POST", "/ai/tool", tool)
                await reader.readexactly(int(result.headers.get("content-length", "0")))
                if result.status != 200:
                    raise RuntimeError(f"calculate answered {result.status}")
                calls += 1

    tasks = [asyncio.create_task(attack()) for _ in range(attackers)]
    try:
        await asyncio.sleep(0.5)
        loaded = await probe()
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return quiet, loaded, calls


@dataclass
class CancelResult:
    """Cancel frame → ``done`` latencies (seconds) and how the streams ended."""

    latencies: list[float] = field(default_factory=list)
    after_cancel: list[int] = field(default_factory=list)
    """Per stream: events the server logged after the last one the client had seen when
    it sent the cancel (``done``'s id minus that id, minus one)."""
    finished_first: int = 0
    """Streams that ended on their own before the cancel acted."""
    missing: int = 0

    def p(self, q: float) -> float:
        return quantile(self.latencies, q) if self.latencies else float("nan")


async def ws_cancels(
    port: int,
    *,
    streams: int,
    sockets: int,
    tokens: int,
    delay: float,
    warm: float,
    spread: float,
    batch: bool = False,
    within: float = 120.0,
) -> CancelResult:
    """``streams`` paced streams over ``sockets`` WebSockets; once every stream has sent
    an event and ``warm`` seconds passed, one cancel frame per stream, evenly over
    ``spread`` seconds; each latency runs from sending the frame to its stream's ``done``.
    ``batch``: the sockets ask for frames of several events (``?batch=1``)."""
    from websockets.asyncio.client import connect

    body = json.dumps(action_body(tokens, delay))
    per_socket = [streams // sockets + (i < streams % sockets) for i in range(sockets)]
    last_seen: dict[str, int] = {}
    sent_at: dict[str, float] = {}
    seen_at_cancel: dict[str, int] = {}
    result = CancelResult()
    started = asyncio.Event()
    all_done = asyncio.Event()
    ended: set[str] = set()
    owner: dict[str, Any] = {}

    async def read(ws: Any) -> None:
        async for message in ws:
            decoded = json.loads(message)
            for frame in decoded if isinstance(decoded, list) else [decoded]:
                seen(ws, frame)

    def seen(ws: Any, frame: dict[str, Any]) -> None:
        sid = frame.get("stream_id")
        if sid is None:
            return
        if sid not in last_seen:
            owner[sid] = ws
            if len(last_seen) + 1 == streams:
                started.set()
        if frame.get("type") == "done":
            ended.add(sid)
            if sid in sent_at:
                result.latencies.append(time.perf_counter() - sent_at[sid])
                result.after_cancel.append(frame["id"] - seen_at_cancel[sid] - 1)
                if (frame.get("data") or {}).get("finish_reason") != "cancelled":
                    result.finished_first += 1
            else:
                result.finished_first += 1
            if len(ended) == streams:
                all_done.set()
        if "id" in frame:
            last_seen[sid] = frame["id"]

    wss = []
    readers = []
    try:
        for count in per_socket:
            ws = await connect(
                f"ws://127.0.0.1:{port}/ai/ws" + (f"?{WS_BATCH_QUERY}" if batch else ""),
                compression=None,
                max_size=None,
                ping_interval=None,
                max_queue=None,
            )
            wss.append(ws)
            readers.append(asyncio.create_task(read(ws)))
            for _ in range(count):
                await ws.send(body)
        await asyncio.wait_for(started.wait(), within)
        await asyncio.sleep(warm)
        order = list(last_seen)
        gap = spread / len(order)
        t0 = time.perf_counter()
        for i, sid in enumerate(order):
            pause = t0 + i * gap - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            if sid in ended:
                continue
            seen_at_cancel[sid] = last_seen[sid]
            sent_at[sid] = time.perf_counter()
            await owner[sid].send(json.dumps({"type": "cancel", "stream_id": sid}))
        try:
            await asyncio.wait_for(all_done.wait(), within)
        except TimeoutError:
            result.missing = streams - len(ended)
    finally:
        for task in readers:
            task.cancel()
        for ws in wss:
            ws.transport.abort()
        await asyncio.gather(*readers, return_exceptions=True)
    return result


def _load_label(streams: int, sizes: AbuseSizes) -> str:
    return "" if streams == sizes.cancel_streams else f", {streams:,} streams"


# -- the figures ---------------------------------------------------------------------------


def abuse_figures(sizes: AbuseSizes, log: Callable[[str], None]) -> list[Figure]:
    """The four abuse figures, each measured on both backends side by side."""
    abandon = Figure(
        "abuse-abandoned",
        "Abuse: abandoned streams and retention",
        f"{sizes.abandoned:,} SSE streams (200 tokens at 50 ms) whose client reads the "
        "first event and drops the connection (64 at a time), on `ainative serve` with "
        f"`AINATIVE_RESUME_GRACE=1` and `AINATIVE_RETENTION={sizes.retention:g}`. Active "
        "streams are `/health`'s `active_streams`; RSS is the server's, once it is idle. "
        "After expiry: once no stream is active and the retention has passed.",
        [
            "rss before MiB",
            "rss right after MiB",
            "active right after",
            "rss after expiry MiB",
            "active after expiry",
        ],
        {"active right after": ",.0f", "active after expiry": ",.0f"},
    )
    replayed = Figure(
        "abuse-replay",
        "Abuse: a long replay to sockets that do not read",
        f"One finished stream of {sizes.replay_events:,} events, then {sizes.replay_sockets} "
        "WebSockets that each send a resume frame from event 0 and never read (client "
        "queue of one frame, so the kernel buffers fill and the server's sends wait). RSS "
        "before, at its peak while they hang (sampled every 100 ms until the server is "
        "idle), and after the sockets are dropped.",
        ["rss before MiB", "rss peak MiB", "rss after MiB", "peak KiB per socket"],
        {"peak KiB per socket": ",.0f"},
    )
    cancels = Figure(
        "abuse-cancel",
        "Abuse: cancels over WebSocket",
        f"{sizes.cancel_streams:,} paced streams (a token every 100 ms) over "
        f"{sizes.cancel_sockets} WebSockets (`/ai/ws`); 3 s after every stream has sent "
        "an event, one cancel frame per stream, evenly over 5 s; the latency runs from "
        "sending the frame to that stream's `done`. The load client is the `websockets` "
        "client in the runner's process. 'batched frames': the sockets ask for frames of "
        "several events (`?batch=1`); 'vs asyncio' compares rows of the same framing and "
        f"load; rows marked '{sizes.cancel_streams // 4:,} streams' carry a quarter of the "
        "load. 'socket behind': events the stream had logged after the last one the client "
        "had read when it sent the cancel (how far the socket's writes lagged); 'server "
        "CPU': its CPU time over the wall time of the run (trio runs on one thread: 1.0 is "
        "all it can use).",
        [
            "p50 ms",
            "p99 ms",
            "vs asyncio (p99)",
            "socket behind p50 (events)",
            "server CPU (cores)",
            "not cancelled",
        ],
        {"not cancelled": ",.0f", "socket behind p50 (events)": ",.0f"},
    )
    health = Figure(
        "abuse-health",
        "Abuse: /health while the calculator is attacked",
        f"`GET /health` {sizes.health_probes} times, one at a time 10 ms apart, first on a "
        f"quiet server, then while {sizes.attackers} clients call `POST /ai/tool` "
        "`calculate` in a loop, each with an allowed expression that costs about 1.5 ms "
        f"(`{EXPENSIVE[:31]}…`, 30 terms).",
        [
            "quiet p50 ms",
            "quiet p99 ms",
            "attacked p50 ms",
            "attacked p99 ms",
            "attacked ÷ quiet (p99)",
            "calculate calls/s",
        ],
        {"calculate calls/s": ",.0f"},
    )
    cancel_p99: dict[str, float] = {}
    for backend in BACKENDS:
        label = f"ainative serve --backend {backend}"
        log(f"abuse: abandoned streams ({backend}) …")
        env = {"AINATIVE_RESUME_GRACE": "1", "AINATIVE_RETENTION": f"{sizes.retention:g}"}
        with ainative_serve(backend, env) as proc:
            row = abandon.row(label)
            for column, value in asyncio.run(
                abandoned(proc, sizes.abandoned, sizes.retention)
            ).items():
                row.add(column, value)
        log(f"abuse: replay ({backend}) …")
        env = {"AINATIVE_MAX_EVENTS": str(sizes.replay_events + 10)}
        with ainative_serve(backend, env) as proc:
            row = replayed.row(label)
            for column, value in asyncio.run(
                replay(proc, sizes.replay_events, sizes.replay_sockets)
            ).items():
                row.add(column, value)
        for streams in (sizes.cancel_streams, sizes.cancel_streams // 4):
            for batch in (False, True):
                framing = (", batched frames" if batch else "") + _load_label(streams, sizes)
                log(f"abuse: cancels ({backend}{framing}) …")
                with ainative_serve(backend) as proc:
                    cpu, began = proc.cpu_seconds(), time.monotonic()
                    result = asyncio.run(
                        ws_cancels(
                            proc.port,
                            streams=streams,
                            sockets=sizes.cancel_sockets,
                            tokens=600,
                            delay=0.1,
                            warm=3.0,
                            spread=5.0,
                            batch=batch,
                        )
                    )
                    cores = (proc.cpu_seconds() - cpu) / max(time.monotonic() - began, 1e-9)
                    row = cancels.row(label + framing)
                    row.add("p50 ms", result.p(0.5) * 1000)
                    row.add("p99 ms", result.p(0.99) * 1000)
                    behind = sorted(result.after_cancel) or [0]
                    row.add("socket behind p50 (events)", behind[len(behind) // 2])
                    row.add("server CPU (cores)", cores)
                    row.add("not cancelled", result.finished_first + result.missing)
                    cancel_p99[label + framing] = result.p(0.99)
        log(f"abuse: /health under attack ({backend}) …")
        with ainative_serve(backend) as proc:
            t0 = time.monotonic()
            quiet, loaded, calls = asyncio.run(
                health_under_attack(proc, sizes.attackers, sizes.health_probes)
            )
            row = health.row(label)
            row.add("quiet p50 ms", quantile(quiet, 0.5) * 1000)
            row.add("quiet p99 ms", quantile(quiet, 0.99) * 1000)
            row.add("attacked p50 ms", quantile(loaded, 0.5) * 1000)
            row.add("attacked p99 ms", quantile(loaded, 0.99) * 1000)
            row.add("attacked ÷ quiet (p99)", quantile(loaded, 0.99) / quantile(quiet, 0.99))
            row.add("calculate calls/s", calls / max(time.monotonic() - t0, 1e-9))
    for streams in (sizes.cancel_streams, sizes.cancel_streams // 4):
        for framing in ("", ", batched frames"):
            framing += _load_label(streams, sizes)
            base = cancel_p99.get(f"ainative serve --backend asyncio{framing}")
            if base:
                for backend in BACKENDS:
                    label = f"ainative serve --backend {backend}{framing}"
                    cancels.row(label).add("vs asyncio (p99)", cancel_p99[label] / base)
    return [abandon, replayed, cancels, health]
