"""The AI SDK's UI message stream, read by the AI SDK itself (``ui_chat.mjs``).

The current ``ai`` release's ``DefaultChatTransport`` and ``readUIMessageStream`` read every
response (their parser, chunk schemas and message assembly), the ``WorkflowChatTransport``
of ``@ai-sdk/workflow`` resumes by index, and a copy of each body is validated against the
strict chunk schemas of the last release that had them. Servers run on uvicorn and
Hypercorn, tests on asyncio and trio.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from tests.server.server_helpers import wait_until

from ainative_core import StreamEvent, Usage
from ainative_testing import FakeProvider, ScriptedProvider, TCPProxy

from .conftest import Node, Serve

pytestmark = pytest.mark.anyio

USER = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "What is the weather?"}]}

SCRIPT = [
    StreamEvent.reasoning_delta("The user wants"),
    StreamEvent.reasoning_delta(" the weather."),
    StreamEvent.text_delta("Let me"),
    StreamEvent.text_delta(" check."),
    StreamEvent.tool_call_start("call_1", "get_weather"),
    StreamEvent.tool_call_delta("call_1", '{"city":'),
    StreamEvent.tool_call_delta("call_1", ' "Paris"}'),
    StreamEvent.tool_call_end("call_1"),
    StreamEvent.usage_report(Usage(input_tokens=5, output_tokens=9)),
    StreamEvent.finish("tool_call"),
]


def chat(api: str, *, chat_id: str = "chat-1", **extra: Any) -> dict[str, Any]:
    return {"api": api, "mode": "send", "chatId": chat_id, "messages": [USER], **extra}


def without_message_id(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "id"}


async def test_use_chat_reads_reasoning_text_and_a_tool_call_into_one_message(
    serve: Serve, node: Node
) -> None:
    with serve(ScriptedProvider(SCRIPT)) as (_, live):
        out = await node("ui_chat.mjs", chat(f"{live.base_url}/ai/ui/chat"))
    assert out["thrown"] is None
    assert out["errors"] == []
    assert out["strictErrors"] == []
    assert out["strictChunks"] == len(out["chunks"])
    headers = out["requests"][0]["headers"]
    assert headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-workflow-run-id"] == headers["x-ainative-stream-id"]
    message = out["message"]
    assert message["id"] == headers["x-ainative-stream-id"]
    assert message["role"] == "assistant"
    assert message["parts"] == [
        {"type": "step-start"},
        {
            "type": "reasoning",
            "id": "reasoning-1",
            "text": "The user wants the weather.",
            "state": "done",
        },
        {"type": "text", "text": "Let me check.", "state": "done"},
        {
            "type": "tool-get_weather",
            "toolCallId": "call_1",
            "state": "input-available",
            "input": {"city": "Paris"},
        },
    ]
    types = [chunk["type"] for chunk in out["chunks"]]
    assert types == [
        "start",
        "start-step",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
        "text-delta",
        "text-end",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-delta",
        "tool-input-available",
        "finish-step",
        "finish",
    ]
    assert out["chunks"][-1] == {"type": "finish", "finishReason": "tool-calls"}


async def test_the_parts_carry_ordinal_sse_ids_and_end_with_done(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(timeout=10) as client:
            body = {"messages": [USER]}
            response = await client.post(f"{live.base_url}/ai/ui/chat", json=body)
    blocks = response.text.split("\n\n")
    assert blocks[-2:] == ["data: [DONE]", ""]
    ids = [int(b.split("\n")[0].removeprefix("id: ")) for b in blocks[:-2]]
    assert ids == list(range(1, len(ids) + 1))
    parts = [json.loads(b.split("\n")[1].removeprefix("data: ")) for b in blocks[:-2]]
    assert "".join(p["delta"] for p in parts if p["type"] == "text-delta") == "What is the weather?"


async def test_earlier_messages_with_tool_outputs_become_the_providers_conversation(
    serve: Serve, node: Node
) -> None:
    provider = FakeProvider(["Sunny."])
    history = [
        {"id": "s", "role": "system", "parts": [{"type": "text", "text": "Be brief."}]},
        USER,
        {
            "id": "a1",
            "role": "assistant",
            "parts": [
                {"type": "step-start"},
                {"type": "reasoning", "text": "I should look it up.", "state": "done"},
                {
                    "type": "tool-get_weather",
                    "toolCallId": "call_1",
                    "state": "output-available",
                    "input": {"city": "Paris"},
                    "output": {"sky": "clear"},
                },
                {"type": "step-start"},
                {"type": "text", "text": "It is clear.", "state": "done"},
            ],
        },
        {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "And tomorrow?"}]},
    ]
    with serve(provider) as (_, live):
        out = await node(
            "ui_chat.mjs",
            {
                "api": f"{live.base_url}/ai/ui/chat",
                "mode": "send",
                "chatId": "c",
                "messages": history,
            },
        )
    assert out["thrown"] is None
    sent = [m.model_dump(exclude_defaults=True) for m in provider.requests[-1].messages]
    assert sent == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "clear"}'},
        {"role": "assistant", "content": "It is clear."},
        {"role": "user", "content": "And tomorrow?"},
    ]
    assert out["message"]["parts"][-1] == {"type": "text", "text": "Sunny.", "state": "done"}


async def test_a_tool_result_of_the_server_becomes_a_tool_output_part(
    serve: Serve, node: Node
) -> None:
    from ainative_core import WireEvent
    from ainative_server import AINativeServer, StreamManager

    with serve() as (server, live):
        server_: AINativeServer = server

        @server_.action("respond")
        async def tools(stream: StreamManager, request: Any) -> None:
            call = {"phase": "start", "id": "c1", "name": "add", "index": 0}
            await stream.send(WireEvent("tool_call", call))
            await stream.send(
                WireEvent("tool_call", {"phase": "delta", "id": "c1", "args_delta": '{"a":1}'})
            )
            await stream.send(WireEvent("tool_call", {"phase": "end", "id": "c1", "index": 0}))
            await stream.send(WireEvent("tool_result", {"id": "c1", "result": {"sum": 3}}))
            await stream.send(
                WireEvent("tool_result", {"id": "c2", "name": "fail", "error": "boom"})
            )
            await stream.send_token("Done")

        out = await node("ui_chat.mjs", chat(f"{live.base_url}/ai/ui/chat"))
    assert out["strictErrors"] == []
    parts = out["message"]["parts"]
    assert parts[1] == {
        "type": "tool-add",
        "toolCallId": "c1",
        "state": "output-available",
        "input": {"a": 1},
        "output": {"sum": 3},
    }
    assert parts[2] == {
        "type": "tool-fail",
        "toolCallId": "c2",
        "state": "output-error",
        "input": {},
        "errorText": "boom",
    }
    # What the model says after tool results is the next step.
    assert parts[3:] == [{"type": "step-start"}, {"type": "text", "text": "Done", "state": "done"}]


async def test_an_error_after_the_first_token_is_an_error_part_then_finish(
    serve: Serve, node: Node
) -> None:
    from ainative_core import ProviderUnavailable

    provider = FakeProvider(["one", " two"], fail_after=ProviderUnavailable("upstream went away"))
    with serve(provider) as (_, live):
        out = await node("ui_chat.mjs", chat(f"{live.base_url}/ai/ui/chat"))
    assert out["strictErrors"] == []
    assert out["errors"] == ["upstream went away"]
    assert {"type": "error", "errorText": "upstream went away"} in out["chunks"]
    assert out["chunks"][-1] == {"type": "finish", "finishReason": "error"}
    assert out["message"]["parts"][-1] == {"type": "text", "text": "one", "state": "done"}


async def test_a_refusal_before_the_first_part_is_an_http_error_the_transport_raises(
    serve: Serve, node: Node
) -> None:
    with serve() as (_, live):
        out = await node(
            "ui_chat.mjs", chat(f"{live.base_url}/ai/ui/chat", body={"provider": "nope"})
        )
    assert out["requests"][0]["status"] == 404
    assert "unknown_provider" in out["thrown"]


async def test_resume_by_chat_id_replays_the_running_stream_and_is_204_once_it_ended(
    serve: Serve, node: Node
) -> None:
    provider = FakeProvider([f"t{i} " for i in range(100)], delay=0.04)
    with serve(provider) as (server, live):
        api = f"{live.base_url}/ai/ui/chat"
        async with TCPProxy(live.port, cut_after_bytes=900) as proxy:
            cut = await node(
                "ui_chat.mjs", chat(f"{proxy.url}/ai/ui/chat", chat_id="resumed", resumable=True)
            )
        assert proxy.cuts == 1
        assert cut["thrown"] is not None  # the connection was lost mid-stream
        resumed = await node("ui_chat.mjs", {"api": api, "mode": "resume", "chatId": "resumed"})
        await wait_until(lambda: all(run.done for run in server.hub.runs.values()))
        again = await node("ui_chat.mjs", {"api": api, "mode": "resume", "chatId": "resumed"})
        unknown = await node("ui_chat.mjs", {"api": api, "mode": "resume", "chatId": "never"})
        uncut = await node("ui_chat.mjs", chat(api, chat_id="uncut"))
    assert resumed["requests"][0]["status"] == 200
    assert resumed["strictErrors"] == []
    assert resumed["message"]["id"] == cut["requests"][0]["headers"]["x-ainative-stream-id"]
    assert without_message_id(resumed["message"]) == without_message_id(uncut["message"])
    assert resumed["message"]["parts"][1]["text"] == "".join(f"t{i} " for i in range(100))
    assert again["requests"][0]["status"] == 204
    assert again["message"] is None
    assert unknown["requests"][0]["status"] == 204


async def test_the_workflow_transport_resumes_a_cut_stream_by_index_with_nothing_lost(
    serve: Serve, node: Node
) -> None:
    provider = FakeProvider([f"w{i} " for i in range(40)], delay=0.01)
    with serve(provider) as (_, live):
        async with (
            TCPProxy(live.port, cut_after_bytes=1200) as proxy,
            anyio.create_task_group() as tg,
        ):

            async def only_the_first_connection_is_cut() -> None:
                await wait_until(lambda: proxy.bytes_from_target > 0)
                proxy.cut_after_bytes = None

            tg.start_soon(only_the_first_connection_is_cut)
            out = await node(
                "ui_chat.mjs",
                chat(f"{proxy.url}/ai/ui/chat", mode="workflow", chat_id="wf", resumable=True),
            )
        assert proxy.cuts == 1
        run_id = out["requests"][0]["headers"]["x-workflow-run-id"]
        replay = await node(
            "ui_chat.mjs",
            {
                "api": f"{live.base_url}/ai/ui/chat",
                "mode": "workflow",
                "resume": True,
                "chatId": run_id,
            },
        )
    assert out["thrown"] is None
    assert out["strictErrors"] == []
    methods = [(r["method"], r["status"]) for r in out["requests"]]
    assert methods == [("POST", 200), ("GET", 200)]
    resumed_at = int(out["requests"][1]["url"].rsplit("startIndex=", 1)[1])
    assert 0 < resumed_at < len(replay["chunks"])
    assert out["chunks"] == replay["chunks"]  # every part once, in order
    assert out["message"] == replay["message"]
    assert out["message"]["parts"][1]["text"] == "".join(f"w{i} " for i in range(40))


async def test_a_client_that_did_not_declare_it_resumes_cancels_its_run_by_leaving(
    serve: Serve, node: Node
) -> None:
    provider = FakeProvider([f"t{i} " for i in range(100)], delay=0.04)
    with serve(provider) as (server, live):
        async with TCPProxy(live.port, cut_after_bytes=900) as proxy:
            cut = await node("ui_chat.mjs", chat(f"{proxy.url}/ai/ui/chat", chat_id="gone"))
        assert proxy.cuts == 1
        await wait_until(provider.cancelled.is_set)
        resumed = await node(
            "ui_chat.mjs",
            {"api": f"{live.base_url}/ai/ui/chat", "mode": "resume", "chatId": "gone"},
        )
        run = server.hub.get(cut["requests"][0]["headers"]["x-ainative-stream-id"])
    assert run.finish_reason == "cancelled"
    assert resumed["requests"][0]["status"] == 204  # nothing running to resume


@pytest.mark.parametrize("start_index", [0, 1, 3, 12, 13, 20])
async def test_a_stream_resumed_at_part_n_gets_exactly_the_parts_after_n(
    serve: Serve, start_index: int
) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(timeout=10) as client:
            api = f"{live.base_url}/ai/ui/chat"
            body = {"messages": [{**USER, "parts": [{"type": "text", "text": "a b c d e f g"}]}]}
            first = await client.post(api, json=body)
            run_id = first.headers["x-workflow-run-id"]
            later = await client.get(f"{api}/{run_id}/stream", params={"startIndex": start_index})
            by_id = await client.get(
                f"{api}/{run_id}/stream", headers={"Last-Event-ID": str(start_index)}
            )
    blocks = first.text.split("\n\n")[:-2]
    assert len(blocks) == 13  # start, start-step, text-start, 7 deltas, text-end, 2 finishes
    expected = "".join(b + "\n\n" for b in blocks[start_index:]) + "data: [DONE]\n\n"
    assert later.text == expected
    assert by_id.text == expected


async def test_a_negative_start_index_reads_the_tail_and_names_its_index(
    serve: Serve, node: Node
) -> None:
    with serve() as (_, live):
        api = f"{live.base_url}/ai/ui/chat"
        first = await node("ui_chat.mjs", chat(api, mode="workflow"))
        run_id = first["requests"][0]["headers"]["x-workflow-run-id"]
        tail = await node(
            "ui_chat.mjs",
            {"api": api, "mode": "workflow", "resume": True, "chatId": run_id, "startIndex": -3},
        )
    total = len(first["chunks"])
    assert tail["requests"][0]["headers"]["x-workflow-stream-tail-index"] == str(total - 1)
    assert tail["strictChunks"] == 3
    # text-end of a part started before the window is dropped by the transport itself
    assert tail["chunks"] == first["chunks"][-2:]


async def test_stop_cancels_the_provider_and_the_message_ends_aborted(
    serve: Serve, node: Node
) -> None:
    provider = FakeProvider([f"s{i} " for i in range(500)], delay=0.02)
    with serve(provider) as (server, live):
        api = f"{live.base_url}/ai/ui/chat"
        result: dict[str, Any] = {}
        async with anyio.create_task_group() as tg:

            async def read() -> None:
                result.update(await node("ui_chat.mjs", chat(api, chat_id="stopped")))

            tg.start_soon(read)
            await wait_until(lambda: any(run.tokens >= 3 for run in server.hub.runs.values()))
            async with httpx.AsyncClient(timeout=10) as client:
                stopped = await client.delete(f"{api}/stopped/stream")
                missing = await client.delete(f"{api}/never/stream")
        await wait_until(provider.cancelled.is_set)
    assert stopped.status_code == 200
    assert stopped.json()["cancelled"] is True
    assert missing.status_code == 404
    assert result["strictErrors"] == []
    assert result["chunks"][-3:] == [
        {"type": "finish-step"},
        {"type": "abort", "reason": "cancelled"},
        {"type": "finish", "finishReason": "other"},
    ]
    assert len(result["message"]["parts"][1]["text"]) < len("".join(f"s{i} " for i in range(500)))


async def test_a_tool_loop_is_one_message_with_a_step_per_provider_call(
    serve: Serve, node: Node
) -> None:
    script = {"name": "calculate", "arguments": {"expression": "6*7"}}
    with serve() as (_, live):
        body = {"tools": ["calculate"], "options": {"tool_call": script}}
        out = await node("ui_chat.mjs", chat(f"{live.base_url}/ai/ui/chat", body=body))
    assert out["strictErrors"] == []
    parts = [p for p in out["message"]["parts"] if p["type"] != "step-start"]
    (call,) = [p for p in parts if p["type"] == "tool-calculate"]
    assert call["state"] == "output-available"
    assert call["input"] == {"expression": "6*7"}
    assert call["output"] == 42
    assert parts[-1] == {"type": "text", "text": "42", "state": "done"}
    steps = [c["type"] for c in out["chunks"] if c["type"] in ("start-step", "finish-step")]
    assert steps == ["start-step", "finish-step", "start-step", "finish-step"]
