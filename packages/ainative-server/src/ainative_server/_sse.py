"""The SSE transport (wire protocol v1): ``POST /ai/stream``, ``GET`` (resume), ``DELETE``.

Its encoding is the seed's format: ``id: N`` + ``data: <json>`` per event, ``retry: 1000``
before the first, a ``: ping`` comment while idle, ``data: [DONE]`` after the last. Lines
end with ``\\n`` only (the seed's client splits on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ainative_core import (
    SSE_DONE,
    ActionRequest,
    InvalidRequestError,
    encode_sse,
    encode_sse_comment,
)

from ._encoding import Encoder, Encoding
from ._http import read_model
from ._response import StreamResponse
from ._store import StoredEvent

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = ["SSEEncoding", "SSETransport", "parse_last_event_id"]

MEDIA_TYPE: Final = "text/event-stream; charset=utf-8"
_MAX_ID_DIGITS: Final = 18


@final
class SSEEncoding(Encoding[bytes]):
    """Wire protocol v1 over Server-Sent Events: one ``id:``/``data:`` block per event."""

    def __init__(self) -> None:
        super().__init__(
            "sse",
            keepalive=encode_sse_comment("ping").encode(),
            prologue=b"retry: 1000\n",
            epilogue=SSE_DONE.encode(),
        )

    def encoder(self, stream_id: str) -> Encoder[bytes]:
        def encode(event: StoredEvent) -> bytes:
            return encode_sse(event.json, id=event.id).encode()

        return encode


SSE: Final = SSEEncoding()


def parse_last_event_id(raw: str | None) -> int:
    """A ``Last-Event-ID`` value as an event id: ASCII digits only, at most 18 of them.

    Empty or missing is 0 (from the start); anything else is `InvalidRequestError`.
    """
    text = (raw or "").strip() or "0"
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS):
        raise InvalidRequestError(
            f"Last-Event-ID: expected a non-negative integer, got {text[:40]!r}"
        )
    return int(text)


@final
class SSETransport:
    """Server half of the ``sse`` transport (registered by the ainative-server plugin)."""

    name = "sse"
    encoding = SSE

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        path = f"{server.config.prefix}/stream"
        limit = server.config.max_body_bytes
        depth = server.config.max_json_depth

        async def start(request: Request) -> Response:
            """Start a stream; headers are sent once it has produced or failed."""
            body = await read_model(request, ActionRequest, limit, max_depth=depth)
            return StreamResponse(server, SSE, media_type=MEDIA_TYPE, request=body)

        async def resume(request: Request) -> Response:
            """Replay the events after ``Last-Event-ID`` (header or query), then follow."""
            raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
            return StreamResponse(
                server,
                SSE,
                media_type=MEDIA_TYPE,
                stream_id=request.path_params["stream_id"],
                after=parse_last_event_id(raw),
            )

        async def cancel(request: Request) -> Response:
            """Cancel the stream's producer; its followers end with ``cancelled``."""
            stream_id = request.path_params["stream_id"]
            was_running = await server.cancel(stream_id, caller=server.caller(request))
            return JSONResponse({"stream_id": stream_id, "cancelled": was_running})

        return [
            Route(path, server.endpoint(start), methods=["POST"]),
            Route(f"{path}/{{stream_id}}", server.endpoint(resume), methods=["GET"]),
            Route(f"{path}/{{stream_id}}", server.endpoint(cancel), methods=["DELETE"]),
        ]
