"""AG-UI over SSE, checked with AG-UI's own code.

Every event is validated with the ``ag-ui-protocol`` package's models (and must carry no
field they do not declare); ``@ag-ui/client``'s ``HttpAgent`` (``agui_run.mjs``) runs the
agent, verifying the event sequence and assembling the messages. Resume (which AG-UI lacks)
goes through a connection-cutting proxy and ``Last-Event-ID``.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from ag_ui.core import Event, RunFinishedCancelledOutcome
from pydantic import BaseModel, TypeAdapter
from tests.server.server_helpers import wait_until

from ainative_core import ProviderUnavailable, SSEDecoder, StreamEvent, Usage
from ainative_testing import FakeProvider, ScriptedProvider, TCPProxy

from .conftest import Node, Serve

pytestmark = pytest.mark.anyio

EVENT: TypeAdapter[Any] = TypeAdapter(Event)
RESUMABLE = {"X-AINative-Resumable": "1"}
"""What a client sends that resumes after a dropped connection (its run then survives one)."""

SCRIPT = [
    StreamEvent.reasoning_delta("Thinking"),
    StreamEvent.reasoning_delta(" hard."),
    StreamEvent.text_delta("Checking"),
    StreamEvent.text_delta(" now."),
    StreamEvent.tool_call_start("call_1", "get_weather"),
    StreamEvent.tool_call_delta("call_1", '{"city":'),
    StreamEvent.tool_call_delta("call_1", ' "Paris"}'),
    StreamEvent.tool_call_end("call_1"),
    StreamEvent.usage_report(Usage(input_tokens=5, output_tokens=9)),
    StreamEvent.finish("tool_call"),
]


def run_input(**extra: Any) -> dict[str, Any]:
    return {
        "threadId": "thread-1",
        "runId": "run-1",
        "messages": [{"id": "u1", "role": "user", "content": "What is the weather?"}],
        "tools": [],
        "context": [],
        "state": {},
        "forwardedProps": {},
        **extra,
    }


def unknown_fields(model: BaseModel) -> list[str]:
    """Fields of ``model`` (recursively) that its class does not declare."""
    found = [f"{type(model).__name__}.{k}" for k in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, BaseModel):
                found += unknown_fields(item)
    return found


def validated(objs: list[dict[str, Any]]) -> list[Any]:
    """The AG-UI models of ``objs``; each must validate and declare every field it has."""
    events = [EVENT.validate_python(obj) for obj in objs]
    extra = [field for event in events for field in unknown_fields(event)]
    assert extra == [], extra
    return events


def decode(body: bytes) -> list[tuple[int, dict[str, Any]]]:
    return [(int(e.id), json.loads(e.data)) for e in SSEDecoder().feed(body)]


async def test_http_agent_runs_reasoning_text_and_a_tool_call(serve: Serve, node: Node) -> None:
    with serve(ScriptedProvider(SCRIPT)) as (_, live):
        out = await node(
            "agui_run.mjs",
            {
                "url": f"{live.base_url}/ai/agui",
                "threadId": "thread-1",
                "runId": "run-1",
                "messages": [{"id": "u1", "role": "user", "content": "Weather?"}],
            },
        )
    assert out["error"] is None
    events = validated(out["events"])
    assert [e.type.value for e in events] == [
        "RUN_STARTED",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_END",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "RUN_FINISHED",
    ]
    assert (events[0].thread_id, events[0].run_id) == ("thread-1", "run-1")
    assert events[-1].usage[0].input_tokens == 5
    messages = out["messages"]
    assert messages[0] == {"id": "u1", "role": "user", "content": "Weather?"}
    by_role = {m["role"]: m for m in messages[1:]}
    assert by_role["reasoning"]["content"] == "Thinking hard."
    assistant = by_role["assistant"]
    assert assistant["content"] == "Checking now."
    assert assistant["toolCalls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]


async def test_every_event_has_its_ordinal_as_sse_id(serve: Serve) -> None:
    with serve(ScriptedProvider(SCRIPT)) as (_, live):
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{live.base_url}/ai/agui", json=run_input())
    decoded = decode(response.content)
    assert [i for i, _ in decoded] == list(range(1, len(decoded) + 1))
    assert response.text.count("data: ") == len(decoded)  # no event without an id
    validated([obj for _, obj in decoded])


async def test_tools_context_and_tool_results_reach_the_provider(serve: Serve) -> None:
    provider = FakeProvider(["It is sunny."])
    body = run_input(
        messages=[
            {"id": "d", "role": "developer", "content": "Be brief."},
            {"id": "u1", "role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {
                "id": "a1",
                "role": "assistant",
                "toolCalls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"id": "t1", "role": "tool", "toolCallId": "call_1", "content": "sunny"},
        ],
        tools=[
            {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        context=[{"description": "user's city", "value": "Paris"}],
    )
    with serve(provider) as (_, live):
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{live.base_url}/ai/agui", json=body)
    assert response.status_code == 200
    request = provider.requests[-1]
    assert [t.name for t in request.tools] == ["get_weather"]
    assert request.tools[0].parameters["properties"] == {"city": {"type": "string"}}
    sent = [m.model_dump(exclude_defaults=True) for m in request.messages]
    assert sent == [
        {"role": "system", "content": "Context:\n- user's city: Paris"},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]


async def test_an_error_after_the_first_token_is_run_error_and_nothing_after(
    serve: Serve, node: Node
) -> None:
    provider = FakeProvider(["one", " two"], fail_after=ProviderUnavailable("upstream went away"))
    with serve(provider) as (_, live):
        out = await node(
            "agui_run.mjs",
            {
                "url": f"{live.base_url}/ai/agui",
                "threadId": "t",
                "runId": "r",
                "messages": [{"id": "u", "role": "user", "content": "Hi"}],
            },
        )
    events = validated(out["events"])
    assert events[-1].type.value == "RUN_ERROR"
    assert (events[-1].message, events[-1].code) == ("upstream went away", "provider_unavailable")
    assert [e.type.value for e in events[:-1]] == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
    ]


async def test_a_refusal_is_an_http_error(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(timeout=10) as client:
            bad = await client.post(f"{live.base_url}/ai/agui", json={"threadId": "t"})
            unknown = await client.post(
                f"{live.base_url}/ai/agui", json=run_input(forwardedProps={"provider": "nope"})
            )
    assert bad.status_code == 422
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_provider"


@pytest.mark.parametrize("by", ["stream id", "run id"])
async def test_a_cut_stream_resumes_from_last_event_id_with_nothing_lost(
    serve: Serve, by: str
) -> None:
    provider = FakeProvider([f"a{i} " for i in range(60)], delay=0.01)
    with serve(provider) as (_, live):
        async with (
            TCPProxy(live.port, cut_after_bytes=1500) as proxy,
            httpx.AsyncClient(timeout=10) as client,
        ):
            seen: list[tuple[int, dict[str, Any]]] = []
            decoder = SSEDecoder()
            stream_id = ""
            with anyio.fail_after(10):
                try:
                    async with client.stream(
                        "POST", f"{proxy.url}/ai/agui", json=run_input(), headers=RESUMABLE
                    ) as response:
                        stream_id = response.headers["x-ainative-stream-id"]
                        async for chunk in response.aiter_raw():
                            seen += [(int(e.id), json.loads(e.data)) for e in decoder.feed(chunk)]
                except httpx.HTTPError:
                    pass  # cut mid-way
            assert proxy.cuts == 1
            assert seen
            assert seen[-1][1]["type"] != "RUN_FINISHED"
            name = stream_id if by == "stream id" else "run-1"
            resumed = await client.get(
                f"{live.base_url}/ai/agui/{name}", headers={"Last-Event-ID": str(seen[-1][0])}
            )
            whole = await client.get(f"{live.base_url}/ai/agui/{stream_id}")
    rest = decode(resumed.content)
    assert [i for i, _ in seen + rest] == list(range(1, len(seen) + len(rest) + 1))
    assert seen + rest == decode(whole.content)
    events = validated([obj for _, obj in seen + rest])
    assert events[-1].type.value == "RUN_FINISHED"
    text = "".join(e.delta for e in events if e.type.value == "TEXT_MESSAGE_CONTENT")
    assert text == "".join(f"a{i} " for i in range(60))


async def test_cancel_reaches_the_provider_and_the_run_finishes_cancelled(serve: Serve) -> None:
    provider = FakeProvider([f"c{i} " for i in range(500)], delay=0.02)
    with serve(provider) as (server, live):
        async with httpx.AsyncClient(timeout=10) as client:
            body = b""
            answers: list[httpx.Response] = []
            with anyio.fail_after(15):
                async with client.stream("POST", f"{live.base_url}/ai/agui", json=run_input()) as r:
                    async for chunk in r.aiter_raw():
                        body += chunk
                        if not answers and body.count(b"TEXT_MESSAGE_CONTENT") >= 2:
                            answers.append(await client.delete(f"{live.base_url}/ai/agui/run-1"))
            unknown = await client.delete(f"{live.base_url}/ai/agui/never")
        await wait_until(provider.cancelled.is_set)
        assert all(run.done for run in server.hub.runs.values())
    events = validated([obj for _, obj in decode(body)])
    assert events[-2].type.value == "TEXT_MESSAGE_END"
    assert events[-1].type.value == "RUN_FINISHED"
    assert isinstance(events[-1].outcome, RunFinishedCancelledOutcome)
    assert answers[0].json()["cancelled"] is True
    assert unknown.status_code == 404


async def test_a_server_tool_loop_is_one_run_with_the_call_its_result_and_the_answer(
    serve: Serve, node: Node
) -> None:
    script = {"name": "calculate", "arguments": {"expression": "6*7"}}
    with serve() as (_, live):
        out = await node(
            "agui_run.mjs",
            {
                "url": f"{live.base_url}/ai/agui",
                "threadId": "thread-1",
                "runId": "run-1",
                "messages": [{"id": "u1", "role": "user", "content": "6*7?"}],
                "forwardedProps": {"tools": ["calculate"], "options": {"tool_call": script}},
            },
        )
    assert out["error"] is None
    events = validated(out["events"])
    kinds = [e.type.value for e in events]
    assert kinds[0] == "RUN_STARTED"
    assert kinds[-1] == "RUN_FINISHED"
    assert kinds.index("TOOL_CALL_END") < kinds.index("TOOL_CALL_RESULT")
    assert kinds.index("TOOL_CALL_RESULT") < kinds.index("TEXT_MESSAGE_START")
    # The agent's own assembly: the call, its result, then the answer as a new message.
    _, calling, result, answer = out["messages"]
    (call,) = calling["toolCalls"]
    assert call["function"] == {"name": "calculate", "arguments": '{"expression": "6*7"}'}
    assert (result["role"], result["toolCallId"], result["content"]) == ("tool", call["id"], "42")
    assert (answer["role"], answer["content"]) == ("assistant", "42")
