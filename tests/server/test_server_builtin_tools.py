"""Built-in tools: ``calculate`` (a whitelist evaluator, never eval) and ``get_time``."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from ainative_core import ToolArgumentsError
from ainative_server._builtin_tools import calculate, get_time

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 10 / 4", 256.0),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("+-3", -3),
        ("sqrt(16) + abs(-2)", 6.0),
        ("max(1, 5, 3)", 5),
        ("2 * pi", 2 * math.pi),
        ("1.5e3", 1500.0),
    ],
)
async def test_calculate_evaluates_arithmetic(expression: str, value: float) -> None:
    assert await calculate.call({"expression": expression}) == pytest.approx(value)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os')", "call to '__import__' is not allowed"),
        ("__import__('os').system('true')", "not allowed"),
        ("().__class__.__bases__", "attribute access is not allowed"),
        ("(1).real", "attribute access is not allowed"),
        ("9**9**9", "exponent 387420489 is too large"),
        ("2 ** 100000", "exponent 100000 is too large"),
        ("10 ** 5000", "result too large"),
        ("(10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000)", "too large"),
        ("2.0 ** 5000", "result too large"),
        ("x", "name 'x' is not allowed"),
        ("os", "name 'os' is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("[i for i in range(10)]", "ListComp is not allowed"),
        ("'a' * 3", "only numbers are allowed"),
        ("True + 1", "only numbers are allowed"),
        ("open('/etc/passwd')", "call to 'open' is not allowed"),
        ("sqrt(x=4)", "keyword arguments"),
        ("1 / 0", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("sqrt(-1)", "sqrt: math domain error"),
        ("1 if 1 else 2", "IfExp is not allowed"),
        ("1 < 2", "Compare is not allowed"),
        ("1 +", "not an arithmetic expression"),
        ("1" * 2000, "longer than"),
        ("-" * 60 + "1", "nested too deeply"),
    ],
)
async def test_calculate_refuses_anything_but_arithmetic(expression: str, reason: str) -> None:
    with pytest.raises(ToolArgumentsError, match="calculate") as info:
        await calculate.call({"expression": expression})
    assert reason in str(info.value)


async def test_get_time_is_iso_8601_in_the_zone() -> None:
    paris = datetime.fromisoformat(await get_time.call({"timezone": "Europe/Paris"}))
    assert paris.tzinfo is not None
    utc = datetime.fromisoformat(await get_time.call({}))
    assert utc.utcoffset() is not None
    assert utc.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    with pytest.raises(ToolArgumentsError, match="unknown time zone 'Mars/Base'"):
        await get_time.call({"timezone": "Mars/Base"})
    with pytest.raises(ToolArgumentsError, match="unknown time zone"):
        await get_time.call({"timezone": "../../etc/passwd"})
