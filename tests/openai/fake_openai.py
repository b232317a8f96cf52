"""A local OpenAI-compatible upstream: chat completions streamed as OpenAI documents them.

An ASGI app (plain ASGI on anyio, so uvicorn and Hypercorn both serve it) that answers
``POST .../chat/completions`` with scripted replies: ``data: {chunk}`` SSE lines ending with
``data: [DONE]``, a usage chunk with empty ``choices``, tool-call deltas split into pieces,
error statuses with OpenAI's error body, malformed chunks, a connection dropped mid-stream,
and slow streams. It records each request and whether the client went away.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from ainative_core import echo_tokens

Scope = dict[str, Any]
Receive = Any
Send = Any

MODEL = "gpt-4o-mini"


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
    choices: bool = True,
) -> str:
    """One ``chat.completion.chunk`` as JSON text."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
        "system_fingerprint": "fp_fake",
        "choices": [],
        "usage": usage,
    }
    if choices:
        body["choices"] = [
            {"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish_reason}
        ]
    return json.dumps(body)


@dataclass
class Reply:
    """What the fake answers to one request."""

    status: int = 200
    chunks: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    delay: float = 0.0
    done: bool = True
    drop_after: int | None = None  # close the connection after this many chunks


def usage_chunk(prompt: int = 9, completion: int = 7) -> str:
    return chunk(
        usage={
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
        choices=False,
    )


def text_reply(
    text: str,
    *,
    delay: float = 0.0,
    finish_reason: str = "stop",
    usage: bool = True,
    reasoning: str = "",
) -> Reply:
    tokens = echo_tokens(text)
    chunks = [chunk({"role": "assistant", "content": ""})]
    if reasoning:
        chunks.extend(chunk({"reasoning_content": piece}) for piece in echo_tokens(reasoning))
    chunks.extend(chunk({"content": token}) for token in tokens)
    chunks.append(chunk({}, finish_reason=finish_reason))
    if usage:
        chunks.append(usage_chunk(completion=len(tokens)))
    return Reply(chunks=chunks, delay=delay)


def tool_reply(
    name: str,
    arguments: str,
    *,
    call_id: str = "call_abc123",
    pieces: int = 4,
    index: int = 0,
    text: str = "",
) -> Reply:
    step = max(len(arguments) // pieces, 1)
    parts = [arguments[i : i + step] for i in range(0, len(arguments), step)]
    chunks = [chunk({"role": "assistant", "content": text or None})]
    chunks.append(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
    )
    chunks.extend(
        chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}) for part in parts
    )
    chunks.append(chunk({}, finish_reason="tool_calls"))
    chunks.append(usage_chunk(completion=len(parts) + 2))
    return Reply(chunks=chunks)


def error_reply(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
    error = {"message": message, "type": kind, "param": None, "code": kind}
    return Reply(status=status, error={"error": error}, headers=headers or {})


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeOpenAI:
    """The ASGI app. ``script(*replies)`` queues replies; the last one repeats."""

    def __init__(self) -> None:
        self.replies: list[Reply] = [text_reply("Hello world")]
        self.requests: list[Recorded] = []
        self.disconnects = 0
        self.completed = 0

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests.clear()
        self.disconnects = 0
        self.completed = 0

    def _next(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    async def wait_disconnect(self, within: float = 5.0) -> bool:
        """Whether the client went away mid-stream, waiting up to ``within`` seconds.

        Polled: the count is written by the server's thread, where no anyio.Event of the
        caller's loop can be set.
        """
        deadline = time.monotonic() + within
        while self.disconnects == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await anyio.sleep(0.01)
        return self.disconnects > 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if not scope["path"].endswith("/chat/completions") or scope["method"] != "POST":
            await self._json(send, 404, {"error": {"message": "not found", "type": "not_found"}})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Recorded(scope["path"], headers, json.loads(body or b"{}")))
        reply = self._next()
        if reply.status != 200:
            await self._json(send, reply.status, reply.error or {}, reply.headers)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
            }
        )
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                self.disconnects += 1
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            for i, data in enumerate(reply.chunks):
                if reply.drop_after is not None and i >= reply.drop_after:
                    # Return without finishing the body: the server closes the connection.
                    tg.cancel_scope.cancel()
                    return
                if reply.delay:
                    await anyio.sleep(reply.delay)
                await send(
                    {
                        "type": "http.response.body",
                        "body": f"data: {data}\n\n".encode(),
                        "more_body": True,
                    }
                )
            tail = b"data: [DONE]\n\n" if reply.done else b""
            await send({"type": "http.response.body", "body": tail, "more_body": False})
            self.completed += 1
            tg.cancel_scope.cancel()

    @staticmethod
    async def _json(
        send: Send, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        raw = json.dumps(payload).encode()
        extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": raw})
