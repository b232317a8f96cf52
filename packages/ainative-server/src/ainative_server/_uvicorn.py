"""uvicorn's h11 protocol with a deadline on request headers, for ``ainative serve``.

uvicorn bounds the size of a request's headers only with h11 (``h11_max_incomplete_event_size``;
httptools has no bound) and bounds no wait for them in any mode: its keep-alive timer runs
only between a response and the next request's first byte, so a connection that sends
part of a request line, or nothing, stays open. `HeaderTimeoutH11Protocol` adds that
deadline: from the connection's start, and from each response's end, the request's headers
must arrive within uvicorn's ``timeout_keep_alive`` seconds, or the connection is closed,
as Hypercorn does with its ``keep_alive_timeout``.
"""

from __future__ import annotations

import asyncio
from typing import Final, final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HTTP_PROTOCOL", "HeaderTimeoutH11Protocol"]

HTTP_PROTOCOL: Final = "ainative_server._uvicorn:HeaderTimeoutH11Protocol"
"""uvicorn's ``http`` setting naming `HeaderTimeoutH11Protocol` (importable by workers)."""


@final
class HeaderTimeoutH11Protocol(H11Protocol):
    """`H11Protocol` whose connections wait at most ``timeout_keep_alive`` seconds for the
    headers of each request."""

    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_waiting()  # the request's headers are in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_headers()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._stop_waiting()
        super().handle_websocket_upgrade(event)

    def _await_headers(self) -> None:
        self._stop_waiting()
        self._header_deadline = self.loop.call_later(self.timeout_keep_alive, self._expired)

    def _stop_waiting(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expired(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.transport.close()
