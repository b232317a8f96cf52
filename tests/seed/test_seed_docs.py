"""The Python examples of the seed's docs, written as the seed's pages write them.

One test per example of ``server-api.md``, ``tools-and-actions.md`` and the streaming guide
(the seed's documentation, kept beside this project's design). Each test holds the page's
code unchanged (its untyped handlers carry a ``type: ignore`` for mypy's strict mode),
with what the page leaves out (a ``server``, an ``app``, a ``provider``) set up before
it; the app is then served on a loopback port and used as the page's HTTP examples do.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from tests.openai.fake_openai import FakeOpenAI, text_reply

from ainative import EchoProvider
from ainative.server import ActionRequest, ServerConfig, create_server

from .conftest import Serve

pytestmark = pytest.mark.anyio


def sse_data(body: str) -> list[Any]:
    """The JSON of every ``data:`` line, ``[DONE]`` as the string."""
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


# -- server-api.md -----------------------------------------------------------------------------


async def test_server_api_creating_a_server(serve: Serve, fake_openai: FakeOpenAI) -> None:
    """A server configured for OpenAI serves OpenAI (the API key and model go to it)."""
    from ainative import ServerConfig, create_server

    config = ServerConfig(
        openai_api_key="sk-...",  # type: ignore[call-arg]  # seed names: not fields
        openai_model="gpt-4o",
        default_provider="openai",
    )

    server = create_server(config)
    app = server.get_app()

    # The page then runs `uvicorn.run(app, ...)` under `if __name__ == "__main__"`; here the
    # app is served on a loopback port.
    fake_openai.script(text_reply("Hi there!"))
    with serve(app) as live, anyio.fail_after(20):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
            streamed = await http.post(
                "/ai/stream",
                json={"action": "chat", "params": {"message": "Hello"}, "context": {}},
            )
            action = await http.post(
                "/ai/action",
                json={
                    "action": "chat",
                    "params": {"message": "Hello"},
                    "context": {"userId": "123"},
                },
            )
    events = sse_data(streamed.text)
    assert events[0]["data"]["provider"] == "openai"
    assert events[0]["data"]["model"] == "gpt-4o"
    assert tokens_of(streamed.text) == "Hi there!"
    assert action.json()["messages"] == [{"role": "assistant", "content": "Hi there!"}]
    assert action.json()["context"] == {"userId": "123"}
    sent = fake_openai.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-..."
    assert sent.body["model"] == "gpt-4o"
    assert sent.body["messages"][-1] == {"role": "user", "content": "Hello"}


async def test_server_api_registering_custom_tools(serve: Serve) -> None:
    server = create_server(ServerConfig())

    from ainative import Tool

    async def get_weather_handler(args, context=None):  # type: ignore[no-untyped-def]
        location = args.get("location")  # noqa: F841
        # Fetch weather data
        return {"temperature": 72, "condition": "Sunny"}

    tool = Tool(
        name="get_weather",
        description="Get weather for a location",
        parameters={
            "type": "object",
            "properties": {
                "location": {"type": "string"}
            },
            "required": ["location"]
        },
        handler=get_weather_handler
    )  # fmt: skip

    server.register_tool(tool)

    with serve(server.get_app()) as live, anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            called = await http.post(
                "/ai/tool",
                json={"tool": "get_weather", "args": {"location": "San Francisco"}, "context": {}},
            )
            listed = await http.get("/ai/tools")
            missing = await http.post("/ai/tool", json={"tool": "get_weather", "args": {}})
    assert called.json() == {"success": True, "result": {"temperature": 72, "condition": "Sunny"}}
    assert {
        "name": "get_weather",
        "description": "Get weather for a location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    } in listed.json()["tools"]
    assert missing.status_code == 422
    assert missing.json()["success"] is False
    assert "'location' is a required property" in missing.json()["error"]


# -- tools-and-actions.md ----------------------------------------------------------------------


async def test_tools_and_actions_python_server(serve: Serve) -> None:
    server = create_server(ServerConfig())

    from ainative import Tool

    async def weather_handler(args, context=None):  # type: ignore[no-untyped-def]
        location = args["location"]  # noqa: F841
        # Fetch weather
        return {"temperature": 72, "condition": "Sunny"}

    tool = Tool(
        name="get_weather",
        description="Get weather for a location",
        parameters={
            "type": "object",
            "properties": {
                "location": {"type": "string"}
            },
            "required": ["location"]
        },
        handler=weather_handler
    )  # fmt: skip

    server.register_tool(tool)

    with serve(server.get_app()) as live, anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            # "Calling Tools: From Client", as the page's fetch does.
            result = await http.post(
                "/ai/tool",
                headers={"Content-Type": "application/json"},
                content=json.dumps(
                    {"tool": "get_weather", "args": {"location": "San Francisco"}, "context": {}}
                ),
            )
            data = result.json()
            # "List Available Tools"
            tools = (await http.get("/ai/tools")).json()["tools"]
    assert data["result"] == {"temperature": 72, "condition": "Sunny"}
    assert [t["name"] for t in tools] == ["calculate", "get_time", "get_weather"]


async def test_tools_and_actions_unregister_tools(serve: Serve) -> None:
    server = create_server(ServerConfig())

    @server.register_tool
    def tool_name() -> str:
        """A tool to remove."""
        return "here"

    server.tool_registry.unregister('tool_name')  # fmt: skip

    with serve(server.get_app()) as live, anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            tools = (await http.get("/ai/tools")).json()["tools"]
            gone = await http.post("/ai/tool", json={"tool": "tool_name", "args": {}})
    assert "tool_name" not in [t["name"] for t in tools]
    assert gone.status_code == 404
    assert gone.json()["success"] is False


# -- the streaming guide -----------------------------------------------------------------------


async def test_streaming_guide_python_server_side_streaming(serve: Serve) -> None:
    app = FastAPI()
    provider = EchoProvider()  # any provider: the seed's own had `generate` too

    from ainative.streaming import stream_tokens

    @app.post("/ai/stream")
    async def stream_handler(request: ActionRequest):  # type: ignore[no-untyped-def]
        generator = provider.generate(
            prompt=request.params["message"],
            stream=True,
        )

        return StreamingResponse(
            stream_tokens(generator),
            media_type="text/event-stream",
        )

    with serve(app) as live, anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            response = await http.post(
                "/ai/stream", json={"action": "chat", "params": {"message": "Hello world"}}
            )
    assert response.headers["content-type"].startswith("text/event-stream")
    # "Stream Message Format"
    assert response.text == (
        'data: {"type":"token","data":"Hello"}\n\n'
        'data: {"type":"token","data":" world"}\n\n'
        'data: {"type":"done"}\n\n'
        "data: [DONE]\n\n"
    )
