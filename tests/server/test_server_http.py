"""Requests over a real server: 422 naming the field, 404 listing names, 413, 401; the tool
endpoint's context; ``/health``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio
import httpx
import pytest

from ainative_server import AINativeServer, Tool

from .server_helpers import Serve

pytestmark = pytest.mark.anyio


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "chat", "params": {}}, "params.message: Field required"),
        ({"action": "chat", "params": {"message": ""}}, "params.message: String should have"),
        ({"action": 3, "params": {"message": "x"}}, "action: Input should be a valid string"),
        ({"params": {"message": "x"}, "options": {"temperature": 9}}, "options.temperature:"),
        ({"params": {"message": "x"}, "options": {"messages": []}}, "options.messages:"),
        (
            {"params": {"message": "x"}, "context": {"messages": [{"role": "x"}]}},
            "context.messages.0.role:",
        ),
        ({"params": {"message": "x"}, "options": {"tokens": -1}}, "'tokens' must not be negative"),
        ([1, 2], "Input should be a valid dictionary"),
    ],
)
async def test_invalid_stream_request_is_422_naming_the_field(
    serve: Serve, body: Any, field: str
) -> None:
    with serve() as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                stream = await client.post("/ai/stream", json=body)
                action = await client.post("/ai/action", json=body)
        assert not server.hub.runs
    for response in (stream, action):
        assert response.status_code == 422, response.text
        error = error_of(response)
        assert error["code"] == "invalid_request"
        assert field in error["message"]


async def test_bodies_that_are_not_json_are_422(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                json_type = {"Content-Type": "application/json"}
                broken = await client.post("/ai/stream", content=b"{not json", headers=json_type)
                empty = await client.post("/ai/stream", content=b"", headers=json_type)
    assert broken.status_code == 422
    assert "not valid JSON" in error_of(broken)["message"]
    assert empty.status_code == 422
    assert "empty" in error_of(empty)["message"]


async def test_unknown_names_are_404_listing_what_exists(serve: Serve) -> None:
    with serve(fallback_action=None) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                provider = await client.post(
                    "/ai/stream", json={"provider": "ech0", "params": {"message": "x"}}
                )
                action = await client.post(
                    "/ai/stream", json={"action": "summarise", "params": {"message": "x"}}
                )
                tool = await client.post("/ai/tool", json={"tool": "calculat", "arguments": {}})
                stream = await client.get("/ai/stream/s_missing")
    assert provider.status_code == 404
    assert error_of(provider)["code"] == "unknown_provider"
    assert "installed: echo" in error_of(provider)["message"]
    assert "did you mean 'echo'" in error_of(provider)["message"]
    assert action.status_code == 404
    assert error_of(action)["code"] == "unknown_action"
    assert "installed: chat, chat.completions, prompt, respond" in error_of(action)["message"]
    assert tool.status_code == 404
    assert tool.json()["success"] is False
    assert tool.json()["code"] == "unknown_tool"
    assert "calculate, get_time" in tool.json()["error"]
    assert stream.status_code == 404
    assert "s_missing" in error_of(stream)["message"]


async def test_request_body_over_the_limit_is_413(serve: Serve) -> None:
    big = {"params": {"message": "x" * 5000}}
    with serve(max_body_bytes=1000) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                declared = await client.post("/ai/stream", json=big)

                async def chunks() -> Any:
                    for _ in range(10):
                        yield b"x" * 200

                chunked = await client.post(
                    "/ai/action", content=chunks(), headers={"Content-Type": "application/json"}
                )
                small = await client.post("/ai/stream", json={"params": {"message": "hi"}})
    for response in (declared, chunked):
        assert response.status_code == 413
        assert error_of(response)["code"] == "payload_too_large"
    assert small.status_code == 200


async def test_api_keys_require_a_bearer_token_on_ai_routes_only(serve: Serve) -> None:
    chat = {"params": {"message": "hi"}}
    with serve(api_keys=["k1", "k2"]) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                missing = await client.post("/ai/stream", json=chat)
                wrong = await client.post(
                    "/ai/stream", json=chat, headers={"Authorization": "Bearer nope"}
                )
                tools = await client.get("/ai/tools")
                resume = await client.get("/ai/stream/s_x")
                health = await client.get("/health")
                ok = await client.post(
                    "/ai/stream", json=chat, headers={"Authorization": "Bearer k2"}
                )
    for response in (missing, wrong, tools, resume):
        assert response.status_code == 401
        assert error_of(response)["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert health.status_code == 200
    assert ok.status_code == 200
    assert b'"data":"hi"' in ok.content


async def test_without_api_keys_no_token_is_needed(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                response = await client.post("/ai/stream", json={"params": {"message": "hi"}})
    assert response.status_code == 200


async def test_the_tool_endpoint_hands_the_context_to_the_handler(serve: Serve) -> None:
    def setup(server: AINativeServer) -> None:
        async def get_user_data(args: dict[str, Any], context: Any = None) -> dict[str, Any]:
            return {"user": (context or {}).get("userId"), "field": args["field"]}

        server.register_tool(
            Tool(
                get_user_data,
                description="Context-aware: reads the caller's user id.",
                parameters={"type": "object", "properties": {"field": {"type": "string"}}},
            )
        )

    with serve(setup) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                seed = await client.post(
                    "/ai/tool",
                    json={
                        "tool": "get_user_data",
                        "args": {"field": "name"},
                        "context": {"userId": "123"},
                    },
                )
                null = await client.post(
                    "/ai/tool",
                    json={"tool": "get_user_data", "args": {"field": "x"}, "context": None},
                )
    assert seed.json() == {"success": True, "result": {"user": "123", "field": "name"}}
    assert null.json() == {"success": True, "result": {"user": None, "field": "x"}}


async def test_health_has_the_seed_timestamp(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                health = (await client.get("/health")).json()
    assert health["status"] == "ok"
    assert datetime.fromisoformat(health["timestamp"]).tzinfo is not None


async def test_the_frameworks_own_errors_have_the_one_error_shape(serve: Serve) -> None:
    with serve() as (_, live), anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            missing = await http.get("/nope")
            wrong = await http.put("/ai/stream")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"code": "not_found", "message": "no route GET /nope", "retryable": False}
    }
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert wrong.headers["x-ainative-error-code"] == "method_not_allowed"
