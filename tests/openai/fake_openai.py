"""A local OpenAI-compatible upstream: chat completions streamed as OpenAI documents them.

An ASGI app (plain ASGI on anyio, so uvicorn and Hypercorn both serve it) that answers
``POST .../chat/completions`` with scripted replies: ``data: {chunk}`` SSE lines ending with
``data: [DONE]``, a usage chunk with empty ``choices``, tool-call deltas split into pieces,
error statuses with OpenAI's error body, malformed chunks, a connection dropped mid-stream,
and slow streams. `ainative_core.FakeUpstream` records each request and whether the client
went away.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, final

from ainative_core import FakeUpstream, RecordedRequest, UpstreamAnswer, echo_tokens

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
    return tool_calls_reply([(call_id, name, arguments)], pieces=pieces, index=index, text=text)


def tool_calls_reply(
    calls: Sequence[tuple[str, str, str]], *, pieces: int = 4, index: int = 0, text: str = ""
) -> Reply:
    """``calls`` (``(id, name, arguments)``) one after the other, from ``index`` on."""
    chunks = [chunk({"role": "assistant", "content": text or None})]
    for n, (call_id, name, arguments) in enumerate(calls, start=index):
        step = max(len(arguments) // pieces, 1)
        parts = [arguments[i : i + step] for i in range(0, len(arguments), step)]
        start = {
            "index": n,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [start]}))
        chunks.extend(
            chunk({"tool_calls": [{"index": n, "function": {"arguments": part}}]}) for part in parts
        )
    chunks.append(chunk({}, finish_reason="tool_calls"))
    chunks.append(usage_chunk(completion=len(chunks)))
    return Reply(chunks=chunks)


def error_reply(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
    error = {"message": message, "type": kind, "param": None, "code": kind}
    return Reply(status=status, error={"error": error}, headers=headers or {})


@final
class FakeOpenAI(FakeUpstream[Reply]):
    """The ASGI app. ``script(*replies)`` queues replies; the last one repeats."""

    def __init__(self, *replies: Reply) -> None:
        super().__init__(text_reply("Hello world"), replies)

    def _accepts(self, method: str, path: str) -> bool:
        return method == "POST" and path.endswith("/chat/completions")

    def _client_error(self, status: int) -> dict[str, Any]:
        if status == 404:
            return {"error": {"message": "not found", "type": "not_found"}}
        return {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}}

    def _answer(self, reply: Reply, request: RecordedRequest) -> UpstreamAnswer:
        if reply.status != 200:
            return UpstreamAnswer.json(reply.status, reply.error or {}, reply.headers)
        return UpstreamAnswer.stream(
            "text/event-stream; charset=utf-8", _frames(reply), delay=reply.delay
        )


def _frames(reply: Reply) -> Iterator[bytes | None]:
    """``data:`` lines, then ``[DONE]``; ``None`` drops the connection at ``drop_after``."""
    for i, data in enumerate(reply.chunks):
        if reply.drop_after is not None and i >= reply.drop_after:
            yield None
            return
        yield f"data: {data}\n\n".encode()
    if reply.done:
        yield b"data: [DONE]\n\n"
