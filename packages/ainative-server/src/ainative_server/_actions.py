"""Actions: what a stream does. ``chat`` and ``prompt`` are built in; others come from
``@server.action``.

``prompt`` is the server's fallback by default (``ServerConfig.fallback_action``): it
answers an action name nothing registered, as the seed's servers answer any name, with one
chat turn whose prompt carries the action's name, its params and its context.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, final

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from ainative_core import (
    ActionRequest,
    GenerateRequest,
    InvalidRequestError,
    Message,
    build_request,
)

from ._manager import StreamManager
from ._tools import validation_message

__all__ = [
    "CHAT",
    "PROMPT",
    "Action",
    "ActionHandler",
    "action_prompt",
    "chat",
    "generate_request_for",
    "prompt",
]

ActionHandler: TypeAlias = Callable[[StreamManager, ActionRequest], Awaitable[None]]

# Option names that would collide with the request's own fields.
_RESERVED_OPTIONS: Final = frozenset({"messages", "prompt", "extra"})
# Where a chat turn's text may be: ``params.message`` (ours, the seed's client) or
# ``params.prompt`` (the seed's Node server accepts it too).
_MESSAGE_KEYS: Final = ("message", "prompt")


@final
@dataclass(frozen=True, slots=True)
class Action:
    """A named stream producer. ``needs_message``: ``params.message`` (or
    ``params.prompt``) is required."""

    name: str
    handler: ActionHandler
    needs_message: bool = False


class _ChatParams(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str = Field(min_length=1, validation_alias=AliasChoices(*_MESSAGE_KEYS))


class _ChatContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[Message] = Field(default_factory=list)


def generate_request_for(
    request: ActionRequest, *, model: str | None, require_message: bool
) -> GenerateRequest | None:
    """The `GenerateRequest` of an action request: ``context.messages`` + ``params.message``.

    ``params.prompt`` stands for ``params.message`` when that is absent. A conversation that
    ends with tool results (a client answering the tool calls a stream ended with) needs no
    message: it is continued as it stands. ``model`` and ``options`` become the request's
    fields (unknown options go to ``extra``). Invalid input raises `InvalidRequestError`
    naming the field; without a message and not ``require_message``, None.
    """
    if not any(key in request.params for key in _MESSAGE_KEYS):
        if _ends_with_tool_results(request.context):
            return _turn(request, None, model)
        if not require_message:
            return None
    try:
        params = _ChatParams.model_validate(request.params)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc, "params")) from None
    return _turn(request, params.message, model)


def action_prompt(request: ActionRequest, *, model: str | None) -> GenerateRequest:
    """The chat turn the ``prompt`` action sends for ``request``.

    Its user message is ``Action: <name>``, ``Parameters: <params as JSON>`` and ``Context:
    <context as JSON>`` on three lines; ``context.messages`` is not repeated there, it goes
    before the turn as the conversation, as for ``chat``.
    """
    context = {k: v for k, v in request.context.items() if k != "messages"}
    text = (
        f"Action: {request.action}\nParameters: {_json(request.params)}\nContext: {_json(context)}"
    )
    return _turn(request, text, model)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _ends_with_tool_results(context: dict[str, Any]) -> bool:
    messages = context.get("messages")
    if not isinstance(messages, list) or not messages:
        return False
    last = messages[-1]
    return isinstance(last, dict) and last.get("role") == "tool"


def _turn(request: ActionRequest, text: str | None, model: str | None) -> GenerateRequest:
    """``context.messages`` then a user turn ``text`` (None: none), with the request's model
    and options."""
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
        return build_request(prompt=text, messages=context.messages, **options)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc, "options")) from None


async def chat(stream: StreamManager, request: ActionRequest) -> None:
    """The built-in ``chat`` action: stream the provider's answer to the conversation."""
    await stream.stream()


async def prompt(stream: StreamManager, request: ActionRequest) -> None:
    """The built-in ``prompt`` action: one chat turn about the action (`action_prompt`)."""
    await stream.stream(action_prompt(request, model=stream.model))


CHAT: Final = Action("chat", chat, needs_message=True)
PROMPT: Final = Action("prompt", prompt)
