"""Fixtures for the Anthropic provider tests: a fake Messages API on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from ainative_anthropic import AnthropicProvider
from ainative_anthropic.testing import FakeAnthropic
from ainative_testing import LiveServer, live_server


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[tuple[FakeAnthropic, LiveServer]]:
    fake = FakeAnthropic()
    with live_server(fake) as server:
        yield fake, server


@pytest.fixture
def fake_anthropic(anthropic_server: tuple[FakeAnthropic, LiveServer]) -> FakeAnthropic:
    """The fake upstream, reset for the test; script it with ``fake_anthropic.script(...)``."""
    fake, _ = anthropic_server
    fake.script()
    return fake


@pytest.fixture
def anthropic_url(anthropic_server: tuple[FakeAnthropic, LiveServer]) -> str:
    return anthropic_server[1].base_url


@pytest.fixture
async def make_provider(
    anthropic_url: str, anyio_backend: str
) -> AsyncIterator[Callable[..., AnthropicProvider]]:
    """``make_provider(**settings)``: a provider on the fake upstream, closed after the test.

    No retries unless asked, and a short backoff when asked.
    """
    made: list[AnthropicProvider] = []

    def make(**settings: Any) -> AnthropicProvider:
        settings.setdefault("api_key", "test-key")
        settings.setdefault("base_url", anthropic_url)
        settings.setdefault("max_retries", 0)
        settings.setdefault("retry_backoff", 0.01)
        provider = AnthropicProvider(**settings)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()
