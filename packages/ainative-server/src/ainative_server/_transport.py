"""The server half of a transport, as plugins register it (``register(name, server=...)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = ["ServerTransport"]


@runtime_checkable
class ServerTransport(Protocol):
    """Adds routes to an ainative server.

    A wire protocol is routes plus an `Encoding` of the stream log. A plugin registers a
    factory (or ``"module:attr"``) that returns one of these; the server calls
    ``routes(server)`` when it builds its router and mounts what it returns. Routes use
    public API only: ``server.subscribe(encoding, request)`` (or ``stream_id=``, ``after=``)
    follows a new or existing stream and raises a request's early failure before anything is
    written; `StreamResponse` does all of that for an HTTP response; ``await server.cancel``
    stops a stream; ``server.endpoint(handler)`` wraps an HTTP handler with the server's
    authentication and JSON errors, ``server.check_auth`` checks a WebSocket's;
    ``server.config`` has the prefix and bounds.
    """

    def routes(self, server: AINativeServer) -> Sequence[BaseRoute]: ...
