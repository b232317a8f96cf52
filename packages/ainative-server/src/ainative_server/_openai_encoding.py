"""The OpenAI Chat Completions streaming format as an `Encoding` of a stream's log.

Each event becomes at most a few SSE blocks of ``chat.completion.chunk`` JSON, each with the
event's ``id:`` line (so ``Last-Event-ID`` resumes it): the ``assistant`` role chunk first,
tokens as ``content`` deltas, reasoning as ``reasoning_content`` deltas (the field
compatible servers use), tool calls as ``tool_calls`` deltas (index, id and function name
first, then argument fragments), ``done`` as the chunk carrying ``finish_reason`` followed,
when the request asked (``stream_options.include_usage``), by the usage chunk with empty
``choices``. A failure after the first chunk is an ``{"error": {...}}`` chunk, as OpenAI
sends mid-stream; so is a cancelled stream. ``data: [DONE]`` ends every stream, ``: ping``
keeps an idle one open.

What the chunks need besides the events (creation time, include_usage) is in the log too:
the run's ``metadata`` event ``{"chat_completion": {...}}`` (see `announcement`), so a
stream reads the same to every follower, resumed or not. A stream started by another
protocol reads as well, with the time its encoder was made.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final, final

from ainative_core import encode_sse_comment

from ._encoding import Encoder, Encoding
from ._openai_errors import stream_error_object
from ._store import StoredEvent

__all__ = ["ANNOUNCEMENT_KEY", "FINISH_REASONS", "OPENAI_CHUNKS", "OpenAIEncoding", "announcement"]

ANNOUNCEMENT_KEY: Final = "chat_completion"
FINISH_REASONS: Final = {
    "stop": "stop",
    "length": "length",
    "tool_call": "tool_calls",
    "content_filter": "content_filter",
}
"""ainative finish reason -> OpenAI's (``cancelled`` and ``error`` end with an error chunk)."""

_TOKEN_PREFIX: Final = '{"type":"token","data":"'
_TOKEN_START: Final = len(_TOKEN_PREFIX) - 1
_CHOICE_END: Final = ',"logprobs":null,"finish_reason":null}]}\n\n'
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def announcement(*, created: int, model: str, include_usage: bool) -> dict[str, Any]:
    """The ``metadata`` data a Chat Completions run logs before its first chunk."""
    return {ANNOUNCEMENT_KEY: {"created": created, "model": model, "include_usage": include_usage}}


def chunk_id(stream_id: str) -> str:
    """The ``id`` of every chunk (and of the completion) of the stream ``stream_id``."""
    return f"chatcmpl-{stream_id}"


def _usage(usage: Any) -> dict[str, int]:
    prompt = int(usage.get("input_tokens", 0) or 0)
    completion = int(usage.get("output_tokens", 0) or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


@final
class _ChunkEncoder:
    """Encodes one stream's events in id order, with what earlier events set up."""

    __slots__ = (
        "_begun",
        "_created",
        "_errored",
        "_head",
        "_include_usage",
        "_model",
        "_stream_id",
        "_tools",
        "_usage",
    )

    def __init__(self, stream_id: str) -> None:
        self._stream_id = stream_id
        self._created = int(time.time())
        self._model = ""
        self._include_usage = False
        self._begun = False
        self._errored = False
        self._tools: dict[str, int] = {}  # tool call id -> its index among the calls
        self._usage: dict[str, Any] | None = None
        self._head = ""

    def _start(self) -> None:
        self._head = (
            f'{{"id":{_dumps(chunk_id(self._stream_id))},"object":"chat.completion.chunk",'
            f'"created":{self._created},"model":{_dumps(self._model)}'
        )

    def _chunk(self, delta: str, finish: str | None = None) -> str:
        reason = "null" if finish is None else _dumps(finish)
        return (
            f'{self._head},"choices":[{{"index":0,"delta":{delta},"logprobs":null,'
            f'"finish_reason":{reason}}}]}}'
        )

    def _begin(self) -> str:
        """The role chunk, once, before anything else (it starts the chunk head too)."""
        if self._begun:
            return ""
        self._begun = True
        if not self._head:
            self._start()
        return "data: " + self._chunk('{"role":"assistant","content":""}') + "\n\n"

    def __call__(self, event: StoredEvent) -> bytes:
        kind = event.type
        if kind == "token":
            lead = "" if self._begun else self._begin()
            text = event.json
            # The log holds a token as `{"type":"token","data":"…"}`: its data is already a
            # JSON string (no other field follows it: no `","` after its opening quote).
            if (
                text.startswith(_TOKEN_PREFIX)
                and text.endswith('"}')
                and text.find('","', _TOKEN_START) < 0
            ):
                quoted = text[_TOKEN_START:-1]
            else:
                quoted = _dumps(str(json.loads(text).get("data", "")))
            return (
                f"{lead}id: {event.id}\ndata: {self._head}"
                f',"choices":[{{"index":0,"delta":{{"content":{quoted}}}{_CHOICE_END}'
            ).encode()
        obj = json.loads(event.json)
        data = obj.get("data")
        if kind == "metadata":
            return self._metadata(event.id, data)
        if kind == "usage":
            if isinstance(data, dict):
                self._usage = data
            return b""
        if kind not in ("reasoning", "tool_call", "error", "done"):
            return b""
        lead = self._begin()
        if kind == "reasoning":
            chunks = [self._chunk(_dumps({"reasoning_content": str(data or "")}))]
        elif kind == "tool_call":
            chunks = self._tool_call(data if isinstance(data, dict) else {})
        elif kind == "error":
            self._errored = True
            code = obj.get("code")
            error = stream_error_object(str(data), code if isinstance(code, str) else None)
            chunks = [_dumps(error)]
        else:
            chunks = self._done(data if isinstance(data, dict) else {})
        body = "".join(f"id: {event.id}\ndata: {chunk}\n\n" for chunk in chunks)
        return (lead + body).encode()

    def _metadata(self, event_id: int, data: Any) -> bytes:
        if not isinstance(data, dict):
            return b""
        announced = data.get(ANNOUNCEMENT_KEY)
        if isinstance(announced, dict) and not self._begun:
            self._created = int(announced.get("created") or self._created)
            self._model = str(announced.get("model") or self._model)
            self._include_usage = bool(announced.get("include_usage"))
            self._start()
            return f"id: {event_id}\n{self._begin()}".encode()
        if not self._model and "stream_id" in data:  # the run's own first event
            self._model = str(data.get("model") or data.get("provider") or "")
        return b""

    def _tool_call(self, data: dict[str, Any]) -> list[str]:
        call_id = str(data.get("id") or "")
        phase = data.get("phase")
        if phase == "start":
            index = self._tools.setdefault(call_id, len(self._tools))
            call = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": str(data.get("name") or ""), "arguments": ""},
            }
        elif phase == "delta":
            index = self._tools.setdefault(call_id, len(self._tools))
            call = {"index": index, "function": {"arguments": str(data.get("args_delta") or "")}}
        else:
            return []
        return [self._chunk(_dumps({"tool_calls": [call]}))]

    def _done(self, data: dict[str, Any]) -> list[str]:
        reason = data.get("finish_reason")
        finish = FINISH_REASONS.get(str(reason))
        if finish is None:
            if self._errored:
                return []  # the error chunk has been sent
            if reason == "cancelled":
                message, code = "the stream was cancelled", "cancelled"
            else:
                message, code = "the stream ended with an error", "stream_error"
            return [_dumps(stream_error_object(message, code))]
        chunks = [self._chunk("{}", finish)]
        usage = data.get("usage") or self._usage
        if self._include_usage and isinstance(usage, dict):
            chunks.append(f'{self._head},"choices":[],"usage":{_dumps(_usage(usage))}}}')
        return chunks


@final
class OpenAIEncoding(Encoding[bytes]):
    """Chat Completions chunks over SSE, one event's chunks per frame."""

    def __init__(self) -> None:
        super().__init__(
            "openai-chat-completions",
            keepalive=encode_sse_comment("ping").encode(),
            epilogue=b"data: [DONE]\n\n",
        )

    def encoder(self, stream_id: str) -> Encoder[bytes]:
        return _ChunkEncoder(stream_id)


OPENAI_CHUNKS: Final = OpenAIEncoding()
