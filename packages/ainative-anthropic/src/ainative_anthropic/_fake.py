"""A fake Anthropic Messages API, as an ASGI app, for tests that must not call the vendor.

It speaks the documented wire format: ``POST /v1/messages`` answers with Server-Sent Events
(``message_start``, ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``thinking_delta``, ``signature_delta``, ``input_json_delta``) / ``content_block_stop``
(``redacted_thinking`` blocks come whole in their start), ``message_delta``,
``message_stop``, ``ping``, ``error``) when the body asks for ``"stream": true``, and with a
Message JSON object otherwise; errors are HTTP statuses with Anthropic's error body. Each
request takes the next scripted `AnthropicReply` (the last one repeats). The app runs on any
ASGI server; the plumbing (script, records of requests and client disconnects) is
`ainative_core.FakeUpstream`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, final

from ainative_core import FakeUpstream, RecordedRequest, UpstreamAnswer

__all__ = ["AnthropicReply", "FakeAnthropic", "RecordedRequest"]

Failure = Literal["error_event", "drop", "malformed", "truncate"]


def _words(text: str) -> list[str]:
    parts: list[str] = []
    for i, word in enumerate(text.split(" ")):
        parts.append(word if i == 0 else " " + word)
    return [p for p in parts if p]


def _split(text: str, pieces: int) -> list[str]:
    size = max(1, -(-len(text) // max(pieces, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass(frozen=True)
class AnthropicReply:
    """One scripted answer.

    Success: ``text`` streamed as ``chunks`` (default: word by word), optional ``thinking``
    (signed with ``signature``) and ``redacted_thinking`` blocks (their ``data``) first,
    then ``tool_calls`` (``(name, arguments JSON)``, each streamed in ``tool_chunks``
    ``input_json_delta`` pieces). ``delay`` is slept before every event after
    ``message_start``. ``failure`` happens once ``fail_after`` content deltas were sent:
    an ``error`` event of ``error_type``, a dropped connection, a malformed data line or
    a clean end without ``message_stop`` (``truncate``).
    ``status`` other than 200 answers with an error body (``error_type``, ``error_message``)
    and ``headers`` (say ``retry-after``) instead.
    """

    text: str = "Hello world"
    chunks: Sequence[str] | None = None
    thinking: str = ""
    signature: str = "c2lnbmF0dXJl"
    redacted_thinking: Sequence[str] = ()
    tool_calls: Sequence[tuple[str, str]] = ()
    tool_chunks: int = 3
    stop_reason: str | None = None
    input_tokens: int = 12
    output_tokens: int | None = None
    delay: float = 0.0
    failure: Failure | None = None
    fail_after: int = 0
    status: int = 200
    error_type: str = "api_error"
    error_message: str = "Internal server error"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def http_error(
        cls, status: int, error_type: str, message: str, *, retry_after: float | None = None
    ) -> AnthropicReply:
        """An error answered before any stream, as an HTTP status with a JSON body."""
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status=status, error_type=error_type, error_message=message, headers=headers)

    def text_chunks(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        return _words(self.text)

    def frames(self, model: str, message_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The whole stream as ``(event name, data)`` pairs, before any failure."""
        chunks = self.text_chunks()
        frames: list[tuple[str, dict[str, Any]]] = []
        message: dict[str, Any] = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 1},
        }
        frames.append(("message_start", {"type": "message_start", "message": message}))
        frames.append(("ping", {"type": "ping"}))
        index = 0

        def block(start: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
            nonlocal index
            frames.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": start},
                )
            )
            for delta in deltas:
                frames.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
                )
            frames.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1

        if self.thinking:
            block(
                {"type": "thinking", "thinking": "", "signature": ""},
                [{"type": "thinking_delta", "thinking": t} for t in _words(self.thinking)]
                + [{"type": "signature_delta", "signature": self.signature}],
            )
        for data in self.redacted_thinking:
            block({"type": "redacted_thinking", "data": data}, [])
        if chunks and any(chunks):
            block(
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": c} for c in chunks],
            )
        for n, (name, arguments) in enumerate(self.tool_calls):
            block(
                {
                    "type": "tool_use",
                    "id": f"toolu_{message_id[4:]}_{n}",
                    "name": name,
                    "input": {},
                },
                [
                    {"type": "input_json_delta", "partial_json": part}
                    for part in _split(arguments, self.tool_chunks)
                ],
            )
        output = self.output_tokens if self.output_tokens is not None else len(chunks) + 1
        reason = self.stop_reason or ("tool_use" if self.tool_calls else "end_turn")
        frames.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": None},
                    "usage": {"output_tokens": output},
                },
            )
        )
        frames.append(("message_stop", {"type": "message_stop"}))
        return frames

    def message(self, model: str, message_id: str) -> dict[str, Any]:
        """The non-streamed Message object."""
        content: list[dict[str, Any]] = []
        if self.thinking:
            content.append(
                {"type": "thinking", "thinking": self.thinking, "signature": self.signature}
            )
        for data in self.redacted_thinking:
            content.append({"type": "redacted_thinking", "data": data})
        if self.text:
            content.append({"type": "text", "text": "".join(self.text_chunks())})
        for n, (name, arguments) in enumerate(self.tool_calls):
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{message_id[4:]}_{n}",
                    "name": name,
                    "input": json.loads(arguments),
                }
            )
        output = self.output_tokens if self.output_tokens is not None else len(self.text_chunks())
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": self.stop_reason or ("tool_use" if self.tool_calls else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": output},
        }


@final
class FakeAnthropic(FakeUpstream[AnthropicReply]):
    """ASGI app answering ``POST /v1/messages`` from a script of `AnthropicReply`.

    ``requests`` lists what was received; ``disconnects`` counts streams the client left
    before their end, and ``disconnected`` is set on the first one.
    """

    def __init__(self, *replies: AnthropicReply) -> None:
        super().__init__(AnthropicReply(), replies)
        self._ids = itertools.count(1)

    def _accepts(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/v1/messages"

    def _client_error(self, status: int) -> dict[str, Any]:
        if status == 404:
            return _error_body("not_found_error", "Not found")
        return _error_body("invalid_request_error", "body is not JSON")

    def _answer(self, reply: AnthropicReply, request: RecordedRequest) -> UpstreamAnswer:
        message_id = f"msg_{next(self._ids):04d}"
        model = str(request.body.get("model", "claude-test"))
        if reply.status != 200:
            error = _error_body(reply.error_type, reply.error_message)
            return UpstreamAnswer.json(reply.status, error, {**_REQUEST_ID, **reply.headers})
        if not request.body.get("stream"):
            return UpstreamAnswer.json(200, reply.message(model, message_id), _REQUEST_ID)
        return UpstreamAnswer.stream(
            "text/event-stream; charset=utf-8",
            _events(reply, model, message_id),
            delay=reply.delay,
            undelayed=1,
            headers={"cache-control": "no-cache", "request-id": f"req_{message_id}"},
        )


_REQUEST_ID = {"request-id": "req_fake"}


def _events(reply: AnthropicReply, model: str, message_id: str) -> Iterator[bytes | None]:
    """The SSE frames of ``reply``, up to its scripted failure (``None``: drop the connection)."""
    deltas = 0
    for name, data in reply.frames(model, message_id):
        failing = reply.failure is not None and deltas >= reply.fail_after
        if failing and name in ("content_block_delta", "message_delta"):
            if reply.failure == "drop":
                yield None
            elif reply.failure == "malformed":
                yield _sse(name, '{"type": "content_block_delta", "index": 0,')
            elif reply.failure == "error_event":
                yield _sse("error", json.dumps(_error_body(reply.error_type, reply.error_message)))
            return
        yield _sse(name, json.dumps(data))
        deltas += name == "content_block_delta"


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()
