"""Part streams: SSE protocols in which one logged event becomes any number of messages.

A front-end protocol (the AI SDK's UI message stream, AG-UI) has finer messages than the
log: the first token of a reply is a "text starts" message and a "text delta" message; the
``done`` event closes the open blocks and finishes the run. Such a protocol is a
`PartsEncoding`: its ``parts(stream_id)`` callable turns each event, in id order from event
1, into its messages (JSON texts, called parts here), and the encoding writes every part as
one SSE event whose ``id:`` is the part's ordinal in the stream (1, 2, 3, ...). The ordinals
are a pure function of the log, so they are the same on every replica and after every
restart of the encoder: "the parts after part N" is exact, whichever event part N came from.

`PartsResponse` streams a new run or an existing stream from part ``N`` on: it follows the
stream from its first event (the frames are made once per event and shared, see
`Encoding`) and leaves out the parts up to N, so an index that falls inside an event's
parts resumes in the middle of that event.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, final

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ainative_core import ActionRequest, StreamNotFoundError, WireEvent, encode_sse_comment

from ._encoding import Encoder, Encoding
from ._http import error_response
from ._response import Refusal, StreamResponse
from ._store import StoredEvent

if TYPE_CHECKING:
    from ._access import Caller
    from ._server import AINativeServer

__all__ = [
    "MEDIA_TYPE",
    "PartsEncoding",
    "PartsResponse",
    "count_parts",
    "drop_parts",
    "numbered",
    "token_json",
]

MEDIA_TYPE: Final = "text/event-stream; charset=utf-8"
_ID: Final = b"id: "
_quote = json.encoder.encode_basestring
_BLOCK_END: Final = b"\n\n"

Parts = Callable[[StoredEvent], list[str]]
"""One stream's part maker: the JSON texts of the parts one event becomes (maybe none)."""
StartHook = Callable[[str], Mapping[str, str]]
"""Called with the stream id once a response starts; returns headers to add to it."""


class PartsEncoding(Encoding[bytes]):
    """An SSE encoding whose frames are the parts of each event, each with its ordinal id.

    Subclasses implement `parts`. A frame is ``id: <ordinal>\\ndata: <part>\\n\\n`` per part
    (empty for an event without parts); the keep-alive is a ``: ping`` comment.
    """

    def __init__(self, name: str, *, epilogue: bytes | None = None) -> None:
        super().__init__(name, keepalive=encode_sse_comment("ping").encode(), epilogue=epilogue)

    @abstractmethod
    def parts(self, stream_id: str) -> Parts:
        """A new part maker for ``stream_id``, called once per event from event 1."""

    def encoder(self, stream_id: str) -> Encoder[bytes]:
        number = numbered(self.parts(stream_id))

        def encode(event: StoredEvent) -> bytes:
            first, parts = number(event)
            if len(parts) == 1:  # the common case: one token, one delta
                return f"id: {first}\ndata: {parts[0]}\n\n".encode()
            blocks = [f"id: {first + i}\ndata: {part}\n\n" for i, part in enumerate(parts)]
            return "".join(blocks).encode()

        return encode


def numbered(make: Parts) -> Callable[[StoredEvent], tuple[int, list[str]]]:
    """``make`` with the ordinal of each event's first part (parts are numbered 1, 2, 3 ...
    across the stream): called once per event in id order from event 1, as ``make`` is."""
    count = 0

    def number(event: StoredEvent) -> tuple[int, list[str]]:
        nonlocal count
        parts = make(event)
        first = count + 1
        count += len(parts)
        return first, parts

    return number


def _part_id(body: bytes, start: int) -> int | None:
    """The ordinal of the part block at ``start`` (None for a comment or ``[DONE]``)."""
    if not body.startswith(_ID, start):
        return None
    end = body.index(b"\n", start)
    return int(body[start + len(_ID) : end])


def drop_parts(body: bytes, after: int) -> tuple[bytes, bool]:
    """``body`` without its part blocks whose ordinal is at most ``after``; and whether a
    later part was reached (nothing more to drop after it).

    Blocks without an id (keep-alives, ``[DONE]``) after the dropped parts stay. ``body``
    is whole SSE blocks, as a `PartsEncoding` writes them.
    """
    # Ordinals are consecutive: part ``after + 1`` starts what is kept, when it is here.
    target = b"id: %d\n" % (after + 1)
    if body.startswith(target):
        return body, True
    found = body.find(_BLOCK_END + target)
    if found != -1:
        return body[found + len(_BLOCK_END) :], True
    kept: list[bytes] = []
    pos = 0
    size = len(body)
    while pos < size:
        end = body.index(_BLOCK_END, pos) + len(_BLOCK_END)
        ordinal = _part_id(body, pos)
        if ordinal is not None and ordinal > after:
            kept.append(body[pos:])
            return b"".join(kept), True
        if ordinal is None:
            kept.append(body[pos:end])
        pos = end
    return b"".join(kept), False


def _last_part(frames: list[bytes]) -> int:
    """The ordinal of the last part in ``frames`` (0 if there is none)."""
    for frame in reversed(frames):
        start = frame.rfind(b"\n\nid: ", 0, len(frame) - 2)
        start = start + 2 if start >= 0 else 0
        ordinal = _part_id(frame, start)
        if ordinal is not None:
            return ordinal
    return 0


async def count_parts(
    server: AINativeServer, encoding: PartsEncoding, stream_id: str, caller: Caller | None = None
) -> int:
    """How many parts the stream ``stream_id`` has made so far (its log as it is now).

    `StreamNotFoundError` for an unknown or expired stream (or one ``caller`` does not own).
    """
    target = (await server.hub.store.stats(stream_id)).count
    last = 0
    async with server.subscribe(encoding, stream_id=stream_id, caller=caller) as subscription:
        async for batch in subscription:
            last = _last_part(batch.frames) or last
            if batch.end or (batch.last_id is not None and batch.last_id >= target):
                return last
    raise StreamNotFoundError(f"unknown or expired stream {stream_id!r}")  # pragma: no cover


@final
class PartsResponse(Response):
    """Streams a new run (``request``) or the stream ``stream_id`` from after part ``after``.

    It is a `StreamResponse` that starts at the stream's first event and leaves out the
    parts up to ``after``; ``on_start(stream_id)`` adds headers once the stream is known
    (e.g. a protocol's own name for the stream id) and may record the stream. As for
    `StreamResponse`, ``resumable`` defaults to what the client declared
    (``X-AINative-Resumable: 1``): only such a client's dropped connection leaves the run
    going for ``resume_grace``.
    """

    def __init__(
        self,
        server: AINativeServer,
        encoding: PartsEncoding,
        *,
        request: ActionRequest | None = None,
        stream_id: str | None = None,
        after: int = 0,
        resumable: bool | None = None,
        headers: Mapping[str, str] | None = None,
        on_start: StartHook | None = None,
        refuse: Refusal = error_response,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.after = max(after, 0)
        self.on_start = on_start
        self._inner = StreamResponse(
            server,
            encoding,
            media_type=MEDIA_TYPE,
            request=request,
            stream_id=stream_id,
            resumable=resumable,
            headers=headers,
            refuse=refuse,
        )
        self.raw_headers = self._inner.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        after = self.after
        on_start = self.on_start

        async def send_parts(message: Message) -> None:
            nonlocal after
            kind = message["type"]
            if kind == "http.response.start":
                if message["status"] != 200:
                    after = 0  # a refusal: its body goes out whole
                elif on_start is not None:
                    headers = list(message["headers"])
                    stream_id = dict(headers)[b"x-ainative-stream-id"].decode()
                    extra = on_start(stream_id)
                    headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
                    message = {**message, "headers": headers}
            elif kind == "http.response.body" and after:
                body, reached = drop_parts(message.get("body", b""), after)
                if reached:
                    after = 0
                message = {**message, "body": body}
            await send(message)

        await self._inner(scope, receive, send_parts)


_TOKEN_PREFIX: Final = '{"type":"token","data":'


def token_json(event: StoredEvent) -> str:
    """The JSON string of a ``token`` event's text, as logged (no parsing, no re-quoting)."""
    text = event.json
    if text.startswith(_TOKEN_PREFIX) and text.endswith("}"):
        value = text[len(_TOKEN_PREFIX) : -1]
        if value.startswith('"'):
            return value
    data = WireEvent.from_json(text).data
    return _quote(data if isinstance(data, str) else str(data))
