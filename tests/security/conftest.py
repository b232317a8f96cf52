"""Fixtures of the security tests: the server plugin in a sandbox, a live server on a
loopback port (uvicorn on asyncio, Hypercorn on trio; or both servers on each backend)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeAlias

import pytest

import ainative_server._plugin
from ainative_server import AINativeServer, ServerConfig, create_server
from ainative_testing import LiveServer, PluginSandbox, ServerBackend, live_server

Serve: TypeAlias = Callable[..., AbstractContextManager[tuple[AINativeServer, LiveServer]]]


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


@pytest.fixture(params=["uvicorn", "hypercorn"])
def security_backend(request: pytest.FixtureRequest) -> ServerBackend:
    backend: ServerBackend = request.param
    return backend


@pytest.fixture
def secure_serve(ainative_plugins: PluginSandbox, security_backend: ServerBackend) -> Serve:
    """``with secure_serve(api_keys=["a"]) as (server, live):`` a server on a loopback port."""
    ainative_plugins.add_plugin(ainative_server._plugin, name="server")

    @contextmanager
    def start(**settings: Any) -> Iterator[tuple[AINativeServer, LiveServer]]:
        server = create_server(ServerConfig(**settings), plugins=ainative_plugins.plugins)
        with live_server(server.get_app(), backend=security_backend) as live:
            yield server, live

    return start
