"""Bare ASGI peers writing pre-encoded events: the ceilings for Python on this machine.

``one`` sends each token as its own ``http.response.body`` message (or WebSocket frame);
``batched`` joins up to ``BATCH`` tokens per message when the producer is instant (a paced
producer has one token ready at a time, so it sends each as it comes). With a delay they
sleep per token like the echo provider; without one they have no producer at all (no
provider, no checkpoint), so their numbers are the serving cost alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from ._common import options_from_body

__all__ = ["BATCH", "batched", "one"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BATCH = 256
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]
_DONE = b'id: %d\ndata: {"type":"done","data":{"finish_reason":"stop"}}\n\ndata: [DONE]\n\n'


def _frame(index: int) -> bytes:
    text = b"t%d" % index if index == 0 else b" t%d" % index
    return b'id: %d\ndata: {"type":"token","data":"%s"}\n\n' % (index + 1, text)


async def _begin(scope: Scope, receive: Receive, send: Send) -> tuple[int, float] | None:
    """Handle lifespan and non-stream requests; for a stream, read the body and start it."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return None
    if scope["type"] != "http":
        return None
    if scope["path"] != "/ai/stream" or scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return None
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    options = options_from_body(b"".join(chunks))
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    return options


def _ws_frame(index: int) -> str:
    text = f"t{index}" if index == 0 else f" t{index}"
    return f'{{"type":"token","data":"{text}","id":{index + 1},"stream_id":"raw"}}'


async def _websocket(receive: Receive, send: Send) -> None:
    """WebSocket: each ``ActionRequest`` frame streams one frame per token, then ``done``."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        body = text.encode() if text is not None else message.get("bytes") or b""
        tokens, delay = options_from_body(body)
        for index in range(tokens):
            if delay:
                await anyio.sleep(delay)
            await send({"type": "websocket.send", "text": _ws_frame(index)})
        done = '{"type":"done","data":{"finish_reason":"stop"},"id":%d,"stream_id":"raw"}'
        await send({"type": "websocket.send", "text": done % (tokens + 1)})


async def one(scope: Scope, receive: Receive, send: Send) -> None:
    """One send per token (over HTTP, and over a WebSocket at any path)."""
    if scope["type"] == "websocket":
        await _websocket(receive, send)
        return
    options = await _begin(scope, receive, send)
    if options is None:
        return
    tokens, delay = options
    for index in range(tokens):
        if delay:
            await anyio.sleep(delay)
        await send({"type": "http.response.body", "body": _frame(index), "more_body": True})
    await send({"type": "http.response.body", "body": _DONE % (tokens + 1)})


async def batched(scope: Scope, receive: Receive, send: Send) -> None:
    """Up to ``BATCH`` tokens per send when instant; one per send when paced."""
    options = await _begin(scope, receive, send)
    if options is None:
        return
    tokens, delay = options
    pending: list[bytes] = []
    for index in range(tokens):
        if delay:
            await anyio.sleep(delay)
        pending.append(_frame(index))
        if delay or len(pending) >= BATCH:
            await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
            pending.clear()
    pending.append(_DONE % (tokens + 1))
    await send({"type": "http.response.body", "body": b"".join(pending)})
