"""WebSocket transport over a real loopback server: frames, multiplexing, cancel, resume."""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketUpgradeError, aconnect_ws

from ainative_core import BaseProvider, GenerateRequest, ProviderRateLimited, StreamEvent
from ainative_testing import FakeProvider, PluginSandbox

from .server_helpers import Serve, wait_until

pytestmark = pytest.mark.anyio

CHAT: dict[str, Any] = {"action": "chat", "params": {"message": "hello world"}}


async def receive_events(ws: AsyncWebSocketSession) -> list[dict[str, Any]]:
    """The events of one frame: an object, or an array of them."""
    frame = json.loads(await ws.receive_text())
    return frame if isinstance(frame, list) else [frame]


async def receive(ws: AsyncWebSocketSession) -> dict[str, Any]:
    frame = json.loads(await ws.receive_text())
    assert isinstance(frame, dict)
    return frame


async def until_done(ws: AsyncWebSocketSession, count: int = 1) -> list[dict[str, Any]]:
    """Frames until ``count`` ``done`` frames have arrived (bounded)."""
    frames: list[dict[str, Any]] = []
    for _ in range(10_000):
        frame = await receive(ws)
        frames.append(frame)
        if frame["type"] == "done":
            count -= 1
            if count == 0:
                return frames
    raise AssertionError("no done frame")


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f["data"] for f in frames if f["type"] == "token")


async def test_an_action_frame_starts_a_stream_with_the_sse_events(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_text(json.dumps(CHAT))
                    frames = await until_done(ws)
    sid = frames[0]["stream_id"]
    usage = {"input_tokens": 2, "output_tokens": 2}
    assert frames == [
        {
            "type": "metadata",
            "data": {"stream_id": sid, "provider": "echo", "model": "echo"},
            "id": 1,
            "stream_id": sid,
        },
        {"type": "token", "data": "hello", "id": 2, "stream_id": sid},
        {"type": "token", "data": " world", "id": 3, "stream_id": sid},
        {
            "type": "done",
            "data": {"finish_reason": "stop", "usage": usage},
            "id": 4,
            "stream_id": sid,
        },
    ]


async def test_several_streams_share_one_socket(serve: Serve) -> None:
    messages = [f"stream {n} says " + " ".join(f"w{n}{i}" for i in range(15)) for n in range(3)]
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(15):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    for message in messages:
                        body = {**CHAT, "params": {"message": message}, "options": {"delay": 0.01}}
                        await ws.send_text(json.dumps(body))
                    frames = await until_done(ws, count=3)
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for frame in frames:
        by_stream.setdefault(frame["stream_id"], []).append(frame)
    assert len(by_stream) == 3
    assert sorted(text_of(f) for f in by_stream.values()) == sorted(messages)
    for stream_frames in by_stream.values():
        assert [f["id"] for f in stream_frames] == list(range(1, len(stream_frames) + 1))
    # They ran at the same time: the frames of different streams interleave.
    order = [f["stream_id"] for f in frames]
    assert order != sorted(order, key=order.index)


async def test_cancel_frame_stops_the_provider(serve: Serve, server_plugins: PluginSandbox) -> None:
    fake = FakeProvider([f"w{i} " for i in range(1000)], delay=0.02)
    server_plugins.add_provider("fake", fake)
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_text(json.dumps({**CHAT, "provider": "fake"}))
                    first = [await receive(ws), await receive(ws)]
                    sid = first[0]["stream_id"]
                    await ws.send_text(json.dumps({"type": "cancel", "stream_id": sid}))
                    frames = first + await until_done(ws)
    assert frames[-1]["data"]["finish_reason"] == "cancelled"
    await wait_until(fake.closed.is_set)
    assert fake.cancelled.is_set()


class _Backlog(BaseProvider):
    """Logs ``count`` tokens of ``size`` characters at once, then waits to be cancelled;
    ``logged`` counts the streams that have logged theirs."""

    name = "backlog"

    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.token = "x" * (size - 1) + " "
        self.logged = 0
        self._lock = threading.Lock()

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        return self._run()

    async def _run(self) -> AsyncIterator[StreamEvent]:
        for _ in range(self.count):
            yield StreamEvent.text_delta(self.token)
        with self._lock:
            self.logged += 1
        await anyio.sleep_forever()
        yield StreamEvent.finish("stop")  # pragma: no cover


@pytest.mark.parametrize("query", ["", "?batch=1"], ids=["objects", "arrays"])
async def test_a_cancelled_stream_gets_its_done_before_the_frames_the_socket_has_waiting(
    serve: Serve, server_plugins: PluginSandbox, query: str
) -> None:
    # Two streams log 4,000 frames of 4 kB each (16 MB apiece) while the client reads
    # nothing: the socket falls far behind (the kernel's buffers hold at most about 4 MB).
    # Cancelling one then ends it next: its done comes before its own backlog and before
    # the other stream's (with array frames: first in the next one).
    backlog = _Backlog(4_000, 4_000)
    server_plugins.add_provider("backlog", backlog)
    small = 65_536
    transport = httpx.AsyncHTTPTransport(
        socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, small)]
    )
    done: dict[str, Any] | None = None
    with serve() as (_, live):
        async with httpx.AsyncClient(transport=transport) as client:
            with anyio.fail_after(30):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws{query}",
                    client,
                    session_class=AsyncWebSocketSession,
                    queue_size=4,
                    max_message_size_bytes=1 << 20,
                ) as ws:
                    body = json.dumps({**CHAT, "provider": "backlog"})
                    await ws.send_text(body)
                    target = (await receive_events(ws))[0]["stream_id"]
                    await ws.send_text(body)
                    await wait_until(lambda: backlog.logged == 2)
                    await ws.send_text(json.dumps({"type": "cancel", "stream_id": target}))
                    after: list[dict[str, Any]] = []
                    for _ in range(2 * backlog.count + 10):
                        for event in await receive_events(ws):
                            if event["stream_id"] == target and event["type"] == "done":
                                done = event
                                break
                            after.append(event)
                        if done is not None:
                            break
                    else:
                        raise AssertionError("no done frame")
    assert done is not None
    assert done["data"]["finish_reason"] == "cancelled"
    assert done["id"] == backlog.count + 2  # after the metadata and every token
    own = [f for f in after if f["stream_id"] == target]
    # Only what was already on its way, far from the 4,000 waiting.
    assert len(own) < backlog.count // 2
    assert len(after) < backlog.count // 2


async def test_resume_after_a_dropped_socket_loses_and_repeats_nothing(serve: Serve) -> None:
    expected = "".join(f"t{i}" if i == 0 else f" t{i}" for i in range(60))
    body = {**CHAT, "options": {"tokens": 60, "delay": 0.01}}
    drop_after = random.randint(1, 40)
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(15):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws?resumable=1",  # else the drop cancels the stream
                    client,
                    session_class=AsyncWebSocketSession,
                ) as ws:
                    await ws.send_text(json.dumps(body))
                    first = [await receive(ws) for _ in range(drop_after)]
                sid = first[0]["stream_id"]
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    resume = {"type": "resume", "stream_id": sid, "last_event_id": first[-1]["id"]}
                    await ws.send_text(json.dumps(resume))
                    rest = await until_done(ws)
    frames = first + rest
    assert [f["id"] for f in frames] == list(range(1, len(frames) + 1))
    assert text_of(frames) == expected
    assert frames[-1]["data"]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("frame", "code", "names"),
    [
        ("not json", "invalid_request", "not valid JSON"),
        ("[1, 2]", "invalid_request", "JSON object"),
        ('{"type": "bogus"}', "invalid_request", "bogus"),
        ('{"action": "chat", "params": {}}', "invalid_request", "params.message"),
        ('{"action": "chat", "params": 3}', "invalid_request", "params"),
        ('{"type": "cancel"}', "invalid_request", "stream_id"),
        (
            '{"type": "resume", "stream_id": "s_x", "last_event_id": -1}',
            "invalid_request",
            "last_event_id",
        ),
        ('{"type": "resume", "stream_id": "s_nope"}', "stream_not_found", "s_nope"),
        ('{"type": "cancel", "stream_id": "s_nope"}', "stream_not_found", "s_nope"),
        ('{"type": "hello", "resumable": "yes"}', "invalid_request", "resumable"),
        (
            '{"action": "chat", "provider": "nope", "params": {"message": "x"}}',
            "unknown_provider",
            "echo",
        ),
    ],
)
async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(
    serve: Serve, frame: str, code: str, names: str
) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_text(frame)
                    error = await receive(ws)
                    closing = await receive(ws)
                    await ws.send_text(json.dumps(CHAT))
                    after = await until_done(ws)
    assert error["type"] == "error"
    assert error["code"] == code
    assert names in error["data"]
    assert "id" not in error
    # The refusal ends with an id-less done: what the seed's client waits for.
    named = {"stream_id": error["stream_id"]} if "stream_id" in error else {}
    assert closing == {"type": "done", "data": {"finish_reason": "error"}, **named}
    assert text_of(after) == "hello world"


async def test_websocket_auth_by_header_or_query_token(serve: Serve) -> None:
    with serve(api_keys=["sekrit"], ws_query_token=True) as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                with pytest.raises(WebSocketUpgradeError):
                    async with aconnect_ws(f"{live.base_url}/ai/ws", client):
                        pass
                for url, headers in (
                    (f"{live.base_url}/ai/ws", {"Authorization": "Bearer sekrit"}),
                    (f"{live.base_url}/ai/ws?access_token=sekrit", {}),
                ):
                    async with aconnect_ws(
                        url, client, session_class=AsyncWebSocketSession, headers=headers
                    ) as ws:
                        await ws.send_text(json.dumps(CHAT))
                        assert text_of(await until_done(ws)) == "hello world"


async def test_a_binary_frame_is_read_as_utf8_text(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_bytes(json.dumps(CHAT).encode())
                    assert text_of(await until_done(ws)) == "hello world"
                    await ws.send_bytes(b"\xff\xfe")
                    error = await receive(ws)
    assert error["code"] == "invalid_request"


async def test_provider_failure_before_the_first_token_is_a_refusal_like_sses_status(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    server_plugins.add_provider(
        "fake", FakeProvider(fail_before=ProviderRateLimited("later", retry_after=3))
    )
    with serve() as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    await ws.send_text(json.dumps({**CHAT, "provider": "fake"}))
                    frames = await until_done(ws)
    # No stream started: the fields of SSE's 429 body, in an id-less error, then done.
    assert frames == [
        {
            "type": "error",
            "data": "later",
            "code": "provider_rate_limited",
            "retryable": True,
            "retry_after": 3,
            "status": 429,
        },
        {"type": "done", "data": {"finish_reason": "error"}},
    ]
