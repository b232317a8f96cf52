"""Fixtures for the seed-compatibility tests: the plugins a seed user has installed
(echo, the server, OpenAI) in a sandbox, and a fake OpenAI upstream on a loopback port."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

import ainative_openai._plugin
import ainative_server._plugin
from ainative_testing import LiveServer, PluginSandbox, live_server

# The fake upstream is imported as ``tests.openai.fake_openai`` (so mypy resolves it too).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.openai.fake_openai import FakeOpenAI  # noqa: E402

Serve = Callable[[FastAPI], AbstractContextManager[LiveServer]]


@pytest.fixture
def seed_plugins(ainative_plugins: PluginSandbox) -> PluginSandbox:
    """echo, ainative-server's plugin and ainative-openai's, installed process-wide."""
    ainative_plugins.add_plugin(ainative_server._plugin, name="server")
    ainative_plugins.add_plugin(ainative_openai._plugin, name="openai")
    return ainative_plugins


@pytest.fixture(params=["uvicorn", "hypercorn"])
def server_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve(seed_plugins: PluginSandbox, server_backend: str) -> Serve:
    """``with serve(app) as live:`` the app on a loopback port (uvicorn or Hypercorn)."""

    @contextmanager
    def start(app: Any) -> Iterator[LiveServer]:
        with live_server(app, backend=server_backend) as live:  # type: ignore[arg-type]
            yield live

    return start


@pytest.fixture(scope="module")
def openai_upstream() -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    app = FakeOpenAI()
    with live_server(app) as server:
        yield app, server


@pytest.fixture
def fake_openai(
    openai_upstream: tuple[FakeOpenAI, LiveServer], monkeypatch: pytest.MonkeyPatch
) -> FakeOpenAI:
    """The fake OpenAI upstream, reset; the OpenAI SDK is pointed at it (``OPENAI_BASE_URL``)."""
    app, server = openai_upstream
    app.script()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url + "/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return app
