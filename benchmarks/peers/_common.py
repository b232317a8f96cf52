"""What every peer shares: reading the request options and the echo request it implies."""

from __future__ import annotations

import json
import os
from typing import Any

from ainative_core import GenerateRequest, build_request

__all__ = ["done_event", "echo_request", "options_from_body", "token_event", "upstream"]


def options_from_body(body: bytes) -> tuple[int, float]:
    """``(tokens, delay)`` from an ``ActionRequest`` JSON body (defaults: 10 tokens, no delay)."""
    payload: Any = json.loads(body or b"{}")
    options: dict[str, Any] = payload.get("options") or {}
    return int(options.get("tokens", 10)), float(options.get("delay", 0.0))


def echo_request(params: dict[str, Any], options: dict[str, Any]) -> GenerateRequest:
    """The request the echo provider needs for an action's params and options."""
    return build_request(prompt=str(params.get("message", "")), **options)


def upstream() -> str:
    """The fake vendor the naive SDK peers talk to (``BENCH_UPSTREAM``)."""
    return os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:1")


def token_event(event_id: int, text: str) -> str:
    """One token in the seed's SSE format, ``json.dumps`` per token as the seed does."""
    return f"id: {event_id}\ndata: {json.dumps({'type': 'token', 'data': text})}\n\n"


def done_event(event_id: int) -> str:
    """The ``done`` event and the ``[DONE]`` line that end a stream."""
    body = json.dumps({"type": "done", "data": {"finish_reason": "stop"}})
    return f"id: {event_id}\ndata: {body}\n\ndata: [DONE]\n\n"
