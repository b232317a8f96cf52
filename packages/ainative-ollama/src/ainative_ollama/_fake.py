"""A fake Ollama server, as an ASGI app, for tests that must not need a running Ollama.

It speaks the documented ``POST /api/chat`` format: with ``"stream": true`` (Ollama's
default) it answers ``application/x-ndjson``, one JSON object per line (``message`` with
``content``, ``thinking`` or whole ``tool_calls``, ``done: false``), ending with a
``done: true`` line that carries ``done_reason`` and the token counts; otherwise one JSON
object. Errors are HTTP statuses with ``{"error": "..."}``. Each request takes the next
scripted `OllamaReply` (the last one repeats). The plumbing (script, records of requests and
client disconnects) is `ainative_core.FakeUpstream`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, final

from ainative_core import FakeUpstream, RecordedRequest, UpstreamAnswer

__all__ = ["FakeOllama", "OllamaReply", "RecordedRequest"]

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


@final
class FakeOllama(FakeUpstream[OllamaReply]):
    """ASGI app answering ``POST /api/chat`` from a script of `OllamaReply`.

    ``requests`` lists what was received; ``disconnects`` counts streams the client left
    before their end, and ``disconnected`` is set on the first one.
    """

    json_content_type = "application/json; charset=utf-8"

    def __init__(self, *replies: OllamaReply) -> None:
        super().__init__(OllamaReply(), replies)

    def _accepts(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/api/chat"

    def _client_error(self, status: int) -> dict[str, Any]:
        if status == 404:
            return {"error": "404 page not found"}
        return {"error": "invalid character in request body"}

    def _answer(self, reply: OllamaReply, request: RecordedRequest) -> UpstreamAnswer:
        model = str(request.body.get("model", "llama3.2"))
        if reply.status != 200:
            return UpstreamAnswer.json(reply.status, {"error": reply.error_message}, reply.headers)
        if request.body.get("stream") is False:
            return UpstreamAnswer.json(200, reply.whole(model))
        return UpstreamAnswer.stream(
            "application/x-ndjson", _lines(reply, model), delay=reply.delay
        )


def _lines(reply: OllamaReply, model: str) -> Iterator[bytes | None]:
    """The NDJSON lines of ``reply``, up to its scripted failure (``None``: drop the connection)."""
    for sent, line in enumerate(reply.lines(model)):
        if reply.failure is not None and sent >= reply.fail_after:
            if reply.failure == "drop":
                yield None
            elif reply.failure == "malformed":
                yield b'{"model": "' + model.encode() + b'", "message": {\n'
            elif reply.failure == "error_line":
                yield json.dumps({"error": reply.error_message}).encode() + b"\n"
            return
        yield json.dumps(line).encode() + b"\n"
