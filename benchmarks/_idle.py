"""Many idle open streams at once, for the memory figure."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ._load import HttpConnection, action_body
from ._procs import ServerProcess
from ._targets import Target

__all__ = ["IDLE_DELAY", "open_idle_streams"]

IDLE_DELAY = 3600.0
_CONCURRENCY = 64


async def open_idle_streams(
    target: Target, proc: ServerProcess, count: int, *, open_within: float = 180.0
) -> tuple[int, int, str | None]:
    """Open ``count`` idle streams and hold them; returns ``(opened, server RSS, error)``.

    A stream counts as open once its request is written and the server has gone quiet (its
    CPU use dropped to idle): every request has then been read and its handler started.
    The server is stopped before the client side is dropped (faster than a clean close of
    thousands of sockets): call this only on a server started for this one measurement.
    """
    body = action_body(1, IDLE_DELAY)
    held: list[Any] = []
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def open_sse() -> None:
        # Only the request is awaited: a server may hold the response head back until the
        # producer's first event (ainative does, to answer early errors with a real status).
        async with gate:
            conn = await HttpConnection(proc.port).open()
            held.append(conn)
            await conn.write_request("POST", "/ai/stream", body)

    async def open_ws() -> None:
        from websockets.asyncio.client import connect

        async with gate:
            ws = await connect(
                f"ws://127.0.0.1:{proc.port}/ai/ws",
                compression=None,
                max_size=None,
                ping_interval=None,
            )
            held.append(ws)
            await ws.send(json.dumps(body))

    opener = open_ws if target.transport == "ws" else open_sse
    error: str | None = None
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(opener() for _ in range(count)), return_exceptions=True), open_within
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            error = f"{len(failures)} failed, first: {failures[0]!r}"
    except TimeoutError:
        error = f"timed out after {open_within:g} s"
    await _quiet(proc)
    rss = proc.rss_bytes()
    opened = count if error is None else len(held)
    proc.stop(graceful=False)
    for item in held:
        if isinstance(item, HttpConnection):
            item.abort()
        else:
            item.transport.abort()
    await asyncio.sleep(0)
    return opened, rss, error


async def _quiet(proc: ServerProcess, *, interval: float = 0.5, within: float = 60.0) -> None:
    """Wait until the server is idle: under 1 % CPU over ``interval`` (at most ``within`` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    before = proc.cpu_seconds()
    while loop.time() < deadline:
        await asyncio.sleep(interval)
        now = proc.cpu_seconds()
        if now - before < 0.01 * interval:
            return
        before = now
