"""Answering the client's tools: the request that continues a stream ended by tool calls."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ainative_core import ActionRequest, InvalidRequestError

from ._config import StreamResult

__all__ = ["with_tool_results"]


def with_tool_results(
    request: ActionRequest | Mapping[str, Any],
    result: StreamResult,
    outputs: Mapping[str, Any],
    *,
    errors: Mapping[str, str] | None = None,
) -> ActionRequest:
    """The request that continues ``request``'s conversation once the client ran the tools
    its stream ended with (``result.finish_reason == "tool_call"``).

    Its ``context.messages`` are ``request``'s, then its ``params.message`` as the user's
    turn, then what the stream added (``result.messages``: assistant turns, server tool
    results), then one tool message per call of ``result.tool_calls``: ``outputs[id]`` (text
    as is, anything else as JSON) or ``errors[id]`` (sent as an error the model reads). It
    has no new message: the server continues the conversation as it stands. A call with
    neither is an `InvalidRequestError`.
    """
    base = request if isinstance(request, ActionRequest) else ActionRequest.model_validate(request)
    errors = errors or {}
    messages = list(base.context.get("messages") or [])
    params = dict(base.params)
    message = params.pop("message", None) or params.pop("prompt", None)
    if isinstance(message, str):
        messages.append({"role": "user", "content": message})
    messages.extend(result.messages)
    for call in result.tool_calls:
        call_id = str(call.get("id"))
        answer: dict[str, Any] = {"role": "tool", "tool_call_id": call_id, "name": call.get("name")}
        if call_id in outputs:
            value = outputs[call_id]
            answer["content"] = value if isinstance(value, str) else json.dumps(value)
        elif call_id in errors:
            answer["content"] = errors[call_id]
            answer["is_error"] = True
        else:
            raise InvalidRequestError(
                f"no output for tool call {call_id!r} ({call.get('name')}): give it in outputs "
                "or errors"
            )
        messages.append(answer)
    context = {**base.context, "messages": messages}
    return base.model_copy(update={"params": params, "context": context})
