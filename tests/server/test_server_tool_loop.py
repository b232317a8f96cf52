"""The tool loop over live servers: the model (echo's scripted calls) calls server tools,
they run, their results go back to the model, and everything streams as one run."""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import httpx
import pytest

import ainative_client._plugin
from ainative_client import AINativeClient, ReceivedEvent
from ainative_server import AINativeServer, tool
from ainative_testing import PluginSandbox, TCPProxy

from .server_helpers import Serve, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def client_plugin(server_plugins: PluginSandbox) -> None:
    """Our Python client reads the streams: its transports join the sandbox."""
    server_plugins.add_plugin(ainative_client._plugin, name="client")


def calls(*items: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """echo's ``tool_call`` option for these calls (in parallel when several)."""
    return [{"name": name, "arguments": arguments} for name, arguments in items]


def chat(message: str, *, tools: Any = True, **options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"params": {"message": message}, "options": options}
    if tools is not None:
        body["tools"] = tools
    return body


async def events_of(url: str, body: dict[str, Any], **client: Any) -> list[ReceivedEvent]:
    with anyio.fail_after(20):
        async with AINativeClient(url, **client) as ai:
            return [event async for event in ai.stream_events(body)]


def of_type(events: list[ReceivedEvent], kind: str) -> list[Any]:
    return [e.event.data for e in events if e.event.type == kind]


def text_of(events: list[ReceivedEvent]) -> str:
    return "".join(of_type(events, "token"))


async def test_a_server_tool_runs_and_its_result_goes_back_to_the_model(serve: Serve) -> None:
    with serve() as (_, live):
        body = chat("what is 6*7?", tool_call=calls(("calculate", {"expression": "6*7"})))
        events = await events_of(live.base_url, body)
    phases = [(d["phase"], d.get("server")) for d in of_type(events, "tool_call")]
    assert phases[0] == ("start", True)
    assert phases[-1] == ("end", True)
    assert {p for p, _ in phases[1:-1]} == {"delta"}
    end = of_type(events, "tool_call")[-1]
    assert end["name"] == "calculate"
    assert json.loads(end["arguments"]) == {"expression": "6*7"}
    (result,) = of_type(events, "tool_result")
    assert result["id"] == end["id"]
    assert result["name"] == "calculate"
    assert result["arguments"] == {"expression": "6*7"}
    assert result["result"] == 42
    assert result["duration_ms"] >= 0
    # echo answers a conversation ending with tool results with their text.
    assert text_of(events) == "42"
    kinds = [e.event.type for e in events]
    assert kinds.index("tool_result") < kinds.index("token")
    (done,) = of_type(events, "done")
    assert done["finish_reason"] == "stop"
    # The usage of both provider calls, summed: the first streamed the arguments in pieces.
    arguments_pieces = len([p for p, _ in phases if p == "delta"])
    assert done["usage"]["output_tokens"] == arguments_pieces + 1
    assert [m["role"] for m in done["messages"]] == ["assistant", "tool"]
    assert done["messages"][0]["tool_calls"][0]["name"] == "calculate"
    assert done["messages"][1] == {
        "role": "tool",
        "content": "42",
        "name": "calculate",
        "tool_call_id": end["id"],
    }


async def test_calls_of_one_turn_run_concurrently_and_keep_their_order(serve: Serve) -> None:
    # The tools run on the server's own event loop, in its thread: a thread-safe flag.
    first_started = threading.Event()

    @tool
    async def first(x: int) -> int:
        first_started.set()
        await anyio.sleep(0.2)
        return x * 10

    @tool
    async def second(x: int) -> int:
        # Finishes only if `first` is running at the same time.
        await wait_until(first_started.is_set)
        return x + 1

    def setup(server: AINativeServer) -> None:
        server.register_tool(first)
        server.register_tool(second)

    with serve(setup) as (_, live):
        script = calls(("first", {"x": 4}), ("second", {"x": 4}))
        events = await events_of(
            live.base_url, chat("both", tools=["first", "second"], tool_call=script)
        )
    results = of_type(events, "tool_result")
    # Streamed as each finishes: `second` first; sent back to the model in call order.
    assert [r["name"] for r in results] == ["second", "first"]
    assert text_of(events) == "40\n5"
    (done,) = of_type(events, "done")
    assert [m.get("name") for m in done["messages"][1:]] == ["first", "second"]


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (("fail", {}), "tool 'fail' failed: RuntimeError: the disk is full"),
        (("calculate", {"expr": "1"}), "invalid arguments for tool 'calculate'"),
    ],
    ids=["raises", "invalid-arguments"],
)
async def test_a_failing_call_becomes_an_error_result_for_the_model(
    serve: Serve, script: tuple[str, dict[str, Any]], error: str
) -> None:
    @tool
    def fail() -> str:
        raise RuntimeError("the disk is full")

    with serve(lambda server: server.register_tool(fail)) as (_, live):
        events = await events_of(live.base_url, chat("go", tool_call=calls(script)))
    (result,) = of_type(events, "tool_result")
    assert "result" not in result
    assert error in result["error"]
    # The model read the error and answered: the stream goes on and ends well.
    assert error in text_of(events)
    (done,) = of_type(events, "done")
    assert done["finish_reason"] == "stop"
    assert done["messages"][1]["is_error"] is True


async def test_no_server_tools_unless_enabled(serve: Serve) -> None:
    with serve() as (_, live):
        script = calls(("calculate", {"expression": "1+1"}))
        events = await events_of(live.base_url, chat("go", tools=None, tool_call=script))
    # Not a server tool here: the call is the client's, and ends the stream.
    assert of_type(events, "tool_result") == []
    assert not any(d.get("server") for d in of_type(events, "tool_call"))
    (done,) = of_type(events, "done")
    assert done["finish_reason"] == "tool_call"
    assert [c["name"] for c in done["tool_calls"]] == ["calculate"]


async def test_the_server_config_enables_tools_for_requests_that_do_not_say(serve: Serve) -> None:
    with serve(model_tools=["calculate"]) as (_, live):
        script = calls(("calculate", {"expression": "2**5"}))
        events = await events_of(live.base_url, chat("go", tools=None, tool_call=script))
    assert [r["result"] for r in of_type(events, "tool_result")] == [32]


async def test_unknown_tool_names_and_too_many_steps_are_refused_up_front(serve: Serve) -> None:
    with serve(max_steps=3) as (_, live), anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            unknown = await http.post("/ai/stream", json=chat("go", tools=["nope"]))
            steps = await http.post("/ai/stream", json={**chat("go"), "max_steps": 4})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["message"] == (
        "tools: unknown tool 'nope'; registered: calculate, get_time"
    )
    assert steps.status_code == 422
    assert steps.json()["error"]["message"] == "max_steps: at most 3 on this server"


async def test_max_steps_ends_the_stream_with_an_error_that_says_so(serve: Serve) -> None:
    with serve() as (_, live):
        body = {**chat("go", tool_call=calls(("calculate", {"expression": "1"}))), "max_steps": 1}
        events = await events_of(live.base_url, body)
    assert [r["result"] for r in of_type(events, "tool_result")] == [1]
    errors = [e.event for e in events if e.event.type == "error"]
    assert [(e.code, e.data) for e in errors] == [
        ("max_steps_reached", "the model still called tools after max_steps=1 provider calls")
    ]
    (done,) = of_type(events, "done")
    assert done["finish_reason"] == "error"


async def test_a_client_tool_ends_the_stream_and_the_client_continues(serve: Serve) -> None:
    location = {
        "name": "get_location",
        "description": "Where the user is.",
        "parameters": {"type": "object", "properties": {}},
    }
    script = calls(("calculate", {"expression": "2+3"}), ("get_location", {}))
    with serve() as (_, live):
        body = chat("where?", tool_call=script)
        body["options"]["tools"] = [location]  # the client's own tools
        first = await events_of(live.base_url, body)
        (done,) = of_type(first, "done")
        assert done["finish_reason"] == "tool_call"
        assert [c["name"] for c in done["tool_calls"]] == ["get_location"]
        # The server tool of the same turn ran; the client's did not.
        assert [r["name"] for r in of_type(first, "tool_result")] == ["calculate"]
        call_id = done["tool_calls"][0]["id"]
        history = [
            {"role": "user", "content": "where?"},
            *done["messages"],
            {"role": "tool", "tool_call_id": call_id, "content": "Paris"},
        ]
        second = await events_of(
            live.base_url,
            {"context": {"messages": history}, "options": {"tool_call": script}, "tools": True},
        )
    # The conversation ends with tool results: echo answers them, no new call.
    assert text_of(second) == "5\nParis"
    assert of_type(second, "done")[0]["finish_reason"] == "stop"


async def test_cancel_during_a_slow_tool_cancels_the_tool(serve: Serve) -> None:
    started = threading.Event()  # set on the server's loop, in its thread
    observed: list[str] = []

    @tool
    async def slow() -> str:
        started.set()
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            observed.append("cancelled")
            raise
        return "never"

    with serve(lambda server: server.register_tool(slow)) as (server, live):
        seen: list[ReceivedEvent] = []

        async def follow() -> None:
            async with AINativeClient(live.base_url) as ai:
                async for event in ai.stream_events(chat("go", tool_call=calls(("slow", {})))):
                    seen.append(event)

        with anyio.fail_after(15):
            async with anyio.create_task_group() as group:
                group.start_soon(follow)
                await wait_until(started.is_set)
                (stream_id,) = list(server.hub.runs)
                async with httpx.AsyncClient(base_url=live.base_url) as http:
                    response = await http.delete(f"/ai/stream/{stream_id}")
                assert response.status_code == 200
    assert observed == ["cancelled"]
    assert of_type(seen, "tool_result") == []
    assert of_type(seen, "done")[-1]["finish_reason"] == "cancelled"


async def test_resume_across_a_cut_in_a_tool_step_loses_and_repeats_nothing(
    serve: Serve,
) -> None:
    started = threading.Event()  # set on the server's loop, in its thread

    @tool
    async def pause(seconds: float) -> str:
        started.set()
        await anyio.sleep(seconds)
        return "rested"

    body = chat("go", tools=["pause"], tool_call=calls(("pause", {"seconds": 0.5})))
    with serve(lambda server: server.register_tool(pause)) as (_, live):
        whole = await events_of(live.base_url, body)
        started.clear()
        cut: list[ReceivedEvent] = []
        async with TCPProxy(live.port) as proxy:

            async def follow() -> None:
                cut.extend(await events_of(proxy.url, body, reconnect_delay=0.05))

            with anyio.fail_after(15):
                async with anyio.create_task_group() as group:
                    group.start_soon(follow)
                    await wait_until(started.is_set)  # the tool is running: cut now
                    assert proxy.cut() == 1
        assert proxy.connections == 2  # the stream, then its resume
    ids = [e.id for e in cut]
    assert ids == list(range(1, len(ids) + 1))  # nothing lost, nothing repeated

    def shape(events: list[ReceivedEvent]) -> list[tuple[str, Any]]:
        out = []
        for e in events:
            data = e.event.data
            if isinstance(data, dict):
                data = {k: v for k, v in data.items() if k not in ("duration_ms", "stream_id")}
            out.append((e.event.type, data))
        return out

    assert [kind for kind, _ in shape(cut)] == [kind for kind, _ in shape(whole)]
    assert [d for k, d in shape(cut) if k == "tool_result"] == [
        d for k, d in shape(whole) if k == "tool_result"
    ]
    assert text_of(cut) == text_of(whole) == "rested"
