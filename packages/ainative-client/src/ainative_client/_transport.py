"""The client transport interface the engine talks to, and the events it yields.

A client transport is looked up by name (``get_plugins().get_transport(name, "client")``):
the registered object is a factory called as ``factory(http_client)`` with the engine's
`httpx.AsyncClient`, returning a `ClientTransport`. The engine never names a transport.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, final, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import httpx

from ainative_core import ActionRequest, WireEvent

__all__ = [
    "BatchedEvents",
    "ClientTransport",
    "ReceivedEvent",
    "TransportFactory",
    "base_url",
    "endpoint",
]


@final
@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """A decoded wire event with its sequence number and the stream it belongs to."""

    event: WireEvent
    id: int | None = None
    stream_id: str | None = None


@final
class BatchedEvents:
    """An event iterator over lists of events (e.g. one list per network read).

    Iterating it gives single events, as `ClientTransport` promises; a reader that can take
    lists (the engine) reads ``batches`` instead, one step per list rather than per event.
    Read one or the other. Whoever made it closes ``batches``.
    """

    __slots__ = ("_pending", "batches")

    def __init__(self, batches: AsyncGenerator[list[ReceivedEvent], None]) -> None:
        self.batches = batches
        self._pending: deque[ReceivedEvent] = deque()

    def __aiter__(self) -> BatchedEvents:
        return self

    async def __anext__(self) -> ReceivedEvent:
        pending = self._pending
        while not pending:
            pending.extend(await self.batches.__anext__())
        return pending.popleft()


@runtime_checkable
class ClientTransport(Protocol):
    """Talks wire protocol v1 to an ainative server over one kind of connection.

    `open` starts a stream for an `ActionRequest`; `resume` follows an existing stream after
    ``last_event_id`` (events with a greater id, then live). Both are async context managers
    yielding an iterator of `ReceivedEvent` that ends after ``done``, or early if the
    connection ends (the engine decides whether to resume). Iteration reads from the network
    only as the consumer asks, so a slow consumer slows the socket. `cancel` stops the
    stream on the server. Every error raised is an ainative error (`map_transport_errors`).
    The iterator may be a `BatchedEvents`, which the engine then reads a list at a time.
    """

    name: str

    def open(
        self, url: str, request: ActionRequest, *, headers: Mapping[str, str] | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]: ...

    def resume(
        self,
        url: str,
        stream_id: str,
        last_event_id: int | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]: ...

    async def cancel(
        self, url: str, stream_id: str, *, headers: Mapping[str, str] | None = None
    ) -> None: ...


class TransportFactory(Protocol):
    """What a plugin registers as a transport's ``client`` half."""

    def __call__(self, http_client: httpx.AsyncClient) -> ClientTransport: ...


_SUFFIXES = ("/ai/stream", "/ai/ws")


def base_url(url: str) -> str:
    """The server's base URL from a base or an endpoint URL (``.../ai/stream``, ``ws://``).

    ``http://h:1/ai/stream`` and ``ws://h:1/ai/ws`` both give ``http://h:1``; a prefix a
    server is mounted under (``http://h/api/ai/stream``) is kept (``http://h/api``).
    """
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    for suffix in _SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def endpoint(url: str, path: str) -> str:
    """``path`` (starting with ``/``) under the server's base URL."""
    return base_url(url) + path
