"""Naive pipeline peer: FastAPI ``StreamingResponse`` over the ``anthropic`` SDK's stream.

``messages.stream(...)`` and its ``text_stream``, as the SDK's documentation streams; the
client is made at import, and each text delta is relayed with ``json.dumps`` in the same wire
format as ainative. The vendor is ``BENCH_UPSTREAM``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from ainative_core import ActionRequest

from ._common import done_event, token_event, upstream

__all__ = ["app"]

app = FastAPI()
_client = anthropic.AsyncAnthropic(api_key="bench", base_url=upstream(), max_retries=0)


async def _tokens(message: str) -> AsyncIterator[str]:
    event_id = 0
    async with _client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        messages=[{"role": "user", "content": message}],
    ) as stream:
        async for text in stream.text_stream:
            event_id += 1
            yield token_event(event_id, text)
    yield done_event(event_id + 1)


@app.post("/ai/stream")
async def stream(action: ActionRequest) -> StreamingResponse:
    message = str(action.params.get("message", ""))
    return StreamingResponse(_tokens(message), media_type="text/event-stream")
