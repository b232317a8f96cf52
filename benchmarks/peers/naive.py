"""The naive peer: FastAPI ``StreamingResponse`` over an async generator, ``json.dumps`` per token.

This is how the seed's own Python server streams (``stream_tokens(generator)``), here with an
``id`` per event so the bytes match the other servers' wire format.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from ainative_core import ActionRequest, EchoProvider, GenerateRequest, open_stream

from ._common import echo_request

__all__ = ["app"]

app = FastAPI()
_provider = EchoProvider()


async def _stream_tokens(request: GenerateRequest) -> AsyncIterator[str]:
    event_id = 0
    async with open_stream(_provider, request) as events:
        async for event in events:
            if event.type == "text":
                event_id += 1
                body = json.dumps({"type": "token", "data": event.text})
                yield f"id: {event_id}\ndata: {body}\n\n"
            elif event.type == "finish":
                event_id += 1
                body = json.dumps({"type": "done", "data": {"finish_reason": event.finish_reason}})
                yield f"id: {event_id}\ndata: {body}\n\n"
    yield "data: [DONE]\n\n"


@app.post("/ai/stream")
async def stream(action: ActionRequest) -> StreamingResponse:
    request = echo_request(action.params, action.options)
    return StreamingResponse(_stream_tokens(request), media_type="text/event-stream")
