"""Dropped connections: resume from the last event id, give up cleanly, AUTO fallback."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from ainative_client import StreamConfig, StreamingEngine
from ainative_core import BusEvent, ConnectError, EventBus, StreamInterrupted, hookimpl
from ainative_server import ServerConfig, create_app
from ainative_testing import LiveServer, PluginSandbox, TCPProxy

pytestmark = pytest.mark.anyio

Serve = Callable[[Any], AbstractContextManager[LiveServer]]

TOKENS = 300
EXPECTED = "t0" + "".join(f" t{i}" for i in range(1, TOKENS))


def of_type(bus: EventBus, kind: str) -> list[BusEvent]:
    return [e for e in bus.history if e.type == kind]


def collect_text(bus: EventBus) -> list[str]:
    tokens: list[str] = []
    bus.on(
        "stream-data", lambda e: tokens.append(e.payload["token"]) if "token" in e.payload else None
    )
    return tokens


@pytest.mark.parametrize("delay", [0.0, 0.002])
async def test_resumes_after_the_connection_drops_mid_stream(
    server: LiveServer, method: str, delay: float
) -> None:
    bus = EventBus(history_size=5000)
    tokens = collect_text(bus)
    request: dict[str, Any] = {
        "params": {"message": "x"},
        "options": {"tokens": TOKENS, "delay": delay},
    }
    config = StreamConfig("", method=method, reconnect_delay=0.01, max_reconnect_attempts=3)
    # Every connection through the proxy is cut after 2 KB from the server: about one in
    # five of the stream's bytes per connection, so the stream is resumed several times.
    with anyio.fail_after(20):
        async with TCPProxy(server.port, cut_after_bytes=2000) as proxy:
            config = StreamConfig(
                f"{proxy.url}/ai/stream",
                method=method,
                reconnect_delay=0.01,
                max_reconnect_attempts=3,
            )
            result = await StreamingEngine(bus).start(config, request)
    assert result.reason == "complete", result.error
    assert "".join(tokens) == EXPECTED  # nothing lost, nothing repeated
    assert result.reconnects >= 3
    assert proxy.cuts >= 3
    assert len(of_type(bus, "stream-reconnect")) == result.reconnects
    ids = [e.payload["id"] for e in of_type(bus, "stream-data")]
    assert ids == list(range(1, len(ids) + 1))
    assert [e.payload["reason"] for e in of_type(bus, "stream-end")] == ["complete"]
    assert of_type(bus, "stream-error") == []


async def test_gives_up_after_max_reconnect_attempts(server: LiveServer, method: str) -> None:
    bus = EventBus(history_size=5000)
    tokens = collect_text(bus)
    request = {"params": {"message": "x"}, "options": {"tokens": 1000, "delay": 0.01}}
    with anyio.fail_after(20):
        async with TCPProxy(server.port) as proxy:
            cut = anyio.Event()

            def cut_everything(_: BusEvent) -> None:
                if len(tokens) == 5 and not cut.is_set():
                    proxy.reject = True
                    proxy.cut()
                    cut.set()

            bus.on("stream-data", cut_everything)
            config = StreamConfig(
                proxy.url, method=method, reconnect_delay=0.01, max_reconnect_attempts=3
            )
            result = await StreamingEngine(bus).start(config, request)
    assert cut.is_set()
    assert result.reason == "error"
    assert isinstance(result.error, StreamInterrupted)
    assert "3 reconnect attempts" in str(result.error)
    assert [e.payload["attempt"] for e in of_type(bus, "stream-reconnect")] == [1, 2, 3]
    assert len(of_type(bus, "stream-error")) == 1
    assert [e.payload["reason"] for e in of_type(bus, "stream-end")] == ["error"]
    assert tokens[:5] == ["t0", " t1", " t2", " t3", " t4"]


async def test_no_server_is_a_connect_error_after_retries(method: str) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there any more
    bus = EventBus(history_size=5000)
    config = StreamConfig(
        f"http://127.0.0.1:{port}", method=method, reconnect_delay=0.01, max_reconnect_attempts=2
    )
    with anyio.fail_after(10):
        result = await StreamingEngine(bus).start(config, {"params": {"message": "x"}})
    assert result.reason == "error"
    assert isinstance(result.error, ConnectError)
    assert "2 reconnect attempts" in str(result.error)
    assert len(of_type(bus, "stream-reconnect")) == 2
    assert [e.payload["reason"] for e in of_type(bus, "stream-end")] == ["error"]


async def test_without_reconnect_a_drop_is_an_error(server: LiveServer, method: str) -> None:
    bus = EventBus(history_size=5000)
    request = {"params": {"message": "x"}, "options": {"tokens": TOKENS}}
    with anyio.fail_after(10):
        async with TCPProxy(server.port, cut_after_bytes=2000) as proxy:
            config = StreamConfig(proxy.url, method=method, reconnect=False)
            result = await StreamingEngine(bus).start(config, request)
    assert result.reason == "error"
    assert isinstance(result.error, StreamInterrupted)
    assert of_type(bus, "stream-reconnect") == []


class _OnlyTransport:
    """A server plugin registering the server half of one transport only."""

    def __init__(self, name: str, ref: str) -> None:
        self.name, self.ref = name, ref

    @hookimpl
    def ainative_register_transports(self, register: Any) -> None:
        register(self.name, server=self.ref)


@pytest.mark.parametrize(
    ("served", "ref", "order"),
    [
        ("sse", "ainative_server._sse:SSETransport", ("ws", "sse")),
        ("ws", "ainative_server._ws:WebSocketTransport", ("sse", "ws")),
    ],
)
async def test_auto_falls_back_and_remembers(
    serve: Serve, served: str, ref: str, order: tuple[str, ...]
) -> None:
    sandbox = PluginSandbox()
    sandbox.add_plugin(_OnlyTransport(served, ref), "only")
    app = create_app(ServerConfig(), plugins=sandbox.plugins)
    with serve(app) as srv:
        config = StreamConfig(srv.base_url, method="AUTO", auto_order=order)
        bus = EventBus()
        tokens = collect_text(bus)
        with capture_logs() as logs, anyio.fail_after(10):
            first = await StreamingEngine(bus).start(config, {"params": {"message": "a b"}})
        assert first.reason == "complete"
        assert first.transport == served
        assert "".join(tokens) == "a b"
        fallbacks = [e for e in logs if e["event"] == "transport unavailable, falling back"]
        assert [e["transport"] for e in fallbacks] == [order[0]]
        with capture_logs() as logs, anyio.fail_after(10):
            second = await StreamingEngine(bus).start(config, {"params": {"message": "c"}})
        assert second.transport == served
        # The transport that worked is remembered for this server: no second try.
        assert [e for e in logs if e["event"] == "transport unavailable, falling back"] == []


async def test_an_event_without_its_own_id_is_not_taken_for_a_repeat(serve: Serve) -> None:
    """SSE gives an id-less event the previous id; only a reconnect can repeat events."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    body = (
        "retry: 1000\n"
        'id: 1\ndata: {"type":"metadata","data":{"stream_id":"s_plain"}}\n\n'
        'id: 2\ndata: {"type":"token","data":"a"}\n\n'
        'data: {"type":"token","data":"b"}\n\n'
        'data: {"type":"done","data":{"finish_reason":"stop"}}\n\n'
        "data: [DONE]\n\n"
    )

    async def stream(request: Request) -> Response:
        return Response(body, media_type="text/event-stream")

    app = Starlette(routes=[Route("/ai/stream", stream, methods=["POST"])])
    bus = EventBus()
    tokens = collect_text(bus)
    with serve(app) as srv, anyio.fail_after(10):
        result = await StreamingEngine(bus).start(
            StreamConfig(f"{srv.base_url}/ai/stream", method="SSE", reconnect=False),
            {"params": {"message": "x"}},
        )
    assert tokens == ["a", "b"]
    assert result.reason == "complete"
    assert [e.payload["reason"] for e in of_type(bus, "stream-end")] == ["complete"]
