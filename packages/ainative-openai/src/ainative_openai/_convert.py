"""Translation between ainative's models and the OpenAI chat completions format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final, final

from ainative_core import (
    FinishReason,
    GenerateRequest,
    InvalidRequestError,
    Message,
    ProviderResponseError,
    StreamEvent,
    Usage,
)

from ._errors import stream_error

__all__ = ["FINISH_REASONS", "ChunkMapper", "parse_chunk", "request_params", "tool_choice"]

#: OpenAI ``finish_reason`` -> ainative finish reason.
FINISH_REASONS: Final[dict[str, FinishReason]] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
}


def _message(message: Message) -> dict[str, Any]:
    """One message in the Chat Completions shape.

    Assistant tool calls are ``function`` calls whose ``arguments`` is the JSON text; a tool
    result is a ``tool`` message answering ``tool_call_id`` (the API has no error flag: an
    ``is_error`` result is sent as its content, the error's message).
    """
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None and message.role in ("system", "user", "assistant"):
        out["name"] = message.name
    if message.role == "assistant" and message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
        if not message.content:
            out["content"] = None
    if message.role == "tool":
        if not message.tool_call_id:
            raise InvalidRequestError("a tool message needs a tool_call_id")
        out["tool_call_id"] = message.tool_call_id
    return out


def request_params(
    request: GenerateRequest, *, default_model: str, include_usage: bool = True
) -> dict[str, Any]:
    """Keyword arguments for ``chat.completions.create`` (streaming, with usage if asked).

    ``request.extra`` entries are passed through as they are (``seed``, ``user``,
    ``tool_choice``, ``response_format``, ...), so vendor options need no ainative release.
    """
    params: dict[str, Any] = {
        "model": request.model or default_model,
        "messages": [_message(m) for m in request.messages],
        "stream": True,
    }
    if include_usage:
        params["stream_options"] = {"include_usage": True}
    for field in ("temperature", "max_tokens", "top_p", "stop"):
        value = getattr(request, field)
        if value is not None:
            params[field] = value
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
    if request.tool_choice is not None:
        params["tool_choice"] = tool_choice(request.tool_choice)
    if request.user is not None:
        params["user"] = request.user
    params.update(request.extra)
    return params


def _malformed(data: str) -> ProviderResponseError:
    return ProviderResponseError(f"openai: malformed chunk: {data[:200]!r}")


def tool_choice(choice: str) -> Any:
    """``GenerateRequest.tool_choice`` in OpenAI's shape (a tool's name names a function)."""
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def parse_chunk(data: str) -> dict[str, Any]:
    """The JSON object of one chunk (an SSE ``data`` field); raises `ProviderError` if bad.

    The object is read as it is, without the SDK's models: compatible servers omit or add
    fields, and `ChunkMapper` checks the type of each field it uses. An ``{"error": ...}``
    object sent inside the stream becomes the matching error.
    """
    try:
        payload = json.loads(data)
    except ValueError:
        raise _malformed(data) from None
    if type(payload) is not dict:
        raise _malformed(data)
    if payload.get("error"):
        raise stream_error(payload["error"])
    if type(payload.get("choices", ())) not in (list, tuple):
        raise _malformed(data)
    return payload


def _count(raw: Any, name: str) -> int:
    value = raw.get(name) if type(raw) is dict else None
    return value if type(value) is int else 0


def _usage(raw: dict[str, Any]) -> Usage:
    fields: dict[str, Any] = {
        "input_tokens": _count(raw, "prompt_tokens"),
        "output_tokens": _count(raw, "completion_tokens"),
    }
    reasoning = _count(raw.get("completion_tokens_details"), "reasoning_tokens")
    if reasoning:
        fields["reasoning_tokens"] = reasoning
    cached = _count(raw.get("prompt_tokens_details"), "cached_tokens")
    if cached:
        fields["cached_tokens"] = cached
    return Usage(**fields)


def _text(value: Any) -> str | None:
    """A text field of a delta: a string, or None when absent or null; else malformed."""
    if value is None or type(value) is str:
        return value
    raise ProviderResponseError(f"openai: malformed chunk: a text field holds {value!r}")


@final
class ChunkMapper:
    """Turns chunks (the JSON objects of the stream) into `StreamEvent`s, one at a time.

    Only choice 0 is streamed. Tool calls open with ``tool_call_start`` when their id and
    name arrive, take ``tool_call_delta`` for argument pieces, and close with
    ``tool_call_end`` when the finish reason arrives. ``usage`` and ``finish`` are held back
    to the end of the stream, because the usage chunk comes after the finish reason.
    """

    def __init__(self) -> None:
        self.finish_reason: FinishReason | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self._open: dict[int, str] = {}  # tool call index -> id, in start order
        self._pending_args: dict[int, list[str]] = {}

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        """The events of one chunk, as `parse_chunk` returns it."""
        if self.model is None:
            model = chunk.get("model")
            if model:
                self.model = str(model)
        raw_usage = chunk.get("usage")
        if raw_usage:
            if type(raw_usage) is not dict:
                raise ProviderResponseError(f"openai: malformed usage: {raw_usage!r}")
            self.usage = _usage(raw_usage)
        choices = chunk.get("choices")
        if not choices:
            return []
        events: list[StreamEvent] = []
        for choice in choices:
            if type(choice) is not dict:
                raise ProviderResponseError(f"openai: malformed choice: {choice!r}")
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if delta:
                if type(delta) is not dict:
                    raise ProviderResponseError(f"openai: malformed delta: {delta!r}")
                self._delta(delta, events)
            reason = choice.get("finish_reason")
            if reason:
                events.extend(self._close_tools())
                self.finish_reason = FINISH_REASONS.get(str(reason), "stop")
        return events

    def _delta(self, delta: dict[str, Any], events: list[StreamEvent]) -> None:
        # Compatible servers stream chain-of-thought under one of these names.
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if type(reasoning) is str and reasoning:
            events.append(StreamEvent(type="reasoning", text=reasoning))
        content = _text(delta.get("content"))
        if content:
            events.append(StreamEvent(type="text", text=content))
        calls = delta.get("tool_calls")
        if calls:
            if type(calls) is not list:
                raise ProviderResponseError(f"openai: malformed tool calls: {calls!r}")
            for call in calls:
                events.extend(self._tool_delta(call))

    def _tool_delta(self, call: Any) -> Iterator[StreamEvent]:
        if type(call) is not dict or type(call.get("index")) is not int:
            raise ProviderResponseError(f"openai: malformed tool call: {call!r}")
        index: int = call["index"]
        function = call.get("function") or {}
        if type(function) is not dict:
            raise ProviderResponseError(f"openai: malformed tool call: {call!r}")
        call_id = call.get("id")
        name = _text(function.get("name"))
        args = _text(function.get("arguments"))
        if index not in self._open:
            if call_id is None or not name:
                # Arguments before the id/name: keep them until the call can be started.
                if args:
                    self._pending_args.setdefault(index, []).append(args)
                return
            self._open[index] = str(call_id)
            yield StreamEvent.tool_call_start(str(call_id), name, index=index)
            for piece in self._pending_args.pop(index, ()):
                yield StreamEvent.tool_call_delta(str(call_id), piece, index=index)
        if args:
            yield StreamEvent.tool_call_delta(self._open[index], args, index=index)

    def _close_tools(self) -> Iterator[StreamEvent]:
        for index, call_id in self._open.items():
            yield StreamEvent.tool_call_end(call_id, index=index)
        self._open.clear()

    def end(self) -> Iterator[StreamEvent]:
        """The closing events once the upstream stream ended; raises if it ended early."""
        if self.finish_reason is None:
            raise ProviderResponseError("openai: the stream ended without a finish reason")
        if self.usage is not None:
            yield StreamEvent.usage_report(self.usage)
        yield StreamEvent.finish(self.finish_reason, usage=self.usage)
