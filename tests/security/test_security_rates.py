"""Request rates: per client for requests that start work, per WebSocket for its frames."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, WebSocketUpgradeError, aconnect_ws

from ainative_server._ratelimit import RateLimiter

from .conftest import Serve

pytestmark = pytest.mark.anyio

CHAT = {"action": "chat", "params": {"message": "hi"}}


async def receive_all(ws: AsyncWebSocketSession) -> None:
    for _ in range(20):
        await ws.receive_text()


async def test_requests_over_the_rate_are_429_with_retry_after_then_recover(
    secure_serve: Serve,
) -> None:
    with secure_serve(api_keys=["alice", "bob"], rate_limit=4, rate_burst=2) as (_, live):
        alice = {"Authorization": "Bearer alice"}
        async with httpx.AsyncClient(base_url=live.base_url, headers=alice) as http:
            with anyio.fail_after(20):
                allowed = [(await http.post("/ai/action", json=CHAT)).status_code for _ in "ab"]
                refused = await http.post("/ai/stream", json=CHAT)
                with pytest.raises(WebSocketUpgradeError) as upgrade:
                    async with aconnect_ws(f"{live.base_url}/ai/ws", http):
                        pass
                free = [  # not work: listings, health, cancels
                    (await http.get("/ai/tools")).status_code,
                    (await http.get("/health")).status_code,
                    (await http.delete("/ai/stream/s_unknown")).status_code,
                ]
                other = await http.post(
                    "/ai/action", json=CHAT, headers={"Authorization": "Bearer bob"}
                )
                await anyio.sleep(refused.json()["error"]["retry_after"])
                again = await http.post("/ai/action", json=CHAT)
    assert allowed == [200, 200]
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["retryable"]) == ("rate_limited", True)
    assert 0 < error["retry_after"] <= 0.25 + 1e-6  # a token comes every 1/4 s
    assert refused.headers["Retry-After"] == "1"
    denied = upgrade.value.response
    assert (denied.status_code, denied.headers["X-AINative-Error-Code"]) == (429, "rate_limited")
    assert free == [200, 200, 404]
    assert other.status_code == 200  # each key has its own bucket
    assert again.status_code == 200


async def test_websocket_frames_over_the_rate_are_refused_then_a_flood_closes(
    secure_serve: Serve,
) -> None:
    hello = json.dumps({"type": "hello", "resumable": False})
    with secure_serve(ws_message_rate=2, ws_message_burst=2) as (_, live):
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(20):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", http, session_class=AsyncWebSocketSession
                ) as ws:
                    for _ in range(2):
                        await ws.send_text(hello)  # accepted: no answer
                    await ws.send_text(json.dumps(CHAT))
                    refusal = [json.loads(await ws.receive_text()) for _ in range(2)]
                    await anyio.sleep(refusal[0]["retry_after"])
                    await ws.send_text(json.dumps(CHAT))  # the socket still works
                    answer = [json.loads(await ws.receive_text())]
                    while answer[-1]["type"] != "done":
                        answer.append(json.loads(await ws.receive_text()))
                    for _ in range(5):  # the third refused in a row closes the socket
                        await ws.send_text(hello)
                    with pytest.raises(WebSocketDisconnect) as closed:
                        await receive_all(ws)
                async with aconnect_ws(  # the AI SDK's socket: its own bucket, its error frame
                    f"{live.base_url}/ai/ui/ws", http, session_class=AsyncWebSocketSession
                ) as chat:
                    for n in range(3):
                        await chat.send_text(json.dumps({"type": "abort", "requestId": f"r{n}"}))
                    chat_refusal = json.loads(await chat.receive_text())
    error, done = refusal
    assert "id" not in error
    assert (error["type"], error["code"], error["status"]) == ("error", "rate_limited", 429)
    assert done["data"]["finish_reason"] == "error"
    assert "".join(e["data"] for e in answer if e["type"] == "token") == "hi"
    assert closed.value.code == 1008
    assert (chat_refusal["type"], chat_refusal["requestId"]) == ("error", "r2")
    assert chat_refusal["code"] == "rate_limited"


def test_the_bucket_table_drops_refilled_and_least_recent_clients() -> None:
    limiter = RateLimiter(rate=10, burst=5, max_clients=3)  # refilled after 0.5 s
    for client in ("a", "b", "c"):
        assert limiter.take(client, now=0.0) == 0.0
    assert limiter.take("d", now=0.1) == 0.0  # over max_clients: "a", the least recent, goes
    assert len(limiter) == 3
    for _ in range(4):
        limiter.take("d", now=0.1)
    assert limiter.take("d", now=0.1) == pytest.approx(0.1)  # empty: a token in 1/10 s
    assert limiter.take("b", now=0.2) == 0.0
    assert limiter.take("e", now=0.65) == 0.0  # "c" and "d" have refilled: dropped
    assert len(limiter) == 2
    assert limiter.take("b", now=0.65) == 0.0  # "b" kept its bucket (4 tokens left)
