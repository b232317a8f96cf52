"""The built-in tools, registered through ``ainative_register_tools``: time and arithmetic."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ainative_core import ToolArgumentsError

from ._calculator import Number, evaluate
from ._tools import Tool, tool

__all__ = ["builtin_tools", "calculate", "get_time"]


@tool
def get_time(timezone: str = "UTC") -> str:
    """The current date and time in an IANA time zone (e.g. "Europe/Paris"), ISO 8601."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolArgumentsError(f"get_time: unknown time zone {timezone!r}") from None
    return datetime.now(zone).isoformat()


@tool
def calculate(expression: str) -> Number:
    """Evaluate an arithmetic expression: numbers, + - * / // % **, parentheses, sqrt, pi."""
    return evaluate(expression)


def builtin_tools() -> list[Tool]:
    return [get_time, calculate]
