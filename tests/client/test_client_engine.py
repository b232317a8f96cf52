"""StreamingEngine against a real loopback ainative server, over SSE, WS and AUTO."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, aclosing
from typing import Any

import anyio
import pytest

from ainative_client import StreamConfig, StreamingEngine, StreamResult
from ainative_core import (
    BusEvent,
    EventBus,
    HTTPStatusError,
    ProviderUnavailable,
    StreamEvent,
    StreamingError,
    Usage,
)
from ainative_server import ServerConfig, create_app
from ainative_testing import FakeProvider, LiveServer, PluginSandbox, ScriptedProvider

pytestmark = pytest.mark.anyio

Serve = Callable[[Any], AbstractContextManager[LiveServer]]

WaitUntil = Callable[[Callable[[], bool]], Awaitable[None]]

MESSAGE = "Hello from the seed guide, token by token"


def of_type(bus: EventBus, kind: str) -> list[BusEvent]:
    return [e for e in bus.history if e.type == kind]


def config(url: str, method: str, **kwargs: Any) -> StreamConfig:
    return StreamConfig(url, method=method, reconnect_delay=0.01, **kwargs)


async def test_seed_manual_streaming(server: LiveServer, method: str) -> None:
    event_bus = EventBus()
    streaming = StreamingEngine(event_bus)
    tokens: list[str] = []
    event_bus.on(
        "stream-data", lambda e: tokens.append(e.payload["token"]) if "token" in e.payload else None
    )

    with anyio.fail_after(10):
        result = await streaming.start(
            StreamConfig(url=f"{server.base_url}/ai/stream", method=method),
            {"action": "chat", "params": {"message": MESSAGE}},
        )

    assert len(tokens) > 0  # the seed guide's own test
    assert "".join(tokens) == MESSAGE
    assert result.reason == "complete"
    assert result.finish_reason == "stop"
    assert event_bus.history[0].type == "stream-start"
    ends = of_type(event_bus, "stream-end")
    assert len(ends) == 1
    assert ends[0].payload["reason"] == "complete"
    assert of_type(event_bus, "stream-error") == []
    assert not streaming.is_active


async def test_stream_data_payloads(server: LiveServer, method: str) -> None:
    bus = EventBus()
    with anyio.fail_after(10):
        result = await StreamingEngine(bus).start(
            config(server.base_url, method), {"params": {"message": "a b"}}
        )
    data = [e.payload for e in of_type(bus, "stream-data")]
    assert data[0]["type"] == "metadata"
    assert data[0]["metadata"]["stream_id"] == result.stream_id
    assert data[0]["metadata"]["provider"] == "echo"
    assert [(d["type"], d["token"]) for d in data[1:]] == [("token", "a"), ("token", " b")]
    ids = [d["id"] for d in data]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_starting_while_active_raises(server: LiveServer, method: str) -> None:
    engine = StreamingEngine(EventBus())
    request = {"params": {"message": "x"}, "options": {"tokens": 1000, "delay": 0.01}}
    results: list[StreamResult] = []

    async def run() -> None:
        results.append(await engine.start(config(server.base_url, method), request))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            first = anyio.Event()
            engine.event_bus.once("stream-data", lambda _: first.set())
            await first.wait()
            with pytest.raises(StreamingError, match="already active"):
                await engine.start(config(server.base_url, method), request)
            await engine.stop()
    assert results[0].reason == "aborted"
    assert len(of_type(engine.event_bus, "stream-end")) == 1


async def test_stop_cancels_the_provider_on_the_server(
    client_plugins: PluginSandbox, method: str, serve: Serve, wait_until: WaitUntil
) -> None:
    fake = FakeProvider([f" w{i}" for i in range(500)], delay=0.02)
    client_plugins.add_provider("fake", fake)
    # A long grace: only an explicit cancel can stop the provider within the test.
    app = create_app(ServerConfig(provider="fake", resume_grace=60), plugins=client_plugins.plugins)
    bus = EventBus()
    engine = StreamingEngine(bus)
    with serve(app) as srv, anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.start, config(srv.base_url, method), {"params": {"message": "go"}})
            await wait_until(lambda: len(of_type(bus, "stream-data")) >= 3)
            await engine.stop()
        await wait_until(fake.closed.is_set)
    assert fake.cancelled.is_set()
    ends = of_type(bus, "stream-end")
    assert [e.payload["reason"] for e in ends] == ["aborted"]
    assert len(of_type(bus, "stream-data")) < 500


async def test_an_error_event_ends_the_stream_with_reason_error(
    client_plugins: PluginSandbox, method: str, serve: Serve
) -> None:
    fake = FakeProvider(
        ["one", " two", " three"],
        fail_after=ProviderUnavailable("upstream down"),
        fail_after_tokens=2,
    )
    client_plugins.add_provider("fake", fake)
    app = create_app(ServerConfig(provider="fake"), plugins=client_plugins.plugins)
    bus = EventBus()
    tokens: list[str] = []
    bus.on("stream-data", lambda e: tokens.append(e.payload.get("token", "")))
    with serve(app) as srv, anyio.fail_after(10):
        result = await StreamingEngine(bus).start(
            config(srv.base_url, method), {"params": {"message": "go"}}
        )
    assert "".join(tokens) == "one two"
    errors = of_type(bus, "stream-error")
    assert len(errors) == 1
    assert errors[0].payload["error"] == "upstream down"
    assert errors[0].payload["code"] == "provider_unavailable"
    assert errors[0].payload["retryable"] is True
    assert result.reason == "error"
    assert result.finish_reason == "error"
    assert [e.payload["reason"] for e in of_type(bus, "stream-end")] == ["error"]
    assert of_type(bus, "stream-reconnect") == []


async def test_an_error_before_the_first_byte(server: LiveServer, method: str) -> None:
    bus = EventBus()
    with anyio.fail_after(10):
        result = await StreamingEngine(bus).start(
            config(server.base_url, method), {"params": {"message": "x"}, "provider": "nope"}
        )
    assert result.reason == "error"
    errors = of_type(bus, "stream-error")
    assert len(errors) == 1
    assert "nope" in errors[0].payload["error"]
    # Refused before the stream started: an HTTP status on SSE, an id-less error frame on
    # WS; both come out as the same error (AUTO does not fall back on a server's answer).
    assert errors[0].payload["code"] == "unknown_provider"
    assert isinstance(result.error, HTTPStatusError)
    assert result.error.status_code == 404
    assert [e.payload["reason"] for e in of_type(bus, "stream-end")] == ["error"]
    assert of_type(bus, "stream-reconnect") == []


async def test_stream_iterator_paces_the_run(server: LiveServer, method: str) -> None:
    engine = StreamingEngine()
    seen = 0
    with anyio.fail_after(10):
        events = engine.stream(
            config(server.base_url, method), {"params": {"message": "x"}, "options": {"tokens": 50}}
        )
        async for item in events:
            seen += item.event.type == "token"
    assert seen == 50
    assert [e.payload["reason"] for e in of_type(engine.event_bus, "stream-end")] == ["complete"]


async def test_reasoning_tool_calls_and_usage_surface_on_the_bus(
    client_plugins: PluginSandbox, method: str, serve: Serve
) -> None:
    script = ScriptedProvider(
        [
            StreamEvent.reasoning_delta("thinking"),
            StreamEvent.tool_call_start("call_1", "add"),
            StreamEvent.tool_call_delta("call_1", '{"a": 1}'),
            StreamEvent.tool_call_end("call_1"),
            StreamEvent.text_delta("done"),
            StreamEvent.usage_report(Usage(input_tokens=2, output_tokens=3)),
            StreamEvent.finish("tool_call"),
        ]
    )
    client_plugins.add_provider("scripted", script)
    app = create_app(ServerConfig(provider="scripted"), plugins=client_plugins.plugins)
    bus = EventBus()
    with serve(app) as srv, anyio.fail_after(10):
        result = await StreamingEngine(bus).start(
            config(srv.base_url, method), {"params": {"message": "go"}}
        )
    data = [e.payload for e in of_type(bus, "stream-data")]
    kinds = [d["type"] for d in data]
    assert kinds[0] == "metadata"
    reasoning = [d["reasoning"] for d in data if d["type"] == "reasoning"]
    assert reasoning == ["thinking"]
    calls = [d["tool_call"] for d in data if d["type"] == "tool_call"]
    assert [c["phase"] for c in calls] == ["start", "delta", "end"]
    assert calls[0]["name"] == "add"
    assert calls[1]["args_delta"] == '{"a": 1}'
    assert {c["id"] for c in calls} == {"call_1"}
    tool_events = [e.payload for e in of_type(bus, "tool")]
    assert [t["data"] for t in tool_events] == calls
    assert {t["type"] for t in tool_events} == {"tool_call"}
    assert [d["token"] for d in data if d["type"] == "token"] == ["done"]
    # usage comes with done (a separate usage event, if a server sends one, is surfaced too)
    assert result.usage is not None
    assert result.usage["output_tokens"] == 3
    ends = of_type(bus, "stream-end")
    assert ends[0].payload["usage"] == result.usage
    assert result.finish_reason == "tool_call"
    assert result.reason == "complete"


async def test_headers_carry_credentials(
    client_plugins: PluginSandbox, method: str, serve: Serve
) -> None:
    app = create_app(ServerConfig(api_keys=["sesame"]), plugins=client_plugins.plugins)
    with serve(app) as srv, anyio.fail_after(10):
        ok = await StreamingEngine().start(
            config(srv.base_url, method, headers={"Authorization": "Bearer sesame"}),
            {"params": {"message": "let me in"}},
        )
        refused = await StreamingEngine().start(
            config(srv.base_url, method, headers={"Authorization": "Bearer wrong"}),
            {"params": {"message": "let me in"}},
        )
    assert ok.reason == "complete"
    assert refused.reason == "error"
    assert isinstance(refused.error, HTTPStatusError)
    assert refused.error.status_code in (401, 403)


async def test_cancelling_start_aborts_and_cancels_on_the_server(
    client_plugins: PluginSandbox, method: str, serve: Serve, wait_until: WaitUntil
) -> None:
    fake = FakeProvider([f" w{i}" for i in range(500)], delay=0.02)
    client_plugins.add_provider("fake", fake)
    app = create_app(ServerConfig(provider="fake", resume_grace=60), plugins=client_plugins.plugins)
    bus = EventBus()
    engine = StreamingEngine(bus)
    with serve(app) as srv, anyio.fail_after(15):
        with anyio.CancelScope() as scope:
            bus.on("stream-data", lambda e: scope.cancel() if e.payload["id"] >= 4 else None)
            await engine.start(config(srv.base_url, method), {"params": {"message": "go"}})
        assert scope.cancelled_caught
        assert not engine.is_active
        await wait_until(fake.closed.is_set)
    assert fake.cancelled.is_set()
    assert [e.payload["reason"] for e in of_type(bus, "stream-end")] == ["aborted"]


async def test_without_record_data_data_events_are_built_only_while_heard(
    server: LiveServer, method: str
) -> None:
    bus = EventBus()
    engine = StreamingEngine(bus, record_data=False)
    with anyio.fail_after(10):
        await engine.start(config(server.base_url, method), {"params": {"message": "a b c"}})
    kinds = [e.type for e in bus.history]
    assert "stream-data" not in kinds
    assert kinds[0] == "stream-start"
    assert kinds.count("stream-end") == 1

    tokens: list[str] = []
    bus.on("stream-data", lambda e: tokens.append(e.payload.get("token", "")))
    with anyio.fail_after(10):
        await engine.start(config(server.base_url, method), {"params": {"message": "a b c"}})
    assert "".join(tokens) == "a b c"


async def test_stream_batches_hold_every_event_once_in_order(
    server: LiveServer, method: str
) -> None:
    engine = StreamingEngine()
    batches: list[list[str]] = []
    with anyio.fail_after(10):
        run = engine.stream_batches(
            config(server.base_url, method),
            {"params": {"message": "x"}, "options": {"tokens": 300}},
        )
        async with aclosing(run) as stream:
            async for batch in stream:
                assert batch  # never an empty list
                batches.append([item.event.type for item in batch])
    kinds = [kind for batch in batches for kind in batch]
    assert kinds == ["metadata", *["token"] * 300, "done"]
    assert of_type(engine.event_bus, "stream-end")[0].payload["reason"] == "complete"
