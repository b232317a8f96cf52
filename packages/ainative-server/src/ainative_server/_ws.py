"""The WebSocket server transport: ``/ai/ws``, several streams per socket.

Client frames: an `ActionRequest` object starts a stream (what the seed's client sends on
open); ``{"type": "cancel", "stream_id": ...}``; ``{"type": "resume", "stream_id": ...,
"last_event_id": N}``. Server frames are the SSE events' JSON objects with ``id`` and
``stream_id`` added. A frame the server cannot use gets an ``error`` frame naming the
problem (code ``invalid_request``) and the socket stays open; a request that fails before
its stream starts (unknown provider or action, invalid params) gets one ``error`` frame
with the failure's ``code`` and HTTP-like ``status``, without ``id``. Failures of the
provider itself happen inside the stream: its ``error`` event, then ``done``.
Keep-alive is the server's WebSocket ping/pong (uvicorn ``ws_ping_interval``, Hypercorn
``websocket_ping_interval``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, final

import anyio
import anyio.abc
import structlog
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ainative_core import (
    ActionRequest,
    AINativeError,
    AuthenticationError,
    InvalidRequestError,
    StreamNotFoundError,
)

from ._http import error_status, validate

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = ["WebSocketTransport"]

_logger = structlog.get_logger("ainative.server")

_CLOSED = (WebSocketDisconnect, OSError, RuntimeError)


def _error_frame(exc: BaseException, stream_id: str | None = None) -> str:
    if isinstance(exc, AINativeError):
        obj: dict[str, Any] = {
            "type": "error",
            "data": exc.message,
            "code": exc.code,
            "retryable": exc.retryable,
            "status": error_status(exc),
        }
    else:
        obj = {"type": "error", "data": "internal server error", "code": "internal_error"}
        obj["retryable"], obj["status"] = False, 500
    if stream_id is not None:
        obj["stream_id"] = stream_id
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@final
class _Session:
    """One socket: reads client frames and runs one follower task per stream."""

    def __init__(self, server: AINativeServer, websocket: WebSocket) -> None:
        self.server = server
        self.hub = server.hub
        self.websocket = websocket
        self.lock = anyio.Lock()
        self.followers: dict[str, anyio.CancelScope] = {}

    async def send(self, frames: list[str]) -> None:
        async with self.lock:
            for frame in frames:
                await self.websocket.send_text(frame)

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            try:
                while True:
                    try:
                        message = await self.websocket.receive()
                    except _CLOSED:
                        break
                    if message["type"] == "websocket.disconnect":
                        break
                    text = message.get("text")
                    if text is None:
                        data = message.get("bytes") or b""
                        text = data.decode("utf-8", errors="replace")
                    await self.handle(text, tg)
            finally:
                tg.cancel_scope.cancel()

    async def handle(self, text: str, tg: anyio.abc.TaskGroup) -> None:
        try:
            try:
                frame = json.loads(text)
            except ValueError as exc:
                raise InvalidRequestError(f"frame is not JSON: {exc}") from None
            if not isinstance(frame, dict):
                raise InvalidRequestError("frame must be a JSON object")
            kind = frame.get("type")
            if kind == "cancel":
                self.hub.cancel(self._stream_id(frame))
            elif kind == "resume":
                stream_id = self._stream_id(frame)
                after = frame.get("last_event_id", 0)
                if isinstance(after, str) and after.isdigit():
                    after = int(after)
                if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                    raise InvalidRequestError("last_event_id: expected a non-negative integer")
                await self.hub.store.stats(stream_id)  # unknown or expired -> error frame
                self.follow(tg, stream_id, after, adopt=False)
            elif kind is None or kind == "action":
                request = validate(ActionRequest, frame)
                run = await self.server.start_stream(request)
                self.follow(tg, run.stream_id, 0, adopt=True)
            else:
                raise InvalidRequestError(
                    f"type: unknown frame type {kind!r}; expected an action request, "
                    "'cancel' or 'resume'"
                )
        except AINativeError as exc:
            await self.send([_error_frame(exc, frame_stream_id(text))])
        except Exception as exc:  # a bug must not close the socket's other streams
            _logger.error("ws.frame_failed", exc_info=exc)
            await self.send([_error_frame(exc, frame_stream_id(text))])

    @staticmethod
    def _stream_id(frame: dict[str, Any]) -> str:
        stream_id = frame.get("stream_id")
        if not isinstance(stream_id, str) or not stream_id:
            raise InvalidRequestError("stream_id: required (a string)")
        return stream_id

    def follow(self, tg: anyio.abc.TaskGroup, stream_id: str, after: int, *, adopt: bool) -> None:
        previous = self.followers.pop(stream_id, None)
        if previous is not None:
            previous.cancel()
        scope = anyio.CancelScope()
        self.followers[stream_id] = scope
        tg.start_soon(self._follow, scope, stream_id, after, adopt)

    async def _follow(
        self, scope: anyio.CancelScope, stream_id: str, after: int, adopt: bool
    ) -> None:
        with scope:
            try:
                async with self.hub.follow(stream_id, after, adopt=adopt) as follower:
                    idle = self.hub.config.ping_interval
                    while (batch := await follower.next_batch(idle)) is not None:
                        if batch:
                            await self.send([event.ws_json(stream_id) for event in batch])
                        if follower.reached_end:
                            break
            except StreamNotFoundError as exc:
                await self.send([_error_frame(exc, stream_id)])
            except _CLOSED:
                pass
        if self.followers.get(stream_id) is scope:
            del self.followers[stream_id]


def frame_stream_id(text: str) -> str | None:
    try:
        value = json.loads(text).get("stream_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


@final
class WebSocketTransport:
    """Server half of the ``ws`` transport (registered by the ainative-server plugin)."""

    name = "ws"

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        async def endpoint(websocket: WebSocket) -> None:
            try:
                server.check_auth(websocket)
            except AuthenticationError:
                await websocket.close(code=1008, reason="unauthorized")
                return
            await websocket.accept()
            await _Session(server, websocket).run()

        return [WebSocketRoute(f"{server.config.prefix}/ws", endpoint)]
