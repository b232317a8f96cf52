"""Who may use a server: callers and their keys, WebSocket tickets, and the checks on Host,
Origin and Content-Type that keep web pages from driving a server they were not served by.

A caller is known by its API key's digest (never the key itself): the runs it starts
belong to that digest, and other keys are told such a stream does not exist. Without API
keys, nothing is owned and a caller is known only by its address, for the per-client cap.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ainative_core import (
    AINativeError,
    AuthenticationError,
    HostNotAllowedError,
    UnsupportedMediaTypeError,
)

from ._config import LOOPBACK_ORIGINS, ServerConfig

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = [
    "KEY_SCOPE",
    "LOOPBACK_HOSTS",
    "TICKET_LIFETIME",
    "AccessMiddleware",
    "Caller",
    "TicketBook",
    "allowed_hosts",
    "host_allowed",
    "key_digest",
    "origin_allowed",
    "require_json",
]

KEY_SCOPE: Final = "ainative.key"
"""The ASGI scope entry where a checked caller's key digest is kept for the request."""

LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "[::1]", "testserver")
"""The default ``Host`` names of a loopback-bound server; ``testserver`` is what Starlette's
``TestClient`` sends (a single-label name no public DNS answers)."""
"""The ``Host`` names a server bound to a loopback address answers by default."""

TICKET_LIFETIME: Final = 30.0
"""Seconds a WebSocket ticket may be used in (once)."""

_MAX_TICKETS: Final = 10_000
_LOOPBACK_ORIGIN: Final = re.compile(LOOPBACK_ORIGINS)


def key_digest(key: str) -> str:
    """The identity of an API key: what owns the streams it starts (the key is not kept)."""
    return "k_" + hashlib.sha256(key.encode()).hexdigest()[:32]


@final
@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request: ``key``, its API key's digest (None without keys), owns the
    streams it starts; ``client`` (the key's digest, else the client's address) is what the
    per-client cap counts."""

    key: str | None
    client: str

    @classmethod
    def of(cls, conn: HTTPConnection, key: str | None) -> Caller:
        if key is not None:
            return cls(key, key)
        client = conn.scope.get("client")
        return cls(None, "addr:" + (str(client[0]) if client else "unknown"))


@final
class TicketBook:
    """Short-lived, single-use WebSocket tickets standing for an API key (``?ticket=``).

    Browsers cannot set headers on a WebSocket; a ticket keeps the key itself out of the
    URL (and out of access logs). Tickets live in this process: with several processes, the
    socket must reach the process that issued its ticket.
    """

    def __init__(self, lifetime: float = TICKET_LIFETIME) -> None:
        self.lifetime = lifetime
        self._tickets: dict[str, tuple[str, float]] = {}

    def issue(self, key: str) -> str:
        """A new ticket for the key digest ``key``, valid once within ``lifetime``."""
        now = time.monotonic()
        if len(self._tickets) >= _MAX_TICKETS:
            self._tickets = {t: v for t, v in self._tickets.items() if v[1] > now}
            while len(self._tickets) >= _MAX_TICKETS:  # all still valid: drop the oldest
                del self._tickets[next(iter(self._tickets))]
        ticket = "t_" + secrets.token_urlsafe(24)
        self._tickets[ticket] = (key, now + self.lifetime)
        return ticket

    def redeem(self, ticket: str) -> str | None:
        """The key digest ``ticket`` stands for, once; None if unknown, used or expired."""
        entry = self._tickets.pop(ticket, None)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]


def origin_allowed(config: ServerConfig, origin: str, host: str) -> bool:
    """Whether a browser page of ``origin`` may open a WebSocket to this server.

    The page's own origin (its host and port are the request's ``Host``), loopback origins
    and ``config.cors_origins`` are allowed, as CORS allows them.
    """
    origin = origin.strip()
    _, _, netloc = origin.partition("://")
    if netloc and host and netloc.lower() == host.strip().lower():
        return True
    origins = config.cors_origins
    return "*" in origins or origin in origins or _LOOPBACK_ORIGIN.match(origin) is not None


def allowed_hosts(config: ServerConfig) -> list[str]:
    """The ``Host`` names the app answers: ``config.allowed_hosts``, or by default loopback
    names when it is bound to a loopback address, else any (``["*"]``)."""
    if config.allowed_hosts is not None:
        return [host.lower() for host in config.allowed_hosts]
    bind = config.host.strip("[]")
    try:
        loopback = ipaddress.ip_address(bind).is_loopback
    except ValueError:
        loopback = bind.lower() == "localhost"
    return list(LOOPBACK_HOSTS) if loopback else ["*"]


def host_allowed(allowed: Iterable[str], host: str) -> bool:
    """Whether a ``Host`` header names one of ``allowed`` (any port; ``*`` allows any)."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1]
    else:
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
    name = name.rstrip(".")
    for pattern in allowed:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def require_json(conn: HTTPConnection, plain_text: ServerConfig | None = None) -> None:
    """Refuse a body not declared as JSON (415): ``application/json`` (parameters such as
    ``charset`` allowed) or an ``application/...+json`` type.

    A web page can send ``text/plain`` or form bodies to any site without CORS asking the
    server first; JSON bodies cannot, so requiring them keeps other sites' pages out.
    With ``plain_text`` (the server's config), a ``text/plain`` body is read as JSON too
    when no other site's page sent it: no ``Origin`` (not a browser page) or an origin
    `origin_allowed` allows. The AI SDK's ``WorkflowChatTransport`` posts its JSON with
    no type, which ``fetch`` sends as ``text/plain``.
    """
    raw = conn.headers.get("content-type", "")
    media = raw.partition(";")[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    if plain_text is not None and media == "text/plain":
        origin = conn.headers.get("origin")
        if origin is None or origin_allowed(plain_text, origin, conn.headers.get("host", "")):
            return
    got = f"got {raw[:80]!r}" if raw else "none sent"
    raise UnsupportedMediaTypeError(
        f"request body must be JSON: send Content-Type: application/json ({got})"
    )


@final
class AccessMiddleware:
    """Refuses requests whose ``Host`` is not allowed (400), for HTTP and WebSocket alike,
    and, with API keys, requests for ``protected`` paths (the API docs) without a key.

    Starlette's ``TrustedHostMiddleware`` answers in plain text and reads an IPv6 ``Host``
    (``[::1]:8000``) wrongly; this one answers with ainative's JSON error body.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        server: AINativeServer,
        hosts: list[str],
        protected: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.server = server
        self.hosts = hosts
        self.any_host = "*" in hosts
        self.protected = frozenset(protected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        from ._http import error_response
        from ._socket import refuse_handshake

        conn = HTTPConnection(scope)
        try:
            if not self.any_host and not host_allowed(self.hosts, conn.headers.get("host", "")):
                raise HostNotAllowedError(
                    "Host not allowed: this server answers "
                    + ", ".join(self.hosts)
                    + " (the allowed_hosts setting)"
                )
            if kind == "http" and scope["path"] in self.protected:
                self.server.check_auth(conn)
        except AINativeError as exc:
            if kind == "websocket":
                await refuse_handshake(WebSocket(scope, receive, send), exc)
            else:
                response = error_response(exc)
                if isinstance(exc, AuthenticationError):
                    response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
