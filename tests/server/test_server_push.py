"""A paced token written by the task that appends it (an `EventPush`), as its follower.

On asyncio a follower waiting caught up is handed each paced event by the producer's
append, which writes it at once, running as the follower's task in the follower's context;
a write that has to wait is finished by the follower. These tests watch the writes from an
ASGI middleware, on uvicorn (asyncio: pushed) and Hypercorn (trio: the follower writes).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import sys
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from ainative_server import AINativeServer, ServerConfig, create_server
from ainative_testing import PluginSandbox, live_server

from .server_helpers import parse_sse

pytestmark = pytest.mark.anyio

TOKENS = 12
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


@dataclass
class Write:
    task: object
    request_id: str
    in_append: bool
    body: bytes


@dataclass
class Recorder:
    """Records each body write: its task, the request's context, whether an append made it.

    ``wait``: each body write first yields to the loop (a write that cannot finish at once)
    inside a cancel scope of its own, which must be entered and left by one task.
    """

    app: Any
    wait: bool = False
    started_by: list[object] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/ai/stream":
            await self.app(scope, receive, send)
            return
        REQUEST_ID.set(f"request-{len(self.started_by)}")

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.started_by.append(_current_task())
            elif message.get("body"):
                self.writes.append(
                    Write(_current_task(), REQUEST_ID.get(), _in_append(), message["body"])
                )
                if self.wait:
                    with anyio.CancelScope():
                        await anyio.lowlevel.checkpoint()
                        await send(message)
                    return
            await send(message)

        await self.app(scope, receive, sending)


def _current_task() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None  # not on asyncio


def _in_append() -> bool:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_append" and "_hub" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def _server(plugins: PluginSandbox) -> AINativeServer:
    return create_server(ServerConfig(), plugins=plugins.plugins)


async def _stream(base_url: str, tokens: int = TOKENS, delay: float = 0.01) -> list[str]:
    body = {
        "action": "chat",
        "params": {"message": "x"},
        "options": {"tokens": tokens, "delay": delay},
    }
    with anyio.fail_after(20):
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.post("/ai/stream", json=body)
    assert response.status_code == 200
    return [data for _, data in parse_sse(response.content)]


@pytest.mark.parametrize("wait", [False, True], ids=["writes-at-once", "writes-that-wait"])
async def test_paced_writes_run_as_the_follower_and_lose_nothing(
    server_plugins: PluginSandbox, server_backend: str, wait: bool
) -> None:
    recorder = Recorder(_server(server_plugins).get_app(), wait=wait)
    with live_server(recorder, backend=server_backend) as live:  # type: ignore[arg-type]
        events = await _stream(live.base_url)
    parsed = [json.loads(data) for data in events if data.startswith("{")]
    tokens = [event["data"] for event in parsed if event["type"] == "token"]
    assert tokens == ["t0", *(f" t{i}" for i in range(1, TOKENS))]  # in order, none lost
    assert parsed[-1]["type"] == "done"
    body = b"".join(write.body for write in recorder.writes)
    assert body.count(b'"type":"token"') == TOKENS  # each token written once
    # Every write ran as the task that answers the request, in its context.
    (response_task,) = recorder.started_by
    assert {write.task for write in recorder.writes} == {response_task}
    assert {write.request_id for write in recorder.writes} == {"request-0"}
    pushed = sum(write.in_append for write in recorder.writes)
    if server_backend == "uvicorn":
        # asyncio: most paced tokens are written by their append, not by a woken follower.
        assert pushed >= TOKENS // 2
    else:
        assert pushed == 0  # trio: the follower writes


async def test_a_fast_producer_is_left_to_the_follower_which_coalesces(
    server_plugins: PluginSandbox, server_backend: str
) -> None:
    recorder = Recorder(_server(server_plugins).get_app())
    with live_server(recorder, backend=server_backend) as live:  # type: ignore[arg-type]
        events = await _stream(live.base_url, tokens=2_000, delay=0)
    assert sum('"type":"token"' in data for data in events) == 2_000
    # Tokens that come faster than a push gap go out in the follower's batches.
    assert len(recorder.writes) < 1_000
    assert sum(write.in_append for write in recorder.writes) < 2_000 // 10
