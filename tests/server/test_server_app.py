"""The app: custom actions, options reaching the provider, mounting, plugin transports, CORS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from structlog.testing import capture_logs

from ainative_core import (
    ActionRequest,
    BaseProvider,
    ConfigurationError,
    GenerateRequest,
    ProviderAuthError,
    StreamEvent,
    UnknownProviderError,
    hookimpl,
)
from ainative_server import AINativeServer, ServerConfig, StreamManager, create_router
from ainative_server._serve import check_default_provider
from ainative_testing import FakeProvider, PluginSandbox, live_server

from .server_helpers import Serve, parse_sse, tokens_of

pytestmark = pytest.mark.anyio


async def post(live_url: str, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live_url) as client:
        with anyio.fail_after(10):
            return await client.post(path, json=body, **kwargs)


async def test_custom_action_streams_through_its_stream_manager(serve: Serve) -> None:
    def setup(server: AINativeServer) -> None:
        @server.action("summarize")
        async def summarize(stream: StreamManager, request: ActionRequest) -> None:
            await stream.send_metadata({"words": len(request.params["text"].split())})
            for word in request.params["text"].split():
                await stream.send_token(word[:1])
            await stream.send_done("stop", {"input_tokens": 1, "output_tokens": 3})

    with serve(setup) as (_, live):
        body = {"action": "summarize", "params": {"text": "alpha beta gamma"}}
        response = await post(live.base_url, "/ai/stream", body)
    events = [json.loads(data) for _, data in parse_sse(response.content)[:-1]]
    assert [e["type"] for e in events] == [
        "metadata",
        "metadata",
        "token",
        "token",
        "token",
        "done",
    ]
    assert events[1]["data"] == {"words": 3}
    assert tokens_of(parse_sse(response.content)) == "abg"
    assert events[-1]["data"]["usage"] == {"input_tokens": 1, "output_tokens": 3}


async def test_custom_action_failing_before_sending_is_a_real_status(serve: Serve) -> None:
    def setup(server: AINativeServer) -> None:
        @server.action("locked")
        async def locked(stream: StreamManager, request: ActionRequest) -> None:
            raise ProviderAuthError("no key for this")

        @server.action("crash")
        async def crash(stream: StreamManager, request: ActionRequest) -> None:
            raise RuntimeError("internal detail")

    with serve(setup) as (_, live):
        locked = await post(live.base_url, "/ai/stream", {"action": "locked"})
        crash = await post(live.base_url, "/ai/stream", {"action": "crash"})
    assert locked.status_code == 401
    assert locked.json()["error"]["message"] == "no key for this"
    assert crash.status_code == 500
    assert crash.json()["error"] == {
        "code": "internal_error",
        "message": "internal server error",
        "retryable": False,
    }


async def test_model_options_and_context_reach_the_provider(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider(["ok"])
    server_plugins.add_provider("fake", fake)
    body = {
        "action": "chat",
        "params": {"message": "and now?"},
        "context": {"messages": [{"role": "system", "content": "be brief"}]},
        "provider": "fake",
        "model": "big-1",
        "options": {"temperature": 0.5, "max_tokens": 9, "stop": "END", "tokens": 3},
    }
    with serve(model="default-model") as (_, live):
        first = await post(live.base_url, "/ai/stream", body)
        second = await post(live.base_url, "/ai/stream", {**body, "model": None})
    assert first.status_code == second.status_code == 200
    request = fake.requests[0]
    assert [(m.role, m.content) for m in request.messages] == [
        ("system", "be brief"),
        ("user", "and now?"),
    ]
    assert (request.model, request.temperature, request.max_tokens) == ("big-1", 0.5, 9)
    assert request.stop == ["END"]
    assert request.extra == {"tokens": 3}
    assert fake.requests[1].model == "default-model"
    meta = json.loads(parse_sse(first.content)[0][1])
    assert meta["data"]["provider"] == "fake"
    assert meta["data"]["model"] == "big-1"


async def test_provider_settings_come_from_the_config(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    seen: list[dict[str, Any]] = []

    def factory(**settings: Any) -> FakeProvider:
        seen.append(settings)
        return FakeProvider(["x"])

    server_plugins.add_provider("configured", factory)
    with serve(provider="configured", providers={"configured": {"api_key": "k"}}) as (_, live):
        await post(live.base_url, "/ai/stream", {"params": {"message": "a"}})
        await post(live.base_url, "/ai/stream", {"params": {"message": "b"}})
    assert seen == [{"api_key": "k"}]  # one instance per provider, with its settings


class _Warming(BaseProvider):
    """A provider that records when it is made and warmed; ``fail`` makes ``warm`` raise."""

    name = "warming"

    def __init__(self, log: list[str], fail: Exception | None = None) -> None:
        self.log, self.fail = log, fail
        self.inner = FakeProvider(["ok"])
        log.append("made")

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        self.log.append("streamed")
        return self.inner.stream(request)

    async def warm(self) -> None:
        self.log.append("warmed")
        if self.fail is not None:
            raise self.fail

    async def aclose(self) -> None:
        self.log.append("closed")


async def test_the_default_provider_is_made_and_warmed_when_the_app_starts(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    log: list[str] = []
    server_plugins.add_provider("warming", lambda **_: _Warming(log))
    with serve(provider="warming") as (_, live):
        assert log == ["made", "warmed"]  # before any request
        response = await post(live.base_url, "/ai/stream", {"params": {"message": "a"}})
    assert tokens_of(parse_sse(response.content)) == "ok"
    assert log == ["made", "warmed", "streamed", "closed"]  # the same instance serves it


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (ProviderAuthError("no key: set WARMING_KEY"), "no key: set WARMING_KEY"),
        (ValueError("timeout must be a number"), "ValueError: timeout must be a number"),
    ],
)
async def test_a_default_provider_that_cannot_work_fails_the_start(
    server_plugins: PluginSandbox, failure: Exception, message: str
) -> None:
    log: list[str] = []
    server_plugins.add_provider("warming", lambda **_: _Warming(log, failure))
    server = AINativeServer(ServerConfig(provider="warming"), plugins=server_plugins.plugins)
    expected = f"default provider 'warming' cannot start: {message}"
    with anyio.fail_after(10), pytest.raises(ConfigurationError) as caught:
        async with server.lifespan():
            pass
    assert caught.value.message == expected
    assert log == ["made", "warmed", "closed"]


async def test_serve_checks_the_default_provider_then_closes_it_for_the_app_to_warm_again(
    server_plugins: PluginSandbox,
) -> None:
    log: list[str] = []
    server_plugins.add_provider("warming", lambda **_: _Warming(log))
    server = AINativeServer(ServerConfig(provider="warming"), plugins=server_plugins.plugins)
    with anyio.fail_after(10):
        await check_default_provider(server)  # on an event loop of its own in `serve`
        assert log == ["made", "warmed", "closed"]
        async with server.lifespan():  # the server's loop: a provider made and warmed there
            assert log == ["made", "warmed", "closed", "made", "warmed"]
    assert log[-1] == "closed"


async def test_a_default_provider_failing_the_serve_check_is_closed_too(
    server_plugins: PluginSandbox,
) -> None:
    log: list[str] = []
    failure = ProviderAuthError("no key: set WARMING_KEY")
    server_plugins.add_provider("warming", lambda **_: _Warming(log, failure))
    server = AINativeServer(ServerConfig(provider="warming"), plugins=server_plugins.plugins)
    with anyio.fail_after(10), pytest.raises(ConfigurationError, match="no key: set WARMING_KEY"):
        await check_default_provider(server)
    assert log == ["made", "warmed", "closed"]


async def test_an_unknown_default_provider_fails_the_start_naming_what_is_installed(
    server_plugins: PluginSandbox,
) -> None:
    server = AINativeServer(ServerConfig(provider="ech"), plugins=server_plugins.plugins)
    with anyio.fail_after(10), pytest.raises(UnknownProviderError, match="installed: echo"):
        async with server.lifespan():
            pass


async def test_a_provider_factory_that_fails_is_a_configuration_error(
    server_plugins: PluginSandbox,
) -> None:
    def broken(**_settings: Any) -> FakeProvider:
        raise TypeError("unexpected keyword argument 'api_kee'")

    server_plugins.add_provider("broken", broken)
    server = AINativeServer(ServerConfig(provider="broken"), plugins=server_plugins.plugins)
    with anyio.fail_after(10), pytest.raises(ConfigurationError, match="TypeError: unexpected"):
        await server.load_default_provider()


async def test_action_tools_and_health_endpoints(serve: Serve) -> None:
    def setup(server: AINativeServer) -> None:
        def double(n: int) -> int:
            """Double a number."""
            return 2 * n

        server.register_tool(double)

    with serve(setup) as (_, live):
        action = await post(live.base_url, "/ai/action", {"params": {"message": "hi there"}})
        ok = await post(live.base_url, "/ai/tool", {"tool": "double", "arguments": {"n": 21}})
        seed = await post(
            live.base_url, "/ai/tool", {"name": "calculate", "params": {"expression": "6*7"}}
        )
        bad = await post(
            live.base_url, "/ai/tool", {"tool": "calculate", "arguments": {"expression": "x"}}
        )
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                tools = await client.get("/ai/tools")
                health = await client.get("/health")
    assert action.json() == {
        "messages": [{"role": "assistant", "content": "hi there"}],
        "context": {},
        "finish_reason": "stop",
        "usage": {"input_tokens": 2, "output_tokens": 2},
    }
    assert ok.json() == {"success": True, "result": 42}
    assert seed.json() == {"success": True, "result": 42}
    assert bad.status_code == 422
    assert bad.json()["success"] is False
    assert "name 'x' is not allowed" in bad.json()["error"]
    names = [t["name"] for t in tools.json()["tools"]]
    assert names == ["calculate", "double", "get_time"]
    assert health.json()["status"] == "ok"


class HelloTransport:
    """A third-party server transport: one extra route."""

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        async def hello(request: Request) -> Response:
            return JSONResponse({"hello": server.config.provider})

        return [Route(f"{server.config.prefix}/hello", server.endpoint(hello))]


class HelloPlugin:
    @hookimpl
    def ainative_register_transports(self, register: Any) -> None:
        register("hello", server=HelloTransport)
        register("client-only", client="somewhere:Client")


async def test_a_plugin_transport_adds_its_route(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    server_plugins.add_plugin(HelloPlugin(), name="hello-plugin")
    with serve(api_keys=["k"]) as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                denied = await client.get("/ai/hello")
                hello = await client.get("/ai/hello", headers={"Authorization": "Bearer k"})
    assert sorted(server.transports()) == [
        "ag-ui",
        "ai-sdk",
        "ai-sdk-ws",
        "hello",
        "openai",
        "sse",
        "ws",
    ]
    assert denied.status_code == 401
    assert hello.json() == {"hello": "echo"}


async def test_router_mounts_into_an_existing_app_with_the_hub_lifespan(
    server_plugins: PluginSandbox, server_backend: str
) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("app up")
        yield
        events.append("app down")

    app = FastAPI(lifespan=lifespan)

    @app.get("/mine")
    async def mine_endpoint() -> dict[str, str]:
        return {"mine": "yes"}

    app.include_router(create_router(ServerConfig(), plugins=server_plugins.plugins))
    with live_server(app, backend=server_backend) as live:  # type: ignore[arg-type]
        response = await post(live.base_url, "/ai/stream", {"params": {"message": "mounted ok"}})
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                mine = await client.get("/mine")
    assert events == ["app up", "app down"]
    assert tokens_of(parse_sse(response.content)) == "mounted ok"
    assert mine.json() == {"mine": "yes"}


async def test_cors_only_when_origins_are_set(serve: Serve) -> None:
    preflight = {
        "Origin": "http://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    for origins, allowed in (([], None), (["http://app.example"], "http://app.example")):
        with serve(cors_origins=origins) as (_, live):
            async with httpx.AsyncClient(base_url=live.base_url) as client:
                with anyio.fail_after(10):
                    response = await client.options("/ai/stream", headers=preflight)
        assert response.headers.get("access-control-allow-origin") == allowed


async def test_each_stream_logs_its_end_with_counts_and_timing(serve: Serve) -> None:
    with capture_logs() as logs, serve() as (_, live):
        response = await post(live.base_url, "/ai/stream", {"params": {"message": "a b c"}})
    sid = response.headers["x-ainative-stream-id"]
    end = [e for e in logs if e.get("event") == "stream.end" and e.get("stream_id") == sid]
    assert len(end) == 1
    assert end[0]["provider"] == "echo"
    assert end[0]["tokens"] == 3
    assert end[0]["reason"] == "stop"
    assert end[0]["time_to_first_token_ms"] >= 0
    assert end[0]["duration_ms"] >= end[0]["time_to_first_token_ms"]
