"""AINativeClient.stream_text / complete_text, the blocking Client, several streams per socket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, aclosing
from typing import Any

import anyio
import httpx
import pytest

from ainative_client import AINativeClient, Client, WSClientTransport
from ainative_core import (
    ActionRequest,
    HTTPStatusError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from ainative_server import ServerConfig, create_app
from ainative_testing import FakeProvider, LiveServer, PluginSandbox

Serve = Callable[[Any], AbstractContextManager[LiveServer]]
WaitUntil = Callable[[Callable[[], bool]], Awaitable[None]]


@pytest.mark.anyio
async def test_stream_text(server: LiveServer, method: str) -> None:
    async with AINativeClient(server.base_url, transport=method) as client:
        with anyio.fail_after(10):
            tokens = [t async for t in client.stream_text("Hello there")]
            assert tokens == ["Hello", " there"]
            assert await client.complete_text("x", tokens=3) == "t0 t1 t2"


@pytest.mark.anyio
async def test_streams_run_concurrently(server: LiveServer, method: str) -> None:
    results: dict[int, str] = {}
    async with AINativeClient(server.base_url, transport=method) as client:

        async def one(n: int) -> None:
            results[n] = await client.complete_text(f"stream {n}", delay=0.001)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for n in range(4):
                    tg.start_soon(one, n)
    assert results == {n: f"stream {n}" for n in range(4)}


@pytest.mark.anyio
async def test_an_error_event_is_raised_as_its_error(
    client_plugins: PluginSandbox, method: str, serve: Serve
) -> None:
    fake = FakeProvider(["a", "b"], fail_after=ProviderUnavailable("down"), fail_after_tokens=1)
    client_plugins.add_provider("fake", fake)
    app = create_app(ServerConfig(provider="fake"), plugins=client_plugins.plugins)
    tokens: list[str] = []
    with serve(app) as srv, anyio.fail_after(10):
        async with AINativeClient(srv.base_url, transport=method) as client:

            async def consume() -> None:
                async with aclosing(client.stream_text("go")) as stream:
                    async for token in stream:
                        tokens.append(token)

            with pytest.raises(ProviderUnavailable, match="down"):
                await consume()
            with pytest.raises(HTTPStatusError) as info:
                await client.complete_text("go", provider="nope")
    assert tokens == ["a"]
    assert info.value.status_code == 404


@pytest.mark.anyio
async def test_a_provider_refusal_before_the_first_token_is_the_same_error_on_every_transport(
    client_plugins: PluginSandbox, method: str, serve: Serve
) -> None:
    fake = FakeProvider(fail_before=ProviderRateLimited("slow down", retry_after=2.5))
    client_plugins.add_provider("fake", fake)
    app = create_app(ServerConfig(provider="fake"), plugins=client_plugins.plugins)
    with serve(app) as srv, anyio.fail_after(10):
        async with AINativeClient(srv.base_url, transport=method) as client:
            with pytest.raises(ProviderRateLimited, match="slow down") as info:
                await client.complete_text("go")
            with pytest.raises(HTTPStatusError) as refused:
                await client.complete_text("go", provider="nope")
    # Every transport refuses with the same fields: the delay survives over WebSocket too.
    assert info.value.retry_after == 2.5
    assert refused.value.status == refused.value.status_code == 404
    assert refused.value.server_code == "unknown_provider"


@pytest.mark.anyio
async def test_leaving_early_cancels_the_stream_on_the_server(
    client_plugins: PluginSandbox, method: str, serve: Serve, wait_until: WaitUntil
) -> None:
    fake = FakeProvider([f" w{i}" for i in range(500)], delay=0.02)
    client_plugins.add_provider("fake", fake)
    app = create_app(ServerConfig(provider="fake", resume_grace=60), plugins=client_plugins.plugins)
    with serve(app) as srv, anyio.fail_after(15):
        async with (
            AINativeClient(srv.base_url, transport=method) as client,
            aclosing(client.stream_text("go")) as stream,
        ):
            async for token in stream:
                assert token == " w0"
                break
        await wait_until(fake.closed.is_set)
    assert fake.cancelled.is_set()


@pytest.mark.anyio
async def test_one_websocket_carries_several_streams(server: LiveServer) -> None:
    texts: dict[str, str] = {}
    async with httpx.AsyncClient() as http:
        transport = WSClientTransport(http)
        with anyio.fail_after(10):
            async with transport.connect(server.base_url) as connection:

                async def one(message: str) -> None:
                    request = ActionRequest(params={"message": message}, options={"delay": 0.005})
                    parts: list[str] = []
                    async with connection.stream(request) as events:
                        async for item in events:
                            if item.event.type == "token":
                                parts.append(item.event.data)
                    texts[message] = "".join(parts)

                async with anyio.create_task_group() as tg:
                    for message in ("one two three", "four five six", "seven eight"):
                        tg.start_soon(one, message)
    assert texts == {m: m for m in ("one two three", "four five six", "seven eight")}


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("transport", ["SSE", "WS"])
def test_blocking_client(echo_servers: dict[str, LiveServer], backend: str, transport: str) -> None:
    url = echo_servers["uvicorn"].base_url
    tokens = list(Client(url, backend=backend, transport=transport).stream_text("Hi you"))
    assert tokens == ["Hi", " you"]
    with Client(url, backend=backend, transport=transport) as client:
        assert client.complete_text("x", tokens=4) == "t0 t1 t2 t3"
        with pytest.raises(HTTPStatusError):
            client.complete_text("x", provider="nope")
        # leaving a for loop early stops the stream; the client stays usable
        for token in client.stream_text("x", tokens=1000, delay=0.001):
            assert token == "t0"
            break
        assert client.complete_text("again") == "again"
