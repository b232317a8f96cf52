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

    A plugin registers a factory (or ``"module:attr"``) that returns one of these; the
    server calls ``routes(server)`` when it builds its router and mounts what it returns,
    behind the server's authentication. ``server.hub`` starts and follows streams,
    ``server.start_stream(action_request)`` runs an action, ``server.config`` has the
    prefix and bounds.
    """

    def routes(self, server: AINativeServer) -> Sequence[BaseRoute]: ...
