"""A follower whose client stops reading is dropped after ``send_timeout``.

In the app, the hub's `SendWatch` (one timer for every connection, not one per write)
cancels a write that waits too long: that works where the ASGI server's writes can be
cancelled (uvicorn). Hypercorn on trio shields its writes, so ``ainative serve`` also has the
kernel abort such connections (``TCP_USER_TIMEOUT`` on its listening socket).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import psutil
import pytest
import wsproto
import wsproto.events

import ainative_server._plugin
from ainative_server import AINativeServer, ServerConfig, StreamManager, create_server
from ainative_server._send_watch import SendWatch
from ainative_testing import PluginSandbox, live_server

_TOKENS = 600
_TOKEN = "x" * 20_000
_SCRIPT = Path(sys.executable).with_name("ainative")


def _poll(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    for _ in range(5000):
        if condition():
            return
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)
    raise AssertionError("condition never held")


@contextmanager
def _not_reading(port: int, body: bytes) -> Iterator[socket.socket]:
    """A client that sends a streaming request, then reads nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect(("127.0.0.1", port))
        sock.sendall(
            b"POST /ai/stream HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        yield sock
    finally:
        sock.close()


def _read_all(sock: socket.socket) -> bytes:
    """What arrives until the server ends the connection (EOF or reset), bounded in time."""
    sock.settimeout(10)
    received = bytearray()
    deadline = time.monotonic() + 30
    for _ in range(1_000_000):
        assert time.monotonic() < deadline, f"the connection never ended ({len(received)} B)"
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return bytes(received)
        if not chunk:
            return bytes(received)
        received += chunk
    raise AssertionError("too many reads")


def _read_to_the_end(sock: socket.socket) -> int:
    """Bytes read until the server ends the connection."""
    return len(_read_all(sock))


@pytest.fixture
def big_server(ainative_plugins: PluginSandbox) -> AINativeServer:
    """A server (``send_timeout`` 0.5 s) whose ``big`` action logs 12 MB at once."""
    ainative_plugins.add_plugin(ainative_server._plugin, name="server")
    config = ServerConfig(max_bytes=64 * 1_048_576, send_timeout=0.5)
    server: AINativeServer = create_server(config, plugins=ainative_plugins.plugins)

    @server.action("big")
    async def big(stream: StreamManager, request: object) -> None:
        for _ in range(_TOKENS):
            await stream.send_token(_TOKEN)

    return server


def test_the_hub_drops_a_follower_whose_client_stops_reading(big_server: AINativeServer) -> None:
    server = big_server
    with (
        live_server(server.get_app(), backend="uvicorn") as live,
        _not_reading(live.port, json.dumps({"action": "big"}).encode()) as sock,
    ):
        _poll(lambda: len(server.hub.sends) == 1)  # its write is waiting
        _poll(lambda: len(server.hub.sends) == 0)  # and was dropped
        assert 0 < _read_to_the_end(sock) < _TOKENS * len(_TOKEN) // 2


def test_a_websocket_whose_client_stops_reading_is_closed(
    big_server: AINativeServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = big_server
    caplog.set_level(logging.INFO, logger="ainative.server")
    with live_server(server.get_app(), backend="uvicorn") as live:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            sock.connect(("127.0.0.1", live.port))
            ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
            sock.sendall(ws.send(wsproto.events.Request(host="127.0.0.1", target="/ai/ws")))
            sock.settimeout(10)
            handshake = b""
            for _ in range(4096):  # the 101 answer, then nothing more is read
                handshake += sock.recv(1)
                if handshake.endswith(b"\r\n\r\n"):
                    break
            assert handshake.startswith(b"HTTP/1.1 101"), handshake
            frame = json.dumps({"action": "big", "params": {}})
            ws.receive_data(handshake)
            assert [type(e) for e in ws.events()] == [wsproto.events.AcceptConnection]
            sock.sendall(ws.send(wsproto.events.TextMessage(data=frame)))
            _poll(lambda: len(server.hub.sends) == 1)  # the socket is on the hub's watch
            # Its sends wait on the full socket: the server closes it (1008) and says so.
            _poll(lambda: any(r.getMessage().startswith("ws.send_timeout") for r in caplog.records))
            _poll(lambda: len(server.hub.sends) == 0)
            ws.receive_data(_read_all(sock))
            closed = [e for e in ws.events() if isinstance(e, wsproto.events.CloseConnection)]
            assert [(c.code, c.reason) for c in closed] == [(1008, "send timeout")]
        finally:
            sock.close()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_ends_connections_whose_client_stops_reading(backend: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")}
    env["AINATIVE_SEND_TIMEOUT"] = "1"
    process = subprocess.Popen(
        [str(_SCRIPT), "serve", "--port", "0", "--backend", backend, "--no-page"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        prefix = "ainative serving on http://127.0.0.1:"
        assert line.startswith(prefix), line
        port = int(line[len(prefix) :].split(" ", 1)[0])
        base = f"http://127.0.0.1:{port}"
        _poll(lambda: _answers(base))
        # 150,000 echo tokens: about 7 MB of SSE, far more than the socket buffers hold.
        body = {"params": {"message": "x"}, "options": {"tokens": 150_000}}
        with _not_reading(port, json.dumps(body).encode()) as sock:
            # While this client reads nothing, the server lets go of its connection.
            client = sock.getsockname()[1]
            server = psutil.Process(process.pid)
            _poll(lambda: client in _peers(server))
            _poll(lambda: client not in _peers(server))
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        assert process.poll() is None
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _peers(process: psutil.Process) -> set[int]:
    """The client ports of the TCP connections ``process`` holds."""
    return {c.raddr.port for c in process.net_connections("tcp") if c.raddr}


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.anyio
async def test_the_watch_cancels_only_writes_waiting_longer_than_the_timeout() -> None:
    watch = SendWatch(timeout=1.0)
    now = time.monotonic()
    with (
        watch.guard(anyio.CancelScope()) as stalled,
        watch.guard(anyio.CancelScope()) as recent,
        watch.guard(anyio.CancelScope()) as idle,
    ):
        stalled.since = now - 1.5
        recent.since = now - 0.5
        assert len(watch) == 3
        assert watch.check(now) == 1
        assert [g.timed_out for g in (stalled, recent, idle)] == [True, False, False]
        assert [g.scope.cancel_called for g in (stalled, recent, idle)] == [True, False, False]
        assert watch.check(now) == 0  # once
    assert len(watch) == 0
