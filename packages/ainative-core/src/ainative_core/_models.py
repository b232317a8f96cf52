"""The protocol's data models: what goes into a provider and what comes out of it."""

from __future__ import annotations

import json
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ActionRequest",
    "Completion",
    "EventType",
    "FinishReason",
    "GenerateRequest",
    "Message",
    "Role",
    "StreamEvent",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
FinishReason: TypeAlias = Literal[
    "stop", "length", "tool_call", "content_filter", "cancelled", "error"
]
EventType: TypeAlias = Literal[
    "text",
    "reasoning",
    "tool_call_start",
    "tool_call_delta",
    "tool_call_end",
    "usage",
    "finish",
    "error",
    "metadata",
]


class ToolCall(BaseModel):
    """A call the model asked for; ``arguments`` is the JSON text the model produced."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict (``{}`` for empty text); raises ``ValueError`` if not JSON."""
        if not self.arguments.strip():
            return {}
        value = json.loads(self.arguments)
        if not isinstance(value, dict):
            raise ValueError(f"tool call arguments are not a JSON object: {self.arguments!r}")
        return value


class Message(BaseModel):
    """One chat message. ``tool_calls`` on assistant messages, ``tool_call_id`` on tool ones.

    A tool message answers the call ``tool_call_id``: ``content`` is the result (as text) or,
    with ``is_error``, the error's message. ``provider_metadata`` holds what a provider
    attached to an assistant turn and needs back in the next request (Anthropic's signed
    thinking blocks, under ``"anthropic"``); other providers ignore it.
    """

    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str = ""
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    is_error: bool = False
    provider_metadata: dict[str, Any] = Field(default_factory=dict)


class ToolSpec(BaseModel):
    """A tool offered to the model: ``parameters`` is a JSON schema of its arguments."""

    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class GenerateRequest(BaseModel):
    """What a provider is asked to generate. ``extra`` passes provider-specific options."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(min_length=1)
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    stop: list[str] | None = None
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: str | None = Field(default=None, min_length=1)
    """Which tool the model may call: ``"auto"``, ``"none"``, ``"required"`` (some tool), or
    the name of the one tool it must call. None: the vendor's default (auto)."""
    user: str | None = None
    """An id of the end user, passed to vendors that take one (abuse monitoring)."""
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ActionRequest(BaseModel):
    """The body a client posts to start an action (the seed's shape, plus routing fields).

    ``null`` for ``params``, ``context`` or ``options`` is taken as ``{}`` (the seed's
    ``context`` is optional).
    """

    action: str = Field(default="chat", min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    provider: str | None = None
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    tools: bool | list[str] | None = None
    """Server tools the model may call: True (every registered tool), False (none), or their
    names. None: the server's ``model_tools``. Tools the client runs itself go in
    ``options.tools`` (`ToolSpec` objects)."""
    max_steps: int | None = Field(default=None, ge=1)
    """Most provider calls of this stream's tool loop (at most the server's ``max_steps``)."""

    @field_validator("params", "context", "options", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class Usage(BaseModel):
    """Token counts as the provider reported them."""

    model_config = ConfigDict(extra="allow")

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class StreamEvent(BaseModel):
    """One event of a provider stream: a flat model discriminated by ``type``.

    Which fields are set depends on ``type``: ``text`` for ``text``/``reasoning``/``error``;
    ``tool_call_id``/``tool_name``/``args_delta``/``index`` for the ``tool_call_*`` events;
    ``usage``; ``finish_reason`` for ``finish``; ``code``/``retryable`` for ``error``;
    ``provider_metadata`` for ``metadata`` (and anywhere a provider wants to add detail).
    Build them with the ``StreamEvent.text_delta(...)``-style constructors.
    """

    model_config = ConfigDict(frozen=True)

    type: EventType
    text: str | None = None
    index: int = 0
    tool_call_id: str | None = None
    tool_name: str | None = None
    args_delta: str | None = None
    usage: Usage | None = None
    finish_reason: FinishReason | None = None
    code: str | None = None
    retryable: bool | None = None
    provider_metadata: dict[str, Any] | None = None

    @classmethod
    def text_delta(cls, text: str, *, index: int = 0) -> StreamEvent:
        return cls(type="text", text=text, index=index)

    @classmethod
    def reasoning_delta(cls, text: str, *, index: int = 0) -> StreamEvent:
        return cls(type="reasoning", text=text, index=index)

    @classmethod
    def tool_call_start(cls, tool_call_id: str, tool_name: str, *, index: int = 0) -> StreamEvent:
        return cls(
            type="tool_call_start", tool_call_id=tool_call_id, tool_name=tool_name, index=index
        )

    @classmethod
    def tool_call_delta(cls, tool_call_id: str, args_delta: str, *, index: int = 0) -> StreamEvent:
        return cls(
            type="tool_call_delta", tool_call_id=tool_call_id, args_delta=args_delta, index=index
        )

    @classmethod
    def tool_call_end(cls, tool_call_id: str, *, index: int = 0) -> StreamEvent:
        return cls(type="tool_call_end", tool_call_id=tool_call_id, index=index)

    @classmethod
    def usage_report(cls, usage: Usage) -> StreamEvent:
        return cls(type="usage", usage=usage)

    @classmethod
    def finish(cls, reason: FinishReason, *, usage: Usage | None = None) -> StreamEvent:
        return cls(type="finish", finish_reason=reason, usage=usage)

    @classmethod
    def error(
        cls, message: str, *, code: str = "provider_error", retryable: bool = False
    ) -> StreamEvent:
        return cls(type="error", text=message, code=code, retryable=retryable)

    @classmethod
    def metadata(cls, data: dict[str, Any]) -> StreamEvent:
        return cls(type="metadata", provider_metadata=data)


class Completion(BaseModel):
    """A whole response, as folded from a stream by `CompletionAccumulator`."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage | None = None
    finish_reason: FinishReason | None = None
    error: str | None = None
    error_code: str | None = None
    provider_metadata: dict[str, Any] = Field(default_factory=dict)

    def to_message(self) -> Message:
        """The assistant message to append to a conversation (``provider_metadata`` kept)."""
        return Message(
            role="assistant",
            content=self.text,
            tool_calls=list(self.tool_calls),
            provider_metadata=dict(self.provider_metadata),
        )
