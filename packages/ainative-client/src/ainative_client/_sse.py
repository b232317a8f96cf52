"""The SSE client transport: POST ``/ai/stream``, resume with GET + ``Last-Event-ID``.

Bytes are decoded with the core's spec-correct `SSEDecoder` (httpx-sse dispatches spurious
empty events when a comment follows an ``id:`` line, florimondmanca/httpx-sse#35). Bytes are
read only as the consumer pulls events, so a slow consumer slows the socket.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final, final

import httpx

from ainative_core import (
    DONE_SENTINEL,
    ActionRequest,
    ProtocolError,
    ResponseBody,
    SSEDecoder,
    WireEvent,
    get_logger,
)

from ._errors import map_transport_errors, status_error
from ._transport import BatchedEvents, ReceivedEvent, endpoint

__all__ = ["SSEClientTransport"]

STREAM_ID_HEADER: Final = "X-AINative-Stream-Id"
_log = get_logger("ainative.client.sse")


@final
class SSEClientTransport:
    """`ClientTransport` over Server-Sent Events; ``http_client`` is owned by the caller."""

    name = "sse"

    def __init__(self, http_client: httpx.AsyncClient) -> None:
        self._http = http_client

    def open(
        self, url: str, request: ActionRequest, *, headers: Mapping[str, str] | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]:
        return self._stream(
            "POST",
            endpoint(url, "/ai/stream"),
            headers,
            json=request.model_dump(mode="json"),
        )

    def resume(
        self,
        url: str,
        stream_id: str,
        last_event_id: int | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[ReceivedEvent]]:
        extra = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        return self._stream(
            "GET", endpoint(url, f"/ai/stream/{stream_id}"), {**(headers or {}), **extra}
        )

    async def cancel(
        self, url: str, stream_id: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        with map_transport_errors():
            response = await self._http.delete(
                endpoint(url, f"/ai/stream/{stream_id}"), headers=dict(headers or {})
            )
        if response.status_code >= 400 and response.status_code != 404:
            raise status_error(
                response.status_code, response.reason_phrase, response.content, response.headers
            )

    @asynccontextmanager
    async def _stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        json: object = None,
    ) -> AsyncIterator[AsyncIterator[ReceivedEvent]]:
        # identity: the body is read raw (`aiter_raw`), so it must not be compressed.
        request_headers = {
            "Accept": "text/event-stream",
            "Accept-Encoding": "identity",
            **(headers or {}),
        }
        with map_transport_errors():
            async with self._http.stream(
                method, url, headers=request_headers, json=json
            ) as response:
                if response.status_code != 200:
                    body = await response.aread()
                    raise status_error(
                        response.status_code, response.reason_phrase, body, response.headers
                    )
                # aiter_raw: the body is decoded as SSE, never decompressed (identity above).
                async with ResponseBody(response, response.aiter_raw()) as raw:
                    batches = _batches(raw, response.headers.get(STREAM_ID_HEADER))
                    try:
                        yield BatchedEvents(batches)
                    finally:
                        await batches.aclose()


async def _batches(
    body: ResponseBody[bytes], stream_id: str | None
) -> AsyncGenerator[list[ReceivedEvent], None]:
    """Decode the body, one list per read holding the events it completed (none: no list).

    ``body`` is closed by its owner: closing this generator early (at ``done``, or a
    consumer leaving) ends every generator httpx reads the body through (`ResponseBody`).
    """
    feed = SSEDecoder().feed_data
    from_json = WireEvent.from_json
    received = ReceivedEvent
    with map_transport_errors():
        async for chunk in body:
            batch: list[ReceivedEvent] = []
            append = batch.append
            for data, ident in feed(chunk):
                if data == DONE_SENTINEL:
                    continue
                try:
                    event = from_json(data)
                except ValueError as exc:
                    raise ProtocolError(f"undecodable SSE event: {data[:80]!r}") from exc
                if event.type == "metadata" and isinstance(event.data, dict):
                    found = event.data.get("stream_id")
                    if isinstance(found, str):
                        stream_id = found
                event_id = int(ident) if ident.isascii() and ident.isdigit() else None
                append(received(event, event_id, stream_id))
            if batch:
                yield batch
