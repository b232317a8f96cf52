"""What every peer shares: reading the request options and the echo request it implies."""

from __future__ import annotations

import json
from typing import Any

from ainative_core import GenerateRequest, build_request

__all__ = ["echo_request", "options_from_body"]


def options_from_body(body: bytes) -> tuple[int, float]:
    """``(tokens, delay)`` from an ``ActionRequest`` JSON body (defaults: 10 tokens, no delay)."""
    payload: Any = json.loads(body or b"{}")
    options: dict[str, Any] = payload.get("options") or {}
    return int(options.get("tokens", 10)), float(options.get("delay", 0.0))


def echo_request(params: dict[str, Any], options: dict[str, Any]) -> GenerateRequest:
    """The request the echo provider needs for an action's params and options."""
    return build_request(prompt=str(params.get("message", "")), **options)
