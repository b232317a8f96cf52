"""Stream ownership across replicas on one Redis: a stream belongs to the key that started
it on whichever replica; another key gets 404 on resume and cancel from any replica."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from ainative_core import RESUMABLE_HEADER
from ainative_testing import RedisServer

from .server_helpers import EventReader, Serve

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LONG: dict[str, Any] = {
    "action": "chat",
    "params": {"message": "x"},
    "options": {"tokens": 5000, "delay": 0.01},
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def ws_error_then_done(ws: AsyncWebSocketSession) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    for _ in range(10_000):
        frames.append(json.loads(await ws.receive_text()))
        if frames[-1]["type"] == "done":
            return frames
    raise AssertionError("no done frame")


async def test_a_stream_belongs_to_its_key_on_every_replica(
    serve: Serve, redis_service: RedisServer
) -> None:
    settings = {"store": redis_service.url, "api_keys": ["alice", "bob"]}
    with serve(**settings) as (_, replica1), serve(**settings) as (_, replica2):
        async with httpx.AsyncClient(timeout=10) as http:
            with anyio.fail_after(20):
                headers = {**bearer("alice"), RESUMABLE_HEADER: "1"}
                async with http.stream(
                    "POST", f"{replica1.base_url}/ai/stream", json=LONG, headers=headers
                ) as response:
                    assert response.status_code == 200
                    sid = response.headers["X-AINative-Stream-Id"]
                other = f"{replica2.base_url}/ai/stream/{sid}"
                resume = await http.get(other, headers=bearer("bob"))
                cancel = await http.delete(other, headers=bearer("bob"))
                async with aconnect_ws(
                    f"{replica2.base_url}/ai/ws",
                    http,
                    session_class=AsyncWebSocketSession,
                    headers=bearer("bob"),
                ) as ws:
                    await ws.send_text(json.dumps({"type": "resume", "stream_id": sid}))
                    ws_resume = await ws_error_then_done(ws)
                    await ws.send_text(json.dumps({"type": "cancel", "stream_id": sid}))
                    ws_cancel = await ws_error_then_done(ws)
                # resumable: its leaving must not cancel the run before the DELETE below
                headers = {**bearer("alice"), "Last-Event-ID": "1", RESUMABLE_HEADER: "1"}
                async with http.stream("GET", other, headers=headers) as mine:
                    reader = EventReader(mine)
                    events = await reader.read(1)
                    await reader.leave(mine)
                cancelled = await http.delete(other, headers=bearer("alice"))
    for answer in (resume, cancel):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "stream_not_found"
    assert ws_resume[0]["code"] == "stream_not_found"
    assert ws_cancel[0]["code"] == "stream_not_found"
    assert mine.status_code == 200
    assert events[0][0] == "2"  # alice resumes her stream on replica 2, after event 1
    assert cancelled.json() == {"stream_id": sid, "cancelled": True}
