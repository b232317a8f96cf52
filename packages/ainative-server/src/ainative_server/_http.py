"""HTTP helpers shared by the endpoints and transports: error bodies, bounded JSON bodies,
and noticing that a client went away.

Every error answers ``{"error": {"code": ..., "message": ..., "retryable": ...}}`` (the
fields of `ainative_core.error_fields`) with the status of the `AINativeError`
(``Retry-After`` added for rate limits). Bodies are read here
rather than by FastAPI's body parameters so that the size limit (413) and the shape of
validation errors (422 naming the field) are the same for the app and for a mounted router.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive

from ainative_core import (
    RESUMABLE_HEADER,
    RESUMABLE_PARAM,
    AINativeError,
    InvalidRequestError,
    PayloadTooLargeError,
    error_fields,
    get_logger,
)

from ._access import require_json
from ._json import DEFAULT_MAX_DEPTH, parse_json
from ._tools import validation_message

if TYPE_CHECKING:
    from ._config import ServerConfig

__all__ = [
    "cancel_on_disconnect",
    "client_can_resume",
    "error_body",
    "error_headers",
    "error_response",
    "error_status",
    "log_unexpected",
    "read_json",
    "read_model",
    "validate",
]

M = TypeVar("M", bound=BaseModel)

ERROR_CODE_HEADER: Final = "X-AINative-Error-Code"

_YES: Final = frozenset({"1", "true", "yes", "on"})
_DRAIN_BYTES: Final = 1_048_576
_DRAIN_SECONDS: Final = 1.0

_logger = get_logger("ainative.server")


def error_body(exc: BaseException) -> dict[str, Any]:
    """``{"error": {code, message, retryable[, retry_after]}}`` for ``exc``."""
    return {"error": error_fields(exc)}


def error_headers(exc: BaseException) -> dict[str, str]:
    """``X-AINative-Error-Code`` (the code, for a client that cannot read the body, such as
    a refused WebSocket handshake), and ``Retry-After`` for an error with a delay."""
    fields = error_fields(exc)
    headers = {ERROR_CODE_HEADER: fields["code"]}
    retry_after = fields.get("retry_after")
    if retry_after is not None:
        headers["Retry-After"] = str(max(0, math.ceil(retry_after)))
    return headers


def error_status(exc: BaseException) -> int:
    """The HTTP status a request failing with ``exc`` answers (500 unless it is ours)."""
    status = exc.status if isinstance(exc, AINativeError) else 500
    return status if 400 <= status <= 599 else 500


def log_unexpected(exc: BaseException, event: str = "request.failed") -> None:
    """Log ``exc`` with its traceback unless it is an `AINativeError` (a request's own
    failure, reported to its client): the one place a failing request is logged."""
    if not isinstance(exc, AINativeError):
        _logger.error(event, exc_info=exc)


def error_response(exc: BaseException) -> JSONResponse:
    """The JSON error response for ``exc`` (an exception that is not ours: 500)."""
    return JSONResponse(error_body(exc), status_code=error_status(exc), headers=error_headers(exc))


_HTTP_CODES: Final = {404: "not_found", 405: "method_not_allowed"}


async def framework_error_response(request: Request, exc: Exception) -> Response:
    """The framework's own errors (no route, a method a route does not take) in the same
    ``{"error": {...}}`` shape as ours, its headers (``Allow``) kept."""
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", None) or "error"
    code = _HTTP_CODES.get(status, "http_error")
    if status == 404:
        detail = f"no route {request.method} {request.url.path}"
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    body = {"error": {"code": code, "message": str(detail), "retryable": False}}
    headers = dict(getattr(exc, "headers", None) or {})
    headers[ERROR_CODE_HEADER] = code
    return JSONResponse(body, status_code=status, headers=headers)


def client_can_resume(conn: HTTPConnection) -> bool:
    """Whether the client declared it resumes after a dropped connection.

    It says so with the ``X-AINative-Resumable: 1`` header or the ``?resumable=1`` query
    parameter (for browsers' ``WebSocket`` and ``EventSource``, which cannot set headers).
    Only such a client's disconnect leaves its stream running for ``resume_grace``; any
    other client's disconnect cancels the stream at once.
    """
    value = conn.headers.get(RESUMABLE_HEADER) or conn.query_params.get(RESUMABLE_PARAM) or ""
    return value.strip().lower() in _YES


async def read_json(
    request: Request,
    limit: int,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    plain_text: ServerConfig | None = None,
) -> Any:
    """The request body as JSON; `PayloadTooLargeError` above ``limit`` bytes.

    The body must be declared as JSON (`require_json`, which ``plain_text`` is passed to;
    415 otherwise). Strict JSON (see
    `parse_json`): no ``NaN``, numbers in range, nesting at most ``max_depth`` deep, no lone
    surrogates; anything else is `InvalidRequestError` (422).
    """
    require_json(request, plain_text)
    declared = request.headers.get("content-length")
    too_large: PayloadTooLargeError | None = None
    if declared is not None and declared.isascii() and declared.isdigit():
        size_declared = int(declared.lstrip("0")[:19] or "0")  # no 4,300-digit int()
        if size_declared > limit:
            too_large = PayloadTooLargeError(
                f"request body of {declared[:20]} bytes exceeds {limit} bytes"
            )
    chunks: list[bytes] = []
    size = 0
    async with aclosing(request.stream()) as body:
        if too_large is None:
            async for chunk in body:
                size += len(chunk)
                if size > limit:
                    too_large = PayloadTooLargeError(f"request body exceeds {limit} bytes")
                    break
                chunks.append(chunk)
        if too_large is not None:
            await _drain(body)
            raise too_large
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequestError("request body is empty; send a JSON object")
    return parse_json(raw, max_depth=max_depth, what="request body")


async def _drain(body: AsyncIterator[bytes]) -> None:
    """Read (and drop) a little more of a refused body, briefly.

    A server that closes with unread request bytes makes the kernel reset the connection,
    and the client may then see the reset instead of the 413.
    """
    dropped = 0
    with anyio.move_on_after(_DRAIN_SECONDS):
        async for chunk in body:
            dropped += len(chunk)
            if dropped > _DRAIN_BYTES:
                break


async def read_model(
    request: Request, model: type[M], limit: int, *, max_depth: int = DEFAULT_MAX_DEPTH
) -> M:
    """The body validated as ``model``; 422 (`InvalidRequestError`) names the bad fields."""
    data = await read_json(request, limit, max_depth=max_depth)
    return validate(model, data)


def validate(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError(validation_message(exc, prefix)) from None


@asynccontextmanager
async def cancel_on_disconnect(receive: Receive) -> AsyncIterator[anyio.CancelScope]:
    """Run the block until it ends or the HTTP client goes away, whichever comes first.

    The block is cancelled when ``http.disconnect`` arrives: the scope it is given then has
    ``cancelled_caught``. Only for a request whose body has been read: the watcher consumes
    what ``receive`` gives.
    """
    error: Exception | None = None
    body = anyio.CancelScope()
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            body.cancel()

        tg.start_soon(watch)
        try:
            with body:
                yield body
        except Exception as exc:  # leaves as itself, not in the task group's ExceptionGroup
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error
