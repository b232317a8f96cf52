"""The error table, unit by unit (the retry policy itself is core's: tests/core)."""

from __future__ import annotations

import anthropic
import httpx2
import pytest
from anthropic._error_classes import make_status_error

from ainative_anthropic import map_anthropic_errors
from ainative_core import (
    AINativeError,
    InvalidRequestError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
)

REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/messages")


def status_error(status: int, body: object, headers: dict[str, str] | None = None) -> Exception:
    response = httpx2.Response(status, headers=headers or {}, json=body, request=REQUEST)
    return make_status_error(f"Error code: {status}", body=body, response=response)


def converted(exc: Exception) -> AINativeError:
    with pytest.raises(AINativeError) as info, map_anthropic_errors():
        raise exc
    assert info.value.__cause__ is exc or isinstance(exc, AINativeError)
    return info.value


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("overloaded_error", ProviderUnavailable),
        ("api_error", ProviderUnavailable),
        ("rate_limit_error", ProviderRateLimited),
        ("invalid_request_error", ProviderBadRequest),
        ("authentication_error", ProviderAuthError),
        ("timeout_error", ProviderTimeout),
        ("something_new", ProviderResponseError),
    ],
)
def test_error_event_in_stream_maps_by_type(error_type: str, expected: type[ProviderError]) -> None:
    exc = status_error(200, {"type": "error", "error": {"type": error_type, "message": "m"}})
    error = converted(exc)
    assert type(error) is expected
    assert "in stream" in str(error)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (anthropic.APITimeoutError(request=REQUEST), ProviderTimeout),
        (anthropic.APIConnectionError(request=REQUEST), ProviderUnavailable),
        (httpx2.ReadTimeout("slow"), ProviderTimeout),
        (httpx2.RemoteProtocolError("peer closed"), ProviderResponseError),
        (httpx2.ReadError("reset"), ProviderResponseError),
        (httpx2.ConnectError("refused"), ProviderUnavailable),
        (ValueError("Expecting value"), ProviderResponseError),
        (anthropic.AnthropicError("odd"), ProviderError),
        (status_error(418, {"error": {"type": "teapot", "message": "m"}}), ProviderBadRequest),
        (status_error(502, {"error": {"type": "api_error", "message": "m"}}), ProviderUnavailable),
    ],
)
def test_transport_and_other_errors(exc: Exception, expected: type[ProviderError]) -> None:
    assert type(converted(exc)) is expected


def test_ainative_errors_pass_through() -> None:
    original = InvalidRequestError("bad")
    assert converted(original) is original


def test_cancellation_is_not_converted() -> None:
    with pytest.raises(KeyboardInterrupt), map_anthropic_errors():
        raise KeyboardInterrupt


def test_rate_limit_carries_the_retry_after_header() -> None:
    error = converted(
        status_error(
            429,
            {"error": {"type": "rate_limit_error"}},
            {"retry-after-ms": "1500", "retry-after": "9"},
        )
    )
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after == 1.5
    error = converted(
        status_error(429, {"error": {"type": "rate_limit_error"}}, {"retry-after": "7"})
    )
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after == 7
