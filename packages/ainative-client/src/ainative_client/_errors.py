"""Map httpx and httpx-ws exceptions into the ainative tree, in one place.

Every transport wraps its network calls and its stream iteration in `map_transport_errors`,
so no ``httpx.*`` or ``httpx_ws.*`` exception reaches a caller. Exception groups raised by
task groups (httpx-ws runs its reader in one) are unwrapped when they hold one error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

import httpx
import httpx_ws

from ainative_core import (
    AINativeError,
    ConnectError,
    HTTPStatusError,
    ProtocolError,
    ProviderRateLimited,
    StreamInterrupted,
    TransportError,
    error_from_code,
    parse_retry_after,
)

__all__ = [
    "error_code_from_body",
    "error_message_from_body",
    "map_exception",
    "map_transport_errors",
    "refusal_error",
    "status_error",
]

ERROR_CODE_HEADER: Final = "X-AINative-Error-Code"

# Checked in order: the first class the exception is an instance of wins.
_HTTPX_TABLE: Final[tuple[tuple[type[Exception], type[AINativeError]], ...]] = (
    (httpx.ConnectError, ConnectError),
    (httpx.ConnectTimeout, ConnectError),
    (httpx.TimeoutException, ConnectError),
    # A body cut short (peer closed mid-chunk) and a dropped socket both mean the stream was
    # interrupted: the engine may resume it.
    (httpx.RemoteProtocolError, StreamInterrupted),
    (httpx.ReadError, StreamInterrupted),
    (httpx.WriteError, StreamInterrupted),
    (httpx.CloseError, StreamInterrupted),
    (httpx.LocalProtocolError, ProtocolError),
    (httpx.UnsupportedProtocol, ConnectError),
    (httpx.DecodingError, ProtocolError),
    (httpx.TransportError, ConnectError),
    (httpx_ws.WebSocketDisconnect, StreamInterrupted),
    (httpx_ws.WebSocketNetworkError, StreamInterrupted),
    (httpx_ws.WebSocketInvalidTypeReceived, ProtocolError),
    (httpx_ws.HTTPXWSException, ProtocolError),
    (httpx.HTTPError, TransportError),
)


def error_message_from_body(body: bytes) -> str:
    """The human message of an error response body (``error``/``detail``/``message`` key)."""
    try:
        obj = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:200]
    if isinstance(obj, dict):
        for key in ("error", "detail", "message"):
            value = obj.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
            if value is not None:
                return json.dumps(value)[:200]
    return json.dumps(obj)[:200]


def _error_object(body: bytes) -> dict[str, object] | None:
    """The ``error`` object of an ainative server's error body, if it is one."""
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    error = obj.get("error") if isinstance(obj, dict) else None
    return error if isinstance(error, dict) else None


def error_code_from_body(body: bytes) -> str | None:
    """The ainative error code of an ainative server's error body (``{"error": {"code"}}``)."""
    code = (_error_object(body) or {}).get("code")
    return code if isinstance(code, str) else None


def refusal_error(
    status_code: int,
    fields: Mapping[str, object] | None,
    *,
    reason: str = "",
    headers: Mapping[str, str] | None = None,
) -> AINativeError:
    """The error for a request the server refused, from its status and its error fields.

    ``fields`` are what an ainative server says of the error (``code``, ``message``,
    ``retryable``, ``retry_after``): the ``error`` object of an HTTP error body, or the
    id-less ``error`` frame of a WebSocket refusal, so both transports raise the same
    exception with the same fields. A provider failure reported before the first token
    (a ``provider_*`` code) is raised as that provider error, with a rate limit's
    ``retry_after``; any other refusal is an `HTTPStatusError` whose ``server_code`` is
    the code (a 404 with a code is "unknown provider", one without is "no such route").
    """
    fields = fields or {}
    message = fields.get("message")
    detail = message if isinstance(message, str) else ""
    code = fields.get("code")
    server_code = code if isinstance(code, str) else None
    # The exact seconds first: the Retry-After header is rounded up to whole seconds.
    exact = fields.get("retry_after")
    retry_after = (
        float(exact)
        if isinstance(exact, (int, float)) and not isinstance(exact, bool)
        else parse_retry_after(headers)
    )
    if server_code is not None and server_code.startswith("provider_"):
        error = error_from_code(server_code, detail or f"{status_code} {reason}".strip())
        if isinstance(error, ProviderRateLimited):
            error.retry_after = retry_after
        return error
    message = f"{status_code} {reason}".rstrip() + (f": {detail}" if detail else "")
    return HTTPStatusError(
        message, status_code=status_code, server_code=server_code, retry_after=retry_after
    )


def status_error(
    status_code: int, reason: str, body: bytes, headers: Mapping[str, str] | None = None
) -> AINativeError:
    """The error for an HTTP error response (`refusal_error` of its body's fields)."""
    error = _error_object(body)
    fields: dict[str, object] = dict(error) if error is not None else {}
    if not isinstance(fields.get("message"), str) and body:
        fields["message"] = error_message_from_body(body)
    if "code" not in fields and headers is not None and ERROR_CODE_HEADER in headers:
        fields["code"] = headers[ERROR_CODE_HEADER]  # e.g. a refused WebSocket handshake
    return refusal_error(status_code, fields, reason=reason, headers=headers)


def _leaf(exc: BaseException) -> BaseException:
    """The single error inside (nested) exception groups, or the exception itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def map_exception(exc: BaseException) -> AINativeError | None:
    """The ainative error for an outside exception (None when it is not ours to map)."""
    exc = _leaf(exc)
    if isinstance(exc, AINativeError):
        return exc
    if isinstance(exc, httpx_ws.WebSocketUpgradeError):
        # httpx-ws closes the refused response unread: its headers tell the error code.
        response = exc.response
        return status_error(response.status_code, response.reason_phrase, b"", response.headers)
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        return HTTPStatusError(
            f"{response.status_code} {response.reason_phrase}", status_code=response.status_code
        )
    for outside, ours in _HTTPX_TABLE:
        if isinstance(exc, outside):
            text = str(exc) or type(exc).__name__
            return ours(text)
    if isinstance(exc, (OSError, json.JSONDecodeError)):
        kind = StreamInterrupted if isinstance(exc, OSError) else ProtocolError
        return kind(f"{type(exc).__name__}: {exc}")
    return None


@contextmanager
def map_transport_errors() -> Iterator[None]:
    """Re-raise httpx / httpx-ws errors (and groups of one) as ainative `TransportError`s."""
    try:
        yield
    except (Exception, BaseExceptionGroup) as exc:
        leaf = _leaf(exc)
        if not isinstance(leaf, Exception):
            # GeneratorExit or a cancellation wrapped by a task group on its way out: it
            # must leave as itself (a generator being closed checks that it does).
            if leaf is exc:
                raise
            raise leaf from None
        mapped = map_exception(leaf)
        if mapped is None:
            raise
        if mapped is leaf:
            if leaf is exc:
                raise
            raise leaf from None
        raise mapped from leaf
