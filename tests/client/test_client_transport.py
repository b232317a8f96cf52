"""Client transport helpers, plugin registration and the package's exported names."""

from __future__ import annotations

import httpx
import pytest

import ainative_client
from ainative_client import ClientTransport, SSEClientTransport, WSClientTransport, base_url
from ainative_client import _plugin as client_plugin
from ainative_core import Plugins, UnknownTransportError


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/ai/stream", "http://127.0.0.1:8000"),
        ("ws://127.0.0.1:8000/ai/ws", "http://127.0.0.1:8000"),
        ("wss://example.test/api/ai/ws", "https://example.test/api"),
        ("https://example.test/api", "https://example.test/api"),
    ],
)
def test_base_url(url: str, base: str) -> None:
    assert base_url(url) == base


def test_client_halves_are_registered_through_the_hook() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(client_plugin, name="client")
    assert plugins.get_transport("sse", "client") is SSEClientTransport
    assert plugins.get_transport("ws", "client") is WSClientTransport
    assert plugins.transports["sse"].server is None
    with pytest.raises(UnknownTransportError, match="installed: sse, ws"):
        plugins.get_transport("carrier-pigeon", "client")


@pytest.mark.anyio
async def test_transports_satisfy_the_protocol() -> None:
    async with httpx.AsyncClient() as client:
        assert isinstance(SSEClientTransport(client), ClientTransport)
        assert isinstance(WSClientTransport(client), ClientTransport)


def test_chat_command_is_registered() -> None:
    import click

    group = click.Group()
    client_plugin.ainative_register_commands(group)
    assert "chat" in group.commands


def test_exported_members() -> None:
    exported = ainative_client.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert getattr(ainative_client, name) is not None
    public = {n for n in dir(ainative_client) if not n.startswith("_") and n != "annotations"}
    assert public == set(exported)
