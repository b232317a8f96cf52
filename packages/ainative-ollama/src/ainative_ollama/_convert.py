"""Translating between ainative's request/events and Ollama's ``/api/chat``.

Requests: messages keep their roles (tool results are ``role: tool`` messages naming the
tool), sampling settings go in ``options`` (``max_tokens`` is ``num_predict``), tools use the
OpenAI-like function format. Streams: each NDJSON line is a chunk; `ChunkTranslator` turns
chunks into `StreamEvent`s. Ollama sends a tool call whole in one chunk, so it becomes
``tool_call_start``, one ``tool_call_delta`` with all the arguments, and ``tool_call_end``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, final

from ainative_core import (
    FinishReason,
    GenerateRequest,
    InvalidRequestError,
    Message,
    StreamEvent,
    Usage,
)

from ._errors import OllamaStreamError

__all__ = ["DONE_REASONS", "TOP_LEVEL_OPTIONS", "ChunkTranslator", "build_body", "convert_messages"]

#: Ollama ``done_reason`` -> ainative finish reason (anything else: ``stop``).
DONE_REASONS: Final[Mapping[str, FinishReason]] = {"stop": "stop", "length": "length"}

#: ``request.extra`` keys that are top-level fields of ``/api/chat``; any other goes in
#: ``options`` (``top_k``, ``seed``, ``num_ctx``, ...), as does a dict under ``options``.
TOP_LEVEL_OPTIONS: Final = frozenset({"format", "keep_alive", "think"})


def _arguments(text: str, call_id: str) -> Any:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidRequestError(f"tool call {call_id!r} has invalid arguments: {exc}") from None


def convert_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages in the ``/api/chat`` shape; a tool result names its tool (``tool_name``).

    Assistant tool calls carry their arguments as a JSON object. Ollama has no call ids: a
    tool message's ``tool_name`` is the name of the call with its ``tool_call_id`` earlier in
    the conversation (else the message's ``name``). Ollama has no error flag either: an
    ``is_error`` result is sent as its content, the error's message.
    """
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.role == "assistant" and message.tool_calls:
            item["tool_calls"] = [
                {
                    "function": {
                        "name": call.name,
                        "arguments": _arguments(call.arguments, call.id),
                    }
                }
                for call in message.tool_calls
            ]
            names.update((call.id, call.name) for call in message.tool_calls)
        elif message.role == "tool":
            name = names.get(message.tool_call_id or "") or message.name
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def build_body(request: GenerateRequest, *, model: str, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat``."""
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.stop:
        options["stop"] = list(request.stop)
    body: dict[str, Any] = {
        "model": request.model or model,
        "messages": convert_messages(request.messages),
        "stream": stream,
    }
    for key, value in request.extra.items():
        if key in TOP_LEVEL_OPTIONS:
            body[key] = value
        elif key == "options" and isinstance(value, Mapping):
            options.update(value)
        else:
            options[key] = value
    if options:
        body["options"] = options
    # Ollama has no tool choice: "none" offers no tools, any other choice offers them all.
    if request.tools and request.tool_choice != "none":
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    return body


@final
class ChunkTranslator:
    """Folds ``/api/chat`` chunks (stream lines, or the one non-streamed answer) into events."""

    def __init__(self) -> None:
        self.done = False
        self._tool_count = 0
        self._metadata_sent = False

    def feed(self, chunk: Any) -> list[StreamEvent]:
        """The events for one decoded chunk; raises `OllamaStreamError` on an error chunk."""
        if not isinstance(chunk, dict):
            raise ValueError(f"expected a JSON object, got {chunk!r}")
        if "error" in chunk:
            raise OllamaStreamError(str(chunk["error"]))
        events: list[StreamEvent] = []
        message = chunk.get("message") or {}
        if not isinstance(message, dict):
            raise ValueError(f"expected a message object, got {message!r}")
        thinking = message.get("thinking")
        if thinking:
            events.append(StreamEvent.reasoning_delta(str(thinking)))
        content = message.get("content")
        if content:
            events.append(StreamEvent.text_delta(str(content)))
        for call in message.get("tool_calls") or ():
            events.extend(self._tool_call(call))
        if chunk.get("done"):
            self.done = True
            usage = Usage(
                input_tokens=int(chunk.get("prompt_eval_count") or 0),
                output_tokens=int(chunk.get("eval_count") or 0),
            )
            reason = DONE_REASONS.get(str(chunk.get("done_reason") or "stop"), "stop")
            if reason == "stop" and self._tool_count:
                reason = "tool_call"
            events.append(StreamEvent.usage_report(usage))
            events.append(StreamEvent.finish(reason, usage=usage))
        if events and not self._metadata_sent:
            self._metadata_sent = True
            meta = {"model": chunk.get("model"), "created_at": chunk.get("created_at")}
            events.insert(0, StreamEvent.metadata(meta))
        return events

    def _tool_call(self, call: Any) -> list[StreamEvent]:
        function = call["function"]
        name = str(function["name"])
        arguments = function.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        index = self._tool_count
        self._tool_count += 1
        call_id = str(call.get("id") or f"call_{index}")
        return [
            StreamEvent.tool_call_start(call_id, name, index=index),
            StreamEvent.tool_call_delta(call_id, text, index=index),
            StreamEvent.tool_call_end(call_id, index=index),
        ]
