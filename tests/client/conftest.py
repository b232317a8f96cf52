"""Fixtures for the client tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

WaitUntil = Callable[[Callable[[], bool]], Awaitable[None]]


async def _wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        for _ in range(2000):
            if condition():
                return
            await anyio.sleep(0.005)
    raise AssertionError("condition never held")


@pytest.fixture
def wait_until() -> WaitUntil:
    """``await wait_until(lambda: ...)``: poll a condition, at most 10 s / 2000 times."""
    return _wait_until
