"""Tool loops seen from the client: AIApp's messages, and answering the client's own tools
(`AIApp.submit_tool_results`, `with_tool_results`), against live echo servers."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from ainative_client import AIApp, AppConfig, StreamConfig, StreamingEngine, with_tool_results
from ainative_core import ActionRequest, InvalidRequestError
from ainative_testing import LiveServer

pytestmark = pytest.mark.anyio

CALCULATE = {"name": "calculate", "arguments": {"expression": "6*7"}}
LOCATE = {"name": "get_location", "arguments": {}}


@pytest.fixture(params=["uvicorn", "hypercorn"])
def url(request: pytest.FixtureRequest, echo_servers: dict[str, LiveServer]) -> str:
    return echo_servers[request.param].base_url


def roles(app: AIApp) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in app.state.messages]


async def test_ai_app_shows_the_tool_calls_results_and_next_turn(url: str) -> None:
    config = AppConfig(api_url=url, tools=["calculate"], options={"tool_call": CALCULATE})
    async with AIApp(config) as app:
        with anyio.fail_after(15):
            await app.send_message("what is 6*7?")
    assert roles(app) == [
        ("user", "what is 6*7?"),
        ("assistant", ""),
        ("tool", "42"),
        ("assistant", "42"),
    ]
    (call,) = app.state.messages[1].tool_calls
    assert (call.name, call.parsed_arguments()) == ("calculate", {"expression": "6*7"})
    assert app.state.messages[2].tool_call_id == call.id
    assert app.pending_tool_calls == []


async def test_ai_app_answers_the_client_tools_and_the_model_goes_on(url: str) -> None:
    config = AppConfig(api_url=url, options={"tool_call": [CALCULATE, LOCATE]}, tools=["calculate"])
    async with AIApp(config) as app:
        with anyio.fail_after(15):
            await app.send_message("where am I?")
            assert [c["name"] for c in app.pending_tool_calls] == ["get_location"]
            with pytest.raises(InvalidRequestError, match="no output for tool call"):
                await app.submit_tool_results({})
            call_id = app.pending_tool_calls[0]["id"]
            await app.submit_tool_results({call_id: {"city": "Paris"}})
    assert roles(app) == [
        ("user", "where am I?"),
        ("assistant", ""),
        ("tool", "42"),
        ("tool", '{"city": "Paris"}'),
        ("assistant", '42\n{"city": "Paris"}'),
    ]
    assert [c.name for c in app.state.messages[1].tool_calls] == ["calculate", "get_location"]
    assert app.pending_tool_calls == []


async def test_with_tool_results_continues_the_conversation(url: str) -> None:
    request = ActionRequest(
        params={"message": "where am I?"},
        context={"messages": [{"role": "system", "content": "Be brief."}]},
        options={"tool_call": [LOCATE]},
    )
    engine = StreamingEngine()
    config = StreamConfig(url)
    with anyio.fail_after(15):
        first = await engine.start(config, request)
        assert first.finish_reason == "tool_call"
        (call,) = first.tool_calls
        with pytest.raises(InvalidRequestError, match="get_location"):
            with_tool_results(request, first, {})
        answered = with_tool_results(request, first, {}, errors={call["id"]: "GPS is off"})
        tokens: list[str] = []
        engine.event_bus.on("stream-data", lambda e: tokens.append(e.payload.get("token") or ""))
        second = await engine.start(config, answered)
    messages: list[dict[str, Any]] = answered.context["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[-1] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "name": "get_location",
        "content": "GPS is off",
        "is_error": True,
    }
    assert "message" not in answered.params
    assert second.finish_reason == "stop"
    assert "".join(tokens) == "GPS is off"
