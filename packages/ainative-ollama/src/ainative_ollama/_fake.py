"""A fake Ollama server, as an ASGI app, for tests that must not need a running Ollama.

It speaks the documented ``POST /api/chat`` format: with ``"stream": true`` (Ollama's
default) it answers ``application/x-ndjson``, one JSON object per line (``message`` with
``content``, ``thinking`` or whole ``tool_calls``, ``done: false``), ending with a
``done: true`` line that carries ``done_reason`` and the token counts; otherwise one JSON
object. Errors are HTTP statuses with ``{"error": "..."}``. Each request takes the next
scripted `OllamaReply` (the last one repeats). The app only needs anyio and records requests
and client disconnects, which a test reads from another thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, final

import anyio
import anyio.to_thread

__all__ = ["FakeOllama", "OllamaReply", "RecordedRequest"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Failure = Literal["error_line", "drop", "malformed", "truncate"]

_CREATED_AT = "2026-01-01T00:00:00.000000Z"


def _words(text: str) -> list[str]:
    parts = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    return [p for p in parts if p]


@dataclass(frozen=True)
class OllamaReply:
    """One scripted answer.

    Success: optional ``thinking`` then ``text`` streamed as ``chunks`` (default: word by
    word), then each of ``tool_calls`` (``(name, arguments JSON)``) whole in one chunk, then
    the ``done`` chunk with ``done_reason``. ``delay`` is slept before every line.
    ``failure`` happens once ``fail_after`` lines were sent: an ``{"error": ...}`` line,
    a dropped connection, a line that is not JSON or a clean end without the ``done`` line
    (``truncate``). ``status`` other than 200 answers
    ``{"error": error_message}`` with ``headers`` (say ``retry-after``) instead.
    """

    text: str = "Hello world"
    chunks: Sequence[str] | None = None
    thinking: str = ""
    tool_calls: Sequence[tuple[str, str]] = ()
    done_reason: str = "stop"
    prompt_eval_count: int = 12
    eval_count: int | None = None
    delay: float = 0.0
    failure: Failure | None = None
    fail_after: int = 0
    status: int = 200
    error_message: str = "an error was encountered while running the model"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def http_error(
        cls, status: int, message: str, *, retry_after: float | None = None
    ) -> OllamaReply:
        """An error answered before any stream, as an HTTP status with ``{"error": ...}``."""
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status=status, error_message=message, headers=headers)

    def text_chunks(self) -> list[str]:
        return list(self.chunks) if self.chunks is not None else _words(self.text)

    def _chunk(self, model: str, message: dict[str, Any], done: bool) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _CREATED_AT,
            "message": {"role": "assistant", "content": "", **message},
            "done": done,
        }

    def _tool_calls(self) -> list[dict[str, Any]]:
        return [
            {"function": {"name": name, "arguments": json.loads(arguments)}}
            for name, arguments in self.tool_calls
        ]

    def _final(self, model: str, message: dict[str, Any]) -> dict[str, Any]:
        chunk = self._chunk(model, message, True)
        eval_count = self.eval_count if self.eval_count is not None else len(self.text_chunks())
        chunk.update(
            done_reason=self.done_reason,
            total_duration=1_000_000,
            load_duration=1_000,
            prompt_eval_count=self.prompt_eval_count,
            prompt_eval_duration=10_000,
            eval_count=eval_count,
            eval_duration=100_000,
        )
        return chunk

    def lines(self, model: str) -> list[dict[str, Any]]:
        """The whole stream, one dict per NDJSON line, before any failure."""
        out = [self._chunk(model, {"thinking": t}, False) for t in _words(self.thinking)]
        out += [self._chunk(model, {"content": c}, False) for c in self.text_chunks()]
        out += [self._chunk(model, {"tool_calls": [call]}, False) for call in self._tool_calls()]
        out.append(self._final(model, {}))
        return out

    def whole(self, model: str) -> dict[str, Any]:
        """The non-streamed answer."""
        message: dict[str, Any] = {"content": "".join(self.text_chunks())}
        if self.thinking:
            message["thinking"] = self.thinking
        if self.tool_calls:
            message["tool_calls"] = self._tool_calls()
        return self._final(model, message)


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received: its path, lower-cased headers and JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@final
class FakeOllama:
    """ASGI app answering ``POST /api/chat`` from a script of `OllamaReply`.

    ``requests`` lists what was received; ``disconnects`` counts streams the client left
    before their end, and ``disconnected`` is set on the first one.
    """

    def __init__(self, *replies: OllamaReply) -> None:
        self._lock = threading.Lock()
        self._replies: list[OllamaReply] = list(replies) or [OllamaReply()]
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.disconnected = threading.Event()

    def script(self, *replies: OllamaReply) -> None:
        """Answer the next requests with ``replies`` (the last repeats) and forget the past."""
        with self._lock:
            self._replies = list(replies) or [OllamaReply()]
            self.requests = []
            self.disconnects = 0
            self.disconnected.clear()

    async def wait_disconnect(self, within: float = 5.0) -> bool:
        """Wait (in a worker thread) until a client leaves a stream early; False on timeout."""
        return await anyio.to_thread.run_sync(self.disconnected.wait, within)

    def _take(self, request: RecordedRequest) -> OllamaReply:
        with self._lock:
            self.requests.append(request)
            return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]

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
        if scope["method"] != "POST" or scope["path"] != "/api/chat":
            await _json(send, 404, {"error": "404 page not found"})
            return
        try:
            body = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            await _json(send, 400, {"error": "invalid character in request body"})
            return
        reply = self._take(RecordedRequest(scope["path"], headers, body))
        model = str(body.get("model", "llama3.2"))
        if reply.status != 200:
            await _json(send, reply.status, {"error": reply.error_message}, reply.headers)
        elif body.get("stream") is False:
            await _json(send, 200, reply.whole(model))
        else:
            await self._stream(reply, model, receive, send)

    async def _stream(self, reply: OllamaReply, model: str, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/x-ndjson")],
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
            for sent, line in enumerate(reply.lines(model)):
                if reply.delay:
                    await anyio.sleep(reply.delay)
                if reply.failure is not None and sent >= reply.fail_after:
                    if reply.failure == "drop":
                        # Returning without finishing the body makes the server cut the
                        # connection, as a dropped upstream does.
                        finished = True
                        tg.cancel_scope.cancel()
                        return
                    if reply.failure == "truncate":
                        break
                    if reply.failure == "malformed":
                        await _line(send, b'{"model": "' + model.encode() + b'", "message": {')
                    else:
                        await _line(send, json.dumps({"error": reply.error_message}).encode())
                    break
                await _line(send, json.dumps(line).encode())
            finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            tg.cancel_scope.cancel()


async def _line(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data + b"\n", "more_body": True})


async def _json(
    send: Send, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    raw = json.dumps(body).encode()
    response_headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(raw)).encode()),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": raw})
