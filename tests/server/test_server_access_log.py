"""The server's log: one ``ainative.access`` line per request and per WebSocket, and a
failing provider's traceback logged once."""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketSession, WebSocketUpgradeError, connect_ws

from ainative_server._access_log import ACCESS_LOGGER
from ainative_testing import FakeProvider, PluginSandbox

from .server_helpers import Serve

SCRIPT = Path(sys.executable).with_name("ainative")
CHAT: dict[str, Any] = {"action": "chat", "params": {"message": "hello access log"}}


def access_records(
    caplog: pytest.LogCaptureFixture, count: int, done: Callable[[], bool] = lambda: True
) -> list[logging.LogRecord]:
    """The first ``count`` access records, waited for (the server logs on its own thread,
    after the response's last byte), bounded by count and time."""
    deadline = time.monotonic() + 10
    for _ in range(2000):
        found = [r for r in caplog.records if r.name == ACCESS_LOGGER]
        if len(found) >= count and done():
            return found
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    raise AssertionError(f"expected {count} access lines, got {caplog.records}")


def _request_order(record: logging.LogRecord) -> int:
    order = {200: 1, 422: 2, 404: 3, 101: 4}
    path = getattr(record, "path", None)
    return 0 if path == "/health" else order[getattr(record, "status", 0)]


def fields(record: logging.LogRecord, *names: str) -> dict[str, Any]:
    return {name: getattr(record, name, None) for name in names}


def test_one_line_per_request_with_its_stream_and_tokens(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with serve() as (_, live), httpx.Client(base_url=live.base_url, timeout=10) as client:
        assert client.get("/health").status_code == 200
        with client.stream("POST", "/ai/stream", json=CHAT) as response:
            sid = response.headers["X-AINative-Stream-Id"]
            body = response.read().decode()
        assert body.endswith("data: [DONE]\n\n")
        refused = client.post("/ai/stream", json={"action": "chat", "params": {}})
        assert refused.status_code == 422
        lost = client.get("/ai/stream/s_nope?ticket=secret")
        assert lost.status_code == 404
        ws: WebSocketSession
        with connect_ws(f"{live.base_url}/ai/ws", client) as ws:
            ws.send_text(json.dumps(CHAT))
            ws.send_text(json.dumps({**CHAT, "params": {"message": "two"}}))
            frames = [json.loads(ws.receive_text()) for _ in range(8)]
        records = access_records(caplog, 5)
    assert [f["type"] for f in frames].count("done") == 2
    assert len(records) == 5  # exactly one line each
    keys = ("method", "path", "status", "stream_id", "tokens")
    # In the order of the requests, which may log in another order by a hair.
    health, stream, invalid, unknown, socket = sorted(records, key=_request_order)
    assert health.getMessage().startswith("request ")
    assert fields(health, *keys) == {
        "method": "GET",
        "path": "/health",
        "status": 200,
        "stream_id": None,
        "tokens": None,
    }
    assert fields(stream, *keys) == {
        "method": "POST",
        "path": "/ai/stream",
        "status": 200,
        "stream_id": sid,
        "tokens": 3,
    }
    assert fields(invalid, "method", "path", "status") == {
        "method": "POST",
        "path": "/ai/stream",
        "status": 422,
    }
    # The path without its query: a ticket travels there.
    assert fields(unknown, "path", "status") == {"path": "/ai/stream/s_nope", "status": 404}
    assert "secret" not in unknown.getMessage()
    assert socket.getMessage().startswith("websocket ")
    assert fields(socket, "path", "status", "streams", "tokens") == {
        "path": "/ai/ws",
        "status": 101,
        "streams": 2,
        "tokens": 4,  # "hello access log" and "two"
    }
    for record in records:
        assert isinstance(getattr(record, "duration_ms", None), float)


def test_a_refused_websocket_is_logged_with_the_refusal_status(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with serve(api_keys=["k-1"]) as (_, live), httpx.Client(timeout=10) as client:
        with pytest.raises(WebSocketUpgradeError), connect_ws(f"{live.base_url}/ai/ws", client):
            pass
        (record,) = access_records(caplog, 1)
    assert fields(record, "path", "status", "streams") == {
        "path": "/ai/ws",
        "status": 401,
        "streams": 0,
    }


_FAILING_APP = """\
from ainative_core import get_plugins, hookimpl
from ainative_server import create_server
from ainative_testing import FakeProvider


class Failing:
    @hookimpl
    def ainative_register_providers(self, register):
        failure = RuntimeError("the provider broke")
        register("failing", lambda **_: FakeProvider(["a", " b"], fail_after=failure))
        early = RuntimeError("the provider broke early")
        register("early", lambda **_: FakeProvider(["a"], fail_before=early))


plugins = get_plugins()
plugins.register(Failing(), "failing")
server = create_server(plugins=plugins)
"""


@contextmanager
def serving(*args: str, cwd: Path) -> Iterator[tuple[str, list[str]]]:
    """``ainative ... serve --port 0 ...`` with its base URL (read from its banner) and a
    list that holds its stderr once the server has stopped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AINATIVE_", "PYTEST_"))}
    output: list[str] = []
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [str(SCRIPT), *args, "--port", "0"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            banner = proc.stdout.readline().decode() if ready else ""
            assert banner.startswith("ainative serving on http://"), banner
            yield banner.split()[3], output
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            proc.stdout.close()  # type: ignore[union-attr]
            stderr.seek(0)
            output.append(stderr.read().decode())


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_writes_one_json_access_line_per_request_and_each_traceback_once(
    tmp_path: Path, backend: str
) -> None:
    (tmp_path / "failing_app.py").write_text(_FAILING_APP, encoding="utf-8")
    command = ("--log-level", "info", "--log-format", "json", "serve", "failing_app:server")
    with serving(*command, "--backend", backend, cwd=tmp_path) as (base, stderr):
        client = httpx.Client(base_url=base, timeout=15)
        with client:
            assert client.get("/health").status_code == 200
            failed = client.post("/ai/stream", json={**CHAT, "provider": "failing"})
            refused = client.post("/ai/stream", json={**CHAT, "provider": "early"})
    (text,) = stderr
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    events = [json.loads(d[6:]) for d in failed.text.splitlines() if d.startswith("data: {")]
    assert [e["type"] for e in events] == ["metadata", "token", "error", "done"]
    assert events[2]["code"] == "internal_error"
    assert refused.status_code == 500
    assert refused.json()["error"]["code"] == "internal_error"
    # Each failure's traceback once: after the first token (the stream's producer), and
    # before it (the request's own failure).
    assert text.count("Traceback (most recent call last)") == 2, text
    failures = [line["exception"].splitlines()[-1] for line in lines if "exception" in line]
    assert sorted(failures) == [
        "RuntimeError: the provider broke",
        "RuntimeError: the provider broke early",
    ]
    # One access line per request, and no other server's.
    access = [line for line in lines if line["event"] == "request"]
    assert sorted((a["method"], a["path"], a["status"]) for a in access) == [
        ("GET", "/health", 200),
        ("POST", "/ai/stream", 200),
        ("POST", "/ai/stream", 500),
    ]
    (streamed,) = [a for a in access if a["status"] == 200 and a["method"] == "POST"]
    assert streamed["stream_id"] == events[0]["data"]["stream_id"]
    assert streamed["tokens"] == 1
    assert all(a["level"] == "info" and a["duration_ms"] >= 0 for a in access)
    assert "HTTP/1.1" not in text  # uvicorn's and Hypercorn's access lines are off


def test_a_provider_failing_on_a_websocket_is_answered_and_logged_once(
    serve: Serve, server_plugins: PluginSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # A RuntimeError is also what a closed socket raises: the provider's must not pass as one.
    early = RuntimeError("the provider broke early")
    server_plugins.add_provider("early", lambda **_: FakeProvider(["a"], fail_before=early))
    caplog.set_level(logging.INFO, logger="ainative")
    with serve() as (_, live), httpx.Client(timeout=10) as client:
        ws: WebSocketSession
        with connect_ws(f"{live.base_url}/ai/ws", client) as ws:
            ws.send_text(json.dumps({**CHAT, "provider": "early"}))
            error, done = (json.loads(ws.receive_text(timeout=10)) for _ in range(2))
            ws.send_text(json.dumps(CHAT))  # the socket serves on
            frames = [json.loads(ws.receive_text(timeout=10)) for _ in range(5)]
        access_records(caplog, 1)
    assert (error["type"], error["code"], error["status"]) == ("error", "internal_error", 500)
    assert done["data"]["finish_reason"] == "error"
    assert [f["type"] for f in frames] == ["metadata", "token", "token", "token", "done"]
    logged = [r for r in caplog.records if r.exc_info is not None]
    assert [(r.getMessage(), r.exc_info[1]) for r in logged] == [("ws.stream_failed", early)]  # type: ignore[index]
