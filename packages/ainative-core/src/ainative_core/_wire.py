"""Wire protocol v1: the event objects an ainative server sends, and their encodings.

A wire event is the JSON object the seed's clients read: ``{"type":"token","data":"Hi"}``.
Over SSE it travels as ``id: N`` + ``data: <json>``; over WebSocket as one text frame with
``"id"`` and ``"stream_id"`` added. The stream ends with ``done`` and, on SSE, ``data: [DONE]``.

Encoding runs once per token, so the token path builds its JSON by concatenation around the
C string encoder of the ``json`` module instead of going through a dict and ``json.dumps``.
"""

from __future__ import annotations

import json
import json.scanner
from dataclasses import dataclass
from typing import Any, Final, final

from ._exceptions import AINativeError
from ._models import StreamEvent, Usage

__all__ = [
    "DONE_SENTINEL",
    "RESUMABLE_HEADER",
    "RESUMABLE_PARAM",
    "WIRE_VERSION",
    "WireEvent",
    "error_fields",
    "wire_event_from_stream_event",
]

WIRE_VERSION: Final = 1
DONE_SENTINEL: Final = "[DONE]"
RESUMABLE_HEADER: Final = "X-AINative-Resumable"
"""Request header (``1``) by which a client says it resumes a stream after a dropped
connection: only then does the server keep the stream running for ``resume_grace``."""
RESUMABLE_PARAM: Final = "resumable"
"""The same declaration as a query parameter (``?resumable=1``), for clients that cannot
set headers (a browser's ``WebSocket`` and ``EventSource``)."""
INTERNAL_ERROR_MESSAGE: Final = "internal server error"

# json.encoder.encode_basestring is the C ``c_encode_basestring`` when available: it quotes
# and escapes a str without ASCII-escaping the rest, like JavaScript's JSON.stringify.
_quote = json.encoder.encode_basestring
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
# The token path of `WireEvent.from_json` parses only the value after this prefix, with the
# json module's own (C) value scanner: the same strict parsing as ``json.loads``, without its
# Python-level wrapping and without building and reading a dict.
_TOKEN_PREFIX: Final = '{"type":"token","data":'
_TOKEN_START: Final = len(_TOKEN_PREFIX)
_scan_value = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed


@final
@dataclass(frozen=True, slots=True)
class WireEvent:
    """One server-to-client event: ``type``, ``data`` and, for errors, ``code``/``retryable``."""

    type: str
    data: Any = None
    code: str | None = None
    retryable: bool | None = None

    @classmethod
    def token(cls, text: str) -> WireEvent:
        return cls("token", text)

    @classmethod
    def done(cls, finish_reason: str = "stop", usage: dict[str, Any] | None = None) -> WireEvent:
        data: dict[str, Any] = {"finish_reason": finish_reason}
        if usage is not None:
            data["usage"] = usage
        return cls("done", data)

    @classmethod
    def failure(cls, message: str, *, code: str, retryable: bool = False) -> WireEvent:
        return cls("error", message, code=code, retryable=retryable)

    @classmethod
    def failure_of(cls, exc: BaseException, *, internal_message: str | None = None) -> WireEvent:
        """The ``error`` event reporting ``exc`` (see `error_fields`).

        ``internal_message`` replaces the generic message of an exception that is not an
        `AINativeError` (the seed's ``stream_tokens`` reports the exception's own text).
        """
        fields = error_fields(exc)
        message = fields["message"]
        if internal_message is not None and not isinstance(exc, AINativeError):
            message = internal_message
        return cls("error", message, code=fields["code"], retryable=fields["retryable"])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.data is not None:
            out["data"] = self.data
        if self.code is not None:
            out["code"] = self.code
        if self.retryable is not None:
            out["retryable"] = self.retryable
        return out

    def to_json(self) -> str:
        """Compact JSON (no spaces, non-ASCII kept); the token case takes a fast path."""
        if (
            self.type == "token"
            and type(self.data) is str
            and self.code is None
            and self.retryable is None
        ):
            return '{"type":"token","data":' + _quote(self.data) + "}"
        return _dumps(self.to_dict())

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> WireEvent:
        kind = obj.get("type")
        if not isinstance(kind, str):
            raise ValueError(f"wire event without a string 'type': {obj!r}")
        code = obj.get("code")
        retryable = obj.get("retryable")
        return cls(
            kind,
            obj.get("data"),
            code=code if isinstance(code, str) else None,
            retryable=retryable if isinstance(retryable, bool) else None,
        )

    @classmethod
    def from_json(cls, text: str) -> WireEvent:
        """Parse a wire event; ``{"type":"token","data":...}`` as a server writes it is
        recognised by its prefix and only its value is parsed."""
        if text.startswith(_TOKEN_PREFIX) and text.endswith("}"):
            try:
                value, end = _scan_value(text, _TOKEN_START)
            except (StopIteration, ValueError):
                pass  # not valid here: json.loads below gives the proper error
            else:
                if end == len(text) - 1:
                    return cls("token", value)
        obj = json.loads(text)
        if not isinstance(obj, dict):
            raise ValueError(f"wire event is not a JSON object: {text[:80]!r}")
        return cls.from_dict(obj)


_TOOL_CALL_PHASES: Final = {
    "tool_call_start": "start",
    "tool_call_delta": "delta",
    "tool_call_end": "end",
}


def error_fields(exc: BaseException) -> dict[str, Any]:
    """What a server tells its client about an error: ``code``, ``message``, ``retryable``,
    and ``retry_after`` (seconds) when the error has one.

    This is the one mapping behind the HTTP error bodies, WebSocket refusals and ``error``
    events. Only an `AINativeError` speaks for itself; any other exception is reported as
    ``internal_error`` with a generic message, since its text may hold internals.
    """
    if not isinstance(exc, AINativeError):
        return {"code": "internal_error", "message": INTERNAL_ERROR_MESSAGE, "retryable": False}
    fields: dict[str, Any] = {"code": exc.code, "message": exc.message, "retryable": exc.retryable}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)) and not isinstance(retry_after, bool):
        fields["retry_after"] = retry_after
    return fields


def wire_event_from_stream_event(
    event: StreamEvent, *, usage: Usage | None = None
) -> WireEvent | None:
    """Map a provider event to its wire event; ``finish`` maps to ``done``.

    ``usage`` is reported by a ``finish`` that carries none (a provider that sent its
    ``usage`` event earlier). Returns None for events that have no wire form (an empty text
    delta).
    """
    kind = event.type
    if kind == "text":
        return WireEvent("token", event.text) if event.text else None
    if kind == "reasoning":
        return WireEvent("reasoning", event.text) if event.text else None
    phase = _TOOL_CALL_PHASES.get(kind)
    if phase is not None:
        data: dict[str, Any] = {"phase": phase, "id": event.tool_call_id}
        if phase == "start":
            data["name"] = event.tool_name
        elif phase == "delta":
            data["args_delta"] = event.args_delta
        data["index"] = event.index
        return WireEvent("tool_call", data)
    if kind == "usage":
        return WireEvent("usage", event.usage.model_dump() if event.usage else {})
    if kind == "finish":
        final_usage = event.usage or usage
        return WireEvent.done(
            event.finish_reason or "stop", final_usage.model_dump() if final_usage else None
        )
    if kind == "error":
        return WireEvent.failure(
            event.text or "provider error",
            code=event.code or "provider_error",
            retryable=bool(event.retryable),
        )
    return WireEvent("metadata", event.provider_metadata or {})
