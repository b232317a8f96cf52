"""What the pages say in prose and in console examples, checked against real loopback servers.

The Python blocks of the pages run as they are (``test_snippets.py``); these tests pin the
rest: the ``ainative serve`` and ``ainative chat`` commands, curl requests, error statuses,
CORS, and what happens on the server when a client stops or leaves.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from ainative import (
    AIApp,
    AINativeClient,
    AppConfig,
    BusEvent,
    EventBus,
    ServerConfig,
    StreamConfig,
    StreamingEngine,
    StreamManager,
    create_app,
    create_server,
    stream_tokens,
)
from ainative_core import (
    ActionRequest,
    ProviderRateLimited,
    StreamLimitExceeded,
)
from ainative_server import ToolRegistry
from ainative_server._serve import serve_command
from ainative_testing import LiveServer, serve_process

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


# -- client.md ---------------------------------------------------------------------------------


def _flaky_server() -> Any:
    server = create_server()

    @server.action("flaky")
    async def flaky(stream: StreamManager, request: ActionRequest) -> None:
        await stream.send_token("partial ")
        await stream.send_error("upstream went away", code="provider_unavailable", retryable=True)
        await stream.send_done("error")

    return server.get_app()


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
async def test_aiapp_errors_in_state(serve: Serve) -> None:
    with serve(_flaky_server()) as live:
        async with AIApp(AppConfig(api_url=live.base_url)) as app:
            state = await app.action("flaky")
    assert state.error == "upstream went away"
    assert state.messages[-1].content == "partial "


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
