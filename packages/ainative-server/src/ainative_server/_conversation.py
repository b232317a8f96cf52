"""The ``respond`` action: the provider's answer to a conversation as it stands.

Front-end clients send the whole conversation, which may end with a user message or with
tool results the browser produced (a tool call the page answered); there is no separate
new message as in ``chat``. ``respond`` streams the provider's answer to
``context.messages`` with the request's options (``tools`` included). ``params.metadata``
(an object), when given, is logged as a ``metadata`` event just before the first event of
the answer, so that a protocol's encoder finds it in the log (AG-UI's thread and run ids);
a failure before the answer's first event still fails the request with its HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ainative_core import (
    ActionRequest,
    InvalidRequestError,
    StreamEvent,
    build_request,
)

from ._actions import Action
from ._http import validate
from ._manager import StreamManager
from ._tools import validation_message

__all__ = ["RESPOND", "conversation_request"]

_RESERVED_OPTIONS: Final = frozenset({"messages", "prompt", "extra"})


class _Conversation(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[dict[str, Any]] = Field(min_length=1)


class _Params(BaseModel):
    model_config = ConfigDict(extra="allow")

    metadata: dict[str, Any] | None = None


def conversation_request(
    messages: list[dict[str, Any]],
    *,
    provider: str | None = None,
    model: str | None = None,
    options: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    tools: bool | list[str] | None = None,
) -> ActionRequest:
    """The `ActionRequest` of ``respond`` for ``messages`` (our `Message` objects as dicts);
    ``tools``: the server tools the model may call (`ActionRequest.tools`)."""
    params: dict[str, Any] = {} if metadata is None else {"metadata": dict(metadata)}
    return ActionRequest(
        action=RESPOND.name,
        params=params,
        context={"messages": messages},
        provider=provider,
        model=model,
        options=dict(options or {}),
        tools=tools,
    )


async def respond(stream: StreamManager, request: ActionRequest) -> None:
    """Stream the provider's answer to ``context.messages``."""
    conversation = validate(_Conversation, request.context, "context")
    metadata = validate(_Params, request.params, "params").metadata
    reserved = sorted(_RESERVED_OPTIONS & request.options.keys())
    if reserved:
        raise InvalidRequestError(f"options.{reserved[0]}: not allowed as an option")
    options: dict[str, Any] = dict(request.options)
    options["model"] = request.model or options.get("model") or stream.model
    try:
        generate = build_request(messages=conversation.messages, **options)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc, "request")) from None

    async def announce(event: StreamEvent) -> None:
        await stream.send_metadata(metadata or {})

    await stream.stream(generate, before_first=announce if metadata is not None else None)


RESPOND: Final = Action("respond", respond)
