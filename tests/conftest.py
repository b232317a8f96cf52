"""Shared test configuration: every async test runs on asyncio and on trio."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog

from ainative_testing import RedisServer, redis_server

# Tests never load installed plugins implicitly; they build what they need in fixtures
# (see ainative_testing's `ainative_plugins`), or ask for autoload explicitly.
os.environ["AINATIVE_DISABLE_PLUGIN_AUTOLOAD"] = "1"


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """Undo process-wide structlog setup (the CLI's, run in-process) after each test.

    Tests that invoke the ``ainative`` group in-process would otherwise silence the info
    logs that later tests capture with ``structlog.testing.capture_logs``.
    """
    configured, config = structlog.is_configured(), structlog.get_config()
    yield
    if configured:
        structlog.configure(**config)
    else:
        structlog.reset_defaults()


@pytest.fixture(scope="session")
def redis_service() -> Iterator[RedisServer]:
    """One ``redis-server`` for the session (persistence off), stopped by its pid at the end.

    Tests share it: stream ids and process names are random, so they never collide.
    """
    with redis_server() as server:
        yield server
