"""`StreamResponse`: one HTTP response streaming one subscription, for any HTTP protocol.

It is a small ASGI callable rather than sse-starlette's ``EventSourceResponse`` or
Starlette's ``StreamingResponse``: those encode and send each event separately, while here a
follower that is behind sends every pending event in one write, built by joining frames the
hub has already encoded (each event is encoded once per protocol, however many clients
follow it). A protocol plugin gives it its `Encoding` (frames as bytes), its media type
and how it refuses a request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from time import monotonic
from typing import TYPE_CHECKING, final

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ainative_core import ActionRequest

from ._encoding import Encoding
from ._http import cancel_on_disconnect, client_can_resume, error_response, log_unexpected

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = ["Refusal", "StreamResponse"]

Refusal = Callable[[BaseException], Response]
"""How a protocol answers a request that failed before its stream's first byte."""

_STREAM_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
)


@final
class StreamResponse(Response):
    """Streams a new run (``request``) or an existing stream (``stream_id`` after ``after``).

    The headers go out once the run has produced its first event; a failure before it
    (invalid request, unknown provider, the provider's refusal, unknown stream on resume) is
    answered with ``refuse(exc)`` instead (default: ainative's JSON error with its status).
    Every response names the stream in ``X-AINative-Stream-Id``. A client that goes away
    ends only this follower, and its run keeps going for ``resume_grace`` if ``resumable``;
    otherwise its leaving cancels the run at once (see `StreamHub.subscribe`). By default
    (None) ``resumable`` is what the client declared (`client_can_resume`: the
    ``X-AINative-Resumable: 1`` header or ``?resumable=1``). The request's caller
    (`AINativeServer.caller`) owns a new run; a stream another API key started is
    answered as unknown (404).
    """

    def __init__(
        self,
        server: AINativeServer,
        encoding: Encoding[bytes],
        *,
        media_type: str,
        request: ActionRequest | None = None,
        stream_id: str | None = None,
        after: int = 0,
        resumable: bool | None = None,
        headers: Mapping[str, str] | None = None,
        refuse: Refusal = error_response,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.media_type = media_type
        self.refuse = refuse
        self._server = server
        self._subscribe = partial(
            server.subscribe,
            encoding,
            request,
            stream_id=stream_id,
            after=after,
        )
        self.resumable = resumable
        extra = headers or {}
        self.raw_headers = [
            (b"content-type", media_type.encode("latin-1")),
            *_STREAM_HEADERS,
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        resumable = self.resumable
        if resumable is None:
            resumable = client_can_resume(HTTPConnection(scope))
        try:
            caller = self._server.caller(HTTPConnection(scope))
            async with (
                cancel_on_disconnect(receive) as body,
                self._subscribe(resumable=resumable, caller=caller) as subscription,
            ):
                headers = [
                    *self.raw_headers,
                    (b"x-ainative-stream-id", subscription.stream_id.encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                started = True
                end = False
                # A client that stops reading: the hub's watch cancels ``body`` once a write
                # has waited ``send_timeout`` (no timer per write).
                with self._server.hub.sends.guard(body) as guard:

                    async def write(frame: bytes) -> None:
                        guard.since = monotonic()
                        await send({"type": "http.response.body", "body": frame, "more_body": True})
                        guard.since = None

                    subscription.writer = write
                    async for batch in subscription:
                        end = batch.end
                        body_bytes = b"".join(batch.frames)
                        message = {
                            "type": "http.response.body",
                            "body": body_bytes,
                            "more_body": not end,
                        }
                        guard.since = monotonic()
                        await send(message)
                        guard.since = None
                    if not end:
                        guard.since = monotonic()
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away: the connection is dropped
        except Exception as exc:
            log_unexpected(exc)
            if started:
                return  # e.g. the stream expired while followed: end the body
            await self.refuse(exc)(scope, receive, send)
