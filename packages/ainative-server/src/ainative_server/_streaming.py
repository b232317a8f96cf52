"""`stream_tokens`: the seed's helper for a plain FastAPI/Starlette ``StreamingResponse``.

It yields exactly the seed's format: ``data: {"type":"token","data":"Hello"}`` per token,
``data: {"type":"done"}`` and ``data: [DONE]``, each followed by a blank line. Failures
follow the seed's server (``sendError`` then ``sendDone``): an exception from the source
becomes ``data: {"type":"error","data":"<message>","code":...,"retryable":...}`` and then
``done`` and ``[DONE]``. No ids: it has no hub behind it, so there is nothing to resume.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from ainative_core import (
    SSE_DONE,
    StreamEvent,
    WireEvent,
    encode_sse,
    wire_event_from_stream_event,
)

__all__ = ["stream_tokens"]

_DONE_FRAME = encode_sse(WireEvent("done").to_json())


def _wire(item: Any) -> WireEvent | None:
    if isinstance(item, str):
        return WireEvent("token", item) if item else None
    if isinstance(item, WireEvent):
        return item
    if isinstance(item, StreamEvent):
        if item.type in ("usage", "finish"):
            return None
        return wire_event_from_stream_event(item)
    if isinstance(item, Mapping):
        return WireEvent("metadata", dict(item))
    raise TypeError(f"stream_tokens: cannot send {type(item).__name__} (expected str)")


async def stream_tokens(
    tokens: AsyncIterable[Any] | Iterable[Any],
) -> AsyncIterator[str]:
    """SSE text for ``StreamingResponse(stream_tokens(gen), media_type="text/event-stream")``.

    Items may be ``str`` (a token), a mapping (a ``metadata`` event), a `StreamEvent` or a
    `WireEvent`.
    """
    try:
        if isinstance(tokens, AsyncIterable):
            async for item in tokens:
                event = _wire(item)
                if event is not None:
                    yield encode_sse(event.to_json())
        else:
            for item in tokens:
                event = _wire(item)
                if event is not None:
                    yield encode_sse(event.to_json())
    except Exception as exc:
        failure = WireEvent.failure_of(exc, internal_message=str(exc) or type(exc).__name__)
        yield encode_sse(failure.to_json())
    yield _DONE_FRAME
    yield SSE_DONE
