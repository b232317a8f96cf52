"""Fixtures for the security tests: the server plugin in a sandbox, a live server per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeAlias

import pytest

import ainative_server._plugin
from ainative_server import AINativeServer, ServerConfig, create_server
from ainative_testing import LiveServer, PluginSandbox, live_server

Serve: TypeAlias = Callable[..., AbstractContextManager[tuple[AINativeServer, LiveServer]]]


@pytest.fixture(params=["uvicorn", "hypercorn"])
def security_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def secure_serve(ainative_plugins: PluginSandbox, security_backend: str) -> Serve:
    """``with secure_serve(api_keys=["a"]) as (server, live):`` a server on a loopback port."""
    ainative_plugins.add_plugin(ainative_server._plugin, name="server")

    @contextmanager
    def start(**settings: Any) -> Iterator[tuple[AINativeServer, LiveServer]]:
        server = create_server(ServerConfig(**settings), plugins=ainative_plugins.plugins)
        with live_server(server.get_app(), backend=security_backend) as live:  # type: ignore[arg-type]
            yield server, live

    return start
