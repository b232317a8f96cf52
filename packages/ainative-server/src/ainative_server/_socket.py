"""What every WebSocket protocol of the server shares: the handshake, the frame loop, sends.

A protocol over WebSocket is a `SocketSession` subclass: `socket_endpoint` checks the
upgrade (the caller's key or ticket, the page's Origin; a refusal is the HTTP error an SSE
request would get), accepts it and runs one session per socket. The session reads client
text frames, parses each as a bounded JSON object and hands it to `SocketSession.handle`
with the socket's task group, in which the protocol runs one follower per stream; a
failing frame is answered with the protocol's `SocketSession.refusal` frames and the socket
stays open. Frames are paced by ``ws_message_rate``: one over it is refused
(`RateLimited`), and a socket that sends ``ws_message_burst`` more without one accepted is
closed (1008). Sends are serialised (first come, first served, but an urgent send goes
before every waiting one, between two frames of the send under way); a send still waiting
for its turn can be withdrawn. A write is bounded by ``send_timeout`` on the hub's
`SendWatch` (one clock read per write, no timer): a socket whose write has waited that long
(up to 1.25 times it) is dropped, its session cancelled and the socket closed with 1008
("send timeout"). Leaving (the socket closed) cancels the socket's followers.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
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
from ._send_watch import SendGuard

if TYPE_CHECKING:
    from ._access import Caller
    from ._server import AINativeServer

__all__ = ["CLOSED", "SocketSession", "refuse_handshake", "socket_endpoint"]

CLOSED: Final = (WebSocketDisconnect, OSError, RuntimeError)
"""What sending to or receiving from a socket the client has closed raises."""

_logger = get_logger("ainative.server")


@final
class _Waiter:
    __slots__ = ("event", "gone", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False
        """The turn was handed to this waiter."""
        self.gone = False
        """Withdrawn or cancelled before its turn: skipped when the turn is handed on."""


@final
class _Turns:
    """Whose turn it is to write to a socket: one writer at a time, in the order they came,
    except that urgent writers go before every waiting one. A waiting writer may be
    withdrawn by its key (it then gets no turn)."""

    __slots__ = ("_busy", "_queue", "_urgent", "_waiting")

    def __init__(self) -> None:
        self._busy = False
        self._urgent: deque[_Waiter] = deque()
        self._queue: deque[_Waiter] = deque()
        self._waiting: dict[Hashable, _Waiter] = {}

    async def take(self, *, urgent: bool, key: Hashable | None) -> bool:
        """Wait for the turn (then `give` it back); False if withdrawn meanwhile."""
        if not self._busy:
            self._busy = True
            return True
        waiter = _Waiter()
        (self._urgent if urgent else self._queue).append(waiter)
        if key is not None:
            self._waiting[key] = waiter
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:
                self.give()
            waiter.gone = True
            raise
        finally:
            if key is not None and self._waiting.get(key) is waiter:
                del self._waiting[key]
        return waiter.granted

    def give(self) -> None:
        """Hand the turn to the next waiter (urgent ones first), if any."""
        for queue in (self._urgent, self._queue):
            while queue:
                waiter = queue.popleft()
                if not waiter.gone:
                    waiter.granted = True
                    waiter.event.set()
                    return
        self._busy = False

    def urgent_waiting(self) -> bool:
        """Whether an urgent writer waits for the turn."""
        return any(not waiter.gone for waiter in self._urgent)

    def withdraw(self, key: Hashable) -> None:
        """The writer waiting under ``key``, if any, stops waiting without its turn."""
        waiter = self._waiting.pop(key, None)
        if waiter is not None and not waiter.granted:
            waiter.gone = True
            waiter.event.set()


class SocketSession(ABC):
    """One accepted socket of a protocol: its frames, its sends, its followers' task group."""

    def __init__(self, server: AINativeServer, websocket: WebSocket, caller: Caller) -> None:
        self.server = server
        self.websocket = websocket
        self.caller = caller
        """Who opened the socket: the owner of the streams it starts."""
        self._turns = _Turns()
        config = server.config
        rate = config.ws_message_rate
        self._pace = TokenBucket(rate, config.ws_message_burst) if rate else None
        self._refused = 0
        """Frames refused for the rate since the last one accepted."""
        self._streams = 0
        """Streams this socket follows now (`admit` counted them, `release` not yet)."""
        self._scope = anyio.CancelScope()
        """The whole session's: what the hub's watch cancels when a write stalls."""
        self._guard = SendGuard(self._scope)
        """Stamps the write under way (`run` registers it with the hub's watch)."""

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
        """Send ``frames`` in order, after the sends waiting before it (``urgent``: before
        every waiting one). A write that waits ``send_timeout`` for the client to read
        ends the session (the hub's watch). False, with nothing sent, if `withdraw` is
        called with ``key`` while it waits for its turn."""
        turns = self._turns
        if not await turns.take(urgent=urgent, key=key):
            return False
        guard = self._guard  # one writer at a time: the turn's holder stamps it
        send_text = self.websocket.send_text
        held = True
        try:
            for frame in frames:
                if turns.urgent_waiting():  # it goes between two frames of this batch
                    held = False
                    turns.give()
                    await turns.take(urgent=False, key=None)
                    held = True
                guard.since = time.monotonic()
                await send_text(frame)
                guard.since = None
        finally:
            guard.since = None
            if held:
                turns.give()
        return True

    def withdraw(self, key: Hashable) -> None:
        """A `send` waiting for its turn under ``key`` returns False at once, unsent (a
        send already under way finishes)."""
        self._turns.withdraw(key)

    async def run(self) -> None:
        """Read frames until the socket closes; then cancel the socket's followers. A
        write that stalls (``send_timeout``, the hub's watch) cancels it all, and the
        socket is closed with 1008."""
        with self._scope, self.server.hub.sends.guard(self._scope) as guard:
            self._guard = guard
            async with anyio.create_task_group() as tg:
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
