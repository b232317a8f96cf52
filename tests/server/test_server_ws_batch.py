"""WebSocket array frames: asked for with ``?batch=1`` or ``hello``, bounded, in order."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from ainative_server._socket import _Outbox

from .server_helpers import Serve
from .test_server_ws import CHAT

pytestmark = pytest.mark.anyio

INSTANT: dict[str, Any] = {**CHAT, "options": {"tokens": 300}}
"""A stream whose events are all logged at once: the hub hands them out in few batches."""
HELLO = json.dumps({"type": "hello", "batch": True})


async def receive_raw(ws: AsyncWebSocketSession) -> Any:
    return json.loads(await ws.receive_text())


async def frames_until_done(ws: AsyncWebSocketSession) -> list[Any]:
    """Raw decoded frames (objects or arrays) until one carries a ``done`` (bounded)."""
    frames: list[Any] = []
    for _ in range(10_000):
        frame = await receive_raw(ws)
        frames.append(frame)
        events = frame if isinstance(frame, list) else [frame]
        if any(event["type"] == "done" for event in events):
            return frames
    raise AssertionError("no done frame")


def events_of(frames: list[Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for frame in frames:
        events.extend(frame if isinstance(frame, list) else [frame])
    return events


def expected_text(tokens: int) -> str:
    return " ".join(f"t{i}" for i in range(tokens))


async def test_a_client_that_does_not_ask_gets_one_object_per_frame(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_text(json.dumps(INSTANT))
                    frames = await frames_until_done(ws)
    assert all(isinstance(frame, dict) for frame in frames)
    assert len(frames) == 300 + 2  # metadata, the tokens, done


@pytest.mark.parametrize("ask", ["hello", "url"])
async def test_a_client_that_asks_gets_arrays_of_the_events_in_order(
    serve: Serve, ask: str
) -> None:
    query = "?batch=1" if ask == "url" else ""
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws{query}", client, session_class=AsyncWebSocketSession
                ) as ws:
                    if ask == "hello":
                        await ws.send_text(HELLO)
                    await ws.send_text(json.dumps(INSTANT))
                    frames = await frames_until_done(ws)
    assert any(isinstance(frame, list) for frame in frames)
    assert all(len(frame) >= 2 for frame in frames if isinstance(frame, list))
    events = events_of(frames)
    sid = events[0]["stream_id"]
    assert [e["id"] for e in events] == list(range(1, 300 + 3))
    assert {e["stream_id"] for e in events} == {sid}
    assert "".join(e["data"] for e in events if e["type"] == "token") == expected_text(300)
    assert events[-1]["data"]["finish_reason"] == "stop"


async def test_a_long_replay_comes_in_several_bounded_arrays(serve: Serve) -> None:
    budget = 4096
    tokens = 1000
    with serve(max_batch_bytes=budget) as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(15):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_text(json.dumps({**CHAT, "options": {"tokens": tokens}}))
                    first = await frames_until_done(ws)
                    sid = first[0]["stream_id"]
                    # The finished stream's whole log again, on a socket that asks.
                    await ws.send_text(HELLO)
                    await ws.send_text(json.dumps({"type": "resume", "stream_id": sid}))
                    texts = []
                    for _ in range(10_000):
                        text = await ws.receive_text()
                        texts.append(text)
                        if '"type":"done"' in text:
                            break
    frames = [json.loads(text) for text in texts]
    events = events_of(frames)
    assert [e["id"] for e in events] == list(range(1, tokens + 3))
    assert "".join(e["data"] for e in events if e["type"] == "token") == expected_text(tokens)
    arrays = [text for text, frame in zip(texts, frames, strict=True) if isinstance(frame, list)]
    longest_event = max(len(json.dumps(e, separators=(",", ":"))) for e in events)
    assert len(arrays) >= 5  # about 30 kB of events in arrays of 4 kB
    assert all(len(text.encode()) <= budget + longest_event for text in arrays)


@pytest.mark.parametrize("value", ['"yes"', "1", "null"])
async def test_a_bad_batch_value_is_refused_and_the_socket_stays_open(
    serve: Serve, value: str
) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_text('{"type": "hello", "batch": ' + value + "}")
                    error = await receive_raw(ws)
                    closing = await receive_raw(ws)
                    await ws.send_text(json.dumps(INSTANT))
                    after = await frames_until_done(ws)
    assert error["type"] == "error"
    assert error["code"] == "invalid_request"
    assert "batch" in error["data"]
    assert closing == {"type": "done", "data": {"finish_reason": "error"}}
    # Refused: the socket keeps the default, one object per frame.
    assert all(isinstance(frame, dict) for frame in after)
    assert len(after) == 300 + 2


async def test_several_streams_on_one_batched_socket_arrive_whole_in_order(
    serve: Serve,
) -> None:
    # Ten instant streams on one socket: arrays of their events, each stream's in id
    # order, nothing lost or repeated.
    streams, tokens = 10, 300
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(20):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_text(HELLO)
                    for _ in range(streams):
                        await ws.send_text(json.dumps(INSTANT))
                    frames: list[Any] = []
                    ended = 0
                    for _ in range(streams * (tokens + 2)):
                        frame = await receive_raw(ws)
                        frames.append(frame)
                        ended += sum(e["type"] == "done" for e in events_of([frame]))
                        if ended == streams:
                            break
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for event in events_of(frames):
        by_stream.setdefault(event["stream_id"], []).append(event)
    assert len(by_stream) == streams
    for events in by_stream.values():
        assert [e["id"] for e in events] == list(range(1, tokens + 3))
        text = "".join(e["data"] for e in events if e["type"] == "token")
        assert text == expected_text(tokens)
    assert any(isinstance(frame, list) for frame in frames)


def test_an_array_holds_the_waiting_frames_of_every_stream_urgent_first() -> None:
    # What a socket that is behind has waiting, of several streams, goes out as one
    # array up to the budget (plus at most one frame); a withdrawn stream's frames not.
    outbox = _Outbox(1_000)
    outbox.put(['{"n":1,"stream_id":"a"}', '{"n":2,"stream_id":"a"}'], "a")
    outbox.put(['{"n":1,"stream_id":"b"}'], "b")
    outbox.put(['{"n":1,"stream_id":"c"}'], "c")
    outbox.put_urgent(['{"type":"done","stream_id":"d"}'])
    outbox.drop("c")
    message = json.loads(outbox.take(1_000))
    assert [(e.get("n"), e["stream_id"]) for e in message] == [
        (None, "d"),
        (1, "a"),
        (2, "a"),
        (1, "b"),
    ]
    assert len(outbox) == 0
    assert outbox.bytes == 0
    outbox.put(['{"x":"' + "y" * 600 + '"}'] * 3, "a")
    first = outbox.take(1_000)
    assert len(json.loads(first)) == 2  # an array, over the budget by one frame
    assert json.loads(outbox.take(1_000))["x"]  # the last one alone: a plain object
    assert len(outbox) == 0
