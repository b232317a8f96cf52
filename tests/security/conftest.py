"""Fixtures of the security tests: a live server on the test's own backend (uvicorn on
asyncio, Hypercorn on trio)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

import ainative_server._plugin
from ainative_server import AINativeServer, ServerConfig, create_server
from ainative_testing import LiveServer, PluginSandbox, ServerBackend, live_server

Serve = Callable[..., AbstractContextManager[tuple[AINativeServer, LiveServer]]]


@pytest.fixture
def serve(ainative_plugins: PluginSandbox, anyio_backend: str) -> Serve:
    """``with serve(setup, **settings) as (server, live):`` a server on a loopback port."""
    ainative_plugins.add_plugin(ainative_server._plugin, name="server")
    backend: ServerBackend = "uvicorn" if anyio_backend == "asyncio" else "hypercorn"

    @contextmanager
    def start(
        setup: Callable[[AINativeServer], None] | None = None, **settings: Any
    ) -> Iterator[tuple[AINativeServer, LiveServer]]:
        server = create_server(ServerConfig(**settings), plugins=ainative_plugins.plugins)
        if setup is not None:
            setup(server)
        with live_server(server.get_app(), backend=backend) as live:
            yield server, live

    return start
