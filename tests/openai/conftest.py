"""Fixtures for the OpenAI provider tests: a fake OpenAI upstream on a loopback port."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ainative_testing import LiveServer, live_server

# The fake upstream is imported as ``tests.openai.fake_openai`` (so mypy resolves it too).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.openai.fake_openai import FakeOpenAI  # noqa: E402

from ainative_openai import OpenAIProvider  # noqa: E402


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    app = FakeOpenAI()
    with live_server(app) as server:
        yield app, server


@pytest.fixture
def upstream(upstream_server: tuple[FakeOpenAI, LiveServer]) -> FakeOpenAI:
    """The fake OpenAI upstream, reset for the test; script it with ``upstream.script(...)``."""
    app, _ = upstream_server
    app.script()
    return app


@pytest.fixture
def upstream_url(upstream_server: tuple[FakeOpenAI, LiveServer]) -> str:
    return upstream_server[1].base_url + "/v1"


@pytest.fixture
async def make_provider(
    upstream_url: str, anyio_backend: str
) -> AsyncIterator[Callable[..., OpenAIProvider]]:
    """``make_provider(**settings)``: an `OpenAIProvider` on the fake upstream, closed after."""
    made: list[OpenAIProvider] = []

    def make(**settings: Any) -> OpenAIProvider:
        settings.setdefault("api_key", "test-key")
        settings.setdefault("max_retries", 0)
        settings.setdefault("base_url", upstream_url)
        provider = OpenAIProvider(**settings)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()
