"""The load client: a raw HTTP/1.1 byte reader over asyncio sockets, and a WebSocket reader.

The byte reader does not decode SSE: it counts a token marker in the bytes as they arrive
(the ``"token"`` type of wire protocol v1, or ``{"content":`` of an OpenAI content delta;
every server under test writes whole events per send, so only a TCP read can split a
marker, which the carried-over tail handles) and ends at ``data: [DONE]`` followed by the
last chunk. That keeps the client's own cost per token far below any server's, so the
figures measure the servers. Timestamps are ``time.perf_counter()`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Final, final

__all__ = [
    "OPENAI_TOKEN_MARK",
    "TOKEN_MARK",
    "WS_BATCH_QUERY",
    "HttpConnection",
    "StreamResult",
    "action_body",
    "openai_body",
    "ws_read",
    "ws_stream",
]

TOKEN_MARK: Final = b'"token"'
OPENAI_TOKEN_MARK: Final = b'{"content":'
"""A content delta of a ``chat.completion.chunk`` (the role chunk's delta starts with
``{"role":``, so it is not counted)."""
_DONE: Final = b"data: [DONE]"
_LAST_CHUNK: Final = b"\r\n0\r\n\r\n"
_WS_DONE: Final = b'"type":"done"'
WS_BATCH_QUERY: Final = "batch=1"
"""Asks ainative's WebSocket for frames of several events (a JSON array of them)."""


def action_body(tokens: int, delay: float = 0.0, message: str = "x") -> dict[str, Any]:
    """The ``ActionRequest`` every server under test receives."""
    return {
        "action": "chat",
        "params": {"message": message},
        "options": {"tokens": tokens, "delay": delay},
    }


def openai_body(action: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions request asking for what the ``ActionRequest`` ``action`` does."""
    return {
        "model": "echo",
        "messages": [{"role": "user", "content": action["params"]["message"]}],
        "stream": True,
        "options": action["options"],
    }


@dataclass
class StreamResult:
    """What one stream looked like from the client."""

    tokens: int = 0
    sent: float = 0.0
    first_token: float | None = None
    finished: float = 0.0
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    gaps: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.finished - self.sent

    @property
    def ttft(self) -> float:
        if self.first_token is None:
            raise RuntimeError("no token arrived")
        return self.first_token - self.sent


@final
class HttpConnection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1 that streams one response at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> HttpConnection:
        self._reader, self._writer = await asyncio.open_connection(
            "127.0.0.1", self.port, limit=1 << 20
        )
        return self

    async def aclose(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once (no FIN handshake to wait for)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.transport.abort()

    async def __aenter__(self) -> HttpConnection:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send_request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> StreamResult:
        """Send a request and read the response head; returns with ``sent`` and ``headers``."""
        reader = self._reader
        if reader is None:
            raise RuntimeError("connection not open")
        result = await self.write_request(method, path, body, headers)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        result.status = int(status_line.split()[1])
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                result.headers[name.strip().lower()] = value.strip()
        return result

    async def write_request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> StreamResult:
        """Write a request (no waiting for the answer); the result holds the time it was sent."""
        writer = self._writer
        if writer is None:
            raise RuntimeError("connection not open")
        payload = json.dumps(body).encode() if body is not None else b""
        lines = [
            f"{method} {path} HTTP/1.1",
            f"host: 127.0.0.1:{self.port}",
            "accept: text/event-stream",
        ]
        if body is not None:
            lines += ["content-type: application/json", f"content-length: {len(payload)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        result = StreamResult()
        result.sent = time.perf_counter()
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        return result

    async def read_stream(
        self,
        result: StreamResult,
        *,
        record_gaps: bool = False,
        mark: bytes = TOKEN_MARK,
        done_mark: bytes = _DONE,
    ) -> StreamResult:
        """Read a streamed body to its end, counting tokens (and arrival gaps if asked).

        A token is one ``mark`` in the bytes; the body ends after ``done_mark`` (and, when
        chunked, the last chunk). Both must be shorter than 32 bytes.
        """
        reader = self._reader
        if reader is None:
            raise RuntimeError("connection not open")
        chunked = result.headers.get("transfer-encoding", "").lower() == "chunked"
        keep = len(mark) - 1
        tail = b""
        done = False
        last = 0.0
        count = 0
        gaps = result.gaps
        while True:
            data = await reader.read(1 << 18)
            if not data:
                break
            now = time.perf_counter()
            found = (tail[-keep:] + data).count(mark) if keep else data.count(mark)
            if found:
                if result.first_token is None:
                    result.first_token = now
                    if record_gaps:
                        gaps.extend([0.0] * (found - 1))
                elif record_gaps:
                    gaps.append(now - last)
                    gaps.extend([0.0] * (found - 1))
                last = now
                count += found
            tail = (tail + data)[-32:]
            if not done:
                done = done_mark in tail or done_mark in data
            if done and (not chunked or tail.endswith(_LAST_CHUNK)):
                break
        result.tokens = count
        result.finished = time.perf_counter()
        return result

    async def stream(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        record_gaps: bool = False,
        mark: bytes = TOKEN_MARK,
        done_mark: bytes = _DONE,
    ) -> StreamResult:
        result = await self.send_request(method, path, body, headers)
        if result.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {result.status}")
        return await self.read_stream(
            result, record_gaps=record_gaps, mark=mark, done_mark=done_mark
        )


async def ws_stream(
    port: int, body: dict[str, Any], *, path: str = "/ai/ws", record_gaps: bool = False
) -> StreamResult:
    """Open a WebSocket, run one stream on it (`ws_read`), close it."""
    from websockets.asyncio.client import connect

    # No permessage-deflate: every HTTP figure is uncompressed too.
    async with connect(
        f"ws://127.0.0.1:{port}{path}", compression=None, max_size=None, ping_interval=None
    ) as ws:
        return await ws_read(ws, body, record_gaps=record_gaps)


async def ws_read(ws: Any, body: dict[str, Any], *, record_gaps: bool = False) -> StreamResult:
    """Send an ``ActionRequest`` on an open WebSocket and read frames until ``done``.

    A frame's tokens are counted by their marker, so an array frame counts all of its own
    (the first of them at the frame's arrival, the others with no gap)."""
    result = StreamResult(status=101)
    last = 0.0
    result.sent = time.perf_counter()
    await ws.send(json.dumps(body))
    async for message in ws:
        now = time.perf_counter()
        data = message.encode() if isinstance(message, str) else message
        found = data.count(TOKEN_MARK)
        if found:
            if result.first_token is None:
                result.first_token = now
                if record_gaps:
                    result.gaps.extend([0.0] * (found - 1))
            elif record_gaps:
                result.gaps.append(now - last)
                result.gaps.extend([0.0] * (found - 1))
            last = now
            result.tokens += found
        if _WS_DONE in data:
            break
    result.finished = time.perf_counter()
    return result
