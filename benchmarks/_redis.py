"""Figure 8: the Redis store beside the in-memory store, and what several replicas add.

The runner starts a ``redis-server`` of its own (persistence off, a free loopback port, via
``ainative_testing.redis_server``) and two ainative server processes on it (replicas A and
B); the in-memory row is the shared ainative server of the other figures. Redis's own work
is read from ``INFO commandstats`` and ``INFO cpu`` before and after each measurement.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from ._load import TOKEN_MARK, HttpConnection, StreamResult, action_body
from ._procs import ServerProcess
from ._results import Figure, quantile
from ._targets import Target, stream_once

if TYPE_CHECKING:
    from ._figures import Bench

_KEEP = len(TOKEN_MARK) - 1

__all__ = ["ROUND_TRIPS", "redis_figures"]

MEMORY = Target("ainative SSE, memory store", "ainative")
REDIS = Target("ainative SSE, Redis store", "ainative")
REDIS_WS = Target("ainative WS, Redis store", "ainative", transport="ws")
ROUND_TRIPS: Final = frozenset(
    {"evalsha", "evalsha_ro", "eval", "del", "ping", "subscribe", "unsubscribe"}
)
"""Commands only a server sends (its scripts run the others inside Redis). Left out: the
``HMGET``/``PEXPIRE`` the store sends itself once per stream when its last follower leaves,
which ``INFO commandstats`` cannot tell from those its scripts run."""
_OURS: Final = frozenset({"info", "client|list", "client|setname", "hello", "select"})
"""Commands of the measurement and of connection set-up, left out of the counts."""
CANCELS: Final = 30
LAG_TOKENS: Final = 200


def _command(port: int, *words: str) -> str:
    """One Redis command over a plain socket (RESP), answered by a bulk string."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
        sock.sendall(payload.encode())
        data = b""
        while b"\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n")
        size = int(head[1:])
        while len(rest) < size:
            rest += sock.recv(65536)
        return rest[:size].decode()


def _info(port: int, section: str) -> dict[str, str]:
    lines = _command(port, "INFO", section).splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))


@contextmanager
def _redis_counts(port: int) -> Iterator[dict[str, float]]:
    """Counts of the block: ``commands`` (all, scripts' included), ``round_trips``, ``cpu``."""
    out: dict[str, float] = {}
    before, cpu0 = _calls(port), _redis_cpu(port)
    yield out
    after, cpu1 = _calls(port), _redis_cpu(port)
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    out["commands"] = sum(n for name, n in delta.items() if name not in _OURS)
    out["round_trips"] = sum(n for name, n in delta.items() if name in ROUND_TRIPS)
    out["cpu"] = cpu1 - cpu0


def _calls(port: int) -> dict[str, int]:
    calls: dict[str, int] = {}
    for key, value in _info(port, "commandstats").items():
        name = key.removeprefix("cmdstat_")
        calls[name] = int(value.split(",", 1)[0].removeprefix("calls="))
    return calls


def _redis_cpu(port: int) -> float:
    cpu = _info(port, "cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def redis_figures(bench: Bench) -> list[Figure]:
    """Figures 8a (one replica: Redis beside memory) and 8b (across two replicas)."""
    from ainative_testing import redis_server

    sizes = bench.sizes
    single = Figure(
        "figure8a",
        "Redis store: single stream and paced load",
        f"The figure 1 stream ({sizes.single_tokens:,} instant tokens) and the figure 2 load "
        f"({sizes.paced_streams} streams of {sizes.paced_tokens} tokens at "
        f"{sizes.paced_delay * 1e3:g} ms) on one ainative server with the in-memory store and "
        "one with the Redis store (a local redis-server, persistence off). Server CPU is the "
        "ainative process's; Redis CPU is redis-server's (INFO cpu). Redis commands count every "
        "command Redis ran (INFO commandstats, those inside the store's Lua scripts included); "
        f"round trips count the commands the server sent ({', '.join(sorted(ROUND_TRIPS))}).",
        [
            "single tokens/s",
            "single CPU µs/token",
            "paced CPU µs/token",
            "paced p99 extra ms",
            "paced CPU ÷ memory",
            "Redis round trips/token (paced)",
            "Redis commands/token (paced)",
            "Redis CPU µs/token (paced)",
            "Redis round trips/token (instant)",
            "Redis commands/token (instant)",
        ],
        {
            "single tokens/s": ",.0f",
            "single CPU µs/token": ".2f",
            "paced CPU µs/token": ".1f",
            "paced p99 extra ms": ".2f",
            "paced CPU ÷ memory": ".2f",
            "Redis round trips/token (paced)": ".3f",
            "Redis commands/token (paced)": ".2f",
            "Redis CPU µs/token (paced)": ".1f",
            "Redis round trips/token (instant)": ".4f",
            "Redis commands/token (instant)": ".2f",
        },
    )
    events = sizes.resume_events
    across = Figure(
        "figure8b",
        "Redis store: resume and cancel across replicas",
        f"Two ainative servers (replicas A and B) on one redis-server. Fresh: a stream of "
        f"{events:,} instant tokens started and read on A. Replay from B: the same stream "
        "started on A, the connection dropped after the response head, the producer left to "
        "finish, then resumed on B from event 1 (SSE: GET with Last-Event-ID: 1; WS: a resume "
        f"frame) and read to the end. Cancel: {CANCELS} times per run, a paced stream read "
        "on A, DELETE /ai/stream/<id> sent to B; the latency is from sending the DELETE to the "
        "end of A's response (its done / cancelled event), an upper bound of the producer's "
        f"cancel on A. Lag: a stream of {LAG_TOKENS} tokens at 10 ms read on A and resumed on "
        "B at once; per token that A received after B's first, its arrival on B minus on A.",
        ["ms", "events/s", "replay ÷ fresh (time)", "p50 ms", "p99 ms"],
        {
            "ms": ".1f",
            "events/s": ",.0f",
            "replay ÷ fresh (time)": ".2f",
            "p50 ms": ".2f",
            "p99 ms": ".2f",
        },
    )
    if not bench.with_ainative:
        return [single, across]
    memory = bench.proc(MEMORY)
    with redis_server() as redis:
        version = _info(redis.port, "server").get("redis_version", "?")
        single.notes.append(f"redis-server {version}, persistence off")
        env = {"AINATIVE_STORE": redis.url}
        a = ServerProcess("ainative", env=env).launch()
        b = ServerProcess("ainative", env=env).launch()
        try:
            a.wait_ready()
            b.wait_ready()
            for proc in (memory, a, b):
                for body in (action_body(3, 0.001), action_body(1_000)):
                    bench.run(stream_once(MEMORY, proc.port, body))
            for run in range(bench.runs):
                bench.log(f"figure8 run {run + 1}/{bench.runs}")
                _single_and_paced(bench, single, memory, a, redis.port)
                _across(bench, across, a, b)
        finally:
            a.stop()
            b.stop()
    return [single, across]


def _single_and_paced(
    bench: Bench, figure: Figure, memory: ServerProcess, a: ServerProcess, redis_port: int
) -> None:
    sizes = bench.sizes
    tokens = sizes.single_tokens
    paced_tokens = sizes.paced_streams * sizes.paced_tokens
    for target, proc in ((MEMORY, memory), (REDIS, a)):
        row = figure.row(target.label)
        with _redis_counts(redis_port) as instant:
            rate, cpu = bench._single(target, proc, tokens)
        row.add("single tokens/s", rate)
        row.add("single CPU µs/token", cpu)
        with _redis_counts(redis_port) as paced:
            cpu, _, p99 = bench._paced(target, proc)
        row.add("paced CPU µs/token", cpu)
        row.add("paced p99 extra ms", p99)
        if target is REDIS:
            row.add("Redis round trips/token (paced)", paced["round_trips"] / paced_tokens)
            row.add("Redis commands/token (paced)", paced["commands"] / paced_tokens)
            row.add("Redis CPU µs/token (paced)", paced["cpu"] * 1e6 / paced_tokens)
            row.add("Redis round trips/token (instant)", instant["round_trips"] / tokens)
            row.add("Redis commands/token (instant)", instant["commands"] / tokens)
    ratio = figure.ratios("paced CPU µs/token", REDIS.label, MEMORY.label)[-1]
    figure.row(REDIS.label).add("paced CPU ÷ memory", ratio)


def _across(bench: Bench, figure: Figure, a: ServerProcess, b: ServerProcess) -> None:
    from ._figures import _replay, _start_and_drop

    events = bench.sizes.resume_events
    for target in (REDIS, REDIS_WS):
        fresh = bench.run(stream_once(target, a.port, action_body(events)))
        bench._check(target, fresh, events)
        stream_id = bench.run(_start_and_drop(a.port, events))
        time.sleep(max(0.3, 3 * fresh.seconds))
        replay = bench.run(_replay(b.port, stream_id, target.transport))
        bench._check(target, replay, events)
        transport = target.transport.upper()
        for label, result in (
            (f"fresh on A ({transport})", fresh),
            (f"replay from B ({transport})", replay),
        ):
            row = figure.row(label)
            row.add("ms", result.seconds * 1e3)
            row.add("events/s", events / result.seconds)
        figure.row(f"replay from B ({transport})").add(
            "replay ÷ fresh (time)", replay.seconds / fresh.seconds
        )
    lags = bench.run(_lag(a.port, b.port))
    row = figure.row("token on A's response → on B's")
    row.add("p50 ms", quantile(lags, 0.5) * 1e3)
    row.add("p99 ms", quantile(lags, 0.99) * 1e3)
    latencies = [bench.run(_cancel_once(a.port, b.port)) for _ in range(CANCELS)]
    row = figure.row("DELETE on B → A's stream ended")
    row.add("p50 ms", quantile(latencies, 0.5) * 1e3)
    row.add("p99 ms", quantile(latencies, 0.99) * 1e3)


async def _cancel_once(a_port: int, b_port: int) -> float:
    """Seconds from a DELETE sent to B to the end of A's response to the stream."""
    async with HttpConnection(a_port) as conn:
        head = await conn.send_request("POST", "/ai/stream", action_body(100_000, 0.005))
        stream_id = head.headers["x-ainative-stream-id"]
        reading = asyncio.ensure_future(conn.read_stream(head))
        await asyncio.sleep(0.05)
        async with HttpConnection(b_port) as other:
            sent = time.perf_counter()
            answer = await other.send_request("DELETE", f"/ai/stream/{stream_id}")
        if answer.status != 200:
            raise RuntimeError(f"DELETE on B: HTTP {answer.status}")
        result = await asyncio.wait_for(reading, 10)
    return result.finished - sent


async def _arrivals(conn: HttpConnection, head: StreamResult) -> list[float]:
    """When each token of a streamed SSE response arrived, read to its end."""
    reader = conn._reader
    assert reader is not None
    times: list[float] = []
    tail = b""
    while True:
        data = await reader.read(1 << 16)
        if not data:
            break
        now = time.perf_counter()
        times += [now] * (tail[-_KEEP:] + data).count(TOKEN_MARK)
        tail = (tail + data)[-32:]
        if b"data: [DONE]" in tail:
            break
    return times


async def _lag(a_port: int, b_port: int) -> list[float]:
    """Per token of a paced stream read on A and, at once, on B: B's arrival minus A's."""
    tokens = LAG_TOKENS
    async with HttpConnection(a_port) as conn, HttpConnection(b_port) as other:
        head = await conn.send_request("POST", "/ai/stream", action_body(tokens, 0.01))
        stream_id = head.headers["x-ainative-stream-id"]
        resumed = await other.send_request(
            "GET", f"/ai/stream/{stream_id}", headers={"last-event-id": "1"}
        )
        on_a, on_b = await asyncio.gather(_arrivals(conn, head), _arrivals(other, resumed))
    if len(on_a) != tokens or len(on_b) != tokens:
        raise RuntimeError(f"lag: {len(on_a)} and {len(on_b)} tokens, expected {tokens}")
    live = on_b[0]  # tokens A got after B's replay had begun: both follow live
    return [b - a for a, b in zip(on_a, on_b, strict=True) if a > live]
