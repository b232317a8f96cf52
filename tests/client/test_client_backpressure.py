"""A consumer slower than the stream slows the socket instead of buffering the stream."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, aclosing
from typing import Any

import anyio
import httpx
import pytest

from ainative_client import StreamConfig, StreamingEngine
from ainative_server import ServerConfig, create_app
from ainative_testing import FakeProvider, LiveServer, PluginSandbox, TCPProxy

pytestmark = pytest.mark.anyio

Serve = Callable[[Any], AbstractContextManager[LiveServer]]
WaitUntil = Callable[[Callable[[], bool]], Awaitable[None]]

COUNT = 8000
TOKENS = [f"{i:06d}" + "x" * 994 for i in range(COUNT)]  # 1000 characters each, ~8 MB
SMALL = 32 * 1024


@pytest.mark.parametrize("method", ["SSE", "WS"])
async def test_a_stalled_consumer_stops_the_socket(
    client_plugins: PluginSandbox, serve: Serve, wait_until: WaitUntil, method: str
) -> None:
    fake = FakeProvider(TOKENS)
    client_plugins.add_provider("fake", fake)
    app = create_app(ServerConfig(provider="fake"), plugins=client_plugins.plugins)
    # Small kernel buffers on both ends of the client's connection (no autotuning), so what
    # is in flight is the client's own buffering plus a little.
    transport = httpx.AsyncHTTPTransport(
        socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)]
    )
    received: list[str] = []
    with serve(app) as srv, anyio.fail_after(60):
        async with (
            TCPProxy(srv.port, send_buffer=SMALL) as proxy,
            httpx.AsyncClient(transport=transport) as http,
        ):
            engine = StreamingEngine(http_client=http)
            run = engine.stream(
                StreamConfig(proxy.url, method=method), {"params": {"message": "go"}}
            )
            async with aclosing(run) as events:
                async for item in events:
                    if item.event.type != "token":
                        continue
                    received.append(item.event.data)
                    if len(received) == 10:
                        # The server has produced everything; the consumer stalls here.
                        await wait_until(fake.closed.is_set)
                        stalled_at = await settled(lambda: proxy.bytes_from_target)
                        total = sum(len(t) for t in TOKENS)
                        assert stalled_at < total / 4
    assert received == TOKENS  # and once it reads again, every token arrives in order


async def settled(read: Callable[[], int]) -> int:
    """The value once it stops changing between two looks 50 ms apart (at most 5 s)."""
    previous = -1
    for _ in range(100):
        current = read()
        if current == previous:
            return current
        previous = current
        await anyio.sleep(0.05)
    return read()
