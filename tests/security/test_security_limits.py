"""Each request that could freeze the loop, leak a run or get a 500 is bounded (4xx)."""

from __future__ import annotations

import json
import threading
import time

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from ainative_server import AINativeServer, StreamManager

from .conftest import Serve

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


async def test_the_round_attack_is_refused_before_any_work(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=60) as client:
            with anyio.fail_after(30):
                response = await client.post(
                    "/ai/tool",
                    json={"tool": "calculate", "args": {"expression": "round(1, -3*10**7)"}},
                )
    assert response.status_code == 422
    assert "ndigits" in response.json()["error"]


async def test_a_slow_sync_tool_leaves_the_loop_free_and_times_out(serve: Serve) -> None:
    started = threading.Event()
    stop = threading.Event()

    def spin() -> int:
        """Busy-loop in Python until told to stop (at most 30 s)."""
        started.set()
        deadline = time.monotonic() + 30
        count = 0
        while not stop.is_set() and time.monotonic() < deadline:
            count += 1
        return count

    def setup(server: AINativeServer) -> None:
        server.register_tool(spin)

    try:
        with serve(setup, tool_timeout=1.0) as (_, live):
            async with httpx.AsyncClient(base_url=live.base_url, timeout=60) as client:
                results: list[httpx.Response] = []
                with anyio.fail_after(30):
                    async with anyio.create_task_group() as tg:

                        async def call() -> None:
                            results.append(await client.post("/ai/tool", json={"tool": "spin"}))

                        tg.start_soon(call)
                        await anyio.to_thread.run_sync(started.wait, 10)
                        health = await client.get("/health")
                        assert health.status_code == 200
                        assert not stop.is_set()
    finally:
        stop.set()
    assert results[0].status_code == 504
    assert results[0].json()["code"] == "tool_timeout"


async def test_a_lone_surrogate_is_a_422_and_leaks_no_run(serve: Serve) -> None:
    body = b'{"params": {"message": "hi"}, "model": "\\udc80"}'
    with serve() as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
            response = await client.post("/ai/stream", content=body, headers=JSON)
            assert response.status_code == 422
            assert "surrogate" in response.json()["error"]["message"]
            async with aconnect_ws(
                f"{live.ws_url}/ai/ws", client, session_class=AsyncWebSocketSession
            ) as ws:
                await ws.send_text(body.decode())
                with anyio.fail_after(10):
                    refusal = json.loads(await ws.receive_text())
            assert refusal["status"] == 422
            assert (await client.get("/health")).json()["active_streams"] == 0
        assert server.hub.runs == {}


async def test_ai_action_is_bounded_by_max_events(serve: Serve) -> None:
    with serve(max_events=1_000) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=60) as client:
            with anyio.fail_after(30):
                response = await client.post(
                    "/ai/action", json={"params": {"message": "hi"}, "options": {"tokens": 10**7}}
                )
            assert response.status_code == 507
            assert response.json()["error"]["code"] == "stream_limit_exceeded"
            assert (await client.get("/health")).json()["active_streams"] == 0


def _big(server: AINativeServer) -> None:
    @server.action("big")
    async def big(stream: StreamManager, request: object) -> None:
        for _ in range(600):
            await stream.send_token("x" * 20_000)


async def test_a_replay_is_written_in_bounded_writes(serve: Serve) -> None:
    with serve(_big, max_bytes=64 * 1_048_576, max_batch_bytes=65_536) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=60) as client:
            with anyio.fail_after(60):
                first = await client.post("/ai/stream", json={"action": "big"})
                stream_id = first.headers["x-ainative-stream-id"]
                sizes: list[int] = []
                headers = {"last-event-id": "0"}
                async with client.stream(
                    "GET", f"/ai/stream/{stream_id}", headers=headers
                ) as replay:
                    total = 0
                    async for chunk in replay.aiter_raw():
                        sizes.append(len(chunk))
                        total += len(chunk)
    assert total > 12_000_000
    assert max(sizes) < 200_000


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"params": ' * 1000 + b"{}" + b"}" * 1000,
        b'{"params": {"message": "hi"}, "options": {"tokens": 1e400}}',
        b'{"params": {"message": "hi"}, "options": {"delay": NaN}}',
        b'{"params": {"message": "hi"}, "options": {"delay": Infinity}}',
        b'{"params": {"message": "hi"}, "options": {"tokens": ' + b"9" * 5000 + b"}}",
    ],
)
async def test_hostile_json_is_a_422(serve: Serve, body: bytes) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
            for path in ("/ai/stream", "/ai/action", "/ai/tool"):
                response = await client.post(path, content=body, headers=JSON)
                assert response.status_code == 422, (path, response.text)
            async with aconnect_ws(
                f"{live.ws_url}/ai/ws", client, session_class=AsyncWebSocketSession
            ) as ws:
                await ws.send_text(body.decode())
                with anyio.fail_after(10):
                    refusal = json.loads(await ws.receive_text())
            assert refusal["status"] == 422


async def test_bad_last_event_ids_are_a_422(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
            first = await client.post("/ai/stream", json={"params": {"message": "hi"}})
            stream_id = first.headers["x-ainative-stream-id"]
            for value in ("²", "9" * 5000, "-1", "1.5"):
                response = await client.get(
                    f"/ai/stream/{stream_id}", params={"last_event_id": value}
                )
                assert response.status_code == 422, value
            async with aconnect_ws(
                f"{live.ws_url}/ai/ws", client, session_class=AsyncWebSocketSession
            ) as ws:
                for value in ('"²"', "9" * 5000, '"' + "9" * 5000 + '"'):
                    frame = '{"type":"resume","stream_id":"%s","last_event_id":%s}'
                    await ws.send_text(frame % (stream_id, value))
                    with anyio.fail_after(10):
                        refusal = json.loads(await ws.receive_text())
                        await ws.receive_text()  # its done
                    assert refusal["status"] == 422, value
