"""Request JSON: the one parser of what clients send (HTTP bodies, WebSocket frames).

Standard JSON only, and bounded: ``NaN`` and ``Infinity`` are refused, and so are numbers
out of a float's range (``1e400``), integers over Python's digit limit, nesting deeper than
``max_depth`` and strings holding a lone surrogate (``"\\udc80"``: no UTF-8 encodes it, so it
could never be written back to a client). Every refusal is an `InvalidRequestError` (422)
that says what was wrong.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from ainative_core import InvalidRequestError

__all__ = ["DEFAULT_MAX_DEPTH", "parse_json"]

DEFAULT_MAX_DEPTH: Final = 64
"""Deepest nesting of arrays and objects accepted by default (``max_json_depth``)."""

_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
"""A ``\\uD800``-``\\uDFFF`` escape: the only way a lone surrogate gets into parsed JSON."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def parse_json(raw: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH, what: str = "body") -> Any:
    """``raw`` parsed as JSON; `InvalidRequestError` names the problem (``what`` says where).

    ``max_depth`` bounds the nesting of arrays and objects (``[[1]]`` has depth 2).
    """
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidRequestError(f"{what} is nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, refused numbers, digit limit
        raise InvalidRequestError(f"{what} is not valid JSON: {exc}") from None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    deep = text.count("[") + text.count("{") > max_depth
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if deep or surrogates:
        _check(value, max_depth if deep else None, surrogates, what)
    return value


def _check(value: Any, max_depth: int | None, surrogates: bool, what: str) -> None:
    """Walk ``value`` (without recursion): its depth, and its strings' encodability."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            if max_depth is not None and depth > max_depth:
                raise InvalidRequestError(f"{what} is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                if surrogates:
                    for key in item:
                        _check_text(key, what)
                stack.extend((child, depth) for child in item.values())
            else:
                stack.extend((child, depth) for child in item)
        elif surrogates and isinstance(item, str):
            _check_text(item, what)


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise InvalidRequestError(
            f"{what} holds a lone surrogate ({bad!r}) in a string; send valid Unicode text"
        ) from None
