"""``ainative serve``'s HTTP servers bound a request's headers: their size and the wait."""

from __future__ import annotations

import select
import socket
from urllib.parse import urlsplit

import pytest

from ainative_testing import serve_process

HEADER_TIMEOUT = 1.0
WAIT = 15.0  # far above HEADER_TIMEOUT: a connection still open after it was never closed


def connect(base: str) -> socket.socket:
    address = urlsplit(base)
    sock = socket.create_connection((address.hostname, address.port), timeout=WAIT)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (`TimeoutError` if it never does)."""
    chunks: list[bytes] = []
    for _ in range(1000):
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    raise AssertionError("the server sent too much")


def send_big_header(sock: socket.socket, request: bytes) -> None:
    """Send a 12 KiB header 1 KiB at a time (as a big one arrives: in many reads) until
    the server answers, then end the request if it never did."""
    sock.sendall(request + b"X-Big: ")
    for _ in range(12):
        try:
            sock.sendall(b"a" * 1024)
        except OSError:  # closed by the server
            return
        if select.select([sock], [], [], 0.05)[0]:
            return
    sock.sendall(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("backend", "status"), [("asyncio", b"400"), ("trio", b"431")], ids=["uvicorn", "hypercorn"]
)
def test_large_headers_are_refused_and_partial_headers_time_out(
    backend: str, status: bytes
) -> None:
    env = {
        "AINATIVE_MAX_HEADER_BYTES": "4096",
        "AINATIVE_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    }
    with serve_process("--backend", backend, "--no-page", env=env) as base:
        request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        with connect(base) as big:
            send_big_header(big, request)
            refused = read_all(big)
        with connect(base) as partial, connect(base) as silent, connect(base) as kept:
            partial.sendall(request + b"X-Slow: a")
            kept.sendall(request + b"\r\n")
            answered = kept.recv(65536)
            partial_rest, silent_rest = read_all(partial), read_all(silent)
            kept_rest = read_all(kept)  # kept alive, then idle: closed too
        with connect(base) as fits:
            fits.sendall(request + b"X-Fits: " + b"a" * 2048 + b"\r\nConnection: close\r\n\r\n")
            fitting = read_all(fits)
    assert refused.split(b" ", 2)[1] == status
    assert (partial_rest, silent_rest) == (b"", b"")  # closed without an answer
    assert answered.startswith(b"HTTP/1.1 200")
    assert b"HTTP/1.1" not in kept_rest
    assert fitting.startswith(b"HTTP/1.1 200")
