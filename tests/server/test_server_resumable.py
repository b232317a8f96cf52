"""Resume is opt-in per connection: only a client that declared it resumes keeps its stream
running for ``resume_grace`` after a drop; any other client's drop cancels the stream (and
the provider call) at once.

Every server here has a grace period longer than any test may take (``fail_after``), so a
cancel that waited for the grace would fail the test.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from starlette.requests import HTTPConnection

import ainative_client._plugin
from ainative_client import StreamConfig, StreamingEngine
from ainative_core import RESUMABLE_HEADER, RESUMABLE_PARAM, EventBus
from ainative_server import client_can_resume
from ainative_testing import FakeProvider, PluginSandbox, TCPProxy

from .server_helpers import EventReader, Serve, wait_until

pytestmark = pytest.mark.anyio

GRACE = 60.0
TOKENS = [f"t{i} " for i in range(1000)]


def fake_body() -> dict[str, Any]:
    return {"action": "chat", "params": {"message": "x"}, "provider": "fake"}


@pytest.fixture
def client_plugin(server_plugins: PluginSandbox) -> None:
    """The client's transports, for the tests of our client."""
    server_plugins.add_plugin(ainative_client._plugin, name="client")


@pytest.fixture
def fake(server_plugins: PluginSandbox) -> FakeProvider:
    provider = FakeProvider(TOKENS, delay=0.02)
    server_plugins.add_provider("fake", provider)
    return provider


@asynccontextmanager
async def sse_stream(
    base_url: str, *, headers: dict[str, str] | None = None, path: str = "/ai/stream"
) -> AsyncIterator[tuple[str, EventReader]]:
    """Start a stream over SSE and read it; leaving the block drops the connection."""
    async with (
        httpx.AsyncClient() as http,
        http.stream("POST", f"{base_url}{path}", json=fake_body(), headers=headers) as response,
    ):
        assert response.status_code == 200
        reader = EventReader(response)
        try:
            yield response.headers["x-ainative-stream-id"], reader
        finally:
            await close_early(response, reader)


async def close_early(response: httpx.Response, reader: EventReader) -> None:
    """Close the connection, then finish the body's generators on the closed socket (trio
    reports generators left suspended)."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        await response.aclose()
        with contextlib.suppress(Exception):
            await reader.read()


async def cancel(base_url: str, stream_id: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.delete(f"{base_url}/ai/stream/{stream_id}")
    assert response.json()["cancelled"] is True


async def read_ws(ws: AsyncWebSocketSession, count: int) -> list[dict[str, Any]]:
    return [json.loads(await ws.receive_text()) for _ in range(count)]


# -- a client that did not declare it -------------------------------------------------------


async def test_a_non_resuming_sse_client_leaving_cancels_the_provider_at_once(
    serve: Serve, fake: FakeProvider
) -> None:
    with serve(resume_grace=GRACE) as (server, live), anyio.fail_after(10):
        async with sse_stream(live.base_url) as (stream_id, reader):
            await reader.read(3)
        run = server.hub.get(stream_id)
        await wait_until(lambda: run.done)
        await wait_until(fake.cancelled.is_set)
    assert run.finish_reason == "cancelled"
    assert run.tokens < len(TOKENS)


@pytest.mark.parametrize("path", ["/ai/ws", "/ai/stream"])
async def test_a_non_resuming_websocket_closing_cancels_the_provider_at_once(
    serve: Serve, fake: FakeProvider, path: str
) -> None:
    ws: AsyncWebSocketSession
    with serve(resume_grace=GRACE) as (server, live), anyio.fail_after(10):
        async with httpx.AsyncClient() as http, aconnect_ws(f"{live.base_url}{path}", http) as ws:
            await ws.send_text(json.dumps(fake_body()))
            frames = await read_ws(ws, 3)
        run = server.hub.get(frames[0]["stream_id"])
        await wait_until(lambda: run.done)
        await wait_until(fake.cancelled.is_set)
    assert run.finish_reason == "cancelled"


async def test_a_resume_that_does_not_declare_it_cancels_when_it_drops(
    serve: Serve, fake: FakeProvider
) -> None:
    """The declaration belongs to each connection, the resuming one included."""
    resumable = {RESUMABLE_HEADER: "1"}
    with serve(resume_grace=GRACE) as (server, live), anyio.fail_after(10):
        async with sse_stream(live.base_url, headers=resumable) as (stream_id, reader):
            await reader.read(3)
        run = server.hub.get(stream_id)
        async with (
            httpx.AsyncClient() as http,
            http.stream("GET", f"{live.base_url}/ai/stream/{stream_id}") as response,
        ):
            resumed = EventReader(response)
            await resumed.read(5)
            await close_early(response, resumed)
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"
    assert fake.cancelled.is_set()


# -- a client that declared it ----------------------------------------------------------------


async def _still_running(run: Any) -> None:
    """The run goes on producing with nobody following it."""
    await wait_until(lambda: run.followers == 0)
    produced = run.tokens
    await wait_until(lambda: run.tokens > produced + 2)
    assert not run.done


@pytest.mark.parametrize("how", ["header", "query"])
async def test_a_declared_sse_client_leaving_keeps_the_run_for_the_grace_period(
    serve: Serve, fake: FakeProvider, how: str
) -> None:
    headers = {RESUMABLE_HEADER: "1"} if how == "header" else None
    path = "/ai/stream" if how == "header" else f"/ai/stream?{RESUMABLE_PARAM}=1"
    with serve(resume_grace=GRACE) as (server, live), anyio.fail_after(10):
        async with sse_stream(live.base_url, headers=headers, path=path) as (stream_id, reader):
            await reader.read(3)
        run = server.hub.get(stream_id)
        await _still_running(run)
        await cancel(live.base_url, stream_id)
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"


@pytest.mark.parametrize("how", ["header", "query", "hello"])
async def test_a_declared_websocket_closing_keeps_the_run_for_the_grace_period(
    serve: Serve, fake: FakeProvider, how: str
) -> None:
    url = f"/ai/stream?{RESUMABLE_PARAM}=1" if how == "query" else "/ai/stream"
    headers = {RESUMABLE_HEADER: "1"} if how == "header" else {}
    with serve(resume_grace=GRACE) as (server, live), anyio.fail_after(10):
        ws: AsyncWebSocketSession
        async with (
            httpx.AsyncClient() as http,
            aconnect_ws(f"{live.base_url}{url}", http, headers=headers) as ws,
        ):
            if how == "hello":
                await ws.send_text(json.dumps({"type": "hello", "resumable": True}))
            await ws.send_text(json.dumps(fake_body()))
            frames = await read_ws(ws, 3)
        run = server.hub.get(frames[0]["stream_id"])
        await _still_running(run)
        await cancel(live.base_url, run.stream_id)
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"


async def test_a_hello_that_takes_it_back_makes_a_close_cancel(
    serve: Serve, fake: FakeProvider
) -> None:
    url = f"/ai/ws?{RESUMABLE_PARAM}=1"
    ws: AsyncWebSocketSession
    with serve(resume_grace=GRACE) as (server, live), anyio.fail_after(10):
        async with httpx.AsyncClient() as http, aconnect_ws(f"{live.base_url}{url}", http) as ws:
            await ws.send_text(json.dumps({"type": "hello", "resumable": False}))
            await ws.send_text(json.dumps(fake_body()))
            frames = await read_ws(ws, 3)
        run = server.hub.get(frames[0]["stream_id"])
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"


# -- our client -------------------------------------------------------------------------------


@pytest.mark.usefixtures("client_plugin")
@pytest.mark.parametrize("method", ["SSE", "WS"])
async def test_our_client_declares_it_and_resumes_after_a_drop(
    serve: Serve, server_plugins: PluginSandbox, method: str
) -> None:
    tokens = [f"t{i} " for i in range(60)]
    server_plugins.add_provider("fake", FakeProvider(tokens, delay=0.01))
    with serve(resume_grace=GRACE) as (server, live), anyio.fail_after(30):
        # A proxy that cuts every connection after 600 bytes stands for a bad network.
        async with TCPProxy(live.port, cut_after_bytes=600) as proxy:
            bus = EventBus()
            received: list[str] = []
            bus.on("stream-data", lambda e: received.append(e.payload.get("token", "")))
            config = StreamConfig(
                proxy.url, method=method, reconnect_delay=0.05, max_reconnect_attempts=20
            )
            result = await StreamingEngine(bus).start(config, fake_body())
    assert result.reason == "complete", result.error
    assert result.reconnects >= 1
    assert "".join(received) == "".join(tokens)
    assert result.stream_id is not None
    assert server.hub.get(result.stream_id).finish_reason == "stop"


@pytest.mark.usefixtures("client_plugin")
async def test_our_client_without_reconnect_does_not_declare_it(
    serve: Serve, fake: FakeProvider
) -> None:
    with serve(resume_grace=GRACE) as (server, live), anyio.fail_after(10):
        async with TCPProxy(live.port, cut_after_bytes=600) as proxy:
            config = StreamConfig(proxy.url, reconnect=False)
            result = await StreamingEngine().start(config, fake_body())
        assert result.reason == "error"
        assert result.stream_id is not None
        run = server.hub.get(result.stream_id)
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"
    assert fake.cancelled.is_set()


# -- the declaration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, "", False),
        ({RESUMABLE_HEADER: "1"}, "", True),
        ({RESUMABLE_HEADER.lower(): "true"}, "", True),
        ({RESUMABLE_HEADER: "0"}, "", False),
        ({}, f"{RESUMABLE_PARAM}=1", True),
        ({}, f"{RESUMABLE_PARAM}=yes", True),
        ({}, f"{RESUMABLE_PARAM}=no", False),
        ({RESUMABLE_HEADER: "1"}, f"{RESUMABLE_PARAM}=0", True),
    ],
)
def test_client_can_resume_reads_the_header_or_the_query(
    headers: dict[str, str], query: str, expected: bool
) -> None:
    scope = {
        "type": "http",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "query_string": query.encode(),
    }
    assert client_can_resume(HTTPConnection(scope)) is expected
