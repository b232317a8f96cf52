"""The OpenAI error table: every vendor error maps into the ainative tree."""

from __future__ import annotations

import email.utils
import json
import time

import httpx2
import openai
import pytest

from ainative_core import (
    AINativeError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
)
from ainative_openai import ERROR_TABLE, map_openai_errors
from ainative_openai._errors import stream_error

REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(cls: type[openai.APIStatusError], status: int, **headers: str) -> Exception:
    response = httpx2.Response(status, headers=headers, request=REQUEST)
    return cls(f"status {status}", response=response, body=None)


CASES: list[tuple[Exception, type[AINativeError]]] = [
    (status_error(openai.AuthenticationError, 401), ProviderAuthError),
    (status_error(openai.PermissionDeniedError, 403), ProviderAuthError),
    (status_error(openai.RateLimitError, 429), ProviderRateLimited),
    (status_error(openai.BadRequestError, 400), ProviderBadRequest),
    (status_error(openai.NotFoundError, 404), ProviderBadRequest),
    (status_error(openai.ConflictError, 409), ProviderBadRequest),
    (status_error(openai.UnprocessableEntityError, 422), ProviderBadRequest),
    (status_error(openai.InternalServerError, 500), ProviderUnavailable),
    (status_error(openai.APIStatusError, 502), ProviderUnavailable),
    (status_error(openai.APIStatusError, 418), ProviderBadRequest),
    (openai.APITimeoutError(request=REQUEST), ProviderTimeout),
    (openai.APIConnectionError(request=REQUEST), ProviderUnavailable),
    (openai.APIError("in-stream error", REQUEST, body=None), ProviderResponseError),
    (openai.OpenAIError("client misconfigured"), ProviderError),
    (httpx2.ReadTimeout("slow", request=REQUEST), ProviderTimeout),
    # Raw transport errors come from reading a body that had started: a broken stream.
    (httpx2.RemoteProtocolError("dropped", request=REQUEST), ProviderResponseError),
    (httpx2.ReadError("reset", request=REQUEST), ProviderResponseError),
    (httpx2.ConnectError("refused", request=REQUEST), ProviderUnavailable),
    (json.JSONDecodeError("bad", "{", 0), ProviderResponseError),
]


@pytest.mark.parametrize(("vendor", "expected"), CASES, ids=lambda v: type(v).__name__)
def test_vendor_errors_map_to_the_tree(vendor: Exception, expected: type[AINativeError]) -> None:
    with pytest.raises(AINativeError) as info, map_openai_errors():
        raise vendor
    assert type(info.value) is expected
    assert info.value.__cause__ is vendor


def test_no_row_is_shadowed_by_an_earlier_one() -> None:
    vendor_classes = [cls for cls, _ in ERROR_TABLE]
    for i, cls in enumerate(vendor_classes):
        earlier = [row for row in vendor_classes[:i] if issubclass(cls, row)]
        assert not earlier, f"{cls.__name__} is caught first by {earlier}"


def test_ainative_errors_and_unknown_errors_pass_through() -> None:
    with pytest.raises(ProviderAuthError), map_openai_errors():
        raise ProviderAuthError("already mapped")
    with pytest.raises(KeyError), map_openai_errors():
        raise KeyError("a bug, not a vendor error")


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after": "12"}, 12.0), ({"Retry-After-Ms": "250", "retry-after": "9"}, 0.25)],
)
def test_rate_limit_error_keeps_retry_after(headers: dict[str, str], seconds: float) -> None:
    with pytest.raises(ProviderRateLimited) as info, map_openai_errors():
        raise status_error(openai.RateLimitError, 429, **headers)
    assert info.value.retry_after == seconds
    assert info.value.status == 429


def test_rate_limit_retry_after_as_an_http_date() -> None:
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    with pytest.raises(ProviderRateLimited) as info, map_openai_errors():
        raise status_error(openai.RateLimitError, 429, **{"retry-after": date})
    assert 25 <= (info.value.retry_after or 0) <= 31


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"type": "rate_limit_exceeded", "message": "m"}, ProviderRateLimited),
        ({"type": "server_error", "message": "m"}, ProviderUnavailable),
        ({"code": "overloaded", "message": "m"}, ProviderUnavailable),
        ({"type": "invalid_request_error", "message": "m"}, ProviderResponseError),
        ("just text", ProviderResponseError),
    ],
)
def test_error_objects_in_the_stream(error: object, expected: type[ProviderError]) -> None:
    assert type(stream_error(error)) is expected
