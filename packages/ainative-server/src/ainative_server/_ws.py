"""The WebSocket transport (wire protocol v1): ``/ai/ws``, several streams per socket.

The same session is served at the stream path, ``/ai/stream``, where the seed's client
opens its socket (it swaps ``http`` for ``ws`` in the stream URL). Client frames: an
`ActionRequest` object starts a stream (what the seed's client sends on open);
``{"type": "cancel", "stream_id": ...}``; ``{"type": "resume", "stream_id": ...,
"last_event_id": N}``; ``{"type": "hello", "resumable": true, "batch": true}`` (both fields
optional, each true or false; a field it does not know is ignored). A socket's streams keep
running for ``resume_grace`` after it drops only if the client declared it resumes: the
``X-AINative-Resumable: 1`` header or ``?resumable=1`` on the upgrade, or a ``hello`` frame
(for the streams started after it); otherwise a dropped socket cancels its streams at once.

Server frames are the SSE events' JSON objects with ``id`` and ``stream_id`` added, one
event per frame. A client that asks for batches (``?batch=1`` on the upgrade, or a ``hello``
frame with ``"batch": true``, from then on) gets every frame the socket has waiting at once
(of any of its streams: a burst of tokens, a replay, several paced streams' tokens, a
refusal) in one text frame holding a JSON array of those objects, each stream's in id
order: the array joins the frames they would get alone, and holds about ``max_batch_bytes``
(plus at most one frame; a long replay is several arrays); a lone frame is still a plain
object. A request refused before its
stream starts (invalid frame or params, unknown provider, action or stream, the provider's
own refusal before its first token) gets an ``error`` frame without ``id`` carrying the
error's ``code``, ``retryable``, HTTP-like ``status`` and ``retry_after`` (the fields of an
HTTP error body), then a ``done`` frame without ``id`` (``finish_reason: "error"``), which
is what the seed's client waits for to end a stream; the socket stays open. Failures of the
provider after its first event happen inside the stream: its ``error`` event, then
``done``. A stream the socket cancels gets its ``done`` next, before the frames other
streams have waiting: what it logged that the socket had not sent yet is left out (a
resume from the last id received still has it), so a socket that is behind stops a stream
at once. Keep-alive is the server's WebSocket ping/pong (uvicorn ``ws_ping_interval``,
Hypercorn ``websocket_ping_interval``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, final

import anyio
import anyio.abc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from ainative_core import (
    ActionRequest,
    InvalidRequestError,
    WireEvent,
    error_fields,
)

from ._encoding import Encoder, Encoding
from ._http import client_can_resume, error_status, validate
from ._socket import SocketSession, socket_endpoint
from ._store import StoredEvent

if TYPE_CHECKING:
    from ._access import Caller
    from ._server import AINativeServer

__all__ = ["WebSocketEncoding", "WebSocketTransport", "refusal_frames"]

_MAX_ID_DIGITS: Final = 18
_BATCH_PARAM: Final = "batch"
"""The upgrade's query parameter asking for array frames (``?batch=1``)."""
_YES: Final = frozenset({"1", "true", "yes", "on"})


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@final
class WebSocketEncoding(Encoding[str]):
    """Wire protocol v1 over WebSocket: an event's JSON with ``id`` and ``stream_id``."""

    def __init__(self) -> None:
        super().__init__("ws")

    def encoder(self, stream_id: str) -> Encoder[str]:
        tail = f',"stream_id":{json.dumps(stream_id)}}}'

        def encode(event: StoredEvent) -> str:
            body = event.json
            return f'{body[:-1]},"id":{event.id}{tail}'

        return encode


WS: Final = WebSocketEncoding()


def refusal_frames(exc: BaseException, stream_id: str | None = None) -> list[str]:
    """The frames refusing a request: an id-less ``error`` with the error's fields and
    ``status``, then an id-less ``done`` (``finish_reason: "error"``)."""
    fields = error_fields(exc)
    error: dict[str, Any] = {
        "type": "error",
        "data": fields.pop("message"),
        **fields,
        "status": error_status(exc),
    }
    done = WireEvent.done("error").to_dict()
    if stream_id is not None:
        error["stream_id"] = done["stream_id"] = stream_id
    return [_dumps(error), _dumps(done)]


@final
class _Session(SocketSession):
    """One socket of wire protocol v1: one subscription task per stream."""

    __slots__ = ("cancelled", "followers", "resumable")

    def __init__(self, server: AINativeServer, websocket: WebSocket, caller: Caller) -> None:
        super().__init__(server, websocket, caller)
        self.followers: dict[str, anyio.CancelScope] = {}
        self.cancelled: set[str] = set()
        """Followed streams this socket has cancelled: only their end is still sent."""
        self.resumable = client_can_resume(websocket)
        """Whether the client resumes after a drop (the upgrade's declaration, or hello)."""
        self.batched = _client_batches(websocket)  # ``?batch=1`` on the upgrade, or hello

    async def handle(self, frame: dict[str, Any], tg: anyio.abc.TaskGroup) -> None:
        kind = frame.get("type")
        if kind == "cancel":
            stream_id = _stream_id(frame)
            running = await self.server.cancel(stream_id, caller=self.caller)
            if running and stream_id in self.followers:
                self.cancelled.add(stream_id)
                self.withdraw(stream_id)
        elif kind == "resume":
            stream_id = _stream_id(frame)
            after = _last_event_id(frame.get("last_event_id", 0))
            self.admit()
            tg.start_soon(self._follow, None, stream_id, after)
        elif kind is None or kind == "action":
            request = validate(ActionRequest, frame)
            self.admit()
            tg.start_soon(self._follow, request, None, 0)
        elif kind == "hello":
            resumable = frame.get("resumable", self.resumable)
            batch = frame.get("batch", self.batched)
            if not isinstance(resumable, bool):
                raise InvalidRequestError("resumable: expected true or false")
            if not isinstance(batch, bool):
                raise InvalidRequestError("batch: expected true or false")
            self.resumable = resumable
            self.batched = batch
        else:
            raise InvalidRequestError(
                f"type: unknown frame type {kind!r}; expected an action request, "
                "'cancel', 'resume' or 'hello'"
            )

    def refusal(self, exc: BaseException, frame: Any) -> list[str]:
        named = frame.get("stream_id") if isinstance(frame, dict) else None
        return refusal_frames(exc, named if isinstance(named, str) else None)

    async def _follow(
        self, request: ActionRequest | None, stream_id: str | None, after: int
    ) -> None:
        # One coroutine frame per stream, no closures: an idle socket's stream holds this
        # frame for its whole life (a nested follower and guard held 0.8 KiB more).
        scope = anyio.CancelScope()
        try:
            with scope:
                subscribing = self.server.subscribe(
                    WS,
                    request,
                    stream_id=stream_id,
                    after=after,
                    resumable=self.resumable,
                    caller=self.caller,
                )
                async with subscribing as subscription:
                    sid = subscription.stream_id
                    previous = self.followers.get(sid)
                    if previous is not None:
                        previous.cancel()  # the client resumes what this socket followed
                    self.followers[sid] = scope
                    try:
                        async for batch in subscription:
                            if sid not in self.cancelled:
                                await self.send(batch.frames, key=sid)
                            elif batch.end:  # its done, ahead of the other streams' frames
                                await self.send(batch.frames[-1:], urgent=True)
                    finally:
                        if self.followers.get(sid) is scope:
                            del self.followers[sid]
                            self.cancelled.discard(sid)
        except Exception as exc:
            if self.answers(exc):
                await self.answer(refusal_frames(exc, stream_id))
        finally:
            self.release()


def _client_batches(websocket: WebSocket) -> bool:
    """Whether the upgrade asked for array frames: ``?batch=1`` (or true, yes, on)."""
    return websocket.query_params.get(_BATCH_PARAM, "").strip().lower() in _YES


def _stream_id(frame: dict[str, Any]) -> str:
    stream_id = frame.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        raise InvalidRequestError("stream_id: required (a string)")
    return stream_id


def _last_event_id(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) <= _MAX_ID_DIGITS:
            return int(value)
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**_MAX_ID_DIGITS:
        return value
    raise InvalidRequestError("last_event_id: expected a non-negative integer")


@final
class WebSocketTransport:
    """Server half of the ``ws`` transport (registered by the ainative-server plugin)."""

    name = "ws"
    encoding = WS

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        endpoint = socket_endpoint(server, _Session)

        async def ticket(request: Request) -> Response:
            """A single-use ticket for ``?ticket=`` on a WebSocket, for browsers (which
            cannot send the key in a header there): ``{"ticket": ..., "expires_in": 30}``."""
            issued = server.issue_ticket(request)
            return JSONResponse(
                {"ticket": issued, "expires_in": round(server.tickets.lifetime)},
                headers={"Cache-Control": "no-store"},
            )

        prefix = server.config.prefix
        return [
            WebSocketRoute(f"{prefix}/ws", endpoint),
            WebSocketRoute(f"{prefix}/stream", endpoint),  # the seed client's socket URL
            Route(f"{prefix}/ws-ticket", server.endpoint(ticket), methods=["POST"]),
        ]
