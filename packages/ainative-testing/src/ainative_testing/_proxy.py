"""A loopback TCP proxy for tests that need a connection to drop in the middle of a stream.

``TCPProxy(target_port)`` listens on 127.0.0.1 and relays bytes both ways to the target.
``cut()`` closes every open connection at once; ``cut_after_bytes = N`` closes each new
connection once N bytes have come back from the target (a TCP connection lost
mid-response); ``reject = True`` closes new connections as soon as they are accepted.

Run it in the test's own event loop (``async with TCPProxy(...)``, asyncio or trio) or in a
thread of its own (``with TCPProxy(...)``), e.g. for sync tests. A plain socket relay is
written here because no dependency offers one that can cut connections on cue.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Final, Self, final

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["TCPProxy"]

_HOST: Final = "127.0.0.1"
_CHUNK: Final = 65536


@final
class TCPProxy:
    """Relays 127.0.0.1:``port`` to ``target_host``:``target_port`` and can cut connections.

    ``connections`` counts accepted connections, ``cuts`` those closed by the proxy (by
    `cut`, ``cut_after_bytes`` or ``reject``), ``bytes_from_target`` the bytes relayed
    from the target to clients so far. ``send_buffer`` sets the kernel send buffer of the
    client-facing sockets (``SO_SNDBUF``), so that a client that stops reading stops the
    relay after a small, known amount (for backpressure tests). Settings may change while
    it runs; they apply to connections accepted afterwards (`cut` applies to open ones).
    """

    def __init__(
        self,
        target_port: int,
        *,
        target_host: str = _HOST,
        cut_after_bytes: int | None = None,
        reject: bool = False,
        send_buffer: int | None = None,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.cut_after_bytes = cut_after_bytes
        self.reject = reject
        self.send_buffer = send_buffer
        self.host = _HOST
        self.port = 0
        self.connections = 0
        self.cuts = 0
        self.bytes_from_target = 0
        self._open: set[anyio.CancelScope] = set()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._portal_cm: Any = None
        self._portal: BlockingPortal | None = None
        self._future: Future[Any] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def cut(self) -> int:
        """Close every open connection now; returns how many were cut."""
        if self._portal is not None:
            return self._portal.call(self._cut_now)
        return self._cut_now()

    def _count(self, size: int) -> None:
        self.bytes_from_target += size

    def _cut_now(self) -> int:
        scopes = list(self._open)
        for scope in scopes:
            scope.cancel()
        self.cuts += len(scopes)
        return len(scopes)

    # -- running in the caller's event loop -------------------------------------------------

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            await self._task_group.start(self.serve)
        except BaseException:
            self._task_group.cancel_scope.cancel()
            await self._task_group.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        return await self._task_group.__aexit__(exc_type, exc, tb)

    # -- running in a thread of its own -----------------------------------------------------

    def start(self) -> None:
        """Serve from a new thread (asyncio) until `stop`."""
        self._portal_cm = start_blocking_portal("asyncio")
        self._portal = self._portal_cm.__enter__()
        self._future, _ = self._portal.start_task(self.serve)

    def stop(self) -> None:
        if self._future is not None:
            self._future.cancel()
            self._future = None
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
        self._portal_cm = self._portal = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the relay --------------------------------------------------------------------------

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Accept and relay until cancelled."""
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        async with listener:
            self.port = listener.extra(SocketAttribute.local_port)
            task_status.started()
            await listener.serve(self._relay)

    async def _relay(self, client: anyio.abc.SocketStream) -> None:
        self.connections += 1
        if self.send_buffer is not None:
            raw = client.extra(SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
        async with client:
            if self.reject:
                self.cuts += 1
                return
            try:
                upstream = await anyio.connect_tcp(self.target_host, self.target_port)
            except OSError:
                return
            async with upstream, anyio.create_task_group() as tg:
                scope = tg.cancel_scope
                self._open.add(scope)

                def cut() -> None:
                    self.cuts += 1
                    scope.cancel()

                tg.start_soon(_pump, client, upstream, None, scope.cancel, cut, None)
                tg.start_soon(
                    _pump, upstream, client, self.cut_after_bytes, scope.cancel, cut, self._count
                )
            self._open.discard(scope)


async def _pump(
    source: anyio.abc.SocketStream,
    sink: anyio.abc.SocketStream,
    limit: int | None,
    on_end: Callable[[], None],
    on_limit: Callable[[], None],
    on_bytes: Callable[[int], None] | None,
) -> None:
    """Copy bytes until either side ends (then end the connection) or ``limit`` bytes passed."""
    sent = 0
    try:
        while True:
            chunk = await source.receive(_CHUNK)
            if limit is not None and sent + len(chunk) >= limit:
                chunk = chunk[: limit - sent]
                await sink.send(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
                on_limit()
                return
            await sink.send(chunk)
            sent += len(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        on_end()
