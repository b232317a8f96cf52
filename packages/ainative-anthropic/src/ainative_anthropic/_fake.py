"""A fake Anthropic Messages API, as an ASGI app, for tests that must not call the vendor.

It speaks the documented wire format: ``POST /v1/messages`` answers with Server-Sent Events
(``message_start``, ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``thinking_delta``, ``input_json_delta``) / ``content_block_stop``, ``message_delta``,
``message_stop``, ``ping``, ``error``) when the body asks for ``"stream": true``, and with a
Message JSON object otherwise; errors are HTTP statuses with Anthropic's error body. Each
request takes the next scripted `AnthropicReply` (the last one repeats). The app runs on any
ASGI server (it only needs anyio) and records requests and client disconnects, which a test
reads from another thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, final

import anyio
import anyio.to_thread

__all__ = ["AnthropicReply", "FakeAnthropic", "RecordedRequest"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
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
    first, then ``tool_calls`` (``(name, arguments JSON)``, each streamed in ``tool_chunks``
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
                + [{"type": "signature_delta", "signature": "c2lnbmF0dXJl"}],
            )
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
            content.append({"type": "thinking", "thinking": self.thinking, "signature": "c2ln"})
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


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received: its path, lower-cased headers and JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@final
class FakeAnthropic:
    """ASGI app answering ``POST /v1/messages`` from a script of `AnthropicReply`.

    ``requests`` lists what was received; ``disconnects`` counts streams the client left
    before their end, and ``disconnected`` is set on the first one.
    """

    def __init__(self, *replies: AnthropicReply) -> None:
        self._lock = threading.Lock()
        self._replies: list[AnthropicReply] = list(replies) or [AnthropicReply()]
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.disconnected = threading.Event()
        self._count = 0

    def script(self, *replies: AnthropicReply) -> None:
        """Answer the next requests with ``replies`` (the last repeats) and forget the past."""
        with self._lock:
            self._replies = list(replies) or [AnthropicReply()]
            self.requests = []
            self.disconnects = 0
            self.disconnected.clear()

    async def wait_disconnect(self, within: float = 5.0) -> bool:
        """Wait (in a worker thread) until a client leaves a stream early; False on timeout."""
        return await anyio.to_thread.run_sync(self.disconnected.wait, within)

    def _take(self, request: RecordedRequest) -> tuple[AnthropicReply, str]:
        with self._lock:
            self.requests.append(request)
            self._count += 1
            reply = self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
            return reply, f"msg_{self._count:04d}"

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
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] != "POST" or scope["path"] != "/v1/messages":
            await _json(send, 404, _error_body("not_found_error", "Not found"))
            return
        try:
            body = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            await _json(send, 400, _error_body("invalid_request_error", "body is not JSON"))
            return
        reply, message_id = self._take(RecordedRequest(scope["path"], headers, body))
        model = str(body.get("model", "claude-test"))
        if reply.status != 200:
            error = _error_body(reply.error_type, reply.error_message)
            await _json(send, reply.status, error, reply.headers)
        elif not body.get("stream"):
            await _json(send, 200, reply.message(model, message_id))
        else:
            await self._stream(reply, model, message_id, receive, send)

    async def _stream(
        self, reply: AnthropicReply, model: str, message_id: str, receive: Receive, send: Send
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"request-id", f"req_{message_id}".encode()),
                ],
            }
        )
        finished = False
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        if not finished:
                            with self._lock:
                                self.disconnects += 1
                            self.disconnected.set()
                        tg.cancel_scope.cancel()
                        return

            tg.start_soon(watch)
            deltas = 0
            for name, data in reply.frames(model, message_id):
                if reply.delay and name != "message_start":
                    await anyio.sleep(reply.delay)
                if (
                    reply.failure is not None
                    and deltas >= reply.fail_after
                    and name
                    in (
                        "content_block_delta",
                        "message_delta",
                    )
                ):
                    if reply.failure == "drop":
                        # Returning without finishing the body makes the server cut the
                        # connection, as a dropped upstream does.
                        finished = True
                        tg.cancel_scope.cancel()
                        return
                    if reply.failure == "truncate":
                        break
                    if reply.failure == "malformed":
                        await _sse(send, name, '{"type": "content_block_delta", "index": 0,')
                    else:
                        error = _error_body(reply.error_type, reply.error_message)
                        await _sse(send, "error", json.dumps(error))
                    break
                await _sse(send, name, json.dumps(data))
                deltas += name == "content_block_delta"
            finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            tg.cancel_scope.cancel()


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


async def _sse(send: Send, event: str, data: str) -> None:
    frame = f"event: {event}\ndata: {data}\n\n".encode()
    await send({"type": "http.response.body", "body": frame, "more_body": True})


async def _json(
    send: Send, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    raw = json.dumps(body).encode()
    response_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        (b"request-id", b"req_fake"),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": raw})
