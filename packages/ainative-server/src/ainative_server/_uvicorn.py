"""uvicorn's httptools protocol with bounds on request headers, for ``ainative serve``.

uvicorn bounds neither the size of a request's headers under httptools (only its h11
protocol has ``h11_max_incomplete_event_size``) nor, in any mode, the wait for them: its
keep-alive timer runs only between a response and the next request's first byte, so a
connection that sends part of a request line, or nothing, stays open. h11 is pure Python
and costs more per response write than httptools, so rather than switching to it,
`HeaderBoundHttpToolsProtocol` adds both bounds to httptools:

- the request line and headers may hold at most ``h11_max_incomplete_event_size`` bytes
  (the same setting as uvicorn's h11 bound), else the request is answered 400 and the
  connection closed, as uvicorn answers a request it cannot parse;
- from the connection's start, and from each response's end, the request's headers must
  arrive within ``timeout_keep_alive`` seconds, else the connection is closed, as Hypercorn
  does with its ``keep_alive_timeout``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final, final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HTTP_PROTOCOL", "HeaderBoundHttpToolsProtocol"]

HTTP_PROTOCOL: Final = "ainative_server._uvicorn:HeaderBoundHttpToolsProtocol"
"""uvicorn's ``http`` setting naming `HeaderBoundHttpToolsProtocol` (importable by workers)."""

_UNBOUNDED: Final = 1 << 62
_PER_HEADER: Final = 4
"""Bytes a header line adds to its name and value (``": "`` and CRLF)."""


class _HeadersTooLarge(Exception):
    """Raised from a parser callback: httptools reports it as a parse error (400)."""


@final
class HeaderBoundHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` whose requests' headers are bounded in size and in the time they
    may take to arrive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bound = self.config.h11_max_incomplete_event_size
        self._max_header_bytes = _UNBOUNDED if bound is None else bound
        self._header_bytes = 0
        self._header_deadline: asyncio.TimerHandle | None = None
        self._answering = 0
        """Requests whose headers are in and whose response has not ended (pipelined
        requests included): while there is one, no deadline runs."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + _PER_HEADER)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._answering += 1
        self._stop_waiting()  # the request's headers are in
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self._answering = max(0, self._answering - 1)
        super().on_response_complete()
        if not self.transport.is_closing() and not self._answering:
            self._await_headers()

    def handle_websocket_upgrade(self) -> None:
        self._stop_waiting()
        super().handle_websocket_upgrade()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._max_header_bytes:
            raise _HeadersTooLarge

    def _await_headers(self) -> None:
        self._stop_waiting()
        self._header_deadline = self.loop.call_later(self.timeout_keep_alive, self._expired)

    def _stop_waiting(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expired(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing() and not self._answering:
            self.transport.close()
