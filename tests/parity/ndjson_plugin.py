"""A third-party transport written with public API only: wire protocol v1 as NDJSON.

Each event is one line, its wire JSON with ``"id"`` added; an idle stream gets an empty line
as keep-alive. ``POST /ndjson/stream`` starts a stream (an `ActionRequest` body),
``GET /ndjson/stream/{id}?after=N`` resumes it, ``DELETE`` cancels it. Both halves register
through the ``ainative_register_transports`` hook, as an installed plugin's would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ainative_client import ReceivedEvent, base_url, map_transport_errors, status_error
from ainative_core import ActionRequest, ProtocolError, ResponseBody, WireEvent, hookimpl
from ainative_server import (
    AINativeServer,
    Encoder,
    Encoding,
    StoredEvent,
    StreamResponse,
    parse_last_event_id,
    read_model,
)

MEDIA_TYPE: Final = "application/x-ndjson"


class NDJSONEncoding(Encoding[bytes]):
    """One line per event: ``{...wire event...,"id":N}``; an empty line while idle."""

    def __init__(self) -> None:
        super().__init__("ndjson", keepalive=b"\n")

    def encoder(self, stream_id: str) -> Encoder[bytes]:
        def encode(event: StoredEvent) -> bytes:
            return f'{event.json[:-1]},"id":{event.id}}}\n'.encode()

        return encode


NDJSON: Final = NDJSONEncoding()


class NDJSONServer:
    """The server half: three routes, each a thin adapter over a subscription."""

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        limit = server.config.max_body_bytes

        async def start(request: Request) -> Response:
            body = await read_model(request, ActionRequest, limit)
            return StreamResponse(server, NDJSON, media_type=MEDIA_TYPE, request=body)

        async def resume(request: Request) -> Response:
            return StreamResponse(
                server,
                NDJSON,
                media_type=MEDIA_TYPE,
                stream_id=request.path_params["stream_id"],
                after=parse_last_event_id(request.query_params.get("after")),
            )

        async def cancel(request: Request) -> Response:
            stream_id = request.path_params["stream_id"]
            return JSONResponse({"cancelled": await server.cancel(stream_id)})

        return [
            Route("/ndjson/stream", server.endpoint(start), methods=["POST"]),
            Route("/ndjson/stream/{stream_id}", server.endpoint(resume), methods=["GET"]),
            Route("/ndjson/stream/{stream_id}", server.endpoint(cancel), methods=["DELETE"]),
        ]


class NDJSONClient:
    """The client half: a `ClientTransport` over the same three routes."""

    name = "ndjson"

    def __init__(self, http_client: httpx.AsyncClient) -> None:
        self._http = http_client

    def open(
        self, url: str, request: ActionRequest, *, headers: Mapping[str, str] | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]:
        body = request.model_dump(mode="json")
        return self._lines("POST", f"{base_url(url)}/ndjson/stream", headers, body)

    def resume(
        self,
        url: str,
        stream_id: str,
        last_event_id: int | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]:
        after = last_event_id or 0
        return self._lines(
            "GET", f"{base_url(url)}/ndjson/stream/{stream_id}?after={after}", headers, None
        )

    async def cancel(
        self, url: str, stream_id: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        with map_transport_errors():
            await self._http.delete(
                f"{base_url(url)}/ndjson/stream/{stream_id}", headers=dict(headers or {})
            )

    @asynccontextmanager
    async def _lines(
        self, method: str, url: str, headers: Mapping[str, str] | None, body: Any
    ) -> AsyncIterator[AsyncIterator[ReceivedEvent]]:
        with map_transport_errors():
            async with self._http.stream(
                method, url, headers=dict(headers or {}), json=body
            ) as response:
                if response.status_code != 200:
                    content = await response.aread()
                    raise status_error(
                        response.status_code, response.reason_phrase, content, response.headers
                    )
                async with ResponseBody(response, response.aiter_lines()) as lines:
                    yield _events(lines)


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[ReceivedEvent]:
    with map_transport_errors():
        async for line in lines:
            if not line:
                continue  # keep-alive
            try:
                obj = json.loads(line)
                event = WireEvent.from_dict(obj)
            except (ValueError, AttributeError) as exc:
                raise ProtocolError(f"undecodable NDJSON line: {line[:80]!r}") from exc
            event_id = obj.get("id")
            stream_id = obj["data"].get("stream_id") if event.type == "metadata" else None
            yield ReceivedEvent(event, event_id if isinstance(event_id, int) else None, stream_id)


@hookimpl
def ainative_register_transports(register: Any) -> None:
    register("ndjson", server=NDJSONServer, client=NDJSONClient)
