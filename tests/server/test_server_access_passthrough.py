"""Without the access log, `AccessLogMiddleware` hands the app the server's own ``receive``
and ``send``; with it, it wraps them (and writes its lines, see test_server_access_log)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from starlette.types import ASGIApp, Receive, Scope, Send

from ainative_server import ServerConfig
from ainative_server._access_log import ACCESS_LOGGER, AccessLogMiddleware
from ainative_server._hub import StreamHub
from ainative_testing import LiveServer, live_server

from .test_server_access_log import access_records

pytestmark = pytest.mark.anyio


class Seen:
    """Records the ``(receive, send)`` an ASGI app was called with, per scope type."""

    def __init__(self) -> None:
        self.calls: dict[str, tuple[Receive, Send]] = {}


def probe(app: ASGIApp, seen: Seen) -> ASGIApp:
    """An app that records what the server passed and hands it on unchanged."""

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            seen.calls[scope["type"]] = (receive, send)
        await app(scope, receive, send)

    return outer


def echo_app(seen: Seen) -> ASGIApp:
    """Answers HTTP with ``ok``, echoes one WebSocket text frame until the client closes, and
    records its callables."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.calls[scope["type"]] = (receive, send)
        if scope["type"] == "http":
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"]})
        for _ in range(10):  # the client closes, once it has the echo
            if (await receive())["type"] == "websocket.disconnect":
                break

    return app


@pytest.fixture(params=["uvicorn", "hypercorn"])
def server_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def access_log_level() -> Iterator[logging.Logger]:
    logger = logging.getLogger(ACCESS_LOGGER)
    level = logger.level
    yield logger
    logger.setLevel(level)


async def exchange(base_url: str) -> tuple[str, str]:
    """One HTTP request and one WebSocket echo against the server; their answers."""
    ws: AsyncWebSocketSession
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        with anyio.fail_after(10):
            body = (await client.get("/")).text
            async with aconnect_ws(f"{base_url}/ws", client) as ws:
                await ws.send_text("hello")
                echoed = await ws.receive_text()
    return body, echoed


@pytest.fixture
def probed(server_backend: str) -> Iterator[tuple[Seen, Seen, LiveServer]]:
    """The middleware between two probes over a loopback server: what the server passed,
    what the app got, and the server."""
    outer, inner = Seen(), Seen()
    middleware = AccessLogMiddleware(echo_app(inner), hub=StreamHub(ServerConfig()))
    with live_server(probe(middleware, outer), backend=server_backend) as live:  # type: ignore[arg-type]
        yield outer, inner, live


def unwrapped(outer: Seen, inner: Seen, kind: str) -> tuple[bool, bool]:
    """Whether the app got the server's own ``receive`` and ``send`` for ``kind``."""
    return inner.calls[kind][0] is outer.calls[kind][0], inner.calls[kind][1] is outer.calls[kind][
        1
    ]


async def test_without_the_log_the_app_gets_the_servers_receive_and_send(
    probed: tuple[Seen, Seen, LiveServer], access_log_level: logging.Logger
) -> None:
    outer, inner, live = probed
    access_log_level.setLevel(logging.WARNING)
    assert await exchange(live.base_url) == ("ok", "hello")
    assert set(inner.calls) == {"http", "websocket"}
    assert unwrapped(outer, inner, "http") == (True, True)
    assert unwrapped(outer, inner, "websocket") == (True, True)


async def test_with_the_log_on_the_app_gets_wrapped_callables(
    probed: tuple[Seen, Seen, LiveServer],
    access_log_level: logging.Logger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outer, inner, live = probed
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    assert await exchange(live.base_url) == ("ok", "hello")
    assert unwrapped(outer, inner, "http") == (True, False)  # HTTP watches only ``send``
    assert unwrapped(outer, inner, "websocket") == (False, False)
    assert len(access_records(caplog, 2)) == 2


async def test_the_log_turned_on_at_run_time_applies_to_the_next_connection(
    probed: tuple[Seen, Seen, LiveServer], access_log_level: logging.Logger
) -> None:
    outer, inner, live = probed
    access_log_level.setLevel(logging.WARNING)
    await exchange(live.base_url)
    assert unwrapped(outer, inner, "websocket") == (True, True)
    access_log_level.setLevel(logging.INFO)
    await exchange(live.base_url)
    assert unwrapped(outer, inner, "http") == (True, False)
    assert unwrapped(outer, inner, "websocket") == (False, False)
