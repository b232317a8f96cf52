"""Translating between ainative's request/events and the Anthropic Messages API.

Requests: system messages become the top-level ``system`` parameter, tool results become
``tool_result`` blocks in a user message (``is_error`` kept), assistant tool calls become
``tool_use`` blocks after the turn's signed thinking blocks, sent back as received.
Streams: `parse_event` reads the ``data`` of one server-sent event (``message_start``,
``content_block_*``, ``message_delta``, ``message_stop``) as the JSON object it is, and
`StreamTranslator` turns those into `StreamEvent`s: no SDK model is built per event.

Thinking blocks (``thinking`` with its ``signature``, ``redacted_thinking`` with its
``data``) must go back to the API unchanged with the tool results of their turn. A response
carries them, in order, as ``provider_metadata["anthropic"]["thinking_blocks"]`` (one
``metadata`` event before ``finish`` when streamed); `Completion.to_message` keeps that, and
`convert_messages` puts them first in the assistant message's content.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final, final

from ainative_core import (
    Completion,
    FinishReason,
    GenerateRequest,
    InvalidRequestError,
    Message,
    ProviderResponseError,
    StreamEvent,
    ToolCall,
    Usage,
)

__all__ = [
    "METADATA_KEY",
    "STOP_REASONS",
    "STREAM_EVENTS",
    "StreamTranslator",
    "build_params",
    "completion_from_message",
    "convert_messages",
    "parse_event",
    "thinking_metadata",
    "tool_choice",
]

#: The key of this provider's entry in ``provider_metadata``.
METADATA_KEY: Final = "anthropic"
_THINKING_TYPES: Final = frozenset({"thinking", "redacted_thinking"})

#: Anthropic ``stop_reason`` -> ainative finish reason (anything else: ``stop``).
STOP_REASONS: Final[Mapping[str, FinishReason]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
}

_USAGE_EXTRAS: Final = ("cache_creation_input_tokens", "cache_read_input_tokens")

#: The ``type`` of every raw stream event the translator reads.
STREAM_EVENTS: Final = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    }
)


def _tool_input(call: ToolCall) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError as exc:
        raise InvalidRequestError(f"tool call {call.id!r} has invalid arguments: {exc}") from None


def thinking_metadata(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """``provider_metadata`` that carries a response's thinking blocks (empty for none)."""
    return {METADATA_KEY: {"thinking_blocks": blocks}} if blocks else {}


def _sent_thinking_blocks(message: Message) -> list[dict[str, Any]]:
    """The signed thinking blocks an assistant message carries, as copies to send back."""
    entry = message.provider_metadata.get(METADATA_KEY)
    if entry is None:
        return []
    blocks = entry.get("thinking_blocks") if type(entry) is dict else None
    if blocks is None:
        return []
    if type(blocks) is not list or not all(
        type(b) is dict and b.get("type") in _THINKING_TYPES for b in blocks
    ):
        raise InvalidRequestError(
            "provider_metadata['anthropic']['thinking_blocks'] must be a list of "
            f"thinking or redacted_thinking blocks, got {blocks!r}"
        )
    return [copy.deepcopy(b) for b in blocks]


def convert_messages(messages: list[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` in the Messages API shape; consecutive tool results merge.

    An assistant message's content is its thinking blocks (from ``provider_metadata``,
    unchanged), then its text, then its ``tool_use`` blocks. A tool message with
    ``is_error`` becomes a ``tool_result`` with ``"is_error": true``.
    """
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            system.append(message.content)
        elif message.role == "user":
            out.append({"role": "user", "content": message.content})
        elif message.role == "assistant":
            blocks = _sent_thinking_blocks(message)
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            for call in message.tool_calls:
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": _tool_input(call),
                    }
                )
            out.append({"role": "assistant", "content": blocks or message.content})
        else:
            if not message.tool_call_id:
                raise InvalidRequestError("a tool message needs a tool_call_id")
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
            }
            if message.is_error:
                block["is_error"] = True
            previous = out[-1] if out else None
            if (
                previous is not None
                and previous["role"] == "user"
                and isinstance(previous["content"], list)
                and all(b.get("type") == "tool_result" for b in previous["content"])
            ):
                previous["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
    return ("\n\n".join(system) if system else None), out


def build_params(request: GenerateRequest, *, model: str, max_tokens: int) -> dict[str, Any]:
    """Keyword arguments for ``client.messages.create`` (without ``stream``).

    ``temperature`` and ``top_p`` travel in ``extra_body`` with ``request.extra``, so any
    Messages API field the SDK does not name (``top_k``, ``thinking``, ...) passes through.
    """
    system, messages = convert_messages(request.messages)
    params: dict[str, Any] = {
        "model": request.model or model,
        "max_tokens": request.max_tokens or max_tokens,
        "messages": messages,
    }
    if system is not None:
        params["system"] = system
    if request.stop:
        params["stop_sequences"] = list(request.stop)
    if request.tools:
        params["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
    if request.tool_choice is not None:
        params["tool_choice"] = tool_choice(request.tool_choice)
    if request.user is not None:
        params["metadata"] = {"user_id": request.user}
    body: dict[str, Any] = {}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    body.update(request.extra)
    if body:
        params["extra_body"] = body
    return params


def _get(data: Any, name: str) -> Any:
    """A field of a raw event's object (a dict) or of an SDK model (non-streamed replies)."""
    return data.get(name) if type(data) is dict else getattr(data, name, None)


def tool_choice(choice: str) -> dict[str, Any]:
    """``GenerateRequest.tool_choice`` in the Messages API shape (``required`` is ``any``)."""
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


def _usage(data: Any, base: Usage | None = None) -> Usage:
    fields: dict[str, Any] = {
        "input_tokens": base.input_tokens if base else 0,
        "output_tokens": base.output_tokens if base else 0,
    }
    if base is not None and base.model_extra:
        fields.update(base.model_extra)
    for name in ("input_tokens", "output_tokens", *_USAGE_EXTRAS):
        value = _get(data, name)
        if type(value) is int:
            fields[name] = value
    return Usage(**fields)


def parse_event(data: str) -> dict[str, Any] | None:
    """The JSON object of one stream event's ``data``; None for a type the translator lacks.

    Read as it is, without the SDK's models (a block type newer than the SDK still comes
    through with its ``type``); `StreamTranslator` checks each field it uses. Not JSON, or
    not an object: `ValueError`.
    """
    payload = json.loads(data)
    if type(payload) is not dict:
        raise ValueError(f"stream event is not a JSON object: {data[:80]!r}")
    return payload if payload.get("type") in STREAM_EVENTS else None


def _object(value: Any, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise ProviderResponseError(f"Anthropic stream event with a malformed {what}: {value!r}")
    return value


def _string(value: Any, what: str) -> str:
    if type(value) is not str:
        raise ProviderResponseError(f"Anthropic stream event with a malformed {what}: {value!r}")
    return value


def _index(raw: dict[str, Any]) -> int:
    index = raw.get("index")
    if type(index) is not int:
        raise ProviderResponseError(f"Anthropic stream event without a block index: {raw!r}")
    return index


def completion_from_message(message: Any) -> Completion:
    """A `Completion` from a non-streamed ``anthropic.types.Message``."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[dict[str, Any]] = []
    for block in message.content:
        kind = getattr(block, "type", None)
        if kind == "text":
            text.append(block.text)
        elif kind == "thinking":
            reasoning.append(block.thinking)
            thinking.append(
                {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
            )
        elif kind == "redacted_thinking":
            thinking.append({"type": "redacted_thinking", "data": block.data})
        elif kind == "tool_use":
            calls.append(ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input)))
    reason = STOP_REASONS.get(message.stop_reason or "", "stop")
    return Completion(
        text="".join(text),
        reasoning="".join(reasoning),
        tool_calls=calls,
        usage=_usage(message.usage),
        finish_reason=reason,
        provider_metadata={
            "id": message.id,
            "model": message.model,
            **thinking_metadata(thinking),
        },
    )


@final
class StreamTranslator:
    """Folds raw Messages API stream events into `StreamEvent`s, one event at a time.

    The message id and model are sent as one ``metadata`` event just before the first
    content event, so that nothing reaches the consumer before the first token (a failure
    until then can still be retried). The response's thinking blocks, signatures included,
    are sent as one ``metadata`` event just before ``finish`` (`thinking_metadata`).
    """

    def __init__(self) -> None:
        self.usage = Usage()
        self.stop_reason: str | None = None
        self.stopped = False
        self._metadata: dict[str, Any] | None = None
        # content block index -> (tool_use id, position among the tool calls)
        self._tools: dict[int, tuple[str, int]] = {}
        self._tool_args: dict[int, bool] = {}  # content block index -> had input deltas
        self._tool_inputs: dict[int, Any] = {}  # input given whole in content_block_start
        # content block index -> a thinking block: its type and its fields, the text of a
        # ``thinking`` block in pieces (joined once, at the end)
        self._thinking: dict[int, dict[str, Any]] = {}
        self._thinking_text: dict[int, list[str]] = {}

    def _out(self, event: StreamEvent) -> list[StreamEvent]:
        if self._metadata is not None:
            meta, self._metadata = self._metadata, None
            return [StreamEvent.metadata(meta), event]
        return [event]

    def feed(self, raw: dict[str, Any]) -> list[StreamEvent]:
        """The events for one raw stream event (often none, at most a few).

        ``raw`` is the event's JSON object (`parse_event`); a field of the wrong shape is a
        `ProviderResponseError`.
        """
        kind = raw.get("type")
        if kind == "content_block_delta":
            return self._block_delta(_index(raw), _object(raw.get("delta"), "delta"))
        if kind == "message_start":
            message = _object(raw.get("message"), "message")
            self.usage = _usage(message.get("usage"))
            self._metadata = {"id": message.get("id"), "model": message.get("model")}
            return []
        if kind == "content_block_start":
            return self._block_start(_index(raw), _object(raw.get("content_block"), "block"))
        if kind == "content_block_stop":
            return self._block_stop(_index(raw))
        if kind == "message_delta":
            delta = _object(raw.get("delta"), "delta")
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            self.usage = _usage(raw.get("usage"), self.usage)
            return []
        if kind == "message_stop":
            self.stopped = True
            reason = STOP_REASONS.get(str(self.stop_reason or ""), "stop")
            events = self._out(StreamEvent.usage_report(self.usage))
            if self._thinking:
                events.append(StreamEvent.metadata(thinking_metadata(self._thinking_blocks())))
            events.append(StreamEvent.finish(reason, usage=self.usage))
            return events
        return []

    def _block_start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return self._out(StreamEvent(type="text", text=_string(block["text"], "text")))
        if kind == "thinking":
            thinking = _string(block.get("thinking") or "", "thinking")
            signature = _string(block.get("signature") or "", "signature")
            self._thinking[index] = {"type": "thinking", "signature": signature}
            self._thinking_text[index] = [thinking]
            return self._out(StreamEvent(type="reasoning", text=thinking)) if thinking else []
        if kind == "redacted_thinking":
            data = _string(block.get("data"), "redacted_thinking data")
            self._thinking[index] = {"type": "redacted_thinking", "data": data}
            return []
        if kind == "tool_use":
            call_id = _string(block.get("id"), "tool_use id")
            name = _string(block.get("name"), "tool_use name")
            position = len(self._tools)
            self._tools[index] = (call_id, position)
            self._tool_args[index] = False
            self._tool_inputs[index] = block.get("input")
            return self._out(StreamEvent.tool_call_start(call_id, name, index=position))
        return []

    def _block_delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            return self._out(StreamEvent(type="text", text=_string(delta.get("text"), "text")))
        if kind == "thinking_delta":
            thinking = _string(delta.get("thinking"), "thinking")
            pieces = self._thinking_text.get(index)
            if pieces is not None:
                pieces.append(thinking)
            return self._out(StreamEvent(type="reasoning", text=thinking))
        if kind == "signature_delta":
            signature = _string(delta.get("signature"), "signature")
            block = self._thinking.get(index)
            if block is None or block["type"] != "thinking":
                raise ProviderResponseError(f"signature_delta for non-thinking block {index}")
            block["signature"] = signature
            return []
        if kind == "input_json_delta":
            tool = self._tools.get(index)
            if tool is None:
                raise ProviderResponseError(f"input_json_delta for unknown block {index}")
            self._tool_args[index] = True
            call_id, position = tool
            piece = _string(delta.get("partial_json"), "partial_json")
            return self._out(StreamEvent.tool_call_delta(call_id, piece, index=position))
        return []

    def _thinking_blocks(self) -> list[dict[str, Any]]:
        """The thinking blocks seen so far, in block order, as the Messages API shapes them."""
        blocks: list[dict[str, Any]] = []
        for index in sorted(self._thinking):
            block = self._thinking[index]
            if block["type"] == "thinking":
                text = "".join(self._thinking_text[index])
                block = {"type": "thinking", "thinking": text, "signature": block["signature"]}
            blocks.append(block)
        return blocks

    def _block_stop(self, index: int) -> list[StreamEvent]:
        tool = self._tools.get(index)
        if tool is None:
            return []
        call_id, position = tool
        events: list[StreamEvent] = []
        if not self._tool_args[index] and self._tool_inputs.get(index):
            whole = json.dumps(self._tool_inputs[index])
            events.append(StreamEvent.tool_call_delta(call_id, whole, index=position))
        events.append(StreamEvent.tool_call_end(call_id, index=position))
        return events
