"""Caps: concurrent runs per server and per client, followers per stream."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from .conftest import Serve

pytestmark = pytest.mark.anyio

LONG = {"action": "chat", "params": {"message": "x"}, "options": {"tokens": 2000, "delay": 0.02}}
RESUMABLE = {"X-AINative-Resumable": "1"}


async def start_stream(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> str:
    """Start a long stream and leave it running (the client says it resumes)."""
    merged = {**RESUMABLE, **(headers or {})}
    async with http.stream("POST", "/ai/stream", json=LONG, headers=merged) as response:
        assert response.status_code == 200
        return response.headers["X-AINative-Stream-Id"]


async def test_runs_over_the_server_cap_are_503_and_per_client_429(secure_serve: Serve) -> None:
    with secure_serve(max_runs=2, api_keys=["alice", "bob"], max_runs_per_client=1) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            with anyio.fail_after(20):
                alice = {"Authorization": "Bearer alice"}
                bob = {"Authorization": "Bearer bob"}
                first = await start_stream(http, alice)
                per_client = await http.post("/ai/stream", json=LONG, headers=alice)
                second = await start_stream(http, bob)
                server = await http.post("/ai/action", json=LONG, headers=bob)
                async with (
                    httpx.AsyncClient() as ws_http,
                    aconnect_ws(
                        f"{live.base_url}/ai/ws",
                        ws_http,
                        session_class=AsyncWebSocketSession,
                        headers=dict(bob),  # aconnect_ws adds its upgrade headers to it
                    ) as ws,
                ):
                    await ws.send_text(json.dumps(LONG))
                    refusal = json.loads(await ws.receive_text())
                for sid, key in ((first, alice), (second, bob)):
                    await http.delete(f"/ai/stream/{sid}", headers=key)
                for _ in range(200):  # the cancelled runs end
                    health = await http.get("/health", headers=bob)
                    if health.json()["active_streams"] == 0:
                        break
                    await anyio.sleep(0.02)
                again = await http.post("/ai/action", json={**LONG, "options": {}}, headers=bob)
    assert per_client.status_code == 429
    assert per_client.json()["error"]["code"] == "too_many_streams"
    assert per_client.headers["Retry-After"] == "1"
    assert server.status_code == 503
    assert server.json()["error"]["code"] == "server_busy"
    assert server.headers["Retry-After"] == "1"
    assert "id" not in refusal
    assert (refusal["type"], refusal["code"], refusal["status"]) == ("error", "server_busy", 503)
    assert again.status_code == 200  # ended runs free their places


async def test_clients_without_keys_are_counted_by_address(secure_serve: Serve) -> None:
    with secure_serve(max_runs_per_client=1) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            with anyio.fail_after(20):
                sid = await start_stream(http)
                refused = await http.post("/ai/stream", json=LONG)
                await http.delete(f"/ai/stream/{sid}")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_streams"


async def test_followers_over_the_cap_are_429(secure_serve: Serve) -> None:
    with secure_serve(max_followers=1) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url, headers=RESUMABLE) as http:
            with anyio.fail_after(20):
                sid = await start_stream(http)
                async with http.stream("GET", f"/ai/stream/{sid}") as following:
                    assert following.status_code == 200
                    refused = await http.get(f"/ai/stream/{sid}")
                await http.delete(f"/ai/stream/{sid}")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_followers"
    assert refused.headers["Retry-After"] == "1"


async def _frame_of(ws: AsyncWebSocketSession, kind: str) -> dict[str, object]:
    """The next frame of type ``kind`` (others are skipped), bounded by count."""
    for _ in range(10_000):
        frame = json.loads(await ws.receive_text())
        if frame.get("type") == kind:
            return frame  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} frame")


async def test_streams_over_the_per_socket_cap_are_refused_and_the_socket_stays(
    secure_serve: Serve,
) -> None:
    with secure_serve(max_streams_per_socket=2) as (_, live):
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(20):
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                ) as ws:
                    for _ in range(2):
                        await ws.send_text(json.dumps(LONG))
                    started = [str((await _frame_of(ws, "metadata"))["stream_id"])]
                    started.append(str((await _frame_of(ws, "metadata"))["stream_id"]))
                    await ws.send_text(json.dumps(LONG))
                    refused = await _frame_of(ws, "error")
                    # one ends (cancelled): there is room again, on the same socket
                    await ws.send_text(json.dumps({"type": "cancel", "stream_id": started[0]}))
                    for _ in range(100):
                        done = await _frame_of(ws, "done")
                        if done.get("stream_id") == started[0]:
                            break
                    await ws.send_text(json.dumps(LONG))
                    third = await _frame_of(ws, "metadata")
                    for sid in (started[1], third["stream_id"]):
                        await ws.send_text(json.dumps({"type": "cancel", "stream_id": sid}))
    assert "stream_id" not in refused
    assert refused["code"] == "too_many_streams"
    assert refused["status"] == 429
    assert third["stream_id"] not in started
