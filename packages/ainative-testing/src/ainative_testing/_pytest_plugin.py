"""The ``ainative`` pytest plugin: fixtures for testing ainative apps and plugins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._fakes import FakeProvider
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
