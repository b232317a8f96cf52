"""The Ollama provider: ``POST /api/chat`` over httpx, NDJSON streaming."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any, Final, final
from urllib.parse import urlsplit

import anyio
import httpx

from ainative_core import (
    REHEARSALS,
    BaseProvider,
    Completion,
    CompletionAccumulator,
    GenerateRequest,
    HttpClientChoice,
    ProviderResponseError,
    ResponseBody,
    RetryPolicy,
    StreamEvent,
    aiohttp_transport,
    build_request,
    get_logger,
    rehearsal_server,
    retry_call,
    retry_stream,
    use_aiohttp,
)

from ._convert import ChunkTranslator, build_body
from ._errors import map_ollama_errors

__all__ = ["DEFAULT_HOST", "DEFAULT_MODEL", "OllamaProvider", "parse_host"]

DEFAULT_HOST: Final = "http://127.0.0.1:11434"
DEFAULT_MODEL: Final = "llama3.2"
_DEFAULT_PORT: Final = 11434
# How long `OllamaProvider.warm` waits for Ollama's ``GET /``.
_PRECONNECT_SECONDS: Final = 1.0
# The answer `OllamaProvider.warm` rehearses a request with.
_REHEARSAL: Final = (
    b'{"model":"warm","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant",'
    b'"content":"ok"},"done":false}\n'
    b'{"model":"warm","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant",'
    b'"content":""},"done_reason":"stop","done":true,"prompt_eval_count":1,"eval_count":1}\n'
)


def parse_host(value: str | None) -> str:
    """A base URL from an ``OLLAMA_HOST``-style value (``host``, ``host:port`` or a URL).

    Without a scheme, ``http`` is assumed; without a port, Ollama's 11434 (for ``http``).
    """
    value = (value or "").strip()
    if not value:
        return DEFAULT_HOST
    if "://" not in value:
        value = "http://" + value
    parts = urlsplit(value)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None and parts.scheme == "http":
        port = _DEFAULT_PORT
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _answer(request: httpx.Request) -> httpx.Response:
    """The in-memory rehearsal's answer."""
    return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=_REHEARSAL)


@final
class OllamaProvider(BaseProvider):
    """Local models served by Ollama, streamed from ``/api/chat``.

    ``host`` falls back to ``OLLAMA_HOST`` (``host:port`` without a scheme is accepted),
    then to ``http://127.0.0.1:11434``; ``model`` to ``OLLAMA_MODEL``. An ``api_key``
    (or ``OLLAMA_API_KEY``) is sent as a bearer token, for Ollama behind a proxy.
    ``max_retries`` attempts with ``retry_backoff`` seconds of exponential backoff happen
    only before the first event reaches the consumer. The HTTP client is made on first use,
    on the running event loop; ``aclose()`` releases it. ``http_client`` picks what moves the
    bytes (`ainative_core.use_aiohttp`): by default aiohttp on asyncio when ``httpx-aiohttp``
    is installed, else httpx.
    """

    name = "ollama"

    def __init__(
        self,
        *,
        host: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 0.25,
        max_retry_wait: float = 8.0,
        http_client: HttpClientChoice = "auto",
        **_settings: Any,
    ) -> None:
        self.http_client: HttpClientChoice = http_client
        self.base_url = parse_host(base_url or host or os.environ.get("OLLAMA_HOST"))
        self.model = model or os.environ.get("OLLAMA_MODEL") or DEFAULT_MODEL
        self.api_key = api_key or os.environ.get("OLLAMA_API_KEY") or None
        self.timeout = float(timeout)
        self.retry = RetryPolicy(
            max_retries=int(max_retries), backoff=float(retry_backoff), max_wait=max_retry_wait
        )
        self._client: httpx.AsyncClient | None = None
        self._aiohttp: httpx.AsyncBaseTransport | None = None  # the client's, over aiohttp
        self._chat_url = httpx.URL(f"{self.base_url}/api/chat")
        self._log = get_logger("ainative.ollama").bind(provider=self.name)

    def __repr__(self) -> str:
        return f"<OllamaProvider model={self.model!r} base_url={self.base_url!r}>"

    @property
    def client(self) -> httpx.AsyncClient:
        """The httpx client (made on first use)."""
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            transport: dict[str, Any] = {}
            if use_aiohttp(self.http_client, provider=self.name, module="httpx_aiohttp"):
                from httpx_aiohttp import AiohttpTransport

                transport["transport"] = aiohttp_transport(
                    AiohttpTransport,
                    connect_timeout=httpx.ConnectTimeout,
                    connect_error=httpx.ConnectError,
                )
            self._aiohttp = transport.get("transport")
            self._chat_url = httpx.URL(f"{self.base_url}/api/chat")
            self._client = httpx.AsyncClient(
                **transport,
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            )
        return self._client

    async def warm(self) -> None:
        """Make the HTTP client and rehearse one streamed request.

        The rehearsal goes through httpx and this provider's reader. Over aiohttp it goes
        through the provider's own transport too (its session and connector are made, a
        socket connected) to a one-shot server on 127.0.0.1 (`rehearsal_server`); over
        httpx to an in-memory transport. Nothing reaches Ollama (which may well start after
        the server). A rehearsal that fails is logged, not raised.

        Then one ``GET /`` to Ollama (its "Ollama is running" answer: no model is loaded),
        through the provider's own client, so that the first request finds a connection to
        Ollama in the pool (for the pool's keep-alive, 5 s) rather than opening one: about
        0.5 ms of the first request on loopback. It is given 1 s; a failure (Ollama not
        running yet) is logged at debug.
        """
        self.client  # noqa: B018 - made now, not on the first request
        body = build_body(build_request(prompt="warm"), model=self.model, stream=True)
        try:
            if self._aiohttp is not None:
                async with rehearsal_server(_REHEARSAL, "application/x-ndjson") as url:
                    # Over the provider's transport, which this client is not to close.
                    rehearsal = httpx.AsyncClient(base_url=url, transport=self._aiohttp)
                    await self._rehearse(body, rehearsal)
            else:
                transport = httpx.MockTransport(_answer)
                async with httpx.AsyncClient(base_url=self.base_url, transport=transport) as http:
                    await self._rehearse(body, http)
        except Exception:
            self._log.warning("provider.warm_failed", exc_info=True)
        try:
            await self.client.get("/", timeout=_PRECONNECT_SECONDS)
        except Exception:
            self._log.debug("provider.preconnect_failed", exc_info=True)

    async def _rehearse(self, body: dict[str, Any], client: httpx.AsyncClient) -> None:
        for _ in range(REHEARSALS):
            async for _ in self._attempt(body, client):
                pass

    async def aclose(self) -> None:
        """Close the HTTP client; the provider makes a new one if used again."""
        client, self._client, self._aiohttp = self._client, None, None
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.aclose()

    async def __aenter__(self) -> OllamaProvider:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        # The body is built here, so a bad request fails before anything is sent.
        body = build_body(request, model=self.model, stream=True)
        return retry_stream(self.retry, lambda: self._attempt(body), self._log)

    async def _post(
        self, body: dict[str, Any], client: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        """``POST /api/chat``, the response's body not yet read (by ``client``, default the
        provider's, to its URL made once: merging a path into the base URL cost 55 µs)."""
        url: httpx.URL | str = "/api/chat"
        if client is None:
            client, url = self.client, self._chat_url
        request = client.build_request("POST", url, json=body)
        request.stream = _RequestBody(request.content)
        with map_ollama_errors():
            return await client.send(request, stream=True)

    async def _attempt(
        self, body: dict[str, Any], client: httpx.AsyncClient | None = None
    ) -> AsyncIterator[StreamEvent]:
        response = await self._post(body, client)
        # Closing the body drops the connection, so Ollama stops generating.
        async with ResponseBody(response) as chunks:
            with map_ollama_errors():
                if response.is_error:
                    await response.aread()
                    response.raise_for_status()
            translator = ChunkTranslator()
            # The body's bytes are split into lines here (each a JSON object, decoded from
            # bytes): one pass per read, rather than httpx's text and line decoders. The done
            # chunk's events wait for the body's end, so the connection, read to its end,
            # goes back to the pool rather than being dropped. One error map around the
            # whole read (entering one per chunk cost about 2 % of the server's CPU).
            pending = b""
            ending: list[StreamEvent] = []
            with map_ollama_errors(streaming=True):
                data: bytes | None = b""
                while data is not None:
                    data = await anext(chunks, None)
                    if data is None:  # the end: a last line may lack its newline
                        lines, pending = [pending], b""
                    else:
                        *lines, pending = (pending + data).split(b"\n")
                    events, failure = _translate(translator, lines)
                    if translator.done:
                        ending += events
                    else:
                        for event in events:
                            yield event
                    if failure is not None:
                        raise failure
            if not translator.done:
                raise ProviderResponseError("Ollama stream ended before its done chunk")
            for event in ending:
                yield event

    async def complete(self, request: GenerateRequest) -> Completion:
        """One non-streamed ``/api/chat`` call, retried under the same policy."""
        body = build_body(request, model=self.model, stream=False)

        async def call() -> Completion:
            response = await self._post(body)
            try:
                with map_ollama_errors(streaming=True):
                    await response.aread()
                    response.raise_for_status()
                    events = ChunkTranslator().feed(response.json())
            finally:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
            accumulator = CompletionAccumulator()
            for event in events:
                accumulator.add(event)
            return accumulator.completion()

        return await retry_call(self.retry, call, self._log)


def _translate(
    translator: ChunkTranslator, lines: list[bytes]
) -> tuple[list[StreamEvent], Exception | None]:
    """The events of ``lines`` (up to the done chunk), and the error of a bad line, if any:
    the lines before it still count."""
    events: list[StreamEvent] = []
    for line in lines:
        if translator.done:
            break
        if line.strip():
            try:
                events += translator.feed(json.loads(line))
            except Exception as exc:
                return events, exc
    return events, None


@final
class _RequestBody(httpx.AsyncByteStream):
    """A request body that httpcore reads through an iterator object, not a generator.

    httpx's own request body is an async generator: when the connection fails while
    httpcore writes it, httpcore leaves it suspended, and trio warns when it is collected.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _OneChunk(self._data)


@final
class _OneChunk:
    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _OneChunk:
        return self

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise StopAsyncIteration
        return data
