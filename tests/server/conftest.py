"""Fixtures for server tests: the server plugin in a sandbox, and a live server per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import ainative_server._plugin
from ainative_server import AINativeServer, ServerConfig, create_server
from ainative_testing import LiveServer, PluginSandbox, live_server

from .server_helpers import Serve


@pytest.fixture
def server_plugins(ainative_plugins: PluginSandbox) -> PluginSandbox:
    """The sandbox with echo and ainative-server's plugin (SSE, WS, tools, serve)."""
    ainative_plugins.add_plugin(ainative_server._plugin, name="server")
    return ainative_plugins


@pytest.fixture(params=["uvicorn", "hypercorn"])
def server_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve(server_plugins: PluginSandbox, server_backend: str) -> Serve:
    """``with serve(ping_interval=0.2) as (server, live):`` a server on a loopback port."""

    @contextmanager
    def start(
        setup: Callable[[AINativeServer], None] | None = None, **settings: Any
    ) -> Iterator[tuple[AINativeServer, LiveServer]]:
        server = create_server(ServerConfig(**settings), plugins=server_plugins.plugins)
        if setup is not None:
            setup(server)
        with live_server(server.get_app(), backend=server_backend) as live:  # type: ignore[arg-type]
            yield server, live

    return start
