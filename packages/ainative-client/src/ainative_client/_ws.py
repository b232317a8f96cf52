"""The WebSocket client transport: ``/ai/ws`` over httpx-ws, several streams per socket.

A `WSConnection` owns one socket. Multiplexed (`WSClientTransport.connect`), a reader task
routes each server frame to its stream by ``stream_id`` through a bounded buffer per
stream: when a consumer falls behind, the reader waits, httpx-ws's own bounded queue fills
and the socket stops being read (TCP backpressure). A new stream is told apart by the first
frame that arrives after its request (starts on one socket are serialised until the server
has answered). The engine's streams use a socket each, read directly by the consumer.

The socket asks the server for array frames (``?batch=1`` on the upgrade): the events the
server has ready at once come as one frame holding a JSON array, which is read as those
events in order, each routed as a frame of its own. A server that does not know the flag
sends one event per frame, which is read the same way; ``batch=False`` does not ask.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, TypeAlias, final

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from ainative_core import (
    ActionRequest,
    AINativeError,
    HTTPStatusError,
    ProtocolError,
    StreamingError,
    StreamInterrupted,
    TransportError,
    WireEvent,
    get_logger,
)

from ._errors import map_transport_errors, refusal_error
from ._transport import ReceivedEvent, endpoint

__all__ = ["WSClientTransport", "WSConnection"]

_log = get_logger("ainative.client.ws")
DEFAULT_STREAM_BUFFER: Final = 256
_BATCH_QUERY: Final = "?batch=1"


@final
class WSConnection:
    """One open WebSocket to an ainative server; use `stream` / `resume` any number of times.

    With ``multiplex`` (what `WSClientTransport.connect` gives), a reader task routes frames
    and streams may overlap. Without it, the one stream at a time is read directly by its
    consumer: one hop less per frame.
    """

    def __init__(
        self, session: AsyncWebSocketSession, *, max_buffer: int, multiplex: bool = True
    ) -> None:
        self._session = session
        self._max_buffer = max_buffer
        self._multiplex = multiplex
        self._busy = False
        self._routes: dict[str, MemoryObjectSendStream[_Item]] = {}
        self._pending: MemoryObjectSendStream[_Item] | None = None
        self._assigned = anyio.Event()
        self._start_lock = anyio.Lock()
        self._closed = False
        self.batched_url: str | None = None
        """The socket's URL when it asked for array frames (`WSClientTransport.connect`)."""

    @property
    def closed(self) -> bool:
        return self._closed

    async def send(self, frame: dict[str, Any]) -> None:
        with map_transport_errors():
            await self._session.send_text(json.dumps(frame, separators=(",", ":")))

    def stream(
        self, request: ActionRequest
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]:
        """Start a stream on this socket; the iterator ends after ``done`` or when it closes."""
        return self._open(request.model_dump(mode="json"), None)

    def resume(
        self, stream_id: str, last_event_id: int | None
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]:
        """Follow ``stream_id`` from after ``last_event_id`` (the whole log when None)."""
        frame: dict[str, Any] = {"type": "resume", "stream_id": stream_id}
        frame["last_event_id"] = last_event_id if last_event_id is not None else 0
        return self._open(frame, stream_id)

    async def cancel(self, stream_id: str) -> None:
        await self.send({"type": "cancel", "stream_id": stream_id})

    @asynccontextmanager
    async def _open(
        self, frame: dict[str, Any], stream_id: str | None
    ) -> AsyncIterator[AsyncIterator[ReceivedEvent]]:
        if not self._multiplex:
            if self._busy:
                raise StreamingError("this socket carries one stream at a time (multiplex off)")
            self._busy = True
            try:
                await self.send(frame)
                yield _DirectEvents(self._session, stream_id)
            finally:
                self._busy = False
            return
        send, receive = anyio.create_memory_object_stream[_Item](self._max_buffer)
        with send, receive:
            if stream_id is not None:
                self._routes[stream_id] = send
                await self._send_or_close(frame, send)
            else:
                async with self._start_lock:
                    self._assigned = anyio.Event()
                    self._pending = send
                    await self._send_or_close(frame, send)
                    await self._assigned.wait()
            try:
                yield _StreamEvents(receive)
            finally:
                for key, route in list(self._routes.items()):
                    if route is send:
                        del self._routes[key]

    async def _send_or_close(
        self, frame: dict[str, Any], send: MemoryObjectSendStream[_Item]
    ) -> None:
        if self._closed:
            send.close()
            self._assigned.set()
            return
        await self.send(frame)

    async def run_reader(self) -> None:
        """Route frames until the socket closes; then end every stream still open."""
        try:
            with map_transport_errors():
                while True:
                    text = await self._session.receive_text()
                    for parsed in _parse(text):
                        await self._route(parsed)
        except Exception as exc:
            _log.debug("websocket reader stopped", error=str(exc))
        finally:
            self._closed = True
            for route in self._routes.values():
                route.close()
            self._routes.clear()
            if self._pending is not None:
                self._pending.close()
                self._pending = None
            self._assigned.set()

    async def _route(self, parsed: _Parsed) -> None:
        obj, event, event_id, stream_id = parsed
        if event_id is None and event.type == "done":
            return  # the end of a refusal, already delivered with its error frame
        target = self._routes.get(stream_id) if stream_id is not None else None
        if target is None and self._pending is not None:
            target = self._pending
            if stream_id is not None:
                self._routes[stream_id] = target
                self._pending = None
                self._assigned.set()
        if target is None:
            return  # a stream nobody follows any more
        # An error without an id is the server refusing the request (unknown provider,
        # unknown stream...): the stream never started, like an HTTP error status on SSE.
        refused = event.type == "error" and event_id is None
        item: _Item = _refusal(obj) if refused else ReceivedEvent(event, event_id, stream_id)
        try:
            await target.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return
        if event.type == "done" or refused:
            if target is self._pending:
                self._pending = None
                self._assigned.set()
            if stream_id is not None:
                self._routes.pop(stream_id, None)
            target.close()


_Item: TypeAlias = ReceivedEvent | AINativeError
_Parsed: TypeAlias = tuple[dict[str, Any], WireEvent, int | None, str | None]
"""One event of a server frame: the object, its wire event, its ``id`` and ``stream_id``."""


def _parse(text: str) -> list[_Parsed]:
    """The events of a server frame: one object, or an array of them (in order)."""
    try:
        decoded = json.loads(text)
        objs = decoded if isinstance(decoded, list) else [decoded]
        parsed: list[_Parsed] = []
        for obj in objs:
            event = WireEvent.from_dict(obj)
            raw_id = obj.get("id")
            stream_id = obj.get("stream_id")
            parsed.append(
                (
                    obj,
                    event,
                    raw_id if isinstance(raw_id, int) else None,
                    stream_id if isinstance(stream_id, str) else None,
                )
            )
    except (ValueError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"undecodable websocket frame: {text[:80]!r}") from exc
    return parsed


def _refusal(obj: dict[str, Any]) -> AINativeError:
    """The error of an id-less ``error`` frame: the server refused the request."""
    status = obj.get("status")
    fields = {**obj, "message": obj.get("data")}
    return refusal_error(status if isinstance(status, int) else 400, fields)


@final
class _StreamEvents:
    """One stream's events; raises the server's refusal. (A class, not an async generator:
    nothing is left suspended when a consumer stops early.)"""

    __slots__ = ("_receive",)

    def __init__(self, receive: MemoryObjectReceiveStream[_Item]) -> None:
        self._receive = receive

    def __aiter__(self) -> _StreamEvents:
        return self

    async def __anext__(self) -> ReceivedEvent:
        try:
            item = await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
        if isinstance(item, AINativeError):
            raise item
        return item


@final
class _DirectEvents:
    """The one stream of a socket without multiplexing, read in the consumer's own task."""

    __slots__ = ("_ended", "_read", "_session", "_stream_id")

    def __init__(self, session: AsyncWebSocketSession, stream_id: str | None) -> None:
        self._session = session
        self._stream_id = stream_id
        self._ended = False
        self._read: deque[_Parsed] = deque()
        """Events of the last array frame not handed out yet."""

    def __aiter__(self) -> _DirectEvents:
        return self

    async def __anext__(self) -> ReceivedEvent:
        read = self._read
        while not self._ended:
            if not read:
                with map_transport_errors():
                    text = await self._session.receive_text()
                read.extend(_parse(text))
                continue
            obj, event, event_id, stream_id = read.popleft()
            if event_id is None and event.type == "done":
                continue  # the end of an earlier refusal on this socket
            if stream_id is not None:
                if self._stream_id is None:
                    self._stream_id = stream_id
                elif stream_id != self._stream_id:
                    continue  # a frame of an earlier stream on this socket
            if event.type == "error" and event_id is None:
                self._ended = True
                raise _refusal(obj)
            self._ended = event.type == "done"
            return ReceivedEvent(event, event_id, stream_id)
        raise StopAsyncIteration


@final
class WSClientTransport:
    """`ClientTransport` over WebSocket. `open`/`resume` use a socket of their own; `connect`
    gives one socket for several streams. ``http_client`` is owned by the caller.

    ``batch`` (default True) asks the server for array frames, several events per frame
    (``?batch=1``); False asks for one event per frame, the protocol's default. A frame is
    read once it has all come: when a socket that asked breaks before its first event (a
    network that cuts connections sooner than one array frame), this transport asks that
    server for one event per frame from then on.
    """

    name = "ws"

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        *,
        max_buffer: int = DEFAULT_STREAM_BUFFER,
        batch: bool = True,
    ) -> None:
        self._http = http_client
        self._max_buffer = max_buffer
        self._batch = batch
        self._single: set[str] = set()
        """Socket URLs asked for one event per frame after a batched socket broke early."""
        self._live: dict[str, WSConnection] = {}

    @asynccontextmanager
    async def connect(
        self, url: str, *, headers: Mapping[str, str] | None = None, multiplex: bool = True
    ) -> AsyncIterator[WSConnection]:
        """Open one socket to the server's ``/ai/ws``; closed when the block ends."""
        target = endpoint(url, "/ai/ws")
        query = _BATCH_QUERY if self._batch and target not in self._single else ""
        opening: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            target + query, self._http, headers=dict(headers or {})
        )
        with map_transport_errors():
            async with opening as session:
                connection = WSConnection(session, max_buffer=self._max_buffer, multiplex=multiplex)
                connection.batched_url = target if query else None
                if not multiplex:
                    yield connection
                    return
                async with anyio.create_task_group() as tg:
                    tg.start_soon(connection.run_reader)
                    try:
                        yield connection
                    finally:
                        tg.cancel_scope.cancel()

    def open(
        self, url: str, request: ActionRequest, *, headers: Mapping[str, str] | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]:
        return self._one(url, headers, request, None, None)

    def resume(
        self,
        url: str,
        stream_id: str,
        last_event_id: int | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]:
        return self._one(url, headers, None, stream_id, last_event_id)

    async def cancel(
        self, url: str, stream_id: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        live = self._live.get(stream_id)
        if live is not None and not live.closed:
            try:
                await live.cancel(stream_id)
            except AINativeError:
                pass  # that socket is gone: say it on a new one
            else:
                return
        async with self.connect(url, headers=headers, multiplex=False) as connection:
            await connection.cancel(stream_id)

    @asynccontextmanager
    async def _one(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        request: ActionRequest | None,
        stream_id: str | None,
        last_event_id: int | None,
    ) -> AsyncIterator[AsyncIterator[ReceivedEvent]]:
        async with self.connect(url, headers=headers, multiplex=False) as connection:
            if request is not None:
                opened = connection.stream(request)
            else:
                assert stream_id is not None
                opened = connection.resume(stream_id, last_event_id)
            async with opened as events:
                tracked = self._track(connection, events)
                try:
                    yield tracked
                finally:
                    await tracked.aclose()

    async def _track(
        self, connection: WSConnection, events: AsyncIterator[ReceivedEvent]
    ) -> AsyncGenerator[ReceivedEvent, None]:
        """Remember which socket carries a stream, so `cancel` can use it; a batched socket
        that breaks before its first event makes later sockets to its URL not ask."""
        known: str | None = None
        received = False
        try:
            async for item in events:
                received = True
                if known is None and item.stream_id is not None:
                    known = item.stream_id
                    self._live[known] = connection
                yield item
        except (TransportError, StreamInterrupted) as exc:
            broke = not isinstance(exc, HTTPStatusError)  # not the server's refusal
            if broke and not received and connection.batched_url is not None:
                self._single.add(connection.batched_url)
                _log.debug("websocket asks for one event per frame", url=connection.batched_url)
            raise
        finally:
            if known is not None and self._live.get(known) is connection:
                del self._live[known]
