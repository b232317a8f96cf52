"""Arbitrary JSON bodies, to every JSON endpoint the OpenAPI schema lists, and arbitrary
WebSocket frames never get a 5xx (or an internal error frame) and never leave a run behind."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Serve

pytestmark = pytest.mark.anyio

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_bodies = _values | st.fixed_dictionaries(
    {},
    optional={
        "action": _values,
        "params": _values,
        "options": _values,
        "model": _values,
        "tool": st.sampled_from(["calculate", "get_time"]) | _values,
        "args": _values,
    },
)


def _json_posts(base_url: str) -> list[str]:
    """The paths of the schema's operations that take a JSON body by POST."""
    schema = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    paths = [
        path
        for path, operations in schema["paths"].items()
        if "application/json"
        in operations.get("post", {}).get("requestBody", {}).get("content", {})
    ]
    assert {"/ai/stream", "/ai/action", "/ai/tool", "/ai/ui/chat", "/v1/chat/completions"} <= set(
        paths
    )
    return paths


def _check(base_url: str, paths: list[str], body: object) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for path in paths:
            response = client.post(path, json=body)
            assert response.status_code < 500, (path, body, response.text)
        # A run's producer may still be ending (its last awaits) when its client has read
        # ``done``: it must be gone soon, not at that instant.
        deadline = time.monotonic() + 10
        for _ in range(1000):
            active = client.get("/health").json()["active_streams"]
            if active == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert active == 0, (body, active)


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
def test_fuzzed_bodies_never_get_a_5xx(serve: Serve) -> None:
    with serve() as (_, live):
        paths = _json_posts(live.base_url)

        @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(_bodies)
        def run(body: object) -> None:
            _check(live.base_url, paths, body)

        run()


_frames = _bodies | st.fixed_dictionaries(
    {"type": st.sampled_from(["action", "cancel", "resume", "hello"]) | st.text()},
    optional={
        "stream_id": _values,
        "last_event_id": _values,
        "resumable": _values,
        "params": _values,
        "options": _values,
    },
)


async def _answers_to(ws: AsyncWebSocketSession, marker: str) -> list[dict[str, Any]]:
    """The frames up to the refusal of the frame of unknown type ``marker`` (sent after
    the fuzzed one), bounded by count."""
    frames: list[dict[str, Any]] = []
    for _ in range(10_000):
        frame = json.loads(await ws.receive_text())
        if frame.get("type") == "error" and marker in str(frame.get("data")):
            return frames
        frames.append(frame)
    raise AssertionError("no answer to the marker frame")


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
def test_fuzzed_websocket_frames_never_get_an_internal_error(
    serve: Serve, anyio_backend: str
) -> None:
    with serve() as (server, live):
        sent: list[object] = []

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(_frames)
        def collect(frame: object) -> None:
            sent.append(frame)

        collect()
        assert len(sent) > 10

        async def drive() -> None:
            async with httpx.AsyncClient() as client:
                with anyio.fail_after(60):
                    async with aconnect_ws(
                        f"{live.base_url}/ai/ws", client, session_class=AsyncWebSocketSession
                    ) as ws:
                        for number, frame in enumerate(sent):
                            marker = f"marker-{number}"
                            await ws.send_text(json.dumps(frame))
                            await ws.send_text(json.dumps({"type": marker}))
                            for answer in await _answers_to(ws, marker):
                                assert answer.get("code") != "internal_error", (frame, answer)
                                assert int(answer.get("status", 200)) < 500, (frame, answer)

        anyio.run(drive, backend=anyio_backend)
        deadline = time.monotonic() + 10  # the socket's runs end once it has closed
        for _ in range(1000):
            if server.hub.active == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert server.hub.active == 0
