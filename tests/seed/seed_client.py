"""A Python port of the seed's TypeScript `StreamingEngine` (``runtime/streaming.ts``).

It does on the wire what the seed's client does, and keeps the state it keeps, so tests
can show what a seed app sees against our server:

- ``start`` refuses while a stream is active (``Stream already active``);
- SSE: ``POST`` the request as JSON; a status that is not ok is an error; the body is split
  on ``"\\n"``, only ``data: `` lines are read, the literal ``[DONE]`` ends the stream;
- WebSocket: the stream URL with ``http`` replaced by ``ws`` (``/ai/stream``), the request
  sent as one frame on open, every frame ``JSON.parse``d; the stream ends (and ``start``
  settles) only on a ``done`` frame, after which the client closes the socket. A socket
  that closes without ``done`` leaves ``start`` unsettled (`Unsettled` here);
- ``stop()`` aborts the request or closes the socket, and sends nothing to the server.

Bus events are kept as ``(type, payload)`` in ``events``.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
from collections.abc import Callable
from typing import Any, Final

import anyio
import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws

_MAX_READS: Final = 100_000


class StreamingError(Exception):
    """The seed's ``StreamingError`` (``Stream already active``)."""


class Unsettled(Exception):
    """The WebSocket closed without a ``done`` frame: the seed's ``start`` never settles."""


class SeedStreamingEngine:
    """``await engine.start({"url": ..., "method": "SSE" | "WS"}, data)``, as the seed's."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.events: list[tuple[str, Any]] = []
        self.is_streaming = False
        self.on_token: Callable[[str], None] | None = None
        """Called after each ``stream-data`` token (a test may call `stop` from it)."""
        self.ws_url: str | None = None
        self._abort: anyio.CancelScope | None = None

    def emit(self, kind: str, payload: Any) -> None:
        self.events.append((kind, payload))

    def tokens(self) -> list[str]:
        return [p["token"] for kind, p in self.events if kind == "stream-data" and "token" in p]

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    async def start(self, config: dict[str, Any], data: Any) -> None:
        if self.is_streaming:
            raise StreamingError("Stream already active")
        self.is_streaming = True
        self.emit("stream-start", {"config": config, "data": data})
        method = config.get("method") or "SSE"
        try:
            if method == "WS":
                await self._start_websocket(config, data)
            else:
                await self._start_sse(config, data)
        except Unsettled:
            raise
        except Exception as exc:  # handleError
            self.emit("stream-error", {"error": str(exc)})
            self.is_streaming = False

    def stop(self) -> None:
        if self._abort is not None:
            self._abort.cancel()
            self._abort = None
        self.is_streaming = False
        self.emit("stream-end", {"reason": "aborted"})

    async def _start_sse(self, config: dict[str, Any], data: Any) -> None:
        headers = {"Content-Type": "application/json", **config.get("headers", {})}
        try:
            with anyio.CancelScope() as self._abort:
                async with self.http.stream(
                    "POST", config["url"], content=json.dumps(data), headers=headers
                ) as response:
                    if response.status_code >= 400:
                        raise ConnectionError(
                            f"HTTP {response.status_code}: {response.reason_phrase}"
                        )
                    decoder = codecs.getincrementaldecoder("utf-8")()
                    buffer = ""
                    ended = False
                    chunks = response.aiter_raw()
                    try:
                        async for chunk in chunks:
                            if ended:
                                continue  # (read to the end: nothing is left suspended)
                            buffer += decoder.decode(chunk)
                            lines = buffer.split("\n")
                            buffer = lines.pop()
                            ended = self._sse_lines(lines)
                    finally:
                        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                            await response.aclose()
                            with contextlib.suppress(Exception):
                                async for _ in chunks:
                                    pass
                    if not ended:
                        self.emit("stream-end", {"reason": "complete"})
        finally:
            self.is_streaming = False

    def _sse_lines(self, lines: list[str]) -> bool:
        """Read ``data: `` lines; True at ``[DONE]``."""
        for line in lines:
            if line.startswith("data: "):
                payload = line[6:]
                if payload == "[DONE]":
                    self.emit("stream-end", {"reason": "complete"})
                    self.is_streaming = False
                    return True
                try:
                    parsed = json.loads(payload)
                except ValueError:
                    self.emit("stream-data", {"token": payload})
                else:
                    self._handle(parsed)
        return False

    async def _start_websocket(self, config: dict[str, Any], data: Any) -> None:
        self.ws_url = re.sub(r"^http", "ws", config["url"])
        # httpx-ws dials the http(s) form of the same URL.
        dial = re.sub(r"^ws", "http", self.ws_url)
        settled = False
        with anyio.CancelScope() as self._abort:
            ws: AsyncWebSocketSession
            async with aconnect_ws(dial, self.http) as ws:
                await ws.send_text(json.dumps(data))  # onopen
                for _ in range(_MAX_READS):
                    try:
                        text = await ws.receive_text()
                    except Exception:
                        break  # onclose
                    try:
                        message = json.loads(text)
                    except ValueError as exc:
                        self.emit("stream-error", {"error": str(exc)})
                        continue
                    self._handle(message)
                    if message.get("type") == "done":
                        self.emit("stream-end", {"reason": "complete"})
                        self.is_streaming = False
                        settled = True
                        break  # the client closes the socket
        self.is_streaming = False  # onclose
        if not settled and self._abort is not None:
            raise Unsettled("the socket closed without a done frame")

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "token":
            token = message.get("data")
            self.emit("stream-data", {"token": token})
            if self.on_token is not None:
                self.on_token(str(token))
        elif kind == "done":
            self.emit("stream-end", {"reason": "complete"})
        elif kind == "error":
            self.emit("stream-error", {"error": message.get("data")})
        elif kind == "metadata":
            self.emit("stream-data", {"metadata": message.get("data")})
