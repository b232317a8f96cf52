"""The loopback test server: both backends, lifespan, streaming, WebSocket and clean shutdown."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ainative_testing import LiveServer, live_server

pytestmark = pytest.mark.anyio

Factory = Callable[..., AbstractContextManager[LiveServer]]


def make_app(events: list[str]) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def chunks(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"chunk{i}\n".encode()

        return StreamingResponse(body(), media_type="text/plain")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(text.upper())
        await websocket.close()

    return Starlette(
        routes=[Route("/chunks", chunks), WebSocketRoute("/ws", echo)], lifespan=lifespan
    )


@pytest.mark.parametrize("backend", ["uvicorn", "hypercorn"])
async def test_serves_http_and_websocket_then_shuts_down(
    backend: str, live_server_factory: Factory
) -> None:
    events: list[str] = []
    before = set(threading.enumerate())  # session-scoped servers of other tests may be running
    with live_server_factory(make_app(events), backend=backend) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert server.port > 0
        assert events == ["startup"]
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            with anyio.fail_after(10):
                response = await client.get("/chunks")
                assert response.text == "chunk0\nchunk1\nchunk2\n"
                async with aconnect_ws(
                    f"{server.base_url}/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_text("hi")
                    assert await ws.receive_text() == "HI"
                    # The app closes: wait for its close rather than close at the same time
                    # (Hypercorn on trio can then write the client's close reply while it
                    # shuts the stream down: BusyResourceError in its own tasks).
                    with pytest.raises(WebSocketDisconnect):
                        await ws.receive_text()
    assert events == ["startup", "shutdown"]
    left = set(threading.enumerate()) - before
    assert not [t for t in left if t.name.startswith("live-server")]


def test_usable_from_sync_code_and_port_is_freed() -> None:
    with live_server(make_app([]), backend="uvicorn") as server:
        response = httpx.get(f"{server.base_url}/chunks", timeout=10)
        assert response.status_code == 200
        port = server.port
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/chunks", timeout=2)


def test_unknown_backend_is_rejected() -> None:
    with (
        pytest.raises(ValueError, match="unknown server backend"),
        live_server(
            make_app([]),
            backend="daphne",  # type: ignore[arg-type]
        ),
    ):
        pass


def fail() -> None:
    raise RuntimeError("boom")


def test_startup_failure_is_reported() -> None:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        fail()
        yield

    app = Starlette(lifespan=lifespan)
    with (
        pytest.raises(RuntimeError, match=r"failed to start|exited during startup"),
        live_server(app, backend="uvicorn"),
    ):
        pass
