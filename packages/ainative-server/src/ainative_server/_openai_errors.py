"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

The status is ainative's (`error_status`), except that an invalid request is OpenAI's 400
rather than 422; ``code`` is ainative's error code (``model_not_found`` for an unknown
model, as OpenAI names it); ``type`` follows the status as OpenAI's does. A rate limit
carries ``Retry-After``, a refused key ``WWW-Authenticate``.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

from ainative_core import (
    AuthenticationError,
    UnknownModelError,
    error_fields,
    error_from_code,
)

from ._http import error_status
from ._openai_request import OpenAIRequestError

__all__ = ["error_object", "error_type", "openai_error_response", "stream_error_object"]


def error_type(status: int) -> str:
    """OpenAI's ``type`` for an error answered with ``status``."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status == 499:
        return "cancelled"  # a stream stopped by DELETE (OpenAI has no such error)
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_object(message: str, *, status: int, code: str | None, param: str | None = None) -> Any:
    """The JSON body of an error."""
    return {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}


def _status(exc: BaseException) -> int:
    status = error_status(exc)
    return 400 if status == 422 else status


def openai_error_response(exc: BaseException) -> JSONResponse:
    """The response refusing a request that failed with ``exc`` (not ours: a 500)."""
    fields = error_fields(exc)
    status = _status(exc)
    code = "model_not_found" if isinstance(exc, UnknownModelError) else fields["code"]
    param = exc.param if isinstance(exc, OpenAIRequestError) else None
    if isinstance(exc, UnknownModelError):
        param = "model"
    headers = {}
    retry_after = fields.get("retry_after")
    if retry_after is not None:
        headers["Retry-After"] = str(max(0, math.ceil(retry_after)))
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    body = error_object(fields["message"], status=status, code=code, param=param)
    return JSONResponse(body, status_code=status, headers=headers)


def stream_error_object(message: str, code: str | None) -> Any:
    """The error chunk of a stream that failed after its first chunk (a wire ``error``)."""
    status = _status(error_from_code(code, message))
    return error_object(message, status=status, code=code)
