"""The AI SDK's WebSocket chat transport (``/ai/ui/ws``) frame by frame, over a live server:
resume after a sequence, refusals, and the handshake's key and Origin checks."""

from __future__ import annotations

import json
import random
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketUpgradeError, aconnect_ws

from .server_helpers import Serve

pytestmark = pytest.mark.anyio

USER = {"id": "u", "role": "user", "parts": [{"type": "text", "text": "hello there world"}]}


def send(request_id: str, chat_id: str = "chat", **extra: Any) -> str:
    frame = {
        "type": "send",
        "requestId": request_id,
        "id": chat_id,
        "trigger": "submit-message",
        "messageId": None,
        "messages": [USER],
        "headers": {},
        "body": {},
        **extra,
    }
    return json.dumps({k: v for k, v in frame.items() if v is not None})


def resume(request_id: str, chat_id: str, last: int | None = None) -> str:
    frame: dict[str, Any] = {
        "type": "resume",
        "requestId": request_id,
        "id": chat_id,
        "headers": {},
        "body": {},
    }
    if last is not None:
        frame["lastSequence"] = last
    return json.dumps(frame)


async def until(ws: AsyncWebSocketSession, kinds: set[str]) -> list[dict[str, Any]]:
    """Frames up to the first whose type is in ``kinds`` (bounded)."""
    frames: list[dict[str, Any]] = []
    with anyio.fail_after(10):
        for _ in range(10_000):
            frame = json.loads(await ws.receive_text())
            frames.append(frame)
            if frame["type"] in kinds:
                return frames
    raise AssertionError("no end frame")


async def test_resume_with_last_sequence_gives_exactly_the_chunks_after_it(serve: Serve) -> None:
    with serve() as (_, live), anyio.fail_after(15):
        async with httpx.AsyncClient() as client:
            url = f"{live.base_url}/ai/ui/ws"
            async with aconnect_ws(url, client, session_class=AsyncWebSocketSession) as ws:
                await ws.send_text(send("r1"))
                whole = await until(ws, {"end"})
            chunks = [f for f in whole if f["type"] == "chunk"]
            # Any sequence, the middle of an event's chunks (text-start, text-delta) too.
            last = random.randrange(len(chunks))
            async with aconnect_ws(url, client, session_class=AsyncWebSocketSession) as ws:
                await ws.send_text(resume("r2", "chat", last))  # the reply has finished
                rest = await until(ws, {"end", "no-active"})
    assert [f["sequence"] for f in chunks] == list(range(len(chunks)))
    assert rest[0] == {"type": "start", "requestId": "r2"}
    assert rest[-1] == {"type": "end", "requestId": "r2"}
    assert [(f["sequence"], f["chunk"]) for f in rest[1:-1]] == [
        (f["sequence"], f["chunk"]) for f in chunks[last + 1 :]
    ]


@pytest.mark.parametrize(
    ("frame", "reply"),
    [
        (resume("r", "no-such-chat"), {"type": "no-active", "requestId": "r"}),
        (
            send("r", trigger="submit"),
            {"type": "error", "requestId": "r", "code": "invalid_request"},
        ),
        (
            send("r", headers={"a": 1}),
            {"type": "error", "requestId": "r", "code": "invalid_request"},
        ),
        (send("r", messages=[]), {"type": "error", "requestId": "r", "code": "invalid_request"}),
        (resume("r", "c", -1), {"type": "error", "requestId": "r", "code": "invalid_request"}),
        (
            send("r", body={"provider": "nope"}),
            {"type": "error", "requestId": "r", "code": "unknown_provider"},
        ),
    ],
)
async def test_a_refused_request_gets_an_error_or_no_active_and_the_socket_stays(
    serve: Serve, frame: str, reply: dict[str, Any]
) -> None:
    with serve() as (_, live), anyio.fail_after(10):
        async with httpx.AsyncClient() as client:
            url = f"{live.base_url}/ai/ui/ws"
            async with aconnect_ws(url, client, session_class=AsyncWebSocketSession) as ws:
                await ws.send_text("not json")  # no requestId to answer: nothing is sent
                await ws.send_text(json.dumps({"type": "abort", "requestId": "unknown"}))
                await ws.send_text(frame)
                [got] = await until(ws, {"error", "no-active"})
                await ws.send_text(send("ok"))
                after = await until(ws, {"end"})
    assert {k: got[k] for k in reply} == reply
    if got["type"] == "error":
        assert got["errorText"]
    assert after[-1] == {"type": "end", "requestId": "ok"}


async def test_the_handshake_checks_the_key_and_the_origin(serve: Serve) -> None:
    with serve(api_keys=["sekrit"]) as (_, live), anyio.fail_after(10):
        url = f"{live.base_url}/ai/ui/ws"
        async with httpx.AsyncClient() as client:
            with pytest.raises(WebSocketUpgradeError) as no_key:
                async with aconnect_ws(url, client):
                    pass
            auth = {"Authorization": "Bearer sekrit"}
            with pytest.raises(WebSocketUpgradeError) as foreign:
                async with aconnect_ws(
                    url, client, headers={**auth, "Origin": "https://evil.example"}
                ):
                    pass
            ticket = await client.post(f"{live.base_url}/ai/ws-ticket", headers=auth)
            socket = f"{url}?ticket={ticket.json()['ticket']}"
            async with aconnect_ws(socket, client, session_class=AsyncWebSocketSession) as ws:
                await ws.send_text(send("r1"))
                frames = await until(ws, {"end"})
    assert no_key.value.response.status_code == 401
    assert foreign.value.response.status_code == 403
    assert frames[-1] == {"type": "end", "requestId": "r1"}
