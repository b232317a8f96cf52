"""Actions: what a stream does. ``chat`` is built in; others come from ``@server.action``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ainative_core import (
    ActionRequest,
    GenerateRequest,
    InvalidRequestError,
    Message,
    build_request,
)

from ._manager import StreamManager
from ._tools import validation_message

__all__ = ["Action", "ActionHandler", "chat", "generate_request_for"]

ActionHandler: TypeAlias = Callable[[StreamManager, ActionRequest], Awaitable[None]]

# Option names that would collide with the request's own fields.
_RESERVED_OPTIONS: Final = frozenset({"messages", "prompt", "extra"})


@final
@dataclass(frozen=True, slots=True)
class Action:
    """A named stream producer. ``needs_message``: ``params.message`` is required."""

    name: str
    handler: ActionHandler
    needs_message: bool = False


class _ChatParams(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str = Field(min_length=1)


class _ChatContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[Message] = Field(default_factory=list)


def generate_request_for(
    request: ActionRequest, *, model: str | None, require_message: bool
) -> GenerateRequest | None:
    """The `GenerateRequest` of an action request: ``context.messages`` + ``params.message``.

    ``model`` and ``options`` become its fields (unknown options go to ``extra``). Invalid
    input raises `InvalidRequestError` naming the field; without a message and not
    ``require_message``, None.
    """
    if not require_message and "message" not in request.params:
        return None
    try:
        params = _ChatParams.model_validate(request.params)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc, "params")) from None
    try:
        context = _ChatContext.model_validate(request.context)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc, "context")) from None
    reserved = sorted(_RESERVED_OPTIONS & request.options.keys())
    if reserved:
        raise InvalidRequestError(f"options.{reserved[0]}: not allowed as an option")
    options: dict[str, Any] = dict(request.options)
    options["model"] = request.model or options.get("model") or model
    try:
        return build_request(prompt=params.message, messages=context.messages, **options)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc, "options")) from None


async def chat(stream: StreamManager, request: ActionRequest) -> None:
    """The built-in ``chat`` action: stream the provider's answer to the conversation."""
    await stream.stream()


CHAT: Final = Action("chat", chat, needs_message=True)
