"""The Ollama provider: ``POST /api/chat`` over httpx, NDJSON streaming."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any, Final, final
from urllib.parse import urlsplit

import anyio
import httpx
import structlog

from ainative_core import (
    BaseProvider,
    Completion,
    CompletionAccumulator,
    GenerateRequest,
    ProviderResponseError,
    RetryPolicy,
    StreamEvent,
    retry_call,
    retry_stream,
)

from ._convert import ChunkTranslator, build_body
from ._errors import map_ollama_errors

__all__ = ["DEFAULT_HOST", "DEFAULT_MODEL", "OllamaProvider", "parse_host"]

DEFAULT_HOST: Final = "http://127.0.0.1:11434"
DEFAULT_MODEL: Final = "llama3.2"
_DEFAULT_PORT: Final = 11434
_CLOSE_TIMEOUT: Final = 2.0


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


@final
class OllamaProvider(BaseProvider):
    """Local models served by Ollama, streamed from ``/api/chat``.

    ``host`` falls back to ``OLLAMA_HOST`` (``host:port`` without a scheme is accepted),
    then to ``http://127.0.0.1:11434``; ``model`` to ``OLLAMA_MODEL``. An ``api_key``
    (or ``OLLAMA_API_KEY``) is sent as a bearer token, for Ollama behind a proxy.
    ``max_retries`` attempts with ``retry_backoff`` seconds of exponential backoff happen
    only before the first event reaches the consumer. The HTTP client is made on first use,
    on the running event loop; ``aclose()`` releases it.
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
        **_settings: Any,
    ) -> None:
        self.base_url = parse_host(base_url or host or os.environ.get("OLLAMA_HOST"))
        self.model = model or os.environ.get("OLLAMA_MODEL") or DEFAULT_MODEL
        self.api_key = api_key or os.environ.get("OLLAMA_API_KEY") or None
        self.timeout = float(timeout)
        self.retry = RetryPolicy(
            max_retries=int(max_retries), backoff=float(retry_backoff), max_wait=max_retry_wait
        )
        self._client: httpx.AsyncClient | None = None
        self._log = structlog.get_logger("ainative_ollama").bind(provider=self.name)

    def __repr__(self) -> str:
        return f"<OllamaProvider model={self.model!r} base_url={self.base_url!r}>"

    @property
    def client(self) -> httpx.AsyncClient:
        """The httpx client (made on first use)."""
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client; the provider makes a new one if used again."""
        client, self._client = self._client, None
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

    async def _attempt(self, body: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        client = self.client
        with map_ollama_errors():
            response = await client.send(
                client.build_request("POST", "/api/chat", json=body), stream=True
            )
        lines = response.aiter_lines()
        try:
            with map_ollama_errors():
                if response.is_error:
                    await response.aread()
                    response.raise_for_status()
            translator = ChunkTranslator()
            while not translator.done:
                with map_ollama_errors(streaming=True):
                    try:
                        line = await lines.__anext__()
                    except StopAsyncIteration:
                        break
                    if not line.strip():
                        continue
                    events = translator.feed(json.loads(line))
                for event in events:
                    yield event
            if not translator.done:
                raise ProviderResponseError("Ollama stream ended before its done chunk")
        finally:
            # Closing the response drops the connection, so Ollama stops generating.
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT):
                aclose_lines = getattr(lines, "aclose", None)
                if aclose_lines is not None:
                    await aclose_lines()
                await response.aclose()

    async def complete(self, request: GenerateRequest) -> Completion:
        """One non-streamed ``/api/chat`` call, retried under the same policy."""
        body = build_body(request, model=self.model, stream=False)

        async def call() -> Completion:
            client = self.client
            with map_ollama_errors():
                http_request = client.build_request("POST", "/api/chat", json=body)
                response = await client.send(http_request, stream=True)
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
