"""The AI SDK's WebSocket chat transport, driven by the AI SDK itself (``ui_ws_chat.mjs``).

The current ``ai`` release's ``WebSocketChatTransport`` (over the ``ws`` package, Node 20)
talks to ``/ai/ui/ws`` and ``readUIMessageStream`` assembles its replies; it checks every
chunk against its schema and every sequence for order itself. Servers run on uvicorn and
Hypercorn, tests on asyncio and trio.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from tests.server.server_helpers import wait_until

from ainative_testing import FakeProvider

from .conftest import Node, Serve

pytestmark = pytest.mark.anyio


def words(count: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{i}" for i in range(count))


def driver(url: str, scenario: str, *texts: str, **extra: Any) -> dict[str, Any]:
    chats = [{"chatId": f"chat-{n}", "text": text} for n, text in enumerate(texts)]
    return {"url": f"{url}/ai/ui/ws", "scenario": scenario, "chats": chats, **extra}


def replied(message: dict[str, Any] | None, text: str) -> bool:
    return bool(
        message is not None
        and message["role"] == "assistant"
        and message["parts"]
        == [{"type": "step-start"}, {"type": "text", "text": text, "state": "done"}]
    )


def request_frames(frames: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [f for f in frames if f["requestId"] == request_id]


def assert_one_whole_reply(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``start``, chunks numbered 0, 1, 2 ... with none missing or repeated, ``end``."""
    assert frames[0]["type"] == "start"
    assert frames[-1]["type"] == "end"
    chunks = frames[1:-1]
    assert {f["type"] for f in chunks} == {"chunk"}
    assert [f["sequence"] for f in chunks] == list(range(len(chunks)))
    return [f["chunk"] for f in chunks]


async def test_a_reply_read_by_read_ui_message_stream_is_the_echo(serve: Serve, node: Node) -> None:
    text = "What is the weather in Paris?"
    with serve() as (_, live):
        out = await node("ui_ws_chat.mjs", driver(live.base_url, "send", text))
    assert out["thrown"] is None
    [result] = out["results"]
    assert result["error"] is None
    assert replied(result["message"], text)
    [frames] = out["sockets"]
    chunks = assert_one_whole_reply(frames)
    assert chunks == result["chunks"]
    assert chunks[0] == {"type": "start", "messageId": result["message"]["id"]}
    assert result["message"]["id"].startswith("s_")  # the stream id
    assert [c["type"] for c in chunks[-3:]] == ["text-end", "finish-step", "finish"]


async def test_two_chats_stream_at_once_on_one_socket(serve: Serve, node: Node) -> None:
    texts = [words(12, "a"), words(12, "b")]
    with serve() as (_, live):
        payload = driver(live.base_url, "concurrent", *texts, body={"options": {"delay": 0.01}})
        out = await node("ui_ws_chat.mjs", payload)
    assert out["thrown"] is None
    assert [replied(r["message"], t) for r, t in zip(out["results"], texts, strict=True)] == [
        True,
        True,
    ]
    [frames] = out["sockets"]  # one socket carried both
    order = [f["requestId"] for f in frames]
    ids = sorted(set(order), key=order.index)
    assert len(ids) == 2
    for request_id in ids:
        assert_one_whole_reply(request_frames(frames, request_id))
    assert order != sorted(order, key=order.index)  # they ran at the same time: interleaved


async def test_a_cut_socket_then_reconnect_to_stream_gives_the_whole_message_once(
    serve: Serve, node: Node
) -> None:
    text = words(30)
    cut_at = random.randint(1, 20)
    with serve() as (_, live):
        payload = driver(live.base_url, "cut", text, body={"options": {"delay": 0.02}}, at=cut_at)
        out = await node("ui_ws_chat.mjs", payload)
    assert out["thrown"] is None
    [before] = out["results"]
    assert "connection closed" in before["error"]
    assert not replied(before["message"], text)
    after = out["resumed"]
    assert after is not None
    assert after["error"] is None
    assert replied(after["message"], text)
    first, second = out["sockets"]
    seen = [f["chunk"] for f in first if f["type"] == "chunk"]
    assert after["message"]["id"] == seen[0]["messageId"]  # the same message, replayed
    assert len(seen) >= cut_at
    replay = assert_one_whole_reply(second)
    assert replay == after["chunks"]
    assert replay[: len(seen)] == seen  # what the cut socket carried, then the rest
    assert "".join(c["delta"] for c in replay if c["type"] == "text-delta") == text


async def test_abort_cancels_the_run_and_the_provider_observes_it(serve: Serve, node: Node) -> None:
    fake = FakeProvider([f"w{i} " for i in range(500)], delay=0.02)
    # A dropped socket alone would leave the run going for a minute: only `abort` stops it.
    with serve(fake, resume_grace=60) as (server, live):
        out = await node("ui_ws_chat.mjs", driver(live.base_url, "abort", "stop me", at=5))
        assert out["thrown"] is None
        [result] = out["results"]
        assert result["error"] is None  # an aborted request closes its stream
        assert len(result["chunks"]) >= 5
        run = server.hub.runs[result["message"]["id"]]
        await wait_until(lambda: run.done and fake.closed.is_set())
    assert run.finish_reason == "cancelled"
    assert fake.cancelled.is_set()
    resumed = out["resumed"]  # asked for after the abort: nothing, or the stopped reply
    if resumed is not None:
        assert [c["type"] for c in resumed["chunks"][-2:]] == ["abort", "finish"]
