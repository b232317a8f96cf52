"""Naive pipeline peer: FastAPI ``StreamingResponse`` over httpx reading Ollama's NDJSON.

``client.stream("POST", "/api/chat")``, ``aiter_lines()`` and ``json.loads`` per line; the
client is made at import, and each line's text is relayed with ``json.dumps`` in the same
wire format as ainative. The vendor is ``BENCH_UPSTREAM``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from ainative_core import ActionRequest

from ._common import done_event, token_event, upstream

__all__ = ["app"]

app = FastAPI()
_client = httpx.AsyncClient(base_url=upstream(), timeout=60.0)


async def _tokens(message: str) -> AsyncIterator[str]:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": message}]}
    event_id = 0
    async with _client.stream("POST", "/api/chat", json=body) as response:
        async for line in response.aiter_lines():
            if not line:
                continue
            chunk = json.loads(line)
            text = chunk.get("message", {}).get("content")
            if text:
                event_id += 1
                yield token_event(event_id, text)
            if chunk.get("done"):
                break
    yield done_event(event_id + 1)


@app.post("/ai/stream")
async def stream(action: ActionRequest) -> StreamingResponse:
    message = str(action.params.get("message", ""))
    return StreamingResponse(_tokens(message), media_type="text/event-stream")
