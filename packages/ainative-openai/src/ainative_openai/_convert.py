"""Translation between ainative's models and the OpenAI chat completions format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final, final

from ainative_core import (
    FinishReason,
    GenerateRequest,
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
        out["tool_call_id"] = message.tool_call_id or ""
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


def tool_choice(choice: str) -> Any:
    """``GenerateRequest.tool_choice`` in OpenAI's shape (a tool's name names a function)."""
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def parse_chunk(data: str) -> Any:
    """A ``ChatCompletionChunk`` from an SSE ``data`` field; raises `ProviderError` if bad.

    Built leniently, as the SDK builds them (compatible servers omit or add fields); an
    ``{"error": ...}`` object sent inside the stream becomes the matching error.
    """
    from openai.types.chat import ChatCompletionChunk

    try:
        payload = json.loads(data)
    except ValueError:
        raise ProviderResponseError(f"openai: malformed chunk: {data[:200]!r}") from None
    if not isinstance(payload, dict):
        raise ProviderResponseError(f"openai: malformed chunk: {data[:200]!r}")
    if payload.get("error"):
        raise stream_error(payload["error"])
    if not isinstance(payload.get("choices", []), list):
        raise ProviderResponseError(f"openai: malformed chunk: {data[:200]!r}")
    return ChatCompletionChunk.construct(**payload)


def _usage(raw: Any) -> Usage:
    fields: dict[str, Any] = {
        "input_tokens": int(getattr(raw, "prompt_tokens", 0) or 0),
        "output_tokens": int(getattr(raw, "completion_tokens", 0) or 0),
    }
    details = getattr(raw, "completion_tokens_details", None)
    reasoning = getattr(details, "reasoning_tokens", None)
    if reasoning:
        fields["reasoning_tokens"] = int(reasoning)
    cached = getattr(getattr(raw, "prompt_tokens_details", None), "cached_tokens", None)
    if cached:
        fields["cached_tokens"] = int(cached)
    return Usage(**fields)


@final
class ChunkMapper:
    """Turns ``ChatCompletionChunk`` objects into `StreamEvent`s, one chunk at a time.

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

    def feed(self, chunk: Any) -> Iterator[StreamEvent]:
        if self.model is None and getattr(chunk, "model", None):
            self.model = str(chunk.model)
        raw_usage = getattr(chunk, "usage", None)
        if raw_usage is not None:
            self.usage = _usage(raw_usage)
        for choice in getattr(chunk, "choices", None) or ():
            if getattr(choice, "index", 0) != 0:
                continue
            yield from self._delta(choice.delta)
            reason = getattr(choice, "finish_reason", None)
            if reason:
                yield from self._close_tools()
                self.finish_reason = FINISH_REASONS.get(str(reason), "stop")

    def _delta(self, delta: Any) -> Iterator[StreamEvent]:
        if delta is None:
            return
        extra = getattr(delta, "model_extra", None) or {}
        # Compatible servers stream chain-of-thought under one of these names.
        reasoning = extra.get("reasoning_content") or extra.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            yield StreamEvent.reasoning_delta(reasoning)
        if getattr(delta, "content", None):
            yield StreamEvent.text_delta(delta.content)
        for call in getattr(delta, "tool_calls", None) or ():
            yield from self._tool_delta(call)

    def _tool_delta(self, call: Any) -> Iterator[StreamEvent]:
        index = int(call.index)
        function = getattr(call, "function", None)
        name = getattr(function, "name", None)
        args = getattr(function, "arguments", None)
        if index not in self._open:
            if call.id is None or not name:
                # Arguments before the id/name: keep them until the call can be started.
                if args:
                    self._pending_args.setdefault(index, []).append(args)
                return
            self._open[index] = str(call.id)
            yield StreamEvent.tool_call_start(str(call.id), str(name), index=index)
            for piece in self._pending_args.pop(index, ()):
                yield StreamEvent.tool_call_delta(str(call.id), piece, index=index)
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
