"""Reading ``key=value`` options given on a command line."""

from __future__ import annotations

import json
from typing import Any

from ._exceptions import InvalidRequestError

__all__ = ["parse_options"]


def parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("tokens=5", "delay=0.1", "name=x")`` -> ``{"tokens": 5, "delay": 0.1, "name": "x"}``.

    Values are read as JSON when they parse (numbers, booleans, lists), else kept as text.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidRequestError(f"expected key=value, got {pair!r}")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options
