"""Converting ``anthropic`` SDK and transport errors into the ainative exception tree.

`map_anthropic_errors` wraps every SDK call and every read of a stream, so no ``anthropic.*``
or ``httpx2.*`` exception reaches a caller. The lookup tables below are the whole mapping;
the plugins guide prints them as a table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

import anthropic
import httpx2

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

__all__ = ["ERROR_TYPES", "EXCEPTION_MAP", "map_anthropic_errors", "stream_error"]

#: SDK and transport exceptions, most specific first (the first ``isinstance`` match wins).
EXCEPTION_MAP: Final[tuple[tuple[type[BaseException], type[ProviderError]], ...]] = (
    (anthropic.AuthenticationError, ProviderAuthError),  # 401
    (anthropic.PermissionDeniedError, ProviderAuthError),  # 403
    (anthropic.RateLimitError, ProviderRateLimited),  # 429
    (anthropic.RequestTimeoutError, ProviderTimeout),  # 408
    (anthropic.GatewayTimeoutError, ProviderTimeout),  # 504
    (anthropic.OverloadedError, ProviderUnavailable),  # 529
    (anthropic.InternalServerError, ProviderUnavailable),  # 500, 503 and other 5xx
    (anthropic.BadRequestError, ProviderBadRequest),  # 400
    (anthropic.NotFoundError, ProviderBadRequest),  # 404, e.g. an unknown model
    (anthropic.ContentTooLargeError, ProviderBadRequest),  # 413
    (anthropic.UnprocessableEntityError, ProviderBadRequest),  # 422
    (anthropic.APITimeoutError, ProviderTimeout),  # no answer in time
    (anthropic.APIConnectionError, ProviderUnavailable),  # could not connect
    (anthropic.APIResponseValidationError, ProviderResponseError),
    (anthropic.CredentialsError, ProviderAuthError),
    (httpx2.TimeoutException, ProviderTimeout),  # a read timed out mid-stream
    # Raw transport errors come from reading a stream that had started (the SDK wraps those
    # before the response as APIConnectionError): a broken stream is a truncated response.
    (httpx2.RemoteProtocolError, ProviderResponseError),  # connection dropped mid-stream
    (httpx2.ReadError, ProviderResponseError),  # connection reset mid-stream
    (httpx2.TransportError, ProviderUnavailable),
    (ValueError, ProviderResponseError),  # an event that is not JSON / not the schema
)

#: ``error.type`` of an ``error`` event sent in the middle of a stream (HTTP status 200).
ERROR_TYPES: Final[Mapping[str, type[ProviderError]]] = {
    "invalid_request_error": ProviderBadRequest,
    "authentication_error": ProviderAuthError,
    "permission_error": ProviderAuthError,
    "not_found_error": ProviderBadRequest,
    "request_too_large": ProviderBadRequest,
    "rate_limit_error": ProviderRateLimited,
    "timeout_error": ProviderTimeout,
    "api_error": ProviderUnavailable,
    "overloaded_error": ProviderUnavailable,
}


def stream_error(data: str, response: httpx2.Response) -> anthropic.APIStatusError:
    """The SDK's error for an ``error`` event in a stream, made as its own stream makes it."""
    body: object
    try:
        body = json.loads(data)
        message = f"{body}"
    except ValueError:
        body = data
        message = data or f"Error code: {response.status_code}"
    return anthropic.APIStatusError(message, response=response, body=body)


def _status_class(exc: anthropic.APIStatusError) -> type[ProviderError]:
    error_type = exc.type if isinstance(exc.type, str) else None
    if exc.status_code < 400 and error_type is not None:
        return ERROR_TYPES.get(error_type, ProviderResponseError)
    if exc.status_code >= 500:
        return ProviderUnavailable
    if exc.status_code >= 400:
        return ProviderBadRequest
    return ProviderResponseError


def _convert(exc: Exception) -> ProviderError:
    if isinstance(exc, anthropic.APIStatusError):
        cls = next((c for e, c in EXCEPTION_MAP if isinstance(exc, e)), None)
        cls = cls or _status_class(exc)
        label = exc.api_message or exc.message
        where = "in stream" if exc.status_code < 400 else str(exc.status_code)
        message = f"Anthropic API error ({where}): {label}"
        if cls is ProviderRateLimited:
            return ProviderRateLimited(message, retry_after=parse_retry_after(exc.response.headers))
        return cls(message)
    cls = next((c for e, c in EXCEPTION_MAP if isinstance(exc, e)), ProviderError)
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, anthropic.APIConnectionError) and exc.__cause__ is not None:
        detail = f"{detail} ({type(exc.__cause__).__name__}: {exc.__cause__})"
    return cls(f"Anthropic request failed: {detail}")


@contextmanager
def map_anthropic_errors() -> Iterator[None]:
    """Re-raise any SDK, transport or decoding error as the matching `ProviderError`.

    ainative errors pass through untouched; cancellation (a ``BaseException``) is never
    converted.
    """
    try:
        yield
    except AINativeError:
        raise
    except Exception as exc:
        raise _convert(exc) from exc
