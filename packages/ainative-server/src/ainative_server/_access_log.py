"""The access log: one ``ainative.access`` line per HTTP request and per WebSocket.

An HTTP request is logged when its response ends (a stream's response when its body
ends, or when the client leaves it) as ``request`` with ``method``, ``path``, ``status``,
``duration_ms`` and, for a stream's response, ``stream_id`` and the stream's ``tokens``.
A WebSocket is logged when it closes as ``websocket`` with ``path``, ``status`` (101 once
accepted, else the refusal's status), ``close_code``, ``streams`` (how many streams its
frames named: wire protocol v1 names each in every frame), their ``tokens`` and
``duration_ms``. The path is logged without its query string (a ticket travels there).

Lines are at ``info`` on the stdlib logger ``ainative.access``, and nothing is computed for
them unless it is enabled there: ``ainative --log-level info serve`` shows them. That is
decided as each request or WebSocket starts: without the log, the app gets the server's
own ``receive`` and ``send`` (no wrapper runs per frame), and turning the log on at run
time applies from the next connection on.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Final, final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ainative_core import get_logger

if TYPE_CHECKING:
    from ._hub import StreamHub

__all__ = ["ACCESS_LOGGER", "AccessLogMiddleware"]

ACCESS_LOGGER: Final = "ainative.access"
_STREAM_HEADER: Final = b"x-ainative-stream-id"
_STREAM_FIELD: Final = '"stream_id":"'

_logger = get_logger(ACCESS_LOGGER)
_stdlib = logging.getLogger(ACCESS_LOGGER)


def _enabled() -> bool:
    """Whether access lines are wanted: they reach stdlib ``logging`` at ``info``."""
    return _stdlib.isEnabledFor(logging.INFO)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _stream_of(frame: str) -> str | None:
    """The ``stream_id`` a server frame ends with (each protocol puts it last), if any."""
    at = frame.rfind(_STREAM_FIELD)
    if at < 0:
        return None
    start = at + len(_STREAM_FIELD)
    end = frame.find('"', start)
    return frame[start:end] if end > start else None


@final
class AccessLogMiddleware:
    """ASGI middleware writing the access log (see the module); ``hub`` gives the token
    counts of the streams of this process."""

    def __init__(self, app: ASGIApp, *, hub: StreamHub) -> None:
        self.app = app
        self.hub = hub

    def _tokens(self, stream_ids: set[str]) -> int | None:
        runs = [self.hub.runs.get(sid) for sid in stream_ids]
        counts = [run.tokens for run in runs if run is not None]
        return sum(counts) if counts else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _enabled():
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status: int | None = None
        stream_id: str | None = None
        logged = False

        def log() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            fields: dict[str, Any] = {
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
            }
            if stream_id is not None:
                fields["stream_id"] = stream_id
                fields["tokens"] = self._tokens({stream_id})
            _logger.info("request", **fields, duration_ms=_elapsed_ms(started))

        async def sending(message: Message) -> None:
            nonlocal status, stream_id
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", ()):
                    if name.lower() == _STREAM_HEADER:
                        stream_id = value.decode("latin-1")
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                log()

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            if status is None:
                status = 500  # what the server answers a request whose app raised
            raise
        finally:
            log()  # a response the client left before its end, or one that failed

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status: int | None = None
        close_code: int | None = None
        streams: set[str] = set()

        async def receiving() -> Message:
            nonlocal close_code
            message = await receive()
            if message["type"] == "websocket.disconnect" and close_code is None:
                close_code = message.get("code", 1000)
            return message

        async def sending(message: Message) -> None:
            nonlocal status, close_code
            kind = message["type"]
            if kind == "websocket.send":
                text = message.get("text")
                if text is not None:
                    sid = _stream_of(text)
                    if sid is not None:
                        streams.add(sid)
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and close_code is None:
                close_code = message.get("code", 1000)
                if status is None:
                    status = 403  # closed before it was accepted: the handshake refused
            elif kind == "websocket.http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            self._log_websocket(scope, started, status, close_code, streams)

    def _log_websocket(
        self,
        scope: Scope,
        started: float,
        status: int | None,
        close_code: int | None,
        streams: set[str],
    ) -> None:
        _logger.info(
            "websocket",
            path=scope.get("path"),
            status=status,
            close_code=close_code,
            streams=len(streams),
            tokens=self._tokens(streams),
            duration_ms=_elapsed_ms(started),
        )
