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
    RetryPolicy,
    StreamEvent,
    retry_call,
    retry_stream,
)

from ._convert import StreamTranslator, build_params, completion_from_message
from ._errors import map_anthropic_errors

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_MODEL", "AnthropicProvider"]

DEFAULT_MODEL: Final = "claude-sonnet-4-6"
DEFAULT_MAX_TOKENS: Final = 1024
_CLOSE_TIMEOUT: Final = 2.0


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
        client = self.client
        with map_anthropic_errors():
            upstream = await client.messages.create(**params, stream=True)
        translator = StreamTranslator()
        try:
            while True:
                with map_anthropic_errors():
                    try:
                        raw = await upstream.__anext__()
                    except StopAsyncIteration:
                        break
                for event in translator.feed(raw):
                    yield event
            if not translator.stopped:
                raise ProviderResponseError("Anthropic stream ended before message_stop")
        finally:
            # Closing the response drops the connection, so the upstream stops generating.
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT):
                await upstream.close()

    async def complete(self, request: GenerateRequest) -> Completion:
        """One non-streamed Messages API call, retried under the same policy."""
        params = self._params(request)

        async def call() -> Completion:
            client = self.client
            with map_anthropic_errors():
                message = await client.messages.create(**params)
                return completion_from_message(message)

        return await retry_call(self.retry, call, self._log)
