"""The ``ainative`` pytest plugin: fixtures for testing ainative apps and plugins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from ._collector import StreamCollector
from ._fakes import FakeProvider
from ._live_server import LiveServer, live_server
from ._registry import PluginSandbox, plugin_sandbox


@pytest.fixture
def ainative_plugins() -> Iterator[PluginSandbox]:
    """A plugin sandbox (no autoload; echo registered) installed process-wide for the test."""
    with plugin_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def fake_provider(ainative_plugins: PluginSandbox) -> FakeProvider:
    """A `FakeProvider` registered as provider ``fake`` in the sandbox."""
    provider = FakeProvider()
    ainative_plugins.add_provider("fake", provider)
    return provider


@pytest.fixture
def live_server_factory() -> Callable[..., AbstractContextManager[LiveServer]]:
    """`live_server` itself: ``with live_server_factory(app, backend="hypercorn") as srv:``.

    The server runs on its own loop in its own thread, so sync fixtures and async tests on
    either anyio backend can use it.
    """
    return live_server


@pytest.fixture
def stream_collector() -> StreamCollector:
    """A `StreamCollector`: ``await stream_collector.collect(provider, request)``."""
    return StreamCollector()
