"""The SSE server transport: ``POST /ai/stream``, ``GET`` (resume) and ``DELETE`` (cancel).

The response is a small ASGI callable of its own rather than sse-starlette's
``EventSourceResponse`` or Starlette's ``StreamingResponse``: those encode and send each event
separately, while here a follower that is behind sends every pending event in one write,
built by joining frames the log has already encoded (each event is encoded once, however
many clients follow it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ainative_core import ActionRequest, InvalidRequestError, StreamNotFoundError

from ._http import error_response, read_model

if TYPE_CHECKING:
    from ._hub import Follower, Run, StreamHub
    from ._server import AINativeServer

__all__ = ["SSETransport", "StreamResponse"]

RETRY: Final = b"retry: 1000\n"
PING: Final = b": ping\n\n"
DONE: Final = b"data: [DONE]\n\n"


@final
class StreamResponse(Response):
    """Streams one hub stream, from event id ``after``, to one SSE client.

    The first write starts with ``retry: 1000``; idle periods get a ``: ping`` comment every
    ``ping_interval`` seconds; the end of a finished stream is followed by ``data: [DONE]``.
    A client that goes away stops only this follower, never the producer.
    """

    def __init__(
        self, hub: StreamHub, stream_id: str, *, after: int = 0, adopt: bool = False
    ) -> None:
        self.status_code = 200
        self.background = None
        self.hub = hub
        self.stream_id = stream_id
        self.after = after
        self.adopt = adopt
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
            (b"x-ainative-stream-id", stream_id.encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with self.hub.follow(self.stream_id, self.after, adopt=self.adopt) as follower:
                await self._stream(follower, receive, send)
        except StreamNotFoundError as exc:
            # Raised only by follow() (expired since the route checked): nothing sent yet.
            await error_response(exc)(scope, receive, send)

    async def _stream(self, follower: Follower, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async with anyio.create_task_group() as tg:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(watch_disconnect)
            try:
                prefix = RETRY
                ping_interval = self.hub.config.ping_interval
                while True:
                    batch = await follower.next_batch(ping_interval)
                    if batch is None:
                        body, more = prefix + DONE, False
                    elif not batch:
                        body, more = prefix + PING, True
                    else:
                        body = prefix + b"".join([event.sse for event in batch])
                        more = not follower.reached_end
                        if not more:
                            body += DONE
                    prefix = b""
                    await send({"type": "http.response.body", "body": body, "more_body": more})
                    if not more:
                        break
            except (OSError, StreamNotFoundError):
                pass  # the client went away, or the stream expired while followed
            tg.cancel_scope.cancel()


async def _ready_or_disconnected(request: Request, run: Run) -> bool:
    """Wait for the run's first event (or failure); False if the client left meanwhile.

    A client gone before the first token releases its hold, so the run falls under
    ``resume_grace`` like any abandoned stream.
    """
    ready = True
    async with anyio.create_task_group() as tg:

        async def watch_disconnect() -> None:
            nonlocal ready
            while (await request.receive())["type"] != "http.disconnect":
                pass
            ready = False
            tg.cancel_scope.cancel()

        tg.start_soon(watch_disconnect)
        await run.ready.wait()
        tg.cancel_scope.cancel()
    return ready


def _last_event_id(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or "0"
    raw = raw.strip()
    if not raw.isdigit():
        raise InvalidRequestError(f"Last-Event-ID: expected a non-negative integer, got {raw!r}")
    return int(raw)


@final
class SSETransport:
    """Server half of the ``sse`` transport (registered by the ainative-server plugin)."""

    name = "sse"

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        hub = server.hub
        path = f"{server.config.prefix}/stream"
        limit = server.config.max_body_bytes

        async def start(request: Request) -> Response:
            """Start a stream; headers are sent once it has produced or failed."""
            body = await read_model(request, ActionRequest, limit)
            run = await server.start_stream(body)
            handed_over = False
            try:
                if not await _ready_or_disconnected(request, run):
                    return Response(status_code=499)  # nobody is listening any more
                if run.early_error is not None:
                    await hub.discard(run)
                    return error_response(run.early_error)
                handed_over = True
                return StreamResponse(hub, run.stream_id, adopt=True)
            finally:
                if not handed_over:
                    hub.release(run)

        async def resume(request: Request) -> Response:
            """Replay the events after ``Last-Event-ID`` (header or query), then follow."""
            stream_id = request.path_params["stream_id"]
            after = _last_event_id(request)
            await hub.store.stats(stream_id)  # 404 for unknown or expired streams
            return StreamResponse(hub, stream_id, after=after)

        async def cancel(request: Request) -> Response:
            """Cancel the stream's producer; its followers end with ``cancelled``."""
            stream_id = request.path_params["stream_id"]
            run = hub.get(stream_id)
            was_running = not run.done
            hub.cancel(stream_id)
            return JSONResponse({"stream_id": stream_id, "cancelled": was_running})

        return [
            Route(path, server.endpoint(start), methods=["POST"]),
            Route(f"{path}/{{stream_id}}", server.endpoint(resume), methods=["GET"]),
            Route(f"{path}/{{stream_id}}", server.endpoint(cancel), methods=["DELETE"]),
        ]
