"""An OpenAI Chat Completions request body, read as a `GenerateRequest`.

Fields OpenAI defines and ainative can honour are mapped (``messages`` of every role with
their text content parts, ``temperature``, ``top_p``, ``max_tokens`` /
``max_completion_tokens``, ``stop``, ``tools``, ``tool_choice``, ``user``); ``n`` other than
1 is refused; fields it does not know are ignored, as OpenAI's own API does. One field is
ainative's: ``options``, provider options passed as they are (the echo provider's
``tokens`` and ``delay``, Ollama's ``num_ctx``), as ``options`` of an ``ActionRequest``.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal, final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ainative_core import GenerateRequest, InvalidRequestError, Message, ToolCall, build_request

__all__ = ["ChatCompletionRequest", "OpenAIRequestError", "parse_chat_request"]

# Option names that would collide with the request's own fields.
_RESERVED_OPTIONS: Final = frozenset({"messages", "prompt", "extra"})
_TEXT_PARTS: Final = frozenset({"text", "input_text", "output_text"})


@final
class OpenAIRequestError(InvalidRequestError):
    """A Chat Completions body ainative cannot run: 400, naming the field in ``param``."""

    status = 400

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Function(_Model):
    name: str = ""
    arguments: str | dict[str, Any] = ""


class _ToolCall(_Model):
    id: str = ""
    type: str = "function"
    function: _Function


class _Part(_Model):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None
    refusal: str | None = None


class _Message(_Model):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[_Part] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _FunctionSpec(_Model):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class _Tool(_Model):
    type: Literal["function"] = "function"
    function: _FunctionSpec


class _ChoiceName(_Model):
    name: str = Field(min_length=1)


class _NamedChoice(_Model):
    type: Literal["function"] = "function"
    function: _ChoiceName


class _StreamOptions(_Model):
    include_usage: bool = False


class ChatCompletionRequest(_Model):
    """The fields of a Chat Completions body that ainative reads (others are ignored)."""

    model: str | None = None
    messages: list[_Message] = Field(min_length=1)
    stream: bool | None = False
    stream_options: _StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    tools: list[_Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | _NamedChoice | None = None
    n: int | None = None
    user: str | None = None
    options: dict[str, Any] | None = None

    @property
    def include_usage(self) -> bool:
        """Whether the stream ends with a usage chunk (``stream_options.include_usage``)."""
        return self.stream_options is not None and self.stream_options.include_usage

    def generate_request(self, model: str | None) -> GenerateRequest:
        """The request for the provider, with ``model`` (None: the provider's default)."""
        if self.n not in (None, 1):
            raise OpenAIRequestError(f"n: only n=1 is supported, got {self.n}", param="n")
        options = dict(self.options or {})
        reserved = sorted(_RESERVED_OPTIONS & options.keys())
        if reserved:
            raise OpenAIRequestError(
                f"options.{reserved[0]}: not allowed as an option", param="options"
            )
        fields: dict[str, Any] = {
            "model": model,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_completion_tokens or self.max_tokens,
            "stop": self.stop,
            "user": self.user,
        }
        options.update((k, v) for k, v in fields.items() if v is not None)
        if self.tools:
            options["tools"] = [
                {
                    "name": tool.function.name,
                    "description": tool.function.description or "",
                    **(
                        {"parameters": tool.function.parameters}
                        if tool.function.parameters is not None
                        else {}
                    ),
                }
                for tool in self.tools
            ]
        if self.tool_choice is not None:
            choice = self.tool_choice
            options["tool_choice"] = choice if isinstance(choice, str) else choice.function.name
        messages = [_message(i, m) for i, m in enumerate(self.messages)]
        try:
            return build_request(messages=messages, **options)
        except ValidationError as exc:
            raise _invalid(exc) from None


def _text(index: int, content: str | list[_Part] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    pieces: list[str] = []
    for n, part in enumerate(content):
        if part.type in _TEXT_PARTS and part.text is not None:
            pieces.append(part.text)
        elif part.type == "refusal" and part.refusal is not None:
            pieces.append(part.refusal)
        else:
            raise OpenAIRequestError(
                f"messages.{index}.content.{n}: only text content parts are supported, "
                f"got {part.type!r}",
                param=f"messages.{index}.content",
            )
    return "".join(pieces)


def _arguments(value: str | dict[str, Any]) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _message(index: int, message: _Message) -> Message:
    text = _text(index, message.content)
    role = message.role
    if role == "developer":
        return Message(role="system", content=text, name=message.name)
    if role == "function":  # the legacy spelling of a tool result, named by its function
        return Message(role="tool", content=text, name=message.name, tool_call_id=message.name)
    calls = [
        ToolCall(
            id=call.id or f"call_{n}",
            name=call.function.name,
            arguments=_arguments(call.function.arguments) or "{}",
        )
        for n, call in enumerate(message.tool_calls or ())
    ]
    return Message(
        role=role,
        content=text,
        name=message.name,
        tool_call_id=message.tool_call_id,
        tool_calls=calls,
    )


def _invalid(exc: ValidationError) -> OpenAIRequestError:
    errors = exc.errors()
    first = errors[0]["loc"] if errors else ()
    parts = []
    for item in errors:
        loc = ".".join(str(p) for p in item["loc"])
        parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
    return OpenAIRequestError("; ".join(parts), param=str(first[0]) if first else None)


def parse_chat_request(body: Any) -> ChatCompletionRequest:
    """A Chat Completions body (decoded JSON) as a `ChatCompletionRequest`; 400 if invalid."""
    if not isinstance(body, dict):
        raise OpenAIRequestError("the request body must be a JSON object")
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
