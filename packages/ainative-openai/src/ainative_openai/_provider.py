"""The OpenAI provider: chat completions over the official SDK, for OpenAI and compatibles."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Final, final

import anyio
import httpx2

from ainative_core import (
    REHEARSALS,
    BaseProvider,
    GenerateRequest,
    HttpClientChoice,
    ProviderAuthError,
    ResponseBody,
    RetryPolicy,
    SSEDecoder,
    StreamEvent,
    aiohttp_transport,
    build_request,
    get_logger,
    rehearsal_server,
    retry_stream,
    use_aiohttp,
)

from ._convert import ChunkMapper, parse_chunk, request_params
from ._errors import map_openai_errors

__all__ = ["OpenAIProvider"]

logger = get_logger("ainative.openai")

DEFAULT_MODEL: Final = "gpt-4o-mini"
_OPENAI_HOST: Final = "api.openai.com"
# Local compatible servers (llama.cpp, LM Studio, vLLM) take no key, but the SDK needs one.
_NO_KEY: Final = "not-needed"
# The answer `OpenAIProvider.warm` rehearses a request with.
_REHEARSAL: Final = (
    b'data: {"id":"warm","object":"chat.completion.chunk","model":"warm","choices":'
    b'[{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":null}]}\n\n'
    b'data: {"id":"warm","object":"chat.completion.chunk","model":"warm","choices":'
    b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def _http_client(choice: HttpClientChoice, provider: str, default: Any) -> dict[str, Any]:
    """The SDK's ``http_client`` argument: its own client (``default``, the SDK's defaults)
    over aiohttp when `use_aiohttp` says so; else nothing (the SDK's httpx2 client)."""
    if not use_aiohttp(choice, provider=provider, module="httpx_aiohttp"):
        return {}
    from httpx_aiohttp.httpx2 import AiohttpTransport

    transport = aiohttp_transport(
        AiohttpTransport, connect_timeout=httpx2.ConnectTimeout, connect_error=httpx2.ConnectError
    )
    return {"http_client": default(transport=transport)}


def _answer(request: httpx2.Request) -> httpx2.Response:
    """The in-memory rehearsal's answer."""
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=_REHEARSAL)


@final
class OpenAIProvider(BaseProvider):
    """Streams chat completions from OpenAI or any OpenAI-compatible server.

    Settings default to the environment: ``api_key`` from ``OPENAI_API_KEY``, ``base_url``
    from ``OPENAI_BASE_URL`` (point it at vLLM, llama.cpp or LM Studio), ``organization``
    from ``OPENAI_ORG_ID``. ``timeout`` is the SDK's request timeout in seconds.
    ``stream_usage=False`` stops asking for the usage chunk (``stream_options``), for
    compatible servers that reject that option.

    ``max_retries`` is ainative's policy (`RetryPolicy`), not the SDK's (whose own retries
    are off): a retryable error (429, 5xx, connection, timeout, malformed stream) is retried
    with exponential backoff from ``backoff`` seconds, at most ``max_backoff`` seconds
    apart, only while no event has been yielded. A ``retry-after`` up to ``max_backoff`` is
    waited for; a longer one is not: the 429 is raised with its ``retry_after``. After the
    first event an error becomes an ``error`` event, then ``finish`` with reason ``error``.
    Before it, the matching `ProviderError` is raised.

    The SDK client (and its connection pool) is created on first use and bound to the event
    loop that uses it; call ``aclose()`` when done.
    """

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        timeout: float | None = None,
        max_retries: int = 2,
        model: str | None = None,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        stream_usage: bool = True,
        http_client: HttpClientChoice = "auto",
        **_settings: Any,
    ) -> None:
        self.http_client: HttpClientChoice = http_client
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.organization = organization or os.environ.get("OPENAI_ORG_ID") or None
        self.timeout = timeout
        self.model = model or DEFAULT_MODEL
        self.retry = RetryPolicy(
            max_retries=max(int(max_retries), 0),
            backoff=float(backoff),
            max_wait=float(max_backoff),
        )
        self.stream_usage = bool(stream_usage)
        self._client: Any = None

    @property
    def max_retries(self) -> int:
        """Extra attempts before the first event (``retry.max_retries``)."""
        return self.retry.max_retries

    @property
    def backoff(self) -> float:
        """Seconds of the first backoff, doubled per retry (``retry.backoff``)."""
        return self.retry.backoff

    @property
    def max_backoff(self) -> float:
        """The longest wait between attempts (``retry.max_wait``)."""
        return self.retry.max_wait

    def __repr__(self) -> str:
        return f"<OpenAIProvider base_url={self.base_url!r} model={self.model!r}>"

    def _get_client(self) -> Any:
        if self._client is None:
            if not self.api_key and (self.base_url is None or _OPENAI_HOST in self.base_url):
                raise ProviderAuthError("no OpenAI API key: set OPENAI_API_KEY or api_key")
            with map_openai_errors():
                import openai

                options: dict[str, Any] = {} if self.timeout is None else {"timeout": self.timeout}
                self._client = openai.AsyncOpenAI(
                    **_http_client(self.http_client, self.name, openai.DefaultAsyncHttpxClient),
                    api_key=self.api_key or _NO_KEY,
                    base_url=self.base_url,
                    organization=self.organization,
                    max_retries=0,
                    **options,
                )
        return self._client

    async def warm(self) -> None:
        """Check the key, make the SDK client, and rehearse one streamed request.

        The rehearsal goes through the SDK (which builds and caches what its requests need)
        and this provider's reader. Over aiohttp it goes through the provider's own HTTP
        client too (its session and connector are made, a socket connected) to a one-shot
        server on 127.0.0.1 (`rehearsal_server`); over httpx to an in-memory transport.
        Nothing reaches the vendor. Without a key for OpenAI itself: `ProviderAuthError`.
        A rehearsal that fails is logged, not raised.
        """
        client = self._get_client()
        request = build_request(prompt="warm")
        params = request_params(request, default_model=self.model, include_usage=self.stream_usage)
        try:
            if use_aiohttp(self.http_client, provider=self.name, module="httpx_aiohttp"):
                async with rehearsal_server(_REHEARSAL, "text/event-stream") as url:
                    await self._rehearse(params, client.with_options(base_url=f"{url}/v1"))
            else:
                async with httpx2.AsyncClient(transport=httpx2.MockTransport(_answer)) as http:
                    await self._rehearse(params, client.with_options(http_client=http))
        except Exception:
            logger.warning("provider.warm_failed", provider=self.name, exc_info=True)

    async def _rehearse(self, params: dict[str, Any], client: Any) -> None:
        for _ in range(REHEARSALS):
            async for _ in self._attempt(params, client):
                pass

    async def aclose(self) -> None:
        """Close the SDK client and its connections."""
        client, self._client = self._client, None
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.close()

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        params = request_params(request, default_model=self.model, include_usage=self.stream_usage)
        log = logger.bind(provider=self.name, model=params["model"], base_url=self.base_url)
        return retry_stream(self.retry, lambda: self._attempt(params), log)

    async def _attempt(
        self, params: dict[str, Any], client: Any = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """One request: its events, or a `ProviderError`; the HTTP stream is always closed.

        The SDK builds, signs and sends the request and raises its typed errors for error
        statuses. It is sent with the SDK's ``post`` (its call for any endpoint) rather than
        ``chat.completions.create``, whose walk of the parameters' type annotations cost
        about 0.4 ms a request: `request_params` already gives the API's JSON. The body is
        read here rather than through the SDK's ``AsyncStream``, whose nested generators
        are left unclosed after ``[DONE]`` or an error event in the stream.
        `ResponseBody` closes the connection and every generator below on an early exit.
        ``client`` is the SDK client to use (default: the provider's).
        """
        client = client or self._get_client()
        mapper = ChunkMapper()
        decoder = SSEDecoder()
        with map_openai_errors():
            response = await client.post(
                "/chat/completions", cast_to=httpx2.Response, body=params, stream=True
            )
        async with ResponseBody(response) as body:
            done = False
            # Read to the end even after [DONE] (the body ends right after it): the
            # connection then goes back to the pool rather than being dropped. One error map
            # around the whole read, not one entered per read.
            with map_openai_errors():
                async for raw in body:
                    for sse in decoder.feed(raw):
                        if done:
                            continue
                        if sse.data.startswith("[DONE]"):
                            done = True
                            continue
                        # Each chunk's JSON becomes events directly: no SDK model per chunk.
                        for event in mapper.feed(parse_chunk(sse.data)):
                            yield event
        for event in mapper.end():
            yield event
