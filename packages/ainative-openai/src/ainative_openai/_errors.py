"""OpenAI SDK errors mapped to the ainative exception tree, by one lookup table.

``map_openai_errors()`` wraps every SDK call and every read of the stream: no ``openai.*``,
``httpx2.*``/``httpx.*`` or decoding exception leaves the provider. The table is ordered from
the most specific class to the least; the first ``isinstance`` match wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import httpx2
import openai
import pydantic

from ainative_core import (
    AINativeError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    parse_retry_after,
)

__all__ = [
    "ERROR_TABLE",
    "map_openai_error",
    "map_openai_errors",
    "stream_error",
]


def _status_message(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"openai: {text}" if status is None else f"openai {status}: {text}"


def _rate_limited(exc: Exception) -> ProviderError:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return ProviderRateLimited(_status_message(exc), retry_after=parse_retry_after(headers))


def _other_status(exc: Exception) -> ProviderError:
    status = getattr(exc, "status_code", 500)
    if status >= 500:
        return ProviderUnavailable(_status_message(exc))
    return ProviderBadRequest(_status_message(exc))


def _simple(cls: type[ProviderError], prefix: str = "") -> Callable[[Exception], ProviderError]:
    def build(exc: Exception) -> ProviderError:
        return cls(prefix + _status_message(exc))

    return build


#: (vendor exception class, builder of the ainative error). First match wins.
ERROR_TABLE: Final[tuple[tuple[type[BaseException], Callable[[Exception], ProviderError]], ...]] = (
    (openai.AuthenticationError, _simple(ProviderAuthError)),
    (openai.PermissionDeniedError, _simple(ProviderAuthError)),
    (openai.RateLimitError, _rate_limited),
    (openai.BadRequestError, _simple(ProviderBadRequest)),
    (openai.NotFoundError, _simple(ProviderBadRequest)),
    (openai.ConflictError, _simple(ProviderBadRequest)),
    (openai.UnprocessableEntityError, _simple(ProviderBadRequest)),
    (openai.InternalServerError, _simple(ProviderUnavailable)),
    (openai.APIStatusError, _other_status),
    (openai.APITimeoutError, _simple(ProviderTimeout)),
    (openai.APIConnectionError, _simple(ProviderUnavailable)),
    (openai.APIResponseValidationError, _simple(ProviderResponseError)),
    # An ``{"error": ...}`` object sent inside the stream.
    (openai.APIError, _simple(ProviderResponseError)),
    (openai.OpenAIError, _simple(ProviderError)),
    # Raised by the transport or the SSE decoder on paths the SDK does not wrap: reading the
    # body. The SDK wraps failures before the response (refused, reset, no answer) in
    # APIConnectionError above; a connection dropped or reset here broke a stream that had
    # started, so it is a truncated response, not an unreachable upstream.
    (httpx2.TimeoutException, _simple(ProviderTimeout)),
    (httpx2.RemoteProtocolError, _simple(ProviderResponseError, "stream broken: ")),
    (httpx2.ReadError, _simple(ProviderResponseError, "stream broken: ")),
    (httpx2.TransportError, _simple(ProviderUnavailable)),
    (httpx2.HTTPError, _simple(ProviderResponseError)),
    (json.JSONDecodeError, _simple(ProviderResponseError, "malformed chunk: ")),
    (pydantic.ValidationError, _simple(ProviderResponseError, "malformed chunk: ")),
    (UnicodeDecodeError, _simple(ProviderResponseError, "malformed chunk: ")),
)


def stream_error(error: Any) -> ProviderError:
    """The error for an ``{"error": {...}}`` object an upstream sends inside a stream."""
    if not isinstance(error, dict):
        return ProviderResponseError(f"openai: stream error: {error!r}")
    message = f"openai: {error.get('message') or 'error in stream'}"
    kind = f"{error.get('type') or ''} {error.get('code') or ''}"
    if "rate_limit" in kind:
        return ProviderRateLimited(message)
    if "server_error" in kind or "overloaded" in kind:
        return ProviderUnavailable(message)
    return ProviderResponseError(message)


def map_openai_error(exc: Exception) -> AINativeError | None:
    """The ainative error for a vendor exception, or None if the table has no row for it."""
    for vendor_cls, build in ERROR_TABLE:
        if isinstance(exc, vendor_cls):
            return build(exc)
    return None


@contextmanager
def map_openai_errors() -> Iterator[None]:
    """Re-raise OpenAI SDK, transport and decoding errors as ainative `ProviderError`s."""
    try:
        yield
    except AINativeError:
        raise
    except Exception as exc:
        mapped = map_openai_error(exc)
        if mapped is None:
            raise
        raise mapped from exc
