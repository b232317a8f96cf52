"""``stream_tokens``: the seed's format for a plain ``StreamingResponse``, byte for byte."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from ainative.streaming import stream_tokens
from ainative_core import ActionRequest, EchoProvider, ProviderRateLimited, StreamEvent
from ainative_testing import live_server

pytestmark = pytest.mark.anyio

SEED = (
    'data: {"type":"token","data":"Hello"}\n\n'
    'data: {"type":"token","data":" world"}\n\n'
    'data: {"type":"done"}\n\n'
    "data: [DONE]\n\n"
)


async def collect(source: object) -> str:
    return "".join([chunk async for chunk in stream_tokens(source)])  # type: ignore[arg-type]


async def tokens(*items: object, fail: Exception | None = None) -> AsyncIterator[object]:
    for item in items:
        yield item
    if fail is not None:
        raise fail


async def test_tokens_become_the_seed_format() -> None:
    assert await collect(tokens("Hello", " world")) == SEED
    assert await collect(["Hello", " world"]) == SEED


async def test_metadata_and_provider_events() -> None:
    out = await collect(
        tokens(
            StreamEvent.text_delta("Hi"),
            {"model": "gpt-4"},
            StreamEvent.usage_report(None),  # type: ignore[arg-type]
            StreamEvent.finish("stop"),
        )
    )
    assert out == (
        'data: {"type":"token","data":"Hi"}\n\n'
        'data: {"type":"metadata","data":{"model":"gpt-4"}}\n\n'
        'data: {"type":"done"}\n\n'
        "data: [DONE]\n\n"
    )


async def test_an_exception_becomes_an_error_event_then_done() -> None:
    out = await collect(tokens("Hello", fail=ProviderRateLimited("slow down")))
    assert out == (
        'data: {"type":"token","data":"Hello"}\n\n'
        'data: {"type":"error","data":"slow down","code":"provider_rate_limited",'
        '"retryable":true}\n\n'
        'data: {"type":"done"}\n\n'
        "data: [DONE]\n\n"
    )
    out = await collect(tokens(fail=ValueError("boom")))
    assert '"data":"boom","code":"internal_error","retryable":false' in out


@pytest.mark.parametrize("backend", ["uvicorn", "hypercorn"])
async def test_the_seed_handler_over_a_real_server(backend: str) -> None:
    app = FastAPI()
    provider = EchoProvider()

    @app.post("/ai/stream")
    async def stream_handler(request: ActionRequest) -> StreamingResponse:
        generator = provider.generate(prompt=request.params["message"], stream=True)
        return StreamingResponse(stream_tokens(generator), media_type="text/event-stream")

    with live_server(app, backend=backend) as live:  # type: ignore[arg-type]
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                body = {"action": "chat", "params": {"message": "Hello world"}}
                response = await client.post("/ai/stream", json=body)
    assert response.content == SEED.encode()
