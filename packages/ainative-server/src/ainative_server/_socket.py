"""What every WebSocket protocol of the server shares: the handshake, the frame loop, sends.

A protocol over WebSocket is a `SocketSession` subclass: `socket_endpoint` checks the
upgrade (the caller's key or ticket, the page's Origin; a refusal is the HTTP error an SSE
request would get), accepts it and runs one session per socket. The session reads client
text frames, parses each as a bounded JSON object and hands it to `SocketSession.handle`
with the socket's task group, in which the protocol runs one follower per stream; a
failing frame is answered with the protocol's `SocketSession.refusal` frames and the socket
stays open. Frames are paced by ``ws_message_rate``: one over it is refused
(`RateLimited`), and a socket that sends ``ws_message_burst`` more without one accepted is
closed (1008). Followers hand their frames to the socket's one writer task (first come,
first served, but an urgent frame goes before every waiting one) and wait only while it is
``max_batch_bytes`` behind; what a stream handed over and the writer has not written yet
can be withdrawn. One writer, rather than followers taking turns at the socket, writes
every waiting frame without a hand-over between two tasks per frame, and when the client
asked for it (`SocketSession.batched`) writes everything waiting as one message: on trio
Hypercorn yields to the scheduler on every write, so a socket carrying many streams would
otherwise write one frame per scheduler round. A write that waits ``send_timeout`` (the
hub's `SendWatch`) closes the socket with 1008; leaving (the socket closed) cancels the
socket's followers.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from time import monotonic
from typing import TYPE_CHECKING, Any, Final, final

import anyio
import anyio.abc
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ainative_core import (
    AINativeError,
    AuthenticationError,
    InvalidRequestError,
    PayloadTooLargeError,
    RateLimited,
    TooManyStreams,
    get_logger,
)

from ._http import error_response, log_unexpected
from ._json import parse_json
from ._ratelimit import TokenBucket

if TYPE_CHECKING:
    from ._access import Caller
    from ._server import AINativeServer

__all__ = ["CLOSED", "SocketSession", "refuse_handshake", "socket_endpoint"]

CLOSED: Final = (WebSocketDisconnect, OSError, RuntimeError)
"""What sending to or receiving from a socket the client has closed raises."""

_logger = get_logger("ainative.server")


@final
class _Outbox:
    """The frames a socket's followers have handed over that its writer has not written:
    urgent ones first, the others in the order they came, each under its sender's key."""

    __slots__ = ("_low", "_queue", "_ready", "_room", "_urgent", "bytes")

    def __init__(self, limit: int) -> None:
        self._low = limit // 2
        """Senders waiting for room wake once the waiting bytes fall to this (not on every
        frame written, which would wake every waiting follower per frame)."""
        self._urgent: deque[str] = deque()
        self._queue: deque[tuple[Hashable | None, str]] = deque()
        self.bytes = 0
        """Bytes of the non-urgent frames waiting."""
        self._ready = anyio.Event()
        self._room = anyio.Event()

    def __bool__(self) -> bool:
        return bool(self._urgent or self._queue)

    def put(self, frames: list[str], key: Hashable | None) -> None:
        queue = self._queue
        for frame in frames:
            queue.append((key, frame))
            self.bytes += len(frame)
        self._ready.set()

    def put_urgent(self, frames: list[str]) -> None:
        self._urgent.extend(frames)
        self._ready.set()

    def drop(self, key: Hashable) -> None:
        """Leave out the waiting frames put under ``key``."""
        kept = deque(item for item in self._queue if item[0] != key)
        self.bytes = sum(len(frame) for _, frame in kept)
        self._queue = kept
        self._room.set()  # a sender withdrawn while it waits for room wakes

    def clear(self) -> None:
        """Leave out every waiting frame (the socket is gone)."""
        self._urgent.clear()
        self._queue.clear()
        self.bytes = 0
        self._room.set()

    async def ready(self) -> None:
        """Wait until a frame waits."""
        while not self:
            if self._ready.is_set():
                self._ready = anyio.Event()
            await self._ready.wait()

    async def room(self) -> None:
        """Wait until the writer has taken frames (or `drop` left some out) down to half
        the limit."""
        if self._room.is_set():
            self._room = anyio.Event()
        await self._room.wait()

    def take(self, budget: int | None) -> str:
        """The next message to write (call when not empty): one frame, or with a
        ``budget`` every frame waiting (urgent first) up to ``budget`` bytes, as one JSON
        array when there are several."""
        urgent = self._urgent
        queue = self._queue
        if budget is None:
            if urgent:
                return urgent.popleft()
            frame = queue.popleft()[1]
            self.bytes -= len(frame)
            self._made_room()
            return frame
        taken = list(urgent)
        urgent.clear()
        size = sum(len(frame) for frame in taken)
        while queue and (size < budget or not taken):
            frame = queue.popleft()[1]
            taken.append(frame)
            size += len(frame)
            self.bytes -= len(frame)
        self._made_room()
        return taken[0] if len(taken) == 1 else "[" + ",".join(taken) + "]"

    def _made_room(self) -> None:
        if self.bytes <= self._low:
            self._room.set()


class SocketSession(ABC):
    """One accepted socket of a protocol: its frames, its sends, its followers' task group."""

    def __init__(self, server: AINativeServer, websocket: WebSocket, caller: Caller) -> None:
        self.server = server
        self.websocket = websocket
        self.caller = caller
        """Who opened the socket: the owner of the streams it starts."""
        self._outbox = _Outbox(server.config.max_batch_bytes)
        self._waiting: dict[Hashable, list[bool]] = {}
        """Senders waiting for room in the outbox, by key: a flag `withdraw` sets."""
        self._writing = True
        """The writer still writes (False once the socket closed or stalled)."""
        self.batched = False
        """Several frames may go out as one message, a JSON array of them (the client
        asked for it)."""
        config = server.config
        rate = config.ws_message_rate
        self._pace = TokenBucket(rate, config.ws_message_burst) if rate else None
        self._refused = 0
        """Frames refused for the rate since the last one accepted."""
        self._streams = 0
        """Streams this socket follows now (`admit` counted them, `release` not yet)."""

    def admit(self) -> None:
        """Count one more stream followed on this socket, before its task starts (which
        calls `release` when it ends); `TooManyStreams` past ``max_streams_per_socket``."""
        cap = self.server.config.max_streams_per_socket
        if self._streams >= cap:
            raise TooManyStreams(
                f"too many streams on this socket (max_streams_per_socket={cap}); "
                "wait for one to end or cancel one"
            )
        self._streams += 1

    def release(self) -> None:
        """One stream `admit` counted has ended."""
        self._streams -= 1

    @abstractmethod
    async def handle(self, frame: dict[str, Any], tg: anyio.abc.TaskGroup) -> None:
        """Act on one client frame (a JSON object); start followers in ``tg``."""

    @abstractmethod
    def refusal(self, exc: BaseException, frame: Any) -> list[str]:
        """The frames answering a client frame that failed with ``exc`` (``frame``: what
        was parsed of it, None when it was not JSON)."""

    async def send(
        self, frames: list[str], *, urgent: bool = False, key: Hashable | None = None
    ) -> bool:
        """Hand ``frames`` to the socket's writer, in order, after the frames waiting
        before them (``urgent``: before every waiting one, at once). While the writer is
        ``max_batch_bytes`` behind, a non-urgent send first waits for room. False, with
        nothing handed over, if `withdraw` is called with ``key`` while it waits, or once
        the socket has closed."""
        if not self._writing:
            return False
        outbox = self._outbox
        if urgent:
            outbox.put_urgent(frames)
            return True
        if outbox.bytes >= self._room_limit and not await self._room(key):
            return False
        outbox.put(frames, key)
        return True

    async def _room(self, key: Hashable | None) -> bool:
        """Wait until the writer is less than ``max_batch_bytes`` behind; False if
        withdrawn meanwhile or the socket closed."""
        withdrawn = [False]
        if key is not None:
            self._waiting[key] = withdrawn
        try:
            while not withdrawn[0] and self._writing:
                if self._outbox.bytes < self._room_limit:
                    return True
                await self._outbox.room()
            return False
        finally:
            if key is not None and self._waiting.get(key) is withdrawn:
                del self._waiting[key]

    def withdraw(self, key: Hashable) -> None:
        """The frames handed over under ``key`` and not written yet are left out, and a
        `send` waiting for room under ``key`` returns False at once (a message being
        written finishes)."""
        withdrawn = self._waiting.pop(key, None)
        if withdrawn is not None:
            withdrawn[0] = True
        self._outbox.drop(key)

    @property
    def _room_limit(self) -> int:
        return self.server.config.max_batch_bytes

    async def _write(self, tg: anyio.abc.TaskGroup) -> None:
        """The socket's one writer: what the followers hand over, message by message (with
        `batched`, everything waiting as one message). A write that waits ``send_timeout``
        (the client stopped reading) closes the socket with 1008; a closed socket ends
        the session."""
        outbox = self._outbox
        websocket = self.websocket
        budget = self.server.config.max_batch_bytes
        scope = anyio.CancelScope()
        with self.server.hub.sends.guard(scope) as guard:
            try:
                with scope:
                    while True:
                        await outbox.ready()
                        message = outbox.take(budget if self.batched else None)
                        guard.since = monotonic()
                        await websocket.send_text(message)
                        guard.since = None
            except CLOSED:
                pass
            finally:
                self._writing = False
                outbox.clear()
        if guard.timed_out:
            _logger.info("ws.send_timeout", path=websocket.url.path)
            with contextlib.suppress(*CLOSED), anyio.move_on_after(1):
                await websocket.close(code=1008, reason="send timeout")
        tg.cancel_scope.cancel()

    async def run(self) -> None:
        """Read frames until the socket closes; then cancel the socket's followers."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._write, tg, name="ainative-ws-writer")
            try:
                while True:
                    try:
                        message = await self.websocket.receive()
                    except CLOSED:
                        break
                    if message["type"] == "websocket.disconnect":
                        break
                    text = message.get("text")
                    if text is None:
                        data = message.get("bytes") or b""
                        text = data.decode("utf-8", errors="replace")
                    await self._frame(text, tg)
                    if self._refused > self.server.config.ws_message_burst:
                        await self._close_flooded()
                        break
            finally:
                tg.cancel_scope.cancel()

    async def _frame(self, text: str, tg: anyio.abc.TaskGroup) -> None:
        frame: Any = None
        try:
            limited = self._paced()  # every frame counts; a refusal may name its request
            config = self.server.config
            if len(text) > config.max_body_bytes:
                raise PayloadTooLargeError(f"frame exceeds {config.max_body_bytes} bytes")
            frame = parse_json(text, max_depth=config.max_json_depth, what="frame")
            if not isinstance(frame, dict):
                raise InvalidRequestError("frame must be a JSON object")
            if limited is not None:
                raise limited
            await self.handle(frame, tg)
        except Exception as exc:  # a bug must not close the socket's other streams
            log_unexpected(exc, "ws.frame_failed")
            await self.answer(self.refusal(exc, frame))

    def _paced(self) -> RateLimited | None:
        """Take a token for one frame; without one, the `RateLimited` refusing it."""
        pace = self._pace
        if pace is None:
            return None
        wait = pace.take()
        if wait:
            self._refused += 1
            return pace.refused(wait)
        self._refused = 0
        return None

    async def _close_flooded(self) -> None:
        _logger.info("ws.rate_limited", path=self.websocket.url.path, refused=self._refused)
        with contextlib.suppress(*CLOSED), anyio.move_on_after(1):
            await self.websocket.close(code=1008, reason="rate limited")

    async def answer(self, frames: list[str]) -> None:
        """Send ``frames`` unless the socket has closed."""
        if frames:
            with contextlib.suppress(*CLOSED):
                await self.send(frames)

    def _socket_open(self) -> bool:
        connected = WebSocketState.CONNECTED
        ws = self.websocket
        return ws.client_state == connected and ws.application_state == connected

    async def guard(
        self, follow: Callable[[], Awaitable[None]], refusal: Callable[[BaseException], list[str]]
    ) -> None:
        """Run one follower: a closed socket ends it quietly, any other failure is answered
        with ``refusal(exc)``."""
        try:
            await follow()
        except CLOSED as exc:
            if not isinstance(exc, RuntimeError) or not self._socket_open():
                return  # the socket closed
            # A provider's own RuntimeError, the socket still open: a failure like others.
            log_unexpected(exc, "ws.stream_failed")
            await self.answer(refusal(exc))
        except Exception as exc:
            log_unexpected(exc, "ws.stream_failed")
            await self.answer(refusal(exc))


async def refuse_handshake(websocket: WebSocket, exc: AINativeError) -> None:
    """Refuse a WebSocket upgrade with the HTTP error response an SSE request would get.

    Where the server lacks the ASGI denial-response extension, the socket is closed with
    code 1008 (policy violation) instead.
    """
    if "websocket.http.response" not in websocket.scope.get("extensions", {}):
        await websocket.close(code=1008, reason=exc.code)
        return
    response = error_response(exc)
    if isinstance(exc, AuthenticationError):
        response.headers["WWW-Authenticate"] = "Bearer"
    await websocket.send_denial_response(response)


SessionFactory = Callable[["AINativeServer", WebSocket, "Caller"], SocketSession]


def socket_endpoint(
    server: AINativeServer, session: SessionFactory
) -> Callable[[WebSocket], Awaitable[None]]:
    """A WebSocket endpoint: checks the caller (key, ticket, Origin; refused as
    `refuse_handshake` does), accepts, and runs ``session(server, websocket, caller)``."""

    async def endpoint(websocket: WebSocket) -> None:
        try:
            caller = server.caller(websocket)
        except AINativeError as exc:  # a bad key or ticket (401), an origin refused (403)
            await refuse_handshake(websocket, exc)
            return
        await websocket.accept()
        await session(server, websocket, caller).run()

    return endpoint
