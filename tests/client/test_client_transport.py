"""Client transport helpers, plugin registration and the package's exported names."""

from __future__ import annotations

import anyio
import httpx
import pytest

import ainative_client
from ainative_client import ClientTransport, SSEClientTransport, WSClientTransport, base_url
from ainative_client import _plugin as client_plugin
from ainative_core import ActionRequest, Plugins, UnknownTransportError
from ainative_testing import LiveServer


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
    helpers = {"annotations", "TYPE_CHECKING", "lazy_exports"}  # of the lazy __init__
    public = {n for n in dir(ainative_client) if not n.startswith("_") and n not in helpers}
    assert public == set(exported)


@pytest.mark.anyio
async def test_sse_transport_iterates_single_events_over_a_live_server(server: LiveServer) -> None:
    request = ActionRequest(action="chat", params={"message": "x"}, options={"tokens": 200})
    kinds: list[str] = []
    ids: list[int | None] = []
    with anyio.fail_after(10):
        async with httpx.AsyncClient() as client:
            transport = SSEClientTransport(client)
            async with transport.open(server.base_url, request) as events:
                async for item in events:
                    kinds.append(item.event.type)
                    ids.append(item.id)
    assert kinds == ["metadata", *["token"] * 200, "done"]
    first = ids[0]
    assert first is not None
    assert ids == list(range(first, first + 202))
