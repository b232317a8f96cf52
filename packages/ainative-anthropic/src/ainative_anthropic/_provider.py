"""The Anthropic provider: the Messages API through the official ``anthropic`` SDK."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any, Final, final

import anyio
import structlog
from anthropic import AsyncAnthropic

from ainative_core import (
    BaseProvider,
    Completion,
    GenerateRequest,
    ProviderAuthError,
    ProviderResponseError,
    ResponseBody,
    RetryPolicy,
    ServerSentEvent,
    SSEDecoder,
    StreamEvent,
    retry_call,
    retry_stream,
)

from ._convert import StreamTranslator, build_params, completion_from_message, parse_event
from ._errors import map_anthropic_errors, stream_error

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_MODEL", "AnthropicProvider"]

DEFAULT_MODEL: Final = "claude-sonnet-4-6"
DEFAULT_MAX_TOKENS: Final = 1024
# ``message``: an event without an ``event:`` field, which the SDK's stream skips too.
_SKIPPED: Final = frozenset({"ping", "message"})


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
        **_settings: Any,
    ) -> None:
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
        self._log = structlog.get_logger("ainative_anthropic").bind(provider=self.name)

    def __repr__(self) -> str:
        return f"<AnthropicProvider model={self.model!r} base_url={self.base_url!r}>"

    @property
    def client(self) -> AsyncAnthropic:
        """The SDK client (made on first use, with the SDK's own retries turned off)."""
        if self._client is None:
            if not self.api_key:
                raise ProviderAuthError("no Anthropic API key: set ANTHROPIC_API_KEY or api_key")
            self._client = AsyncAnthropic(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=0,
                default_headers=self.default_headers or None,
            )
        return self._client

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

    async def _attempt(self, params: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        """One request: its events, or a `ProviderError`; the HTTP stream is always closed.

        The SDK builds and sends the request and raises its typed errors for error statuses;
        the body is read here rather than through the SDK's ``AsyncStream``, whose nested
        generators are left suspended when it raises for an ``error`` event or a malformed
        one. `ResponseBody` closes the connection, so the upstream stops generating, and
        every generator below on an early exit.
        """
        client = self.client
        with map_anthropic_errors():
            opened = client.messages.with_streaming_response.create(**params, stream=True)
            response = (await opened.__aenter__()).http_response
        translator = StreamTranslator()
        decoder = SSEDecoder()
        async with ResponseBody(response) as body:
            while True:
                with map_anthropic_errors():
                    try:
                        raw = await anext(body)
                    except StopAsyncIteration:
                        break
                for sse in decoder.feed(raw):
                    with map_anthropic_errors():
                        events = _translate(translator, sse, response)
                    for event in events:
                        yield event
        if not translator.stopped:
            raise ProviderResponseError("Anthropic stream ended before message_stop")

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
