"""ainative's own JS client (``packages/ainative-js``) through tool loops, in Node
(``app_tools.mjs``), against a live echo server on uvicorn and Hypercorn.

echo scripts the model's calls (its ``tool_call`` option) and answers a conversation that
ends with tool results with their contents joined by newlines.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from .conftest import Node, Serve

pytestmark = pytest.mark.anyio

CALCULATE: Final = {"name": "calculate", "arguments": {"expression": "6*7"}}
LOCATE: Final = {"name": "get_location", "arguments": {}}
GET_LOCATION: Final = {
    "name": "get_location",
    "description": "Where the user is.",
    "parameters": {"type": "object", "properties": {}},
}


def calls_of(message: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(c["name"], json.loads(c["arguments"])) for c in message.get("toolCalls", [])]


async def test_the_js_app_shows_a_server_tool_loop(serve: Serve, node: Node) -> None:
    with serve() as (_, live):
        out = await node(
            "app_tools.mjs",
            {
                "api": live.base_url,
                "message": "what is 6*7?",
                "config": {"tools": ["calculate"], "options": {"tool_call": CALCULATE}},
            },
        )
    assert out["error"] is None
    messages = out["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "what is 6*7?"),
        ("assistant", ""),
        ("tool", "42"),
        ("assistant", "42"),
    ]
    assert calls_of(messages[1]) == [("calculate", {"expression": "6*7"})]
    assert messages[2]["toolCallId"] == messages[1]["toolCalls"][0]["id"]
    assert messages[2]["name"] == "calculate"
    assert "isError" not in messages[2]
    assert messages[3]["finishReason"] == "stop"
    assert out["pending"] == []


async def test_the_js_app_answers_the_client_tools_and_the_model_goes_on(
    serve: Serve, node: Node
) -> None:
    with serve() as (_, live):
        out = await node(
            "app_tools.mjs",
            {
                "api": live.base_url,
                "message": "where am I?",
                "config": {
                    "tools": ["calculate"],
                    "options": {"tool_call": [CALCULATE, LOCATE], "tools": [GET_LOCATION]},
                },
                "answers": {"get_location": {"city": "Paris"}},
            },
        )
    assert out["error"] is None
    assert [c["name"] for c in out["pending"]] == ["get_location"]
    assert out["refused"]["name"] == "InvalidRequestError"
    assert "no output for tool call" in out["refused"]["message"]
    messages = out["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "where am I?"),
        ("assistant", ""),
        ("tool", "42"),
        ("tool", '{"city":"Paris"}'),
        ("assistant", '42\n{"city":"Paris"}'),
    ]
    assert calls_of(messages[1]) == [("calculate", {"expression": "6*7"}), ("get_location", {})]
    assert messages[1]["finishReason"] == "tool_call"
    assert messages[3]["toolCallId"] == out["pending"][0]["id"]
    assert out["pendingAfter"] == []
