"""Client readers for the client figure: each returns how many tokens reached the app code."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import httpx
from httpx_sse import aconnect_sse

from ._load import HttpConnection, action_body

__all__ = ["AINATIVE_CLIENT", "HTTPX_SSE", "READERS"]


async def raw_reader(url: str, tokens: int) -> int:
    """The raw byte reader (counts token markers; decodes nothing)."""
    port = urlsplit(url).port or 80
    async with HttpConnection(port) as conn:
        result = await conn.stream("POST", "/ai/stream", action_body(tokens))
    return result.tokens


async def httpx_sse_reader(url: str, tokens: int) -> int:
    """httpx-sse events, ``json.loads`` per event, token text handed to the app."""
    delivered: list[str] = []
    async with (
        httpx.AsyncClient(timeout=None) as client,
        aconnect_sse(client, "POST", f"{url}/ai/stream", json=action_body(tokens)) as source,
    ):
        async for sse in source.aiter_sse():
            if sse.data == "[DONE]":
                break
            event = json.loads(sse.data)
            if event["type"] == "token":
                delivered.append(event["data"])
    return len(delivered)


async def ainative_reader(url: str, tokens: int) -> int:
    """The ainative client: ``async for token in client.stream_text(...)``."""
    from ainative_client import AINativeClient

    delivered: list[str] = []
    async with AINativeClient(url) as client:
        async for token in client.stream_text("x", tokens=tokens, delay=0):
            delivered.append(token)
    return len(delivered)


HTTPX_SSE = "httpx-sse + json.loads"
AINATIVE_CLIENT = "ainative client stream_text"
READERS: dict[str, Callable[[str, int], Coroutine[Any, Any, int]]] = {
    "raw byte reader": raw_reader,
    HTTPX_SSE: httpx_sse_reader,
    AINATIVE_CLIENT: ainative_reader,
}
