"""Converting httpx and Ollama API errors into the ainative exception tree.

`map_ollama_errors` wraps every HTTP call and every read of a stream, so no ``httpx.*``
exception reaches a caller. Ollama reports errors as an HTTP status with a JSON body
``{"error": "..."}`` (or, once streaming, as a line ``{"error": "..."}``). The lookup tables
below, and one rule (a connection that breaks once the response started is a broken stream),
are the whole mapping; the plugins guide prints them as a table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

import httpx

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
    "EXCEPTION_MAP",
    "STATUS_MAP",
    "OllamaStreamError",
    "map_ollama_errors",
]


class OllamaStreamError(Exception):
    """An ``{"error": ...}`` line in the middle of a stream (mapped like the table says)."""


#: HTTP status of an Ollama answer -> ainative error (other 4xx: bad request, 5xx: unavailable).
STATUS_MAP: Final[Mapping[int, type[ProviderError]]] = {
    400: ProviderBadRequest,
    401: ProviderAuthError,
    403: ProviderAuthError,
    404: ProviderBadRequest,  # model not found (not pulled)
    408: ProviderTimeout,
    413: ProviderBadRequest,
    429: ProviderRateLimited,
    500: ProviderUnavailable,
    502: ProviderUnavailable,
    503: ProviderUnavailable,
    504: ProviderTimeout,
}

#: httpx and decoding exceptions, most specific first (the first ``isinstance`` match wins).
EXCEPTION_MAP: Final[tuple[tuple[type[BaseException], type[ProviderError]], ...]] = (
    (OllamaStreamError, ProviderResponseError),
    (httpx.TimeoutException, ProviderTimeout),
    (httpx.ConnectError, ProviderUnavailable),  # Ollama not running
    # Closed or reset before the response (with ``streaming=True``: a truncated stream).
    (httpx.TransportError, ProviderUnavailable),
    (httpx.DecodingError, ProviderResponseError),
    (httpx.HTTPError, ProviderUnavailable),
    (ValueError, ProviderResponseError),  # a line that is not JSON / not the schema
    (KeyError, ProviderResponseError),
    (TypeError, ProviderResponseError),
)


def _status_error(exc: httpx.HTTPStatusError) -> ProviderError:
    response = exc.response
    status = response.status_code
    cls = STATUS_MAP.get(status) or (ProviderUnavailable if status >= 500 else ProviderBadRequest)
    try:
        detail = str(json.loads(response.content)["error"])
    except (ValueError, KeyError, TypeError, httpx.ResponseNotRead):
        detail = response.reason_phrase or "error"
    message = f"Ollama API error ({status}): {detail}"
    if cls is ProviderRateLimited:
        return ProviderRateLimited(message, retry_after=parse_retry_after(response.headers))
    return cls(message)


def _convert(exc: Exception, *, streaming: bool) -> ProviderError:
    if isinstance(exc, httpx.HTTPStatusError):
        return _status_error(exc)
    if (
        streaming
        and isinstance(exc, httpx.TransportError)
        and not isinstance(exc, httpx.TimeoutException)
    ):
        return ProviderResponseError(f"Ollama stream broken: {type(exc).__name__}: {exc}")
    cls = next((c for e, c in EXCEPTION_MAP if isinstance(exc, e)), ProviderError)
    if isinstance(exc, OllamaStreamError):
        return cls(f"Ollama error in stream: {exc}")
    return cls(f"Ollama request failed: {type(exc).__name__}: {exc}")


@contextmanager
def map_ollama_errors(*, streaming: bool = False) -> Iterator[None]:
    """Re-raise any httpx, status or decoding error as the matching `ProviderError`.

    ``streaming=True`` wraps reads of a response that had started: a connection closed or
    reset there broke the stream (`ProviderResponseError`), where before the response it
    means Ollama is unreachable (`ProviderUnavailable`); timeouts are `ProviderTimeout`
    either way. ainative errors pass through untouched; cancellation (a ``BaseException``)
    is never converted.
    """
    try:
        yield
    except AINativeError:
        raise
    except Exception as exc:
        raise _convert(exc, streaming=streaming) from exc
