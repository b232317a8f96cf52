"""Fixtures of the parity matrix: every transport (the NDJSON one a test plugin), on uvicorn
(asyncio) and Hypercorn (trio), driven from tests on asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest

import ainative_client._plugin
import ainative_server._plugin
from ainative_server import AINativeServer, ServerConfig, create_server
from ainative_testing import LiveServer, PluginSandbox, live_server

from . import ndjson_plugin
from .drivers import DRIVERS, Driver

Serve = Callable[..., AbstractContextManager[tuple[AINativeServer, LiveServer]]]
Connect = Callable[[LiveServer], Any]


@pytest.fixture
def parity_plugins(ainative_plugins: PluginSandbox) -> PluginSandbox:
    """echo, the server and client plugins, and the NDJSON test plugin."""
    ainative_plugins.add_plugin(ainative_server._plugin, name="server")
    ainative_plugins.add_plugin(ainative_client._plugin, name="client")
    ainative_plugins.add_plugin(ndjson_plugin, name="ndjson")
    return ainative_plugins


_STORED = ("sse", "ws")
"""The transports the matrix also runs on the Redis store (several processes' store)."""


@pytest.fixture(
    params=[
        *((name, "memory") for name in sorted(DRIVERS)),
        *((name, "redis") for name in _STORED),
    ],
    ids=lambda param: param[0] if param[1] == "memory" else f"{param[0]}-{param[1]}",
)
def transport_store(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A transport and the store its server keeps streams in."""
    name, store = request.param
    if store == "redis":
        store = request.getfixturevalue("redis_service").url
    return str(name), str(store)


@pytest.fixture
def transport(transport_store: tuple[str, str]) -> str:
    return transport_store[0]


@pytest.fixture(params=["uvicorn", "hypercorn"])
def server_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve(
    parity_plugins: PluginSandbox, server_backend: str, transport_store: tuple[str, str]
) -> Serve:
    """``with serve(ping_interval=0.2) as (server, live):`` a server on a loopback port."""

    @contextmanager
    def start(**settings: Any) -> Iterator[tuple[AINativeServer, LiveServer]]:
        settings.setdefault("store", transport_store[1])
        server = create_server(ServerConfig(**settings), plugins=parity_plugins.plugins)
        with live_server(server.get_app(), backend=server_backend) as live:  # type: ignore[arg-type]
            yield server, live

    return start


@pytest.fixture
def driver(transport: str) -> Callable[[str], AbstractContextManager[Any]]:
    """``async with driver(base_url) as d:`` the raw driver of the transport under test.

    ``resumable=True``: it declares that it resumes after a drop (else a drop cancels).
    """

    @asynccontextmanager
    async def make(
        base_url: str, headers: dict[str, str] | None = None, *, resumable: bool = False
    ) -> AsyncIterator[Driver]:
        async with httpx.AsyncClient(headers=headers, timeout=10) as client:
            yield DRIVERS[transport](base_url, client, resumable=resumable)

    return make  # type: ignore[return-value]
