"""Raw protocol drivers: the same operations over each transport, as a client writes them.

Each driver starts, resumes and cancels streams with its transport's own requests and frames
and reads what comes back without ainative's client, so the matrix sees exactly what is on
the wire: the events with their ids, the keep-alives, and how a request is refused.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import httpx
from httpx_ws import AsyncWebSocketSession, WebSocketUpgradeError, aconnect_ws

from ainative_core import RESUMABLE_HEADER, RESUMABLE_PARAM, ResponseBody, SSEDecoder

ERROR_CODE_HEADER: Final = "x-ainative-error-code"
_MAX_READS: Final = 100_000


@dataclass(frozen=True)
class Event:
    """One event as received: its ``id`` and its wire object (``type``, ``data``, ...)."""

    id: int | None
    obj: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.obj["type"])


class Refused(Exception):
    """The transport refused the request before any event: what it said of the error."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        retryable: bool | None,
        retry_after: float | None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class Stream:
    """An open stream: ``read()`` gathers events; ``keepalives`` counts the idle signals."""

    stream_id: str
    next_item: Callable[[], Any]
    close: Callable[[], Any]
    events: list[Event] = field(default_factory=list)
    keepalives: int = 0
    ended: bool = False

    async def read(self, count: int | None = None) -> list[Event]:
        """Read until ``count`` events in all (None: until the stream ends)."""
        for _ in range(_MAX_READS):
            if self.ended or (count is not None and len(self.events) >= count):
                return self.events
            item = await self.next_item()
            if item is None:
                self.ended = True
            elif item == "keepalive":
                self.keepalives += 1
            else:
                self.events.extend(item)
                if any(event.type == "done" for event in item):
                    self.ended = True
        raise AssertionError("the stream never ended")


class Driver(Protocol):
    name: str

    def start(self, body: dict[str, Any]) -> AbstractAsyncContextManager[Stream]: ...

    def resume(self, stream_id: str, after: int) -> AbstractAsyncContextManager[Stream]: ...

    async def cancel(self, stream_id: str) -> None: ...


def _refusal_of(status: int, body: bytes, headers: httpx.Headers) -> Refused:
    error: dict[str, Any] = {}
    with suppress(ValueError, KeyError, TypeError):
        error = json.loads(body)["error"]
    retry_after = error.get("retry_after")
    if "retry-after" in headers and retry_after is not None:
        # The header rounds up to whole seconds; the body has the exact value.
        assert float(headers["retry-after"]) >= float(retry_after)
    return Refused(
        status,
        error.get("code", headers.get(ERROR_CODE_HEADER)),
        error.get("message", ""),
        error.get("retryable"),
        retry_after,
    )


class _HTTPDriver:
    """Shared by the SSE and NDJSON drivers: POST to start, GET to resume, DELETE to cancel.

    ``resumable``: the requests declare that the client resumes after a drop (the header).
    """

    name: str
    path: str

    def __init__(self, base_url: str, client: httpx.AsyncClient, *, resumable: bool) -> None:
        self.base_url = base_url
        self.client = client
        self.stream_headers = {RESUMABLE_HEADER: "1"} if resumable else {}

    def start(self, body: dict[str, Any]) -> AbstractAsyncContextManager[Stream]:
        return self._open("POST", f"{self.base_url}{self.path}", body=body)

    def resume(self, stream_id: str, after: int) -> AbstractAsyncContextManager[Stream]:
        return self._open("GET", *self._resume_request(stream_id, after))

    def _resume_request(self, stream_id: str, after: int) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    async def cancel(self, stream_id: str) -> None:
        response = await self.client.delete(f"{self.base_url}{self.path}/{stream_id}")
        assert response.status_code == 200, response.text

    @asynccontextmanager
    async def _open(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: Any = None
    ) -> AsyncIterator[Stream]:
        headers = {**self.stream_headers, **(headers or {})}
        async with self.client.stream(method, url, json=body, headers=headers) as response:
            if response.status_code != 200:
                raise _refusal_of(response.status_code, await response.aread(), response.headers)
            parse = self._parser()
            async with ResponseBody(response, response.aiter_raw()) as chunks:

                async def next_item() -> Any:
                    try:
                        chunk = await anext(chunks)
                    except (StopAsyncIteration, httpx.ReadError, httpx.RemoteProtocolError):
                        return None
                    return parse(chunk)

                yield Stream(response.headers["x-ainative-stream-id"], next_item, chunks.aclose)

    def _parser(self) -> Callable[[bytes], Any]:
        raise NotImplementedError


class SSEDriver(_HTTPDriver):
    name = "sse"
    path = "/ai/stream"

    def _resume_request(self, stream_id: str, after: int) -> tuple[str, dict[str, str]]:
        return f"{self.base_url}{self.path}/{stream_id}", {"Last-Event-ID": str(after)}

    def _parser(self) -> Callable[[bytes], Any]:
        decoder = SSEDecoder()

        def parse(chunk: bytes) -> Any:
            events = [
                Event(int(sse.id) if sse.id else None, json.loads(sse.data))
                for sse in decoder.feed(chunk)
                if sse.data != "[DONE]"
            ]
            if not events and b": ping" in chunk:
                return "keepalive"
            return events

        return parse


class NDJSONDriver(_HTTPDriver):
    name = "ndjson"
    path = "/ndjson/stream"

    def _resume_request(self, stream_id: str, after: int) -> tuple[str, dict[str, str]]:
        return f"{self.base_url}{self.path}/{stream_id}?after={after}", {}

    def _parser(self) -> Callable[[bytes], Any]:
        buffer = b""

        def parse(chunk: bytes) -> Any:
            nonlocal buffer
            *lines, buffer = (buffer + chunk).split(b"\n")
            events = []
            for line in lines:
                if line:
                    obj = json.loads(line)
                    events.append(Event(obj.pop("id"), obj))
            return events if events or not lines else "keepalive"

        return parse


class WSDriver:
    """Frames on one socket per stream; ``resumable`` declares it with ``?resumable=1``."""

    name = "ws"
    path = "/ai/ws"

    def __init__(self, base_url: str, client: httpx.AsyncClient, *, resumable: bool) -> None:
        self.base_url = base_url
        self.client = client
        self.query = f"?{RESUMABLE_PARAM}=1" if resumable else ""

    def start(self, body: dict[str, Any]) -> AbstractAsyncContextManager[Stream]:
        return self._open(body)

    def resume(self, stream_id: str, after: int) -> AbstractAsyncContextManager[Stream]:
        return self._open({"type": "resume", "stream_id": stream_id, "last_event_id": after})

    async def cancel(self, stream_id: str) -> None:
        async with self._connect() as ws:
            await ws.send_text(json.dumps({"type": "cancel", "stream_id": stream_id}))

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncWebSocketSession]:
        try:
            async with aconnect_ws(
                f"{self.base_url}{self.path}{self.query}",
                self.client,
                session_class=AsyncWebSocketSession,
            ) as ws:
                yield ws
        except WebSocketUpgradeError as exc:
            response = exc.response
            raise _refusal_of(response.status_code, b"", response.headers) from None

    @asynccontextmanager
    async def _open(self, frame: dict[str, Any]) -> AsyncIterator[Stream]:
        refused: Refused | None = None
        async with self._connect() as ws:
            await ws.send_text(json.dumps(frame))
            first = json.loads(await ws.receive_text())
            if first["type"] == "error" and "id" not in first:
                closing = json.loads(await ws.receive_text())
                assert closing["type"] == "done", closing
                assert "id" not in closing, closing
                # Raised once the socket's task group is left (not inside its group).
                refused = Refused(
                    first["status"],
                    first["code"],
                    first["data"],
                    first["retryable"],
                    first.get("retry_after"),
                )
            else:
                pending = [first]

                async def next_item() -> Any:
                    if pending:
                        obj = pending.pop()
                    else:
                        try:
                            obj = json.loads(await ws.receive_text())
                        except Exception:  # the socket closed
                            return None
                    event_id = obj.pop("id", None)
                    obj.pop("stream_id", None)
                    return [Event(event_id, obj)]

                yield Stream(first["stream_id"], next_item, ws.close)
        if refused is not None:
            raise refused


class StreamPathWSDriver(WSDriver):
    """The same WebSocket session at the stream path, where the seed's client connects."""

    path = "/ai/stream"


DRIVERS: Final[dict[str, type[SSEDriver] | type[NDJSONDriver] | type[WSDriver]]] = {
    "sse": SSEDriver,
    "ws": WSDriver,
    "ndjson": NDJSONDriver,
}
