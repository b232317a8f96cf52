"""The examples of docs/server.md and docs/client.md, run against real loopback servers.

Each test holds the code of one example (same names, same calls); only the server URL and
the bounds on waiting differ. Change the page and its test together.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, aclosing
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from ainative import (
    AIApp,
    AINativeClient,
    AIReconciler,
    AIStateManager,
    AppConfig,
    BusEvent,
    Client,
    EchoProvider,
    EventBus,
    ServerConfig,
    StreamConfig,
    StreamingEngine,
    StreamManager,
    create_app,
    create_router,
    create_server,
    stream_tokens,
    tool,
)
from ainative_client import AppState, Patch
from ainative_core import (
    ActionRequest,
    HTTPStatusError,
    ProviderRateLimited,
    ProviderUnavailable,
    StreamLimitExceeded,
    build_request,
    hookimpl,
    open_stream,
)
from ainative_server import ToolRegistry
from ainative_server._serve import serve_command
from ainative_testing import LiveServer, PluginSandbox, TCPProxy, live_server, serve_process

Serve = Callable[[Any], AbstractContextManager[LiveServer]]

DOCS = Path(__file__).resolve().parents[2] / "docs"
AINATIVE = str(Path(sys.executable).with_name("ainative"))


def sse_data(body: str) -> list[Any]:
    """The JSON of every ``data:`` line of an SSE body, ``[DONE]`` as the string."""
    out: list[Any] = []
    for line in body.split("\n"):
        if line.startswith("data: "):
            raw = line[len("data: ") :]
            out.append(raw if raw == "[DONE]" else json.loads(raw))
    return out


def tokens_of(body: str) -> str:
    return "".join(
        e["data"] for e in sse_data(body) if isinstance(e, dict) and e["type"] == "token"
    )


# -- server.md ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_command_and_curl(backend: str) -> None:
    """`ainative serve` (the command itself), then the page's curl request."""
    with serve_process("--backend", backend) as url:
        response = httpx.post(
            f"{url}/ai/stream",
            json={"action": "chat", "params": {"message": "hello world"}},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.text.startswith("retry: 1000\nid: 1\ndata: {")
        ids = [line for line in response.text.split("\n") if line.startswith("id: ")]
        assert ids == ["id: 1", "id: 2", "id: 3", "id: 4"]
        events = sse_data(response.text)
        assert events[0]["type"] == "metadata"
        assert events[0]["data"]["provider"] == "echo"
        assert tokens_of(response.text) == "hello world"
        assert events[-2]["type"] == "done"
        assert events[-1] == "[DONE]"


def test_serve_reads_the_environment() -> None:
    """`AINATIVE_API_KEYS='["secret"]' ainative serve`: /ai/* needs the key, /health not."""
    with serve_process(env={"AINATIVE_API_KEYS": '["secret"]'}) as url:
        body = {"action": "chat", "params": {"message": "hi"}}
        assert httpx.post(f"{url}/ai/stream", json=body, timeout=10).status_code == 401
        ok = httpx.post(
            f"{url}/ai/stream", json=body, headers={"Authorization": "Bearer secret"}, timeout=10
        )
        assert tokens_of(ok.text) == "hi"
        assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok"


def _config_table() -> dict[str, tuple[str, str]]:
    """``field -> (env var, default)`` from the settings table of docs/server.md."""
    rows: dict[str, tuple[str, str]] = {}
    text = (DOCS / "server.md").read_text()
    for match in re.finditer(r"^\| `(\w+)` \| `(AINATIVE_\w+)` \| `([^`]*)` \|", text, re.M):
        rows[match[1]] = (match[2], match[3])
    return rows


def test_config_table_matches_server_config() -> None:
    rows = _config_table()
    assert set(rows) == set(ServerConfig.model_fields)
    defaults = ServerConfig()
    for name, (env, default) in rows.items():
        assert env == f"AINATIVE_{name.upper()}"
        assert default == repr(getattr(defaults, name)), name


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AINATIVE_PROVIDER", "openai")
    monkeypatch.setenv("AINATIVE_PROVIDERS", '{"openai": {"base_url": "http://127.0.0.1:9000/v1"}}')
    monkeypatch.setenv("AINATIVE_API_KEYS", '["k1", "k2"]')
    monkeypatch.setenv("AINATIVE_RESUME_GRACE", "30")

    config = ServerConfig()
    assert config.provider == "openai"
    assert config.providers == {"openai": {"base_url": "http://127.0.0.1:9000/v1"}}
    assert config.api_keys == ["k1", "k2"]
    assert config.resume_grace == 30.0
    # Arguments win over the environment.
    assert ServerConfig(provider="echo").provider == "echo"


@pytest.mark.anyio
async def test_create_server_action_and_tool(serve: Serve) -> None:
    server = create_server(ServerConfig(provider="echo", api_keys=["secret"]))

    @server.register_tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.action("shout")
    async def shout(stream: StreamManager, request: ActionRequest) -> None:
        for word in request.params["message"].split():
            await stream.send_token(word.upper() + " ")
        await stream.send_done()

    app = server.get_app()

    with serve(app) as live:
        async with AINativeClient(
            live.base_url, headers={"Authorization": "Bearer secret"}
        ) as client:
            text = await client.complete_text("hello world", action="shout")
        assert text == "HELLO WORLD "
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            response = await http.post(
                "/ai/tool",
                json={"tool": "add", "arguments": {"a": 2, "b": 3}},
                headers={"Authorization": "Bearer secret"},
            )
            assert response.json() == {"success": True, "result": 5}
            assert (await http.post("/ai/tool", json={"tool": "add"})).status_code == 401


@pytest.mark.anyio
async def test_create_router_in_an_existing_app(serve: Serve) -> None:
    app = FastAPI()

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"hello": "world"}

    app.include_router(create_router(ServerConfig()))

    with serve(app) as live:
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            assert (await http.get("/")).json() == {"hello": "world"}
        async with AINativeClient(live.base_url) as client:
            assert await client.complete_text("mounted") == "mounted"


@pytest.mark.anyio
async def test_custom_action_with_the_provider(serve: Serve) -> None:
    server = create_server()

    @server.action("upper")
    async def upper(stream: StreamManager, request: ActionRequest) -> None:
        """The provider's answer in capitals, after a metadata event of our own."""
        await stream.send_metadata({"style": "upper"})
        prompt = build_request(prompt=request.params["message"], model=stream.model)
        async with open_stream(stream.provider, prompt) as events:
            async for event in events:
                if event.type == "text" and event.text:
                    await stream.send_token(event.text.upper())
        await stream.send_done()

    @server.action("flaky")
    async def flaky(stream: StreamManager, request: ActionRequest) -> None:
        if request.params.get("fail_early"):
            raise ProviderUnavailable("upstream is down")  # nothing sent yet: HTTP 503
        await stream.send_token("partial ")
        await stream.send_error("upstream went away", code="provider_unavailable", retryable=True)
        await stream.send_done("error")

    with serve(server.get_app()) as live:
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            body = {"action": "upper", "params": {"message": "hello world"}}
            answer = await http.post("/ai/stream", json=body)
            events = sse_data(answer.text)
            assert [e["type"] for e in events[:2]] == ["metadata", "metadata"]
            assert events[1]["data"] == {"style": "upper"}
            assert tokens_of(answer.text) == "HELLO WORLD"

            early = await http.post(
                "/ai/stream", json={"action": "flaky", "params": {"fail_early": True}}
            )
            assert early.status_code == 503
            assert early.json()["error"]["code"] == "provider_unavailable"

            late = sse_data((await http.post("/ai/stream", json={"action": "flaky"})).text)
            assert late[1] == {"type": "token", "data": "partial "}
            assert late[2] == {
                "type": "error",
                "data": "upstream went away",
                "code": "provider_unavailable",
                "retryable": True,
            }
            assert late[3]["data"]["finish_reason"] == "error"

            # Any other name: the fallback action, `prompt`.
            other = await http.post(
                "/ai/stream", json={"action": "summarize", "params": {"text": "..."}}
            )
            assert tokens_of(other.text) == (
                'Action: summarize\nParameters: {"text": "..."}\nContext: {}'
            )


@pytest.mark.anyio
async def test_the_fallback_action(serve: Serve) -> None:
    server = create_server()  # fallback_action="prompt"
    strict = create_server(ServerConfig(fallback_action=None))
    body = {"action": "summarize", "params": {"text": "..."}}
    with serve(server.get_app()) as live, serve(strict.get_app()) as strict_live:
        async with httpx.AsyncClient() as http:
            answered = await http.post(f"{live.base_url}/ai/stream", json=body)
            refused = await http.post(f"{strict_live.base_url}/ai/stream", json=body)
    assert tokens_of(answered.text) == 'Action: summarize\nParameters: {"text": "..."}\nContext: {}'
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "unknown_action"


@pytest.mark.anyio
async def test_stream_tokens_in_plain_fastapi(serve: Serve) -> None:
    app = FastAPI()
    provider = EchoProvider()

    async def tokens(message: str) -> AsyncIterator[str]:
        async with open_stream(provider, build_request(prompt=message)) as events:
            async for event in events:
                if event.type == "text" and event.text:
                    yield event.text

    @app.post("/ai/stream")
    async def stream_handler(request: ActionRequest) -> StreamingResponse:
        return StreamingResponse(
            stream_tokens(tokens(request.params["message"])),
            media_type="text/event-stream",
        )

    with serve(app) as live:
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            response = await http.post(
                "/ai/stream", json={"action": "chat", "params": {"message": "Hello world"}}
            )
    assert response.text == (
        'data: {"type":"token","data":"Hello"}\n\n'
        'data: {"type":"token","data":" world"}\n\n'
        'data: {"type":"done"}\n\n'
        "data: [DONE]\n\n"
    )


@pytest.mark.anyio
async def test_tools_decorator_registry_and_builtins(serve: Serve) -> None:
    @tool
    def word_count(text: str, unique: bool = False) -> int:
        """Count the words of a text."""
        words = text.split()
        return len(set(words)) if unique else len(words)

    registry = ToolRegistry()
    registry.register(word_count)
    assert await registry.call("word_count", {"text": "a b a", "unique": True}) == 2
    assert word_count.parameters["required"] == ["text"]
    assert word_count.description == "Count the words of a text."

    server = create_server()
    server.register_tool(word_count)

    with serve(server.get_app()) as live:
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            names = [t["name"] for t in (await http.get("/ai/tools")).json()["tools"]]
            assert names == ["calculate", "get_time", "word_count"]

            calc = await http.post(
                "/ai/tool", json={"tool": "calculate", "arguments": {"expression": "2 * (3 + 4)"}}
            )
            assert calc.json() == {"success": True, "result": 14}

            now = await http.post(
                "/ai/tool", json={"tool": "get_time", "arguments": {"timezone": "Europe/Paris"}}
            )
            assert now.json()["success"] is True
            assert re.match(r"\d{4}-\d\d-\d\dT.*[+-]\d\d:\d\d$", now.json()["result"])

            bad = await http.post("/ai/tool", json={"tool": "word_count", "arguments": {}})
            assert bad.status_code == 422
            assert bad.json()["success"] is False
            assert bad.json()["code"] == "tool_arguments_error"
            unknown = await http.post("/ai/tool", json={"tool": "nope"})
            assert unknown.status_code == 404


@pytest.mark.anyio
async def test_resume_and_cancel_over_http(serve: Serve) -> None:
    app = create_app(ServerConfig())
    body = {
        "action": "chat",
        "params": {"message": "count"},
        "options": {"tokens": 20, "delay": 0.02},
    }
    resumable = {"X-AINative-Resumable": "1"}  # we come back: keep the run going when we leave
    with serve(app) as live, anyio.fail_after(20):
        async with httpx.AsyncClient(base_url=live.base_url, headers=resumable) as http:
            # Start a stream and leave at once, with only its id.
            async with http.stream("POST", "/ai/stream", json=body) as response:
                stream_id = response.headers["X-AINative-Stream-Id"]

            # The run went on without us: follow it from the start ...
            resumed = await http.get(f"/ai/stream/{stream_id}", headers={"Last-Event-ID": "0"})
            assert tokens_of(resumed.text) == "t0" + "".join(f" t{i}" for i in range(1, 20))

            # ... or from any event id: only the events after it come.
            tail = await http.get(f"/ai/stream/{stream_id}", headers={"Last-Event-ID": "19"})
            ids = [line for line in tail.text.split("\n") if line.startswith("id: ")]
            assert ids == ["id: 20", "id: 21", "id: 22"]
            assert tail.text.endswith("data: [DONE]\n\n")

            # Cancel a stream: the producer stops, followers get done/cancelled.
            async with http.stream("POST", "/ai/stream", json=body) as response:
                stream_id = response.headers["X-AINative-Stream-Id"]
            cancelled = await http.delete(f"/ai/stream/{stream_id}")
            assert cancelled.json() == {"stream_id": stream_id, "cancelled": True}
            replay = await http.get(f"/ai/stream/{stream_id}")
            assert sse_data(replay.text)[-2]["data"]["finish_reason"] == "cancelled"

            missing = await http.get("/ai/stream/s_unknown")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "stream_not_found"


@pytest.mark.anyio
async def test_websocket_frames(serve: Serve) -> None:
    with serve(create_app()) as live, anyio.fail_after(10):
        url = live.base_url
        frames: list[dict[str, Any]] = []

        ws: AsyncWebSocketSession
        async with httpx.AsyncClient() as http, aconnect_ws(f"{url}/ai/ws", http) as ws:
            request = {"action": "chat", "params": {"message": "hello world"}}
            await ws.send_text(json.dumps(request))
            while not frames or frames[-1]["type"] != "done":
                frames.append(json.loads(await ws.receive_text()))

    stream_id = frames[0]["stream_id"]
    assert [(f["type"], f["id"], f["stream_id"]) for f in frames] == [
        ("metadata", 1, stream_id),
        ("token", 2, stream_id),
        ("token", 3, stream_id),
        ("done", 4, stream_id),
    ]
    assert [f["data"] for f in frames[1:3]] == ["hello", " world"]
    assert frames[3]["data"]["finish_reason"] == "stop"


@pytest.mark.anyio
async def test_resume_grace_and_retention(serve: Serve) -> None:
    server = create_server(ServerConfig(resume_grace=0.2, retention=0.5))
    body = {
        "action": "chat",
        "params": {"message": "x"},
        "options": {"tokens": 1000, "delay": 0.01},
    }
    resumable = {"X-AINative-Resumable": "1"}
    with serve(server.get_app()) as live, anyio.fail_after(20):
        async with httpx.AsyncClient(base_url=live.base_url, headers=resumable) as http:
            async with http.stream("POST", "/ai/stream", json=body) as response:
                stream_id = response.headers["X-AINative-Stream-Id"]
            # Nobody follows: after resume_grace the producer is cancelled ...
            run = server.hub.runs[stream_id]
            for _ in range(200):
                if run.done:
                    break
                await anyio.sleep(0.05)
            assert run.finish_reason == "cancelled"
            assert run.tokens < 1000
            replay = await http.get(f"/ai/stream/{stream_id}", headers={"Last-Event-ID": "0"})
            assert sse_data(replay.text)[-2]["data"]["finish_reason"] == "cancelled"
            # ... and after retention the finished stream is gone.
            for _ in range(100):
                if stream_id not in server.hub.runs:
                    break
                await anyio.sleep(0.05)
            assert (await http.get(f"/ai/stream/{stream_id}")).status_code == 404


@pytest.mark.anyio
async def test_bounds_end_the_stream_cleanly(serve: Serve) -> None:
    app = create_app(ServerConfig(max_events=10))
    with serve(app) as live:
        received: list[str] = []

        async def read_all() -> None:
            async with AINativeClient(live.base_url) as client:
                async for token in client.stream_text("x", tokens=50):
                    received.append(token)

        with pytest.raises(StreamLimitExceeded):
            await read_all()
    assert 0 < len(received) < 10


def page_snippet(page: str, heading: str) -> str:
    """The first ``python`` block of ``page`` under the section ``## heading``."""
    text = (DOCS / page).read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0]


@pytest.mark.anyio
async def test_writing_a_transport(serve: Serve, docs_plugins: PluginSandbox) -> None:
    """The page's NDJSON transport, taken from the page itself, registered and streamed."""
    module = type(sys)("docs_ndjson_transport")
    exec(
        compile(page_snippet("server.md", "Writing a transport"), "server.md", "exec"), vars(module)
    )
    docs_plugins.add_plugin(module, name="ndjson")
    with serve(create_app(ServerConfig(ping_interval=0.1))) as live:
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            body = {"action": "chat", "params": {"message": "hello world"}}
            response = await http.post("/ndjson/stream", json=body)
            stream_id = response.headers["x-ainative-stream-id"]
            lines = [json.loads(line) for line in response.text.splitlines() if line]
            tail = await http.get(f"/ndjson/stream/{stream_id}?after=2")
            refused = await http.post("/ndjson/stream", json={**body, "provider": "nope"})
    assert [(line["id"], line["type"]) for line in lines] == [
        (1, "metadata"),
        (2, "token"),
        (3, "token"),
        (4, "done"),
    ]
    assert "".join(line["data"] for line in lines if line["type"] == "token") == "hello world"
    assert [json.loads(line)["id"] for line in tail.text.splitlines() if line] == [3, 4]
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "unknown_provider"


@pytest.mark.anyio
async def test_error_statuses(serve: Serve) -> None:
    server = create_server(ServerConfig(api_keys=["secret"], max_body_bytes=1000))

    @server.action("limited")
    async def limited(stream: StreamManager, request: ActionRequest) -> None:
        raise ProviderRateLimited("slow down", retry_after=2.5)

    app = server.get_app()
    auth = {"Authorization": "Bearer secret"}
    with serve(app) as live:
        async with httpx.AsyncClient(base_url=live.base_url, headers=auth) as http:
            missing_message = await http.post("/ai/stream", json={"action": "chat", "params": {}})
            assert missing_message.status_code == 422
            assert missing_message.json()["error"]["code"] == "invalid_request"
            assert "params.message" in missing_message.json()["error"]["message"]

            unknown = await http.post(
                "/ai/stream", json={"action": "chat", "params": {"message": "hi"}, "provider": "x"}
            )
            assert unknown.status_code == 404
            assert unknown.json()["error"]["code"] == "unknown_provider"

            too_big = await http.post(
                "/ai/stream", json={"action": "chat", "params": {"message": "x" * 2000}}
            )
            assert too_big.status_code == 413
            assert too_big.json()["error"]["code"] == "payload_too_large"

            rate_limited = await http.post("/ai/stream", json={"action": "limited"})
            assert rate_limited.status_code == 429
            assert rate_limited.headers["Retry-After"] == "3"
            assert rate_limited.json()["error"]["code"] == "provider_rate_limited"

        async with httpx.AsyncClient(base_url=live.base_url) as anonymous:
            refused = await anonymous.post("/ai/stream", json={"action": "chat"})
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"] == "Bearer"
            assert refused.json()["error"]["code"] == "unauthorized"


@pytest.mark.anyio
async def test_cors(serve: Serve) -> None:
    async def preflight(base_url: str, origin: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=base_url) as http:
            return await http.options(
                "/ai/stream",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            )

    app = create_app(ServerConfig(cors_origins=["https://app.example.com"]))
    with serve(create_app()) as default, serve(app) as listed:
        local = await preflight(default.base_url, "http://localhost:5173")
        other = await preflight(default.base_url, "https://app.example.com")
        allowed = await preflight(listed.base_url, "https://app.example.com")
    assert local.status_code == 200
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "access-control-allow-credentials" not in local.headers
    assert other.status_code == 400
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"


@pytest.mark.anyio
async def test_seed_python_paths(serve: Serve) -> None:
    from ainative import BaseProvider
    from ainative.server import ServerConfig, create_server

    server = create_server(ServerConfig(providers={"echo": {"delay": 0.01}}))
    app = server.app  # the FastAPI app, as server.get_app()
    echo = server.providers["echo"]
    assert isinstance(echo, BaseProvider)  # as every ainative provider: the seed's generate()
    tokens = [token async for token in echo.generate(prompt="Hello world", stream=True)]
    assert tokens == ["Hello", " world"]
    assert server.providers.get("nope") is None

    assert app is server.get_app()
    import ainative.server
    import ainative.streaming
    import ainative.tools
    import ainative_server

    for name in ainative.server.__all__:
        if name != "ActionRequest":
            assert getattr(ainative.server, name) is getattr(ainative_server, name)
    assert ainative.server.ActionRequest is ActionRequest
    assert ainative.tools.Tool is ainative_server.Tool
    assert ainative.tools.ToolRegistry is ToolRegistry
    assert ainative.streaming.stream_tokens is stream_tokens


def test_unknown_settings_are_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"unknown setting 'openai_api_kee' \(did you mean"):
        ServerConfig(openai_api_kee="sk-...")  # type: ignore[call-arg]


@pytest.mark.anyio
async def test_json_schema_tools_and_the_seed_registry() -> None:
    from ainative import Tool, ToolRegistry

    async def whoami(args, context=None):  # type: ignore[no-untyped-def]
        return {"user": context["userId"], "greeting": args.get("greeting", "hi")}

    registry = ToolRegistry()
    registry.register(
        Tool(
            name="whoami",
            description="Who is calling",
            parameters={"type": "object", "properties": {"greeting": {"type": "string"}}},
            handler=whoami,
        )
    )
    result = await registry.execute("whoami", {"greeting": "hello"}, {"userId": "123"})
    assert result == {"success": True, "result": {"user": "123", "greeting": "hello"}}
    failed = await registry.execute("whoami", {"greeting": 3}, {"userId": "123"})
    assert failed["success"] is False  # "greeting: 3 is not of type 'string'"
    assert registry.get("nope") is None
    assert [tool["name"] for tool in registry.get_schema()] == ["whoami"]
    assert "greeting: 3 is not of type 'string'" in failed["error"]


# -- client.md ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stream_text(serve: Serve) -> None:
    with serve(create_app()) as live:
        url = live.base_url
        received: list[str] = []

        async with AINativeClient(url) as client:
            async for token in client.stream_text("Hello world"):
                received.append(token)

            counted = await client.complete_text("ignored", tokens=3, delay=0.01)
            short = await client.complete_text("Hi there", provider="echo", max_tokens=1)

    assert received == ["Hello", " world"]
    assert counted == "t0 t1 t2"
    assert short == "Hi"


@pytest.mark.anyio
async def test_stream_text_over_websocket(serve: Serve) -> None:
    with serve(create_app()) as live:
        async with AINativeClient(live.base_url, transport="WS") as client:
            assert await client.complete_text("Hello world") == "Hello world"


def test_blocking_client(serve: Serve, anyio_backend: str) -> None:
    with serve(create_app()) as live:
        url = live.base_url
        received: list[str] = []

        for token in Client(url).stream_text("Hello world"):
            received.append(token)

        with Client(url, transport="WS", backend=anyio_backend) as client:
            first = client.complete_text("one")
            second = client.complete_text("two", tokens=2)

    assert received == ["Hello", " world"]
    assert (first, second) == ("one", "t0 t1")


@pytest.mark.anyio
async def test_engine_and_every_bus_event(serve: Serve) -> None:
    with serve(create_app()) as live:
        event_bus = EventBus()
        streaming = StreamingEngine(event_bus)
        seen: list[BusEvent] = []
        event_bus.on_all(seen.append)

        result = await streaming.start(
            StreamConfig(url=f"{live.base_url}/ai/stream", method="SSE"),
            {"action": "chat", "params": {"message": "Hello world"}},
        )

    assert result.reason == "complete"
    assert result.finish_reason == "stop"
    assert result.transport == "sse"
    assert result.stream_id is not None
    assert result.stream_id.startswith("s_")
    assert result.usage is not None
    assert result.usage["output_tokens"] == 2

    assert [e.type for e in seen] == [
        "stream-start",
        "stream-data",
        "stream-data",
        "stream-data",
        "stream-end",
    ]
    start, meta, hello, world, end = (e.payload for e in seen)
    assert start == {"url": f"{live.base_url}/ai/stream", "method": "SSE", "action": "chat"}
    assert meta["type"] == "metadata"
    assert meta["id"] == 1
    assert meta["metadata"]["stream_id"] == result.stream_id
    assert hello == {"type": "token", "token": "Hello", "id": 2}
    assert world == {"type": "token", "token": " world", "id": 3}
    assert end["reason"] == "complete"
    assert end["finish_reason"] == "stop"
    assert end["stream_id"] == result.stream_id
    assert end["usage"] == result.usage
    assert [e.type for e in event_bus.history] == [e.type for e in seen]


def _flaky_server() -> Any:
    server = create_server()

    @server.action("flaky")
    async def flaky(stream: StreamManager, request: ActionRequest) -> None:
        await stream.send_token("partial ")
        await stream.send_error("upstream went away", code="provider_unavailable", retryable=True)
        await stream.send_done("error")

    return server.get_app()


@pytest.mark.anyio
async def test_error_handling_on_the_bus(serve: Serve) -> None:
    with serve(_flaky_server()) as live:
        event_bus = EventBus()
        streaming = StreamingEngine(event_bus)
        errors: list[dict[str, Any]] = []
        ends: list[str] = []

        event_bus.on("stream-error", lambda event: errors.append(event.payload))
        event_bus.on("stream-end", lambda event: ends.append(event.payload["reason"]))

        result = await streaming.start(StreamConfig(live.base_url), {"action": "flaky"})

        async with AINativeClient(live.base_url) as client:
            with pytest.raises(ProviderUnavailable, match="upstream went away"):
                async for _ in client.stream_text("x", action="flaky"):
                    pass

    assert errors == [
        {"error": "upstream went away", "code": "provider_unavailable", "retryable": True, "id": 3}
    ]
    assert ends == ["error"]
    assert result.reason == "error"
    assert result.finish_reason == "error"


@pytest.mark.anyio
async def test_refused_request_is_a_stream_error(serve: Serve) -> None:
    with serve(create_app()) as live:
        event_bus = EventBus()
        errors: list[dict[str, Any]] = []
        event_bus.on("stream-error", lambda event: errors.append(event.payload))
        result = await StreamingEngine(event_bus).start(
            StreamConfig(live.base_url),
            {"action": "chat", "params": {"message": "hi"}, "provider": "nope"},
        )
        async with AINativeClient(live.base_url, provider="nope") as client:
            with pytest.raises(HTTPStatusError) as raised:
                await client.complete_text("hi")
    assert result.reason == "error"
    assert errors[0]["code"] == "unknown_provider"
    assert errors[0]["retryable"] is False
    assert raised.value.status_code == 404
    assert raised.value.server_code == "unknown_provider"


@pytest.mark.anyio
async def test_stop_aborts_on_the_server_too(serve: Serve) -> None:
    server = create_server()
    with serve(server.get_app()) as live, anyio.fail_after(20):
        event_bus = EventBus()
        streaming = StreamingEngine(event_bus)
        tokens: list[str] = []

        async with anyio.create_task_group() as tg:

            def on_data(event: BusEvent) -> None:
                if event.payload["type"] == "token":
                    tokens.append(event.payload["token"])
                    if len(tokens) == 3:
                        tg.start_soon(streaming.stop)

            event_bus.on("stream-data", on_data)
            result = await streaming.start(
                StreamConfig(live.base_url),
                {
                    "action": "chat",
                    "params": {"message": "x"},
                    "options": {"tokens": 1000, "delay": 0.01},
                },
            )

        assert result.reason == "aborted"
        assert streaming.is_active is False
        assert result.stream_id is not None
        run = server.hub.runs[result.stream_id]
        for _ in range(200):
            if run.done:
                break
            await anyio.sleep(0.05)
    assert run.finish_reason == "cancelled"
    assert 3 <= len(tokens) < 1000


@pytest.mark.anyio
async def test_engine_as_an_iterator_and_bus_subscription(serve: Serve) -> None:
    with serve(create_app()) as live:
        streaming = StreamingEngine()
        config = StreamConfig(live.base_url, method="WS")
        request = {"action": "chat", "params": {"message": "Hello world"}}
        text: list[str] = []
        kinds: list[str] = []

        async with aclosing(streaming.stream(config, request)) as events:
            async for item in events:
                if item.event.type == "token":
                    text.append(str(item.event.data))

        async with (
            anyio.create_task_group() as tg,
            streaming.event_bus.subscribe("stream-start", "stream-end") as bus_events,
        ):
            tg.start_soon(streaming.start, config, request)
            async for event in bus_events:
                kinds.append(event.type)
                if event.type == "stream-end":
                    break

    assert "".join(text) == "Hello world"
    assert kinds == ["stream-start", "stream-end"]


@pytest.mark.anyio
async def test_reconnect_resumes_without_loss(serve: Serve) -> None:
    with serve(create_app()) as live, anyio.fail_after(30):
        # A proxy that cuts every connection after 2000 bytes stands for a bad network.
        async with TCPProxy(live.port, cut_after_bytes=2000) as proxy:
            event_bus = EventBus()
            tokens: list[str] = []
            event_bus.on(
                "stream-data",
                lambda e: tokens.append(e.payload["token"]) if "token" in e.payload else None,
            )
            reconnects: list[dict[str, Any]] = []
            event_bus.on("stream-reconnect", lambda e: reconnects.append(e.payload))

            config = StreamConfig(
                url=proxy.url,
                method="SSE",
                reconnect=True,
                reconnect_delay=0.05,
                max_reconnect_attempts=5,
            )
            result = await StreamingEngine(event_bus).start(
                config, {"action": "chat", "params": {"message": "x"}, "options": {"tokens": 200}}
            )

    assert result.reason == "complete"
    assert result.reconnects >= 1
    assert result.reconnects == len(reconnects)
    assert set(reconnects[0]) == {"attempt", "delay", "error", "last_event_id"}
    assert "".join(tokens) == "t0" + "".join(f" t{i}" for i in range(1, 200))


@pytest.mark.anyio
async def test_auto_method(serve: Serve) -> None:
    with serve(create_app()) as live:
        result = await StreamingEngine().start(
            StreamConfig(live.base_url, method="AUTO"),
            {"action": "chat", "params": {"message": "Hello"}},
        )
    assert result.reason == "complete"
    assert result.transport in ("sse", "ws")


class WebSocketOnly:
    """A server plugin that serves the WebSocket transport and no SSE."""

    @hookimpl
    def ainative_register_transports(self, register: Any) -> None:
        register("ws", server="ainative_server:WebSocketTransport")


@pytest.mark.anyio
async def test_auto_falls_back(serve: Serve) -> None:
    sandbox = PluginSandbox()
    sandbox.add_plugin(WebSocketOnly(), name="ws-only")
    app = create_app(plugins=sandbox.plugins)  # POST /ai/stream is a plain 404 here
    with serve(app) as live:
        result = await StreamingEngine().start(
            StreamConfig(live.base_url, method="AUTO"),
            {"action": "chat", "params": {"message": "Hello"}},
        )
    assert result.reason == "complete"
    assert result.transport == "ws"


@pytest.mark.anyio
async def test_aiapp(serve: Serve) -> None:
    with serve(create_app()) as live:
        changes: list[bool] = []
        config = AppConfig(
            api_url=live.base_url,
            stream_method="SSE",
            initial_state={"theme": "dark"},
        )
        async with AIApp(config) as app:
            app.on_state_change(lambda state: changes.append(state.streaming))

            state = await app.send_message("Hello world", stream=True)
            assert [m.role for m in state.messages] == ["user", "assistant"]
            assert state.messages[-1].content == "Hello world"
            assert state.metadata["provider"] == "echo"
            assert state.streaming is False
            assert state.error is None
            assert state.theme == "dark"  # type: ignore[attr-defined]

            # The history goes along as context.messages; not streamed: one reply.
            state = await app.action("chat", {"message": "again"}, stream=False)
            assert state.messages[-1].content == "again"
            assert len(state.messages) == 3

            assert app.state_manager.undo()
            assert len(app.state.messages) == 2

    assert True in changes
    assert changes[-1] is False


@pytest.mark.anyio
async def test_aiapp_stop_streaming(serve: Serve) -> None:
    with serve(create_app()) as live, anyio.fail_after(20):
        config = AppConfig(api_url=live.base_url, options={"tokens": 1000, "delay": 0.01})
        async with AIApp(config) as app, anyio.create_task_group() as tg:

            def stop_early(state: AppState) -> None:
                if state.streaming and state.messages[-1].content.count("t") >= 3:
                    tg.start_soon(app.stop_streaming)

            app.on_state_change(stop_early)
            state = await app.send_message("count")

    assert state.streaming is False
    assert state.messages[-1].content.startswith("t0 t1 t2")
    assert state.messages[-1].content.count("t") < 1000


@pytest.mark.anyio
async def test_aiapp_errors_in_state(serve: Serve) -> None:
    with serve(_flaky_server()) as live:
        async with AIApp(AppConfig(api_url=live.base_url)) as app:
            state = await app.action("flaky")
    assert state.error == "upstream went away"
    assert state.messages[-1].content == "partial "


def test_reconciler_batching() -> None:
    event_bus = EventBus()
    state_manager = AIStateManager(event_bus=event_bus)
    reconciler = AIReconciler(state_manager, event_bus)
    changes: list[BusEvent] = []
    event_bus.on("state-change", changes.append)

    reconciler.apply_patch(
        Patch("add", ("messages", "-"), {"role": "user", "content": "Hi"}),
        batching=True,
        batch_delay=0.016,
    )
    reconciler.apply_patch(Patch.of("replace", "messages.-1.content", "Hi!"), batching=True)
    assert changes == []  # waiting for the batch

    state = reconciler.flush()
    assert state is not None
    assert state.messages[0].content == "Hi!"
    assert len(changes) == 1  # two patches, one state change


def test_serve_options() -> None:
    argv = ["--provider", "openai", "--model", "gpt-4o-mini", "--host", "127.0.0.1"]
    context = serve_command.make_context("serve", [*argv, "--port", "8080"])
    assert context.params == {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "host": "127.0.0.1",
        "port": 8080,
        "backend": "asyncio",
        "page": True,
        "cors_origins": (),
        "store": None,
        "workers": 1,
        "openai_api": None,
        "app_ref": None,
        "api_keys": (),
        "env_file": None,
        "reload": False,
    }
    assert serve_command.make_context("serve", ["--no-openai-api"]).params["openai_api"] is False


def test_chat_command_failure_is_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AINATIVE_DISABLE_PLUGIN_AUTOLOAD"}
    env["AINATIVE_PLUGINS"] = "client"
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run(
        [AINATIVE, "chat", "Hello", "--url", f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "cannot reach the ainative server" in done.stderr


def test_chat_command(serve: Serve) -> None:
    with serve(create_app()) as live:
        env = {k: v for k, v in os.environ.items() if k != "AINATIVE_DISABLE_PLUGIN_AUTOLOAD"}
        env["AINATIVE_PLUGINS"] = "client"
        done = subprocess.run(
            [AINATIVE, "chat", "Hello", "--url", live.base_url, "--transport", "ws"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        counted = subprocess.run(
            [AINATIVE, "chat", "x", "--url", live.base_url, "-o", "tokens=3"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hello\n"
    assert counted.stdout == "t0 t1 t2\n"


# -- client.md: from the seed guide --------------------------------------------------------------


@pytest.mark.anyio
async def test_streaming_works() -> None:
    """The seed's vitest, as a pytest test (kept as the page shows it)."""
    with live_server(create_app()) as server:
        event_bus = EventBus()
        streaming = StreamingEngine(event_bus)
        tokens = []

        def on_data(event: BusEvent) -> None:
            if event.payload["type"] == "token":
                tokens.append(event.payload["token"])

        event_bus.on("stream-data", on_data)
        await streaming.start(
            StreamConfig(f"{server.base_url}/ai/stream"),
            {"action": "chat", "params": {"message": "Hello"}},
        )
        assert len(tokens) > 0


@pytest.mark.anyio
async def test_seed_manual_streaming(serve: Serve) -> None:
    with serve(create_app()) as live:
        url = live.base_url
        printed: list[Any] = []

        event_bus = EventBus()
        streaming = StreamingEngine(event_bus)

        event_bus.on("stream-data", lambda event: printed.append(event.payload.get("token")))

        await streaming.start(
            StreamConfig(url=f"{url}/ai/stream", method="SSE"),
            {"action": "chat", "params": {"message": "Hello"}},
        )
    assert printed == [None, "Hello"]  # the metadata event has no token


@pytest.mark.anyio
async def test_seed_config_methods(serve: Serve) -> None:
    with serve(create_app()) as live:
        for method in ("SSE", "WS", "AUTO"):
            config = AppConfig(api_url=live.base_url, stream_method=method)
            async with AIApp(config) as app:
                state = await app.send_message("Hello", stream=True)
            assert state.messages[-1].content == "Hello"


@pytest.mark.anyio
async def test_seed_render_twins(serve: Serve) -> None:
    with serve(create_app()) as live:
        rendered: list[str] = []
        cache: dict[tuple[int, str], str] = {}

        def render_message(index: int, content: str) -> str:
            # React.memo's twin: a message is rendered again only when its content changed.
            key = (index, content)
            if key not in cache:
                cache[key] = f"[{index}] {content}"
                rendered.append(cache[key])
            return cache[key]

        def render(state: AppState, visible: int = 20) -> list[str]:
            # Virtual scrolling's twin: only the last `visible` messages are rendered.
            first = max(0, len(state.messages) - visible)
            return [
                render_message(first + i, m.content) for i, m in enumerate(state.messages[first:])
            ]

        async with AIApp(AppConfig(api_url=live.base_url)) as app:
            app.on_state_change(render)
            await app.send_message("Hello")
            await app.send_message("world")

    assert "[0] Hello" in rendered
    assert "[3] world" in rendered
    assert rendered.count("[0] Hello") == 1  # never rendered twice


# -- frontends.md ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_frontends_cors_resume_and_stop(serve: Serve) -> None:
    app = create_app(ServerConfig(cors_origins=["http://localhost:3000"]))
    origin = {"Origin": "http://localhost:3000"}
    chat = {
        "id": "chat-1",
        "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hello"}]}],
        "trigger": "submit-message",
    }
    with serve(app) as live:
        async with httpx.AsyncClient(base_url=live.base_url, headers=origin) as http:
            response = await http.post("/ai/ui/chat", json=chat)
            exposed = response.headers["access-control-expose-headers"].lower()
            run_id = response.headers["x-workflow-run-id"]
            no_active_stream = await http.get("/ai/ui/chat/chat-1/stream")
            tail = await http.get(f"/ai/ui/chat/{run_id}/stream", params={"startIndex": -1})
            stopped = await http.delete("/ai/ui/chat/chat-1/stream")
            run = await http.post(
                "/ai/agui",
                json={
                    "threadId": "t",
                    "runId": "r",
                    "messages": [{"id": "u", "role": "user", "content": "Hello"}],
                },
            )
            replay = await http.get("/ai/agui/r", headers={"Last-Event-ID": "1"})
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    for header in ("x-ainative-stream-id", "x-workflow-run-id", "x-workflow-stream-tail-index"):
        assert header in exposed
    assert '"type":"start","messageId":"' + run_id in response.text
    assert response.text.endswith("data: [DONE]\n\n")
    assert no_active_stream.status_code == 204
    assert tail.text == 'id: 7\ndata: {"type":"finish","finishReason":"stop"}\n\ndata: [DONE]\n\n'
    assert tail.headers["x-workflow-stream-tail-index"] == "6"
    assert stopped.json() == {"stream_id": run_id, "cancelled": False}
    assert run.text.startswith('id: 1\ndata: {"type":"RUN_STARTED","threadId":"t","runId":"r"}')
    assert replay.text == run.text.split("\n\n", 1)[1]
