"""Which HTTP client a provider plugin streams its vendor's answer over: httpx or aiohttp.

httpx reads a streamed body through a chain of nested generators, h11 in pure Python and an
anyio deadline (a cancel scope and a timer) per socket read; aiohttp reads it with its C
HTTP parser. Under the paced pipeline load (``benchmarks/``, 100 streams of 100 tokens at
20 ms), py-spy put the Ollama provider's share of the server's CPU at 57 % over httpx and
23 % over aiohttp, and the server's CPU per token fell by about a quarter. The vendors' SDKs
offer aiohttp themselves (``openai.DefaultAioHttpClient``, ``anthropic.DefaultAioHttpClient``),
and ``httpx-aiohttp`` is the same transport for plain httpx: the SDK still builds, signs and
retries each request; only the bytes move through aiohttp. aiohttp runs on asyncio alone, so
on trio the plugins keep httpx.

A body that comes over aiohttp is read by an iterator object (`aiohttp_transport`), and
`ResponseBody` reads it directly when the response has no ``Content-Encoding``: five nested
async generators fewer per chunk read (httpx's ``aiter_bytes``, ``aiter_raw``, its bound
stream, httpx-aiohttp's stream and aiohttp's ``iter_chunked``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, Literal, TypeAlias, final

import anyio
from anyio.abc import ByteStream, SocketAttribute

from ._body import DIRECT_BODY
from ._exceptions import ConfigurationError

__all__ = ["REHEARSALS", "HttpClientChoice", "aiohttp_transport", "rehearsal_server", "use_aiohttp"]

HttpClientChoice: TypeAlias = Literal["auto", "httpx", "aiohttp"]
"""A provider's ``http_client`` setting: ``auto`` (aiohttp on asyncio when it is installed,
else httpx), ``httpx``, or ``aiohttp`` (asyncio only)."""

_CHOICES = ("auto", "httpx", "aiohttp")

REHEARSALS: Final = 8
"""How many times a provider's ``warm()`` rehearses its request: CPython runs a function's
bytecode unspecialized for its first few calls, and the first requests would pay for it."""
_HEAD_LIMIT: Final = 65_536
# The SSL context (verifying, with the environment's settings) each transport class made.
_SSL_CONTEXTS: dict[type[Any], ssl.SSLContext] = {}
_REHEARSAL_SECONDS: Final = 5.0


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio, or no event loop
        return False
    return True


def use_aiohttp(choice: str, *, provider: str, module: str = "aiohttp") -> bool:
    """Whether ``provider`` should stream over aiohttp, for its ``http_client`` ``choice``,
    on the event loop running now; ``module`` is what that needs imported.

    `ConfigurationError` for an unknown choice, and for ``aiohttp`` asked for on trio or
    without ``module`` installed.
    """
    if choice not in _CHOICES:
        raise ConfigurationError(
            f"{provider}: unknown http_client {choice!r}; use one of {', '.join(_CHOICES)}"
        )
    if choice == "httpx":
        return False
    installed = all(importlib.util.find_spec(name) is not None for name in ("aiohttp", module))
    if choice == "auto":
        return installed and _on_asyncio()
    if not _on_asyncio():
        raise ConfigurationError(
            f"{provider}: http_client 'aiohttp' runs on asyncio only; use 'auto' or 'httpx'"
        )
    if not installed:
        raise ConfigurationError(
            f"{provider}: http_client 'aiohttp' needs the {module} package (pip install {module})"
        )
    return True


def aiohttp_transport(
    transport: type[Any], *, connect_timeout: type[Exception], connect_error: type[Exception]
) -> Any:
    """A transport of ``httpx-aiohttp`` (``transport``: its ``AiohttpTransport`` for httpx or
    for httpx2) that raises a refused or dropped connection as ``connect_error``, and reads
    response bodies without generators.

    Its table maps every ``aiohttp.ClientConnectionError`` to ``connect_timeout``
    (``ConnectTimeout``), a refused connection and a server that hung up included, so a
    provider would report Ollama not running as a timeout. The aiohttp error is the
    ``__cause__``; only a `TimeoutError` there (aiohttp's timeouts are) was one.

    A response's body is the library's stream with its ``__aiter__`` replaced by an iterator
    object over aiohttp's reader (its errors mapped by the library's table, its close the
    library's), also set as the response's ``DIRECT_BODY`` extension for `ResponseBody`.
    """
    library = sys.modules[transport.__module__]
    library_stream: type[Any] = library.AiohttpResponseStream
    map_errors = library.map_aiohttp_exceptions

    @final
    class Body(library_stream):  # type: ignore[misc]
        def __aiter__(self) -> _AiohttpReader:
            return _AiohttpReader(self._aiohttp_response.content, map_errors)

    @final
    class Transport(transport):  # type: ignore[misc]
        async def handle_async_request(self, request: Any) -> Any:
            try:
                response = await super().handle_async_request(request)
            except connect_timeout as exc:
                if exc.__cause__ is None or isinstance(exc.__cause__, TimeoutError):
                    raise
                raise connect_error(str(exc), request=request) from exc.__cause__  # type: ignore[call-arg]
            stream = response.stream
            # ``_aiohttp_response`` is the library's (the same in its httpx and httpx2
            # modules); a stream of another kind is left as it is.
            if type(stream) is library_stream:
                response.stream = Body(stream._aiohttp_response)
                response.extensions[DIRECT_BODY] = response.stream
            return response

    # Loading the CA bundle into an SSL context takes about 25 ms: made once per process.
    context = _SSL_CONTEXTS.get(transport)
    made = Transport() if context is None else Transport(verify=context)
    _SSL_CONTEXTS.setdefault(transport, made.ssl_context)
    return made


@final
class _AiohttpReader:
    """The chunks of an aiohttp body (``StreamReader.readany``), by an iterator object.

    Written here rather than iterating httpx-aiohttp's stream, whose generator and aiohttp's
    ``iter_chunked`` under it cost about 6 % of the server's CPU under the paced pipeline
    load. An error is raised as the library's table maps it (``ReadError``, ``ReadTimeout``).
    """

    __slots__ = ("_content", "_map_errors")

    def __init__(self, content: Any, map_errors: Any) -> None:
        self._content = content
        self._map_errors = map_errors

    def __aiter__(self) -> _AiohttpReader:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk: bytes = await self._content.readany()
        except Exception:
            with self._map_errors():
                raise
        if not chunk:
            raise StopAsyncIteration
        return chunk


async def _answer(stream: ByteStream, body: bytes, content_type: str) -> None:
    """Read one request (head and ``Content-Length`` body), answer ``body``, and close."""
    with anyio.move_on_after(_REHEARSAL_SECONDS):
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < _HEAD_LIMIT:
                data += await stream.receive()
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    length = int(value.strip())
            while len(rest) < length:
                rest += await stream.receive()
            status = (
                b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n" % (content_type.encode(), len(body))
            )
            await stream.send(status + body)


@asynccontextmanager
async def rehearsal_server(body: bytes, content_type: str) -> AsyncIterator[str]:
    """A server on 127.0.0.1 (a free port) for the length of the block; its base URL.

    It answers every request with ``200``, ``content_type`` and ``body``, then closes the
    connection (which is not pooled). For a provider's ``warm()``: a request rehearsed
    against it goes through the provider's own HTTP client (its session, connector, socket
    connect and response parser, all made or first run there) without reaching the vendor.
    """
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.listeners[0].extra(SocketAttribute.local_port)

    async def handle(stream: ByteStream) -> None:
        await _answer(stream, body, content_type)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()
