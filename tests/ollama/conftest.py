"""Fixtures for the Ollama provider tests: a fake Ollama server on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from ainative_ollama import OllamaProvider
from ainative_ollama.testing import FakeOllama
from ainative_testing import LiveServer, live_server


@pytest.fixture(scope="module")
def ollama_server() -> Iterator[tuple[FakeOllama, LiveServer]]:
    fake = FakeOllama()
    with live_server(fake) as server:
        yield fake, server


@pytest.fixture
def fake_ollama(ollama_server: tuple[FakeOllama, LiveServer]) -> FakeOllama:
    """The fake upstream, reset for the test; script it with ``fake_ollama.script(...)``."""
    fake, _ = ollama_server
    fake.script()
    return fake


@pytest.fixture
def ollama_url(ollama_server: tuple[FakeOllama, LiveServer]) -> str:
    return ollama_server[1].base_url


@pytest.fixture
async def make_provider(
    ollama_url: str, anyio_backend: str
) -> AsyncIterator[Callable[..., OllamaProvider]]:
    """``make_provider(**settings)``: a provider on the fake server, closed after the test.

    No retries unless asked, and a short backoff when asked.
    """
    made: list[OllamaProvider] = []

    def make(**settings: Any) -> OllamaProvider:
        settings.setdefault("host", ollama_url)
        settings.setdefault("max_retries", 0)
        settings.setdefault("retry_backoff", 0.01)
        provider = OllamaProvider(**settings)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()
