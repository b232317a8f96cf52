"""What every WebSocket protocol of the server shares: the handshake, the frame loop, sends.

A protocol over WebSocket is a `SocketSession` subclass: `socket_endpoint` checks the
upgrade (the caller's key or ticket, the page's Origin; a refusal is the HTTP error an SSE
request would get), accepts it and runs one session per socket. The session reads client
text frames, parses each as a bounded JSON object and hands it to `SocketSession.handle`
with the socket's task group, in which the protocol runs one follower per stream; a
failing frame is answered with the protocol's `SocketSession.refusal` frames and the socket
stays open. Frames are paced by ``ws_message_rate``: one over it is refused
(`RateLimited`), and a socket that sends ``ws_message_burst`` more without one accepted is
closed (1008). A follower's frames go to the socket's outbox (first come, first served, but
an urgent frame goes before every waiting one); the follower that finds the socket idle
writes what waits then, its own frames and others', and a writer task takes over only when
more keeps coming; a follower waits only while ``max_batch_bytes`` wait. No task per
socket while it is idle, and no hand-over between two tasks per frame, as followers taking
turns at the socket would need: on trio Hypercorn yields to the scheduler on every write,
so a socket carrying many streams would write one frame per scheduler round. When the
client asked for it (`SocketSession.batched`) everything waiting goes out as one message.
What a stream handed over and is not written yet can be withdrawn. A write that waits
``send_timeout`` (the hub's `SendWatch`) closes the socket with 1008; leaving (the socket
closed) cancels the socket's followers.
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send
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
from ._send_watch import SendGuard

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

    __slots__ = ("_low", "_queue", "_room", "_urgent", "bytes")

    def __init__(self, limit: int) -> None:
        self._low = limit // 2
        """Senders waiting for room wake once the waiting bytes fall to this (not on every
        frame written, which would wake every waiting follower per frame)."""
        self._urgent: list[str] = []
        self._queue: deque[tuple[Hashable | None, str]] | None = None
        """Made when a frame first waits: an idle socket's frames go out without it (a
        deque's first block is 0.7 KiB, a fifth of what a stream's follower task holds)."""
        self.bytes = 0
        """Bytes of the non-urgent frames waiting."""
        self._room: anyio.Event | None = None
        """Made when a sender first waits for room (an idle socket holds as little as
        it can)."""

    def __len__(self) -> int:
        queue = self._queue
        return len(self._urgent) + (len(queue) if queue is not None else 0)

    def put(self, frames: list[str], key: Hashable | None) -> None:
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        for frame in frames:
            queue.append((key, frame))
            self.bytes += len(frame)

    def put_urgent(self, frames: list[str]) -> None:
        self._urgent.extend(frames)

    def drop(self, key: Hashable) -> None:
        """Leave out the waiting frames put under ``key``."""
        if self._queue is not None:
            kept = deque(item for item in self._queue if item[0] != key)
            self.bytes = sum(len(frame) for _, frame in kept)
            self._queue = kept
        self._wake()  # a sender withdrawn while it waits for room wakes

    def clear(self) -> None:
        """Leave out every waiting frame (the socket is gone)."""
        self._urgent.clear()
        if self._queue is not None:
            self._queue.clear()
        self.bytes = 0
        self._wake()

    async def room(self) -> None:
        """Wait until the writer has taken frames (or `drop` left some out) down to half
        the limit."""
        room = self._room
        if room is None or room.is_set():
            room = self._room = anyio.Event()
        await room.wait()

    def take(self, budget: int | None) -> str:
        """The next message to write (call when not empty): one frame, or with a
        ``budget`` every frame waiting (urgent first) up to ``budget`` bytes, as one JSON
        array when there are several."""
        urgent = self._urgent
        queue = self._queue
        if budget is None:
            if urgent:
                return urgent.pop(0)  # a few at most: the ends of cancelled streams
            assert queue is not None  # not empty
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
            self._wake()

    def _wake(self) -> None:
        room = self._room
        if room is not None:
            room.set()


class SocketSession(ABC):
    """One accepted socket of a protocol: its frames, its sends, its followers' task group."""

    __slots__ = (
        "_busy",
        "_guard",
        "_outbox",
        "_pace",
        "_refused",
        "_scope",
        "_send",
        "_streams",
        "_tg",
        "_waiting",
        "_writing",
        "batched",
        "caller",
        "server",
        "websocket",
    )

    def __init__(self, server: AINativeServer, websocket: WebSocket, caller: Caller) -> None:
        self.server = server
        self.websocket = websocket
        self.caller = caller
        """Who opened the socket: the owner of the streams it starts."""
        self._outbox = _Outbox(server.config.max_batch_bytes)
        self._send: Callable[[Message], Awaitable[None]] = websocket.send
        """Where frames are written: the server's ASGI ``send`` itself when the session runs
        under `socket_endpoint`."""
        self._waiting: dict[Hashable, list[bool]] = {}
        """Senders waiting for room in the outbox, by key: a flag `withdraw` sets."""
        self._writing = True
        """Frames are still written (False once the socket has closed)."""
        self._busy = False
        """A sender is writing what waits (`_drain`)."""
        self._scope = anyio.CancelScope()
        """The whole session's: what the hub's watch cancels when a write stalls."""
        self._guard = SendGuard(self._scope)
        """Stamps the write under way (`run` registers it with the hub's watch)."""
        self._tg: anyio.abc.TaskGroup | None = None
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
        """Write ``frames`` in order, after the frames waiting before them (``urgent``:
        before every waiting one). A sender that finds the socket idle writes what waits
        then, its own frames and others' (`_drain`); one that finds it busy hands its
        frames over and returns (first waiting for room while ``max_batch_bytes`` wait).
        False, with nothing handed over, if `withdraw` is called with ``key`` while it
        waits, or once the socket has closed."""
        if not self._writing:
            return False
        outbox = self._outbox
        if not self._busy and not outbox:
            # An idle socket and one message: written at once, without the outbox's round
            # trip (a paced stream's every token).
            if len(frames) == 1:
                await self._drain(frames[0])
                return True
            if self.batched and sum(map(len, frames)) <= self._room_limit:
                await self._drain("[" + ",".join(frames) + "]")
                return True
        if urgent:
            outbox.put_urgent(frames)
        else:
            if outbox.bytes >= self._room_limit and not await self._room(key):
                return False
            outbox.put(frames, key)
        if not self._busy:
            await self._drain()
        return True

    async def _drain(self, first: str | None = None, *, writer: bool = False) -> None:
        """Write ``first`` (a message of a sender that found the socket idle), then what
        waits (with `batched`, everything waiting as one message). No task of its own and
        no hand-over between two tasks per frame: the sender that found the socket idle
        writes what waits at that moment, its own frames and others', and leaves what came
        meanwhile to a writer task (so that a follower never stays writing for others
        while its own stream waits); the writer task (``writer``) writes until nothing
        waits. Cancelled with frames still waiting, either leaves a writer task to write
        them."""
        self._busy = True
        outbox = self._outbox
        guard = self._guard
        send = self._send
        left = len(outbox)
        try:
            if first is not None:
                guard.since = monotonic()
                await send({"type": "websocket.send", "text": first})
                guard.since = None
            while outbox and (writer or left > 0):
                before = len(outbox)
                message = outbox.take(self._room_limit if self.batched else None)
                left -= before - len(outbox)
                guard.since = monotonic()
                await send({"type": "websocket.send", "text": message})
                guard.since = None
        except CLOSED:
            self._writing = False
            outbox.clear()
            raise
        finally:
            guard.since = None
            self._busy = False
            tg = self._tg
            ending = tg is None or tg.cancel_scope.cancel_called or self._scope.cancel_called
            if outbox and self._writing and not ending:
                self._busy = True  # the writer task's, from now
                tg.start_soon(self._write)  # type: ignore[union-attr]

    async def _write(self) -> None:
        """The writer task `_drain` leaves: until nothing waits (a closed socket ends the
        session)."""
        self._busy = False
        try:
            await self._drain(writer=True)
        except CLOSED:
            if self._tg is not None:
                self._tg.cancel_scope.cancel()

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

    async def run(self) -> None:
        """Read frames until the socket closes; then cancel the socket's followers. A
        write that stalls (``send_timeout``, the hub's watch) cancels it all, and the
        socket is closed with 1008."""
        with self._scope, self.server.hub.sends.guard(self._scope) as guard:
            self._guard = guard
            async with anyio.create_task_group() as tg:
                self._tg = tg
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
                    self._writing = False
                    self._outbox.clear()
                    tg.cancel_scope.cancel()
        if guard.timed_out:
            _logger.info("ws.send_timeout", path=self.websocket.url.path)
            with contextlib.suppress(*CLOSED), anyio.move_on_after(1):
                await self.websocket.close(code=1008, reason="send timeout")

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

    def answers(self, exc: Exception) -> bool:
        """Whether a follower that failed with ``exc`` is answered with its refusal (the
        failure logged), or ends quietly (the socket closed)."""
        if isinstance(exc, CLOSED) and (
            not isinstance(exc, RuntimeError) or not self._socket_open()
        ):
            return False  # the socket closed
        # Any other failure, a provider's own RuntimeError (the socket still open) included.
        log_unexpected(exc, "ws.stream_failed")
        return True

    async def guard(
        self, follow: Callable[[], Awaitable[None]], refusal: Callable[[BaseException], list[str]]
    ) -> None:
        """Run one follower: a closed socket ends it quietly, any other failure is answered
        with ``refusal(exc)`` (see `answers`)."""
        try:
            await follow()
        except Exception as exc:
            if self.answers(exc):
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


@final
class _Endpoint:
    """A WebSocket route's ASGI app: checks the caller, accepts, runs one session.

    An ASGI app rather than a function endpoint, for what every idle socket holds and every
    frame costs: starlette runs a function endpoint inside two more coroutines and an
    exception handler's closures (held for the socket's life), and its
    ``WebSocket.send_text`` adds two calls per frame written; the session writes through
    the server's ``send`` itself.
    """

    __slots__ = ("_server", "_session")

    def __init__(self, server: AINativeServer, session: SessionFactory) -> None:
        self._server = server
        self._session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive=receive, send=send)
        server = self._server
        try:
            caller = server.caller(websocket)
        except AINativeError as exc:  # a bad key or ticket (401), an origin refused (403)
            await refuse_handshake(websocket, exc)
            return
        await websocket.accept()
        session = self._session(server, websocket, caller)
        session._send = send
        await session.run()


def socket_endpoint(server: AINativeServer, session: SessionFactory) -> ASGIApp:
    """A WebSocket route's ASGI app: checks the caller (key, ticket, Origin; refused as
    `refuse_handshake` does), accepts, and runs ``session(server, websocket, caller)``."""
    return _Endpoint(server, session)
