"""The AI SDK's WebSocket chat transport: ``WebSocketChatTransport`` against an ainative server.

Route: ``/ai/ui/ws`` (under the server's prefix), one socket carrying any number of
correlated UI message streams, each named by the client's ``requestId``. Client frames:

- ``{"type": "send", requestId, id, trigger, messageId, messages, headers, body, metadata}``
  starts a run of the ``respond`` action on the chat ``id`` (``body`` may name
  ``provider``, ``model`` and ``options``, as ``useChat``'s body does over HTTP);
- ``{"type": "resume", requestId, id, lastSequence?, headers, body}``: ``id`` is a chat id
  (its latest run) or a stream id. Without ``lastSequence`` (what the transport sends) the
  whole message of the chat's running stream is replayed, then followed live, and
  ``no-active`` answers when the chat has no running stream; with ``lastSequence: N`` the
  chunks after sequence N, of a running or finished stream;
- ``{"type": "abort", requestId}`` stops that request's run: the provider call is cancelled.

Server frames: ``start`` once the request's stream is known, ``chunk`` (``sequence``, and
``chunk``: the UI message chunk, the same shapes as the HTTP stream's parts), ``end`` after
the stream's ``finish``; ``error`` (``errorText``, and our ``code``) for a request refused
before its stream started; ``no-active``. A chunk's sequence is its part ordinal in the
stream minus one (0, 1, 2, ...): a function of the run log (see `PartsEncoding`), so a
sequence names the same chunk on every socket, replica and replay, and one event's several
chunks (``text-start``, ``text-delta``) have consecutive sequences.

The socket is authenticated at the upgrade as ``/ai/ws`` is (a bearer header, or a ticket
from ``POST /ai/ws-ticket`` as ``?ticket=``; a page's Origin must be allowed); a frame's
``headers`` are not read. A dropped socket never stops a run (the transport's stop is
``abort``): runs outlive it for ``resume_grace``, for ``reconnectToStream``.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any, Final, Literal, final

import anyio
import anyio.abc
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from ainative_core import ActionRequest, InvalidRequestError, StreamNotFoundError, error_fields

from ._aisdk import UI_MESSAGE_STREAM, chat_request, stream_of
from ._aliases import StreamAliases
from ._conversation import RESPOND
from ._encoding import Encoder, Encoding
from ._http import validate
from ._parts import numbered
from ._socket import SocketSession, socket_endpoint
from ._store import StoredEvent

if TYPE_CHECKING:
    from ._access import Caller
    from ._server import AINativeServer

__all__ = ["Chunks", "UIChunkEncoding", "UIMessageSocketTransport"]

_quote = json.encoder.encode_basestring
_MAX_SEQUENCE: Final = 2**53 - 1
"""The largest sequence the transport accepts (JavaScript's ``Number.MAX_SAFE_INTEGER``)."""


@final
class Chunks:
    """One event's chunk frames, without their ``requestId``: ``tails[i]`` is the end of
    the ``chunk`` frame of sequence ``first + i``."""

    __slots__ = ("first", "tails")

    def __init__(self, first: int, tails: tuple[str, ...]) -> None:
        self.first = first
        self.tails = tails

    def frames(self, head: str, after: int) -> list[str]:
        """The frames of the chunks after sequence ``after``, each ``head + tail``."""
        skip = max(0, after + 1 - self.first)
        return [head + tail for tail in self.tails[skip:]]


@final
class UIChunkEncoding(Encoding[Chunks]):
    """The UI message chunks of a stream, numbered from 0, for the WebSocket chat transport.

    The chunks are the parts of `UIMessageStreamEncoding` (one assistant message); each
    frame is encoded once per event and shared by every request that follows the stream,
    which only puts its ``requestId`` in front.
    """

    def __init__(self) -> None:
        super().__init__("ai-sdk-ws")

    def encoder(self, stream_id: str) -> Encoder[Chunks]:
        number = numbered(UI_MESSAGE_STREAM.parts(stream_id))

        def encode(event: StoredEvent) -> Chunks:
            ordinal, parts = number(event)
            first = ordinal - 1  # sequences start at 0
            tails = tuple(
                f',"sequence":{first + i},"chunk":{part}}}' for i, part in enumerate(parts)
            )
            return Chunks(first, tails)

        return encode


UI_CHUNKS: Final = UIChunkEncoding()

# -- client frames -------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    request_id: StrictStr = Field(alias="requestId")
    id: StrictStr
    headers: dict[str, StrictStr]
    body: dict[str, Any]


class _Send(_Request):
    trigger: Literal["submit-message", "regenerate-message"]
    message_id: StrictStr | None = Field(default=None, alias="messageId")
    messages: list[Any]


class _Resume(_Request):
    last_sequence: StrictInt | None = Field(
        default=None, alias="lastSequence", ge=0, le=_MAX_SEQUENCE
    )


def _request_id(frame: Any) -> str | None:
    value = frame.get("requestId") if isinstance(frame, dict) else None
    return value if isinstance(value, str) else None


def _frame(kind: str, request_id: str, **fields: Any) -> str:
    obj = {"type": kind, "requestId": request_id, **fields}
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _error(request_id: str, exc: BaseException) -> list[str]:
    fields = error_fields(exc)
    return [_frame("error", request_id, errorText=fields["message"], code=fields["code"])]


# -- the session ---------------------------------------------------------------------------


@final
class _Follower:
    """One request of a socket: its follower's scope, and its stream once known."""

    __slots__ = ("scope", "stream_id")

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.stream_id: str | None = None


@final
class _Session(SocketSession):
    """One socket of the WebSocket chat transport: one follower per ``requestId``."""

    __slots__ = ("chats", "requests")

    def __init__(
        self, server: AINativeServer, websocket: WebSocket, caller: Caller, chats: StreamAliases
    ) -> None:
        super().__init__(server, websocket, caller)
        self.chats = chats
        self.requests: dict[str, _Follower] = {}

    async def handle(self, frame: dict[str, Any], tg: anyio.abc.TaskGroup) -> None:
        kind = frame.get("type")
        if kind == "abort":
            request_id = _request_id(frame)
            if request_id is None:
                raise InvalidRequestError("requestId: required (a string)")
            await self._abort(request_id)
            return
        if kind == "send":
            send = validate(_Send, frame)
            chat = {**send.body, "id": send.id, "messages": send.messages}
            action, chat_id = chat_request(chat)
            self._open(send.request_id)
            tg.start_soon(self._follow, send.request_id, action, chat_id, None, -1)
        elif kind == "resume":
            resume = validate(_Resume, frame)
            self._open(resume.request_id)
            after = -1 if resume.last_sequence is None else resume.last_sequence
            tg.start_soon(self._follow, resume.request_id, None, resume.id, resume, after)
        else:
            raise InvalidRequestError(
                f"type: unknown frame type {kind!r}; expected 'send', 'resume' or 'abort'"
            )

    def refusal(self, exc: BaseException, frame: Any) -> list[str]:
        request_id = _request_id(frame)
        if request_id is None or request_id in self.requests:
            return []  # nothing the client could tell apart from the request it runs
        return _error(request_id, exc)

    def _open(self, request_id: str) -> None:
        if request_id in self.requests:
            raise InvalidRequestError(f"requestId: {request_id[:80]!r} is already in use")
        self.admit()
        self.requests[request_id] = _Follower()

    async def _abort(self, request_id: str) -> None:
        follower = self.requests.get(request_id)
        if follower is None:
            return  # already ended: nothing runs for it
        if follower.stream_id is not None:
            with contextlib.suppress(StreamNotFoundError):
                await self.server.cancel(follower.stream_id, caller=self.caller)
        follower.scope.cancel()  # before the stream started, this abandons (cancels) its run

    async def _follow(
        self,
        request_id: str,
        action: ActionRequest | None,
        name: str | None,
        resume: _Resume | None,
        after: int,
    ) -> None:
        follower = self.requests[request_id]
        head = '{"type":"chunk","requestId":' + _quote(request_id)

        async def follow() -> None:
            stream_id = None
            if resume is not None:
                assert name is not None
                running_only = resume.last_sequence is None
                stream_id = await stream_of(
                    self.server, self.chats, name, running_only=running_only
                )
                if stream_id is None:
                    await self.send([_frame("no-active", request_id)])
                    return
            try:
                subscribing = self.server.subscribe(
                    UI_CHUNKS, action, stream_id=stream_id, caller=self.caller
                )
                async with subscribing as subscription:
                    follower.stream_id = subscription.stream_id
                    if action is not None and name:
                        self.chats.set(name, subscription.stream_id)
                    await self.send([_frame("start", request_id)])
                    async for batch in subscription:
                        frames: list[str] = []
                        for chunks in batch.frames:
                            frames += chunks.frames(head, after)
                        await self.send(frames)
            except StreamNotFoundError:
                if resume is None:
                    raise
                await self.send([_frame("no-active", request_id)])  # gone, or another key's
                return
            await self.send([_frame("end", request_id)])

        try:
            with follower.scope:
                await self.guard(follow, lambda exc: _error(request_id, exc))
        finally:
            del self.requests[request_id]
            self.release()


@final
class UIMessageSocketTransport:
    """The AI SDK's WebSocket chat transport (registered by the ainative-server plugin)."""

    name = "ai-sdk-ws"
    encoding = UI_CHUNKS

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        chats = StreamAliases(server.hub)
        server.actions.setdefault(RESPOND.name, RESPOND)

        def session(server: AINativeServer, websocket: WebSocket, caller: Caller) -> _Session:
            return _Session(server, websocket, caller, chats)

        return [WebSocketRoute(f"{server.config.prefix}/ui/ws", socket_endpoint(server, session))]
