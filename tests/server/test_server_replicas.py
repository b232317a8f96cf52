"""Several server processes on one Redis: any of them resumes, follows and cancels any
stream; a stream whose producing process is killed ends with ``producer_lost``.

Two ``ainative serve`` processes (uvicorn on asyncio and Hypercorn on trio) share the
session's ``redis-server``; a client reaches them through a TCP proxy standing in for a load
balancer without sticky sessions.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

import ainative_client._plugin as client_plugin
from ainative_client import StreamConfig, StreamingEngine
from ainative_core import RESUMABLE_HEADER, BusEvent, EventBus
from ainative_testing import PluginSandbox, RedisServer, TCPProxy, serve_process

from .server_helpers import EventReader

# These clients resume: they say so, as ainative's own clients do.
RESUMING = {RESUMABLE_HEADER: "1"}

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LEASE = 1.5
"""The replicas' lease: a killed producer's followers learn it within about 2 s."""
TOKENS = 200
EXPECTED = "t0" + "".join(f" t{i}" for i in range(1, TOKENS))
CHAT: dict[str, Any] = {"action": "chat", "params": {"message": "x"}}


def _env(redis: RedisServer) -> dict[str, str | None]:
    return {"AINATIVE_STORE": redis.url, "AINATIVE_LEASE_TIMEOUT": str(LEASE)}


@pytest.fixture(scope="module")
def replicas(redis_service: RedisServer) -> Iterator[tuple[str, str]]:
    """The base URLs of replica A (uvicorn, asyncio) and B (Hypercorn, trio)."""
    env = _env(redis_service)
    with (
        serve_process(env=env) as a,
        serve_process("--backend", "trio", env=env) as b,
    ):
        yield a, b


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


@pytest.fixture(autouse=True)
def _client_plugins(ainative_plugins: PluginSandbox) -> None:
    ainative_plugins.add_plugin(client_plugin, "client")


@pytest.mark.parametrize("method", ["SSE", "WS"])
async def test_a_client_cut_from_one_replica_resumes_on_another(
    replicas: tuple[str, str], method: str
) -> None:
    a, b = replicas
    bus = EventBus(history_size=5000)
    tokens: list[str] = []
    request = {**CHAT, "options": {"tokens": TOKENS, "delay": 0.005}}
    with anyio.fail_after(30):
        async with TCPProxy(_port(a)) as balancer:

            def move_to_b(event: BusEvent) -> None:
                if "token" not in event.payload:
                    return
                tokens.append(event.payload["token"])
                if len(tokens) == 20:
                    balancer.target_port = _port(b)  # the next connection goes to B
                    balancer.cut()

            bus.on("stream-data", move_to_b)
            config = StreamConfig(
                f"{balancer.url}/ai/stream",
                method=method,
                reconnect_delay=0.01,
                max_reconnect_attempts=5,
            )
            result = await StreamingEngine(bus).start(config, request)
    assert result.reason == "complete", result.error
    assert "".join(tokens) == EXPECTED  # nothing lost, nothing repeated
    assert result.reconnects >= 1
    assert balancer.cuts >= 1
    ids = [e.payload["id"] for e in bus.history if e.type == "stream-data"]
    assert ids == list(range(1, len(ids) + 1))


async def _start_on(base: str, client: httpx.AsyncClient) -> tuple[str, EventReader, Any]:
    """POST a long stream on ``base``; its id, a reader of its events, the response cm."""
    request = {**CHAT, "options": {"tokens": 5000, "delay": 0.01}}
    cm = client.stream("POST", f"{base}/ai/stream", json=request)
    response = await cm.__aenter__()
    return response.headers["x-ainative-stream-id"], EventReader(response), cm


@pytest.mark.parametrize("how", ["DELETE", "ws-cancel-frame"])
async def test_a_cancel_on_one_replica_stops_the_provider_on_another(
    replicas: tuple[str, str], how: str
) -> None:
    a, b = replicas
    async with httpx.AsyncClient(timeout=10, headers=RESUMING) as client:
        with anyio.fail_after(20):
            sid, reader, cm = await _start_on(a, client)
            try:
                await reader.read(5)
                if how == "DELETE":
                    response = await client.delete(f"{b}/ai/stream/{sid}")
                    assert response.json() == {"stream_id": sid, "cancelled": True}
                else:
                    url = f"{b.replace('http', 'ws')}/ai/ws"
                    ws: AsyncWebSocketSession
                    async with aconnect_ws(url, client) as ws:
                        await ws.send_text(json.dumps({"type": "cancel", "stream_id": sid}))
                        events = await reader.read()  # ends once A has cancelled it
                events = await reader.read()
            finally:
                await cm.__aexit__(None, None, None)
            health = (await client.get(f"{a}/health")).json()
    last = json.loads(events[-2][1])
    assert last == {"type": "done", "data": {"finish_reason": "cancelled"}}
    assert events[-1][1] == "[DONE]"
    assert len(events) < 1000  # the provider stopped long before its 5,000 tokens
    assert health["active_streams"] == 0


@contextmanager
def _own_replica(redis: RedisServer) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """An ``ainative serve`` this test starts itself, to kill it by its pid."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AINATIVE_", "PYTEST_"))}
    env.update({k: v for k, v in _env(redis).items() if v is not None})
    script = Path(sys.executable).parent / "ainative"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [str(script), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 30
            for _ in range(3000):
                try:
                    with opener.open(base + "/health", timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        stderr.seek(0)
                        raise RuntimeError(stderr.read().decode(errors="replace")) from None
                    time.sleep(0.05)
            yield base, proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


async def test_killing_the_producing_replica_ends_followers_elsewhere_with_producer_lost(
    replicas: tuple[str, str], redis_service: RedisServer
) -> None:
    _, b = replicas
    with _own_replica(redis_service) as (doomed, proc):
        async with httpx.AsyncClient(timeout=20, headers=RESUMING) as client:
            request = {**CHAT, "options": {"tokens": 5000, "delay": 0.01}}
            async with client.stream("POST", f"{doomed}/ai/stream", json=request) as started:
                sid = started.headers["x-ainative-stream-id"]  # then this client leaves
            with anyio.fail_after(20):
                async with client.stream(
                    "GET", f"{b}/ai/stream/{sid}", headers={"Last-Event-ID": "1"}
                ) as response:
                    follower = EventReader(response)
                    await follower.read(3)
                    os.kill(proc.pid, signal.SIGKILL)  # a process this test started
                    proc.wait(10)
                    events = await follower.read()
    error, done, sentinel = events[-3:]
    assert json.loads(error[1]) == {
        "type": "error",
        "data": "the server process producing this stream stopped",
        "code": "producer_lost",
        "retryable": True,
    }
    assert json.loads(done[1]) == {"type": "done", "data": {"finish_reason": "error"}}
    assert sentinel[1] == "[DONE]"
    ids = [int(event_id) for event_id, _ in events[:-1]]
    assert ids == list(range(2, len(ids) + 2))
