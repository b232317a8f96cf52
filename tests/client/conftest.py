"""Fixtures for the client tests: plugins, real loopback servers, helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import anyio
import pytest

import ainative_client._engine as client_engine
import ainative_client._plugin as client_plugin
import ainative_server._plugin as server_plugin
from ainative_core import Plugins
from ainative_server import ServerConfig, create_app
from ainative_testing import LiveServer, PluginSandbox, ServerBackend, live_server

WaitUntil = Callable[[Callable[[], bool]], Awaitable[None]]


async def _wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        for _ in range(2000):
            if condition():
                return
            await anyio.sleep(0.005)
    raise AssertionError("condition never held")


@pytest.fixture
def wait_until() -> WaitUntil:
    """``await wait_until(lambda: ...)``: poll a condition, at most 10 s / 2000 times."""
    return _wait_until


@pytest.fixture(autouse=True)
def fresh_auto_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget ``AUTO``'s remembered transports: a later server may reuse an earlier port."""
    monkeypatch.setattr(client_engine, "_auto_choice", {})


@pytest.fixture(autouse=True)
def client_plugins(ainative_plugins: PluginSandbox) -> PluginSandbox:
    """The test's process-wide plugins: echo, and the client and server plugins."""
    ainative_plugins.add_plugin(client_plugin, "client")
    ainative_plugins.add_plugin(server_plugin, "server")
    return ainative_plugins


def server_plugins() -> Plugins:
    """Plugins for a server app of its own (echo and the server's transports)."""
    sandbox = PluginSandbox()
    sandbox.add_plugin(server_plugin, "server")
    return sandbox.plugins


@pytest.fixture(scope="session")
def echo_servers() -> Iterator[dict[str, LiveServer]]:
    """One echo server on uvicorn (asyncio) and one on Hypercorn (trio), for the session."""
    with ExitStack() as stack:
        yield {
            backend: stack.enter_context(
                live_server(create_app(ServerConfig(), plugins=server_plugins()), backend=backend)
            )
            for backend in ("uvicorn", "hypercorn")
        }


@pytest.fixture
def server(echo_servers: dict[str, LiveServer], anyio_backend: str) -> LiveServer:
    """The echo server: uvicorn when the test runs on asyncio, Hypercorn on trio."""
    return echo_servers["uvicorn" if anyio_backend == "asyncio" else "hypercorn"]


@pytest.fixture
def serve(anyio_backend: str) -> Callable[[Any], AbstractContextManager[LiveServer]]:
    """``with serve(app) as srv``: a live server, uvicorn on asyncio runs, Hypercorn on trio."""
    backend: ServerBackend = "uvicorn" if anyio_backend == "asyncio" else "hypercorn"
    return lambda app: live_server(app, backend=backend)


@pytest.fixture(params=["SSE", "WS", "AUTO"])
def method(request: pytest.FixtureRequest) -> str:
    return str(request.param)
