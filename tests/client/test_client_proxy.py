"""TCPProxy (ainative_testing): relays bytes and cuts connections on cue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute

from ainative_testing import TCPProxy

pytestmark = pytest.mark.anyio

PAYLOAD = bytes(range(256)) * 64  # 16 KiB


@asynccontextmanager
async def upstream() -> AsyncIterator[int]:
    """A loopback server that answers every line with PAYLOAD, then closes."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                await stream.receive()
                await stream.send(PAYLOAD)
            except (anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                pass

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield listener.extra(SocketAttribute.local_port)
        tg.cancel_scope.cancel()


async def fetch(port: int) -> bytes:
    received = bytearray()
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"go\n")
        try:
            while True:
                received += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass
    return bytes(received)


async def test_relays_everything() -> None:
    with anyio.fail_after(10):
        async with upstream() as port, TCPProxy(port) as proxy:
            assert await fetch(proxy.port) == PAYLOAD
            assert proxy.connections == 1
            assert proxy.cuts == 0


async def test_cut_after_bytes_delivers_exactly_that_many() -> None:
    with anyio.fail_after(10):
        async with upstream() as port, TCPProxy(port, cut_after_bytes=1000) as proxy:
            assert await fetch(proxy.port) == PAYLOAD[:1000]
            assert proxy.cuts == 1
            proxy.cut_after_bytes = None
            assert await fetch(proxy.port) == PAYLOAD


async def test_reject_closes_new_connections_at_once() -> None:
    with anyio.fail_after(10):
        async with upstream() as port, TCPProxy(port, reject=True) as proxy:
            assert await fetch(proxy.port) == b""
            assert proxy.cuts == 1


async def test_cut_closes_open_connections(
    wait_until: Callable[[Callable[[], bool]], Awaitable[None]],
) -> None:
    async def silent(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep(30)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    with anyio.fail_after(10):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, silent)
            async with (
                TCPProxy(listener.extra(SocketAttribute.local_port)) as proxy,
                await anyio.connect_tcp("127.0.0.1", proxy.port) as stream,
            ):
                await wait_until(lambda: proxy.open_connections == 1)
                assert proxy.cut() == 1
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError, OSError)):
                    await stream.receive()
            tg.cancel_scope.cancel()


async def test_runs_in_its_own_thread() -> None:
    with anyio.fail_after(10):
        async with upstream() as port:
            with TCPProxy(port, cut_after_bytes=10) as proxy:
                assert await fetch(proxy.port) == PAYLOAD[:10]
                assert proxy.cut() == 0
