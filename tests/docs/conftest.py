"""Fixtures for the documentation examples: the plugins, and a live server per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

import ainative_client._plugin as client_plugin
import ainative_server._plugin as server_plugin
from ainative_testing import LiveServer, PluginSandbox, ServerBackend, live_server

Serve = Callable[[Any], AbstractContextManager[LiveServer]]


@pytest.fixture(autouse=True)
def docs_plugins(ainative_plugins: PluginSandbox) -> PluginSandbox:
    """The process-wide plugins of every example: echo, the server's and the client's."""
    ainative_plugins.add_plugin(server_plugin, name="server")
    ainative_plugins.add_plugin(client_plugin, name="client")
    return ainative_plugins


@pytest.fixture
def serve(anyio_backend: str) -> Serve:
    """``with serve(app) as live``: uvicorn when the test runs on asyncio, Hypercorn on trio."""
    backend: ServerBackend = "uvicorn" if anyio_backend == "asyncio" else "hypercorn"
    return lambda app: live_server(app, backend=backend)


@pytest.fixture(scope="module")
def default_server_url() -> Iterator[str]:
    """An echo server (``ainative serve``'s app) on uvicorn for the module."""
    from ainative import ServerConfig, create_app
    from ainative_testing import PluginSandbox as Sandbox

    sandbox = Sandbox()
    sandbox.add_plugin(server_plugin, name="server")
    with live_server(create_app(ServerConfig(), plugins=sandbox.plugins)) as server:
        yield server.base_url
