"""The sse-starlette peer: ``EventSourceResponse`` with an ``id`` per event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sse_starlette import EventSourceResponse

from ainative_core import ActionRequest, EchoProvider, GenerateRequest, open_stream

from ._common import echo_request

__all__ = ["app"]

app = FastAPI()
_provider = EchoProvider()


async def _events(request: GenerateRequest) -> AsyncIterator[dict[str, str]]:
    event_id = 0
    async with open_stream(_provider, request) as events:
        async for event in events:
            if event.type == "text":
                event_id += 1
                data = json.dumps({"type": "token", "data": event.text})
                yield {"id": str(event_id), "data": data}
            elif event.type == "finish":
                event_id += 1
                data = json.dumps({"type": "done", "data": {"finish_reason": event.finish_reason}})
                yield {"id": str(event_id), "data": data}
    yield {"data": "[DONE]"}


@app.post("/ai/stream")
async def stream(action: ActionRequest) -> EventSourceResponse:
    request = echo_request(action.params, action.options)
    return EventSourceResponse(_events(request), sep="\n", ping=15)
