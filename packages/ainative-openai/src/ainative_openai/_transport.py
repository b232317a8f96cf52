"""The HTTP client the provider gives the OpenAI SDK: httpx2 with a closable response stream.

httpx2 wraps each response body in an async *generator* that iterates httpcore2's own
generator without closing it, so a body closed before its end (a cancelled stream) leaves
that inner generator to the garbage collector, and trio warns about it (ResourceWarning;
pydantic/httpx2#1036, encode/httpx#3686). The stream below is a plain iterator over the
httpcore2 stream that closes it in ``aclose``. When httpx2 no longer exposes the inner
stream, httpx2's own stream is used as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, final

import httpx2

__all__ = ["ClosingTransport", "make_http_client"]


@final
class _ClosingResponseStream(httpx2.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._source: Any = getattr(stream, "_httpcore_stream", None) or stream
        self._parts: Any = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._parts is None:
            self._parts = self._source.__aiter__()
        part: bytes = await self._parts.__anext__()
        return part

    async def aclose(self) -> None:
        parts, self._parts = self._parts, None
        try:
            if parts is not None and hasattr(parts, "aclose"):
                await parts.aclose()
        finally:
            await self._stream.aclose()


@final
class ClosingTransport(httpx2.AsyncHTTPTransport):
    """`httpx2.AsyncHTTPTransport` whose response bodies close all they iterate."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        response.stream = _ClosingResponseStream(response.stream)
        return response


def make_http_client(timeout: float | None) -> httpx2.AsyncClient:
    """The SDK's default async client (its timeouts, limits, redirects) on `ClosingTransport`."""
    import openai

    kwargs: dict[str, Any] = {"transport": ClosingTransport()}
    if timeout is not None:
        kwargs["timeout"] = timeout
    client: httpx2.AsyncClient = openai.DefaultAsyncHttpxClient(**kwargs)
    return client
