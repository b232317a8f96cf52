"""Request rates: token buckets per client for the requests that start work, and per
WebSocket for its frames.

A bucket holds up to ``burst`` tokens and gains ``rate`` of them per second; a request
takes one, and a request that finds none is refused with `RateLimited`, whose
``retry_after`` is the time until the next token. The table of client buckets stays
bounded: a bucket idle long enough to have refilled is the same as a new one and is
dropped, and past ``max_clients`` the least recently used bucket goes first.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Final, final

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ainative_core import AINativeError, RateLimited

from ._access import Caller

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = ["MAX_CLIENTS", "RateLimitMiddleware", "RateLimiter", "TokenBucket", "starts_work"]

MAX_CLIENTS: Final = 100_000
"""Most client buckets a `RateLimiter` keeps (about 330 bytes each with its key: 33 MB)."""


@final
class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` per second; one per request."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there is one (and
        nothing is taken)."""
        now = time.monotonic() if now is None else now
        tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate

    def refused(self, wait: float) -> RateLimited:
        """The error refusing a request that found no token (``wait``: `take`'s answer)."""
        return RateLimited(
            f"too many requests: {self.rate:g} per second allowed (bursts of {self.burst}); "
            f"retry in {wait:.2f} s",
            retry_after=wait,
        )


@final
class RateLimiter:
    """A `TokenBucket` per client, in a table of at most ``max_clients`` buckets."""

    def __init__(self, rate: float, burst: int, *, max_clients: int = MAX_CLIENTS) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._refill = burst / rate
        """Seconds after which an idle bucket is full again (as good as a new one)."""
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str, now: float | None = None) -> float:
        """Take a token of ``client``'s bucket: 0.0, or the seconds until it has one."""
        now = time.monotonic() if now is None else now
        buckets = self._buckets
        bucket = buckets.get(client)
        if bucket is None:
            bucket = buckets[client] = TokenBucket(self.rate, self.burst, now)
        else:
            buckets.move_to_end(client)  # least recently used first
        wait = bucket.take(now)
        self._evict(now)
        return wait

    def refused(self, client: str, wait: float) -> RateLimited:
        """The error refusing ``client``'s request (``wait``: `take`'s answer)."""
        bucket = self._buckets.get(client) or TokenBucket(self.rate, self.burst)
        return bucket.refused(wait)

    def _evict(self, now: float) -> None:
        # Buckets are in the order of their last use, so the refilled ones come first.
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if len(buckets) <= self.max_clients and now - oldest.stamp < self._refill:
                return
            buckets.popitem(last=False)


def starts_work(scope: Scope, prefix: str) -> bool:
    """Whether a request starts or resumes work the rate limit counts: a WebSocket upgrade,
    a POST (but a WebSocket ticket's) or a stream's resume under ``prefix`` or ``/v1``."""
    path: str = scope["path"]
    if not path.startswith((prefix + "/", "/v1/")):
        return False
    if scope["type"] == "websocket":
        return True
    method = scope.get("method")
    if method == "POST":
        return path != prefix + "/ws-ticket"
    if method in ("GET", "HEAD"):
        resumes = (f"{prefix}/stream/", f"{prefix}/agui/", f"{prefix}/ui/chat/")
        return path.startswith((*resumes, "/v1/chat/completions/"))
    return False  # DELETE (a cancel frees work), OPTIONS (CORS preflights)


@final
class RateLimitMiddleware:
    """Refuses requests that start work (`starts_work`) over the server's ``rate_limit``
    with 429 ``rate_limited`` and ``Retry-After``; a WebSocket upgrade is refused as its
    handshake refusals are. A caller is its API key's digest, else its address (a key
    that does not check out counts against the address)."""

    def __init__(self, app: ASGIApp, *, server: AINativeServer) -> None:
        config = server.config
        self.app = app
        self.server = server
        self.prefix = config.prefix
        self.limiter = RateLimiter(config.rate_limit, config.rate_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not starts_work(scope, self.prefix):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        client = self._client(conn)
        wait = self.limiter.take(client)
        if not wait:
            await self.app(scope, receive, send)
            return
        from ._http import error_response
        from ._socket import refuse_handshake

        exc = self.limiter.refused(client, wait)
        if scope["type"] == "websocket":
            await refuse_handshake(WebSocket(scope, receive, send), exc)
        else:
            await error_response(exc)(scope, receive, send)

    def _client(self, conn: HTTPConnection) -> str:
        key = None
        if self.server.config.api_keys:
            with contextlib.suppress(AINativeError):  # the endpoint refuses it (401, 403)
                key = self.server.check_auth(conn)
        return Caller.of(conn, key).client
