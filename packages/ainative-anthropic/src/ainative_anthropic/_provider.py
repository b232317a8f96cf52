"""The Anthropic provider: the Messages API through the official ``anthropic`` SDK."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any, Final, final

import anyio
import httpx2
from anthropic import AsyncAnthropic, DefaultAsyncHttpxClient

from ainative_core import (
    REHEARSALS,
    BaseProvider,
    Completion,
    GenerateRequest,
    HttpClientChoice,
    ProviderAuthError,
    ProviderResponseError,
    ResponseBody,
    RetryPolicy,
    ServerSentEvent,
    SSEDecoder,
    StreamEvent,
    aiohttp_transport,
    build_request,
    get_logger,
    rehearsal_server,
    retry_call,
    retry_stream,
    use_aiohttp,
)

from ._convert import StreamTranslator, build_params, completion_from_message, parse_event
from ._errors import map_anthropic_errors, stream_error

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_MODEL", "AnthropicProvider"]

DEFAULT_MODEL: Final = "claude-sonnet-4-6"
DEFAULT_MAX_TOKENS: Final = 1024
# ``message``: an event without an ``event:`` field, which the SDK's stream skips too.
_SKIPPED: Final = frozenset({"ping", "message"})
# The answer `AnthropicProvider.warm` rehearses a request with.
_REHEARSAL: Final = (
    b"event: message_start\ndata: "
    b'{"type":"message_start","message":{"id":"msg_warm","type":"message","role":"assistant",'
    b'"model":"warm","content":[],"stop_reason":null,"usage":{"input_tokens":1,'
    b'"output_tokens":1}}}\n\n'
    b"event: content_block_start\ndata: "
    b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b"event: content_block_delta\ndata: "
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b"event: message_delta\ndata: "
    b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}'
    b"\n\n"
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def _answer(request: httpx2.Request) -> httpx2.Response:
    """The in-memory rehearsal's answer."""
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=_REHEARSAL)


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


@final
class AnthropicProvider(BaseProvider):
    """Claude models over the Messages API, streamed through the ``anthropic`` SDK.

    Settings fall back to ``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL`` and
    ``ANTHROPIC_MODEL``. The SDK's own retries are off: ``max_retries`` attempts with
    ``retry_backoff`` seconds of exponential backoff happen here, and only before the first
    event reaches the consumer. ``max_tokens`` (which the API requires) defaults to
    ``DEFAULT_MAX_TOKENS``. The HTTP client is made on first use, on the running event
    loop; ``aclose()`` releases it.
    """

    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 0.25,
        max_retry_wait: float = 8.0,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        default_headers: dict[str, str] | None = None,
        http_client: HttpClientChoice = "auto",
        **_settings: Any,
    ) -> None:
        self.http_client: HttpClientChoice = http_client
        self.api_key = api_key or os.environ.get("ANTHROPIC_API_KEY") or None
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self.model = model or os.environ.get("ANTHROPIC_MODEL") or DEFAULT_MODEL
        self.timeout = float(timeout)
        self.max_tokens = int(max_tokens)
        self.retry = RetryPolicy(
            max_retries=int(max_retries), backoff=float(retry_backoff), max_wait=max_retry_wait
        )
        self.default_headers = dict(default_headers or {})
        self._client: AsyncAnthropic | None = None
        self._log = get_logger("ainative.anthropic").bind(provider=self.name)

    def __repr__(self) -> str:
        return f"<AnthropicProvider model={self.model!r} base_url={self.base_url!r}>"

    @property
    def client(self) -> AsyncAnthropic:
        """The SDK client (made on first use, with the SDK's own retries turned off)."""
        if self._client is None:
            if not self.api_key:
                raise ProviderAuthError("no Anthropic API key: set ANTHROPIC_API_KEY or api_key")
            self._client = AsyncAnthropic(
                **_http_client(self.http_client, self.name, DefaultAsyncHttpxClient),
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=0,
                default_headers=self.default_headers or None,
            )
        return self._client

    async def warm(self) -> None:
        """Check the key, make the SDK client, and rehearse one streamed request.

        The rehearsal goes through the SDK (which builds and caches what its requests need)
        and this provider's reader. Over aiohttp it goes through the provider's own HTTP
        client too (its session and connector are made, a socket connected) to a one-shot
        server on 127.0.0.1 (`rehearsal_server`); over httpx to an in-memory transport.
        Nothing reaches the vendor. Without a key: `ProviderAuthError`. A rehearsal that
        fails is logged, not raised.
        """
        client = self.client
        params = self._params(build_request(prompt="warm"))
        try:
            if use_aiohttp(self.http_client, provider=self.name, module="httpx_aiohttp"):
                async with rehearsal_server(_REHEARSAL, "text/event-stream") as url:
                    await self._rehearse(params, client.with_options(base_url=url))
            else:
                async with httpx2.AsyncClient(transport=httpx2.MockTransport(_answer)) as http:
                    await self._rehearse(params, client.with_options(http_client=http))
        except Exception:
            self._log.warning("provider.warm_failed", exc_info=True)

    async def _rehearse(self, params: dict[str, Any], client: AsyncAnthropic) -> None:
        for _ in range(REHEARSALS):
            async for _ in self._attempt(params, client):
                pass

    async def aclose(self) -> None:
        """Close the SDK's HTTP client; the provider makes a new one if used again."""
        client, self._client = self._client, None
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.close()

    async def __aenter__(self) -> AnthropicProvider:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def _params(self, request: GenerateRequest) -> dict[str, Any]:
        return build_params(request, model=self.model, max_tokens=self.max_tokens)

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        # The request is converted here, so a bad one fails before anything is sent.
        params = self._params(request)
        return retry_stream(self.retry, lambda: self._attempt(params), self._log)

    async def _attempt(
        self, params: dict[str, Any], client: AsyncAnthropic | None = None
    ) -> AsyncIterator[StreamEvent]:
        """One request: its events, or a `ProviderError`; the HTTP stream is always closed.

        The SDK builds, signs and sends the request and raises its typed errors for error
        statuses. It is sent with the SDK's ``post`` (its call for any endpoint): its
        ``messages.with_streaming_response.create`` cost about 0.2 ms more a request, and
        ``build_params`` already gives the API's JSON. The body is read here rather than
        through the SDK's ``AsyncStream``, whose nested generators are left suspended when
        it raises for an ``error`` event or a malformed one. `ResponseBody` closes the
        connection, so the upstream stops generating, and every generator below on an early
        exit. ``client`` is the SDK client to use (default: the provider's).
        """
        client = client or self.client
        with map_anthropic_errors():
            # As ``create`` would send it: the parameters, then ``extra_body`` over them.
            sent = {key: value for key, value in params.items() if key != "extra_body"}
            sent["stream"] = True
            sent.update(params.get("extra_body") or {})
            response = await client.post(
                "/v1/messages", cast_to=httpx2.Response, body=sent, stream=True
            )
        translator = StreamTranslator()
        decoder = SSEDecoder()
        # The events of message_stop (usage, finish) wait for the body's end: read to its
        # end, the connection goes back to the pool rather than being dropped. One error map
        # around the whole read (entering one per read and per event cost about 2 % of the
        # server's CPU).
        ending: list[StreamEvent] | None = None
        async with ResponseBody(response) as body:
            with map_anthropic_errors():
                async for raw in body:
                    for sse in decoder.feed(raw):
                        if ending is not None:
                            continue
                        events = _translate(translator, sse, response)
                        if translator.stopped:
                            ending = events
                            continue
                        for event in events:
                            yield event
        if ending is None:
            raise ProviderResponseError("Anthropic stream ended before message_stop")
        for event in ending:
            yield event

    async def complete(self, request: GenerateRequest) -> Completion:
        """One non-streamed Messages API call, retried under the same policy."""
        params = self._params(request)

        async def call() -> Completion:
            client = self.client
            with map_anthropic_errors():
                message = await client.messages.create(**params)
                return completion_from_message(message)

        return await retry_call(self.retry, call, self._log)


def _translate(
    translator: StreamTranslator, sse: ServerSentEvent, response: Any
) -> list[StreamEvent]:
    """The events of one server-sent event, as the SDK's stream reads it (pings skipped)."""
    if sse.event == "error":
        raise stream_error(sse.data, response)
    if sse.event in _SKIPPED or not sse.data:
        return []
    raw = parse_event(sse.data)
    return [] if raw is None else translator.feed(raw)
