"""Naive pipeline peer: FastAPI ``StreamingResponse`` over the official ``openai`` SDK's stream.

The seed's Python way (``stream_tokens(generator)``) in front of a vendor: the SDK client is
made at import, as such an app does, and each chunk's text is relayed with ``json.dumps`` in
the same wire format as ainative. The vendor is ``BENCH_UPSTREAM``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from ainative_core import ActionRequest

from ._common import done_event, token_event, upstream

__all__ = ["app"]

app = FastAPI()
_client = openai.AsyncOpenAI(api_key="bench", base_url=f"{upstream()}/v1", max_retries=0)


async def _tokens(message: str) -> AsyncIterator[str]:
    stream = await _client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": message}], stream=True
    )
    event_id = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            event_id += 1
            yield token_event(event_id, chunk.choices[0].delta.content)
    yield done_event(event_id + 1)


@app.post("/ai/stream")
async def stream(action: ActionRequest) -> StreamingResponse:
    message = str(action.params.get("message", ""))
    return StreamingResponse(_tokens(message), media_type="text/event-stream")
