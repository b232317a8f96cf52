"""The one exception tree of ainative.

Every error an ainative package raises on purpose is an `AINativeError`. Errors are grouped
by the phase they belong to; each class carries the HTTP ``status`` a server answers with
before the first byte, the wire ``code`` it sends in an ``error`` event after it, and whether
retrying the same request may succeed (``retryable``)::

    AINativeError
    ├── ConfigurationError                   bad settings or environment
    │   └── PluginError                      a plugin failed to load or register
    ├── RequestError                         the caller's request is wrong            (4xx)
    │   ├── InvalidRequestError              422
    │   ├── AuthenticationError              401  (ainative's own API keys)
    │   ├── PayloadTooLargeError             413
    │   ├── UnsupportedMediaTypeError        415  a body that is not declared as JSON
    │   ├── ForbiddenError                   403  a WebSocket from an origin not allowed
    │   ├── HostNotAllowedError              400  a ``Host`` not in ``allowed_hosts``
    │   └── NotFoundError                    404
    │       ├── UnknownProviderError
    │       ├── UnknownModelError            a model name no provider answers to
    │       ├── UnknownTransportError
    │       ├── UnknownToolError
    │       ├── UnknownActionError
    │       └── StreamNotFoundError          unknown or expired stream id
    ├── ProviderError                        the LLM backend failed
    │   ├── ProviderAuthError                401  bad or missing vendor key
    │   ├── ProviderBadRequest               400  vendor rejected the request
    │   ├── ProviderRateLimited              429  with ``retry_after`` seconds
    │   ├── ProviderUnavailable              503  connect error, 5xx, overload
    │   │   └── ProviderTimeout              504
    │   └── ProviderResponseError            502  malformed or truncated vendor stream
    ├── CapacityError                        the server is at one of its caps
    │   ├── TooManyStreams                   429  a client's concurrent runs
    │   ├── TooManyFollowers                 429  one stream's followers
    │   ├── RateLimited                      429  a client's request rate
    │   └── ServerBusy                       503  the server's concurrent runs or memory
    ├── ToolError
    │   ├── ToolArgumentsError               422  arguments do not fit the schema
    │   ├── ToolExecutionError               500  the tool itself failed
    │   │   └── ToolTimeout                  504  it outran the server's ``tool_timeout``
    │   └── ToolStepLimit                         the model still called tools after ``max_steps``
    ├── TransportError                       client side: talking to an ainative server
    │   ├── ConnectError                     could not connect / connection lost
    │   ├── ProtocolError                    the peer broke the wire protocol
    │   └── HTTPStatusError                  the server answered with an error status
    └── StreamError                          a stream's own life cycle
        ├── StreamingError                   misuse, e.g. start while a stream is active
        ├── StreamCancelled                  the stream was stopped
        ├── StreamLimitExceeded              a run outgrew ``max_events`` / ``max_bytes``
        ├── StreamInterrupted                ended without ``done`` and could not resume
        ├── ProducerLost                     503  the process producing a run stopped
        └── StoreUnavailable                 503  the shared event store cannot be reached
"""

from __future__ import annotations

__all__ = [
    "AINativeError",
    "AuthenticationError",
    "CapacityError",
    "ConfigurationError",
    "ConnectError",
    "ForbiddenError",
    "HTTPStatusError",
    "HostNotAllowedError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PluginError",
    "ProducerLost",
    "ProtocolError",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderResponseError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "RequestError",
    "ServerBusy",
    "StoreUnavailable",
    "StreamCancelled",
    "StreamError",
    "StreamInterrupted",
    "StreamLimitExceeded",
    "StreamNotFoundError",
    "StreamingError",
    "TooManyFollowers",
    "TooManyStreams",
    "ToolArgumentsError",
    "ToolError",
    "ToolExecutionError",
    "ToolStepLimit",
    "ToolTimeout",
    "TransportError",
    "UnknownActionError",
    "UnknownModelError",
    "UnknownProviderError",
    "UnknownToolError",
    "UnknownTransportError",
    "UnsupportedMediaTypeError",
    "error_from_code",
]


class AINativeError(Exception):
    """Base of every error ainative raises on purpose."""

    # Class-level defaults; an instance may carry its own (an `HTTPStatusError`'s status).
    status: int = 500
    code: str = "internal_error"
    retryable: bool = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message or self.__class__.__name__

    def __str__(self) -> str:
        return self.message


# -- configuration -------------------------------------------------------------------------


class ConfigurationError(AINativeError):
    code = "configuration_error"


class PluginError(ConfigurationError):
    code = "plugin_error"


# -- request -------------------------------------------------------------------------------


class RequestError(AINativeError):
    status = 400
    code = "bad_request"


class InvalidRequestError(RequestError):
    status = 422
    code = "invalid_request"


class AuthenticationError(RequestError):
    status = 401
    code = "unauthorized"


class PayloadTooLargeError(RequestError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(RequestError):
    status = 415
    code = "unsupported_media_type"


class ForbiddenError(RequestError):
    status = 403
    code = "forbidden"


class HostNotAllowedError(RequestError):
    status = 400
    code = "host_not_allowed"


class NotFoundError(RequestError, LookupError):
    """A name that is not installed or registered; the message lists what is."""

    status = 404
    code = "not_found"


class UnknownProviderError(NotFoundError):
    code = "unknown_provider"


class UnknownModelError(NotFoundError):
    code = "unknown_model"


class UnknownTransportError(NotFoundError):
    code = "unknown_transport"


class UnknownToolError(NotFoundError):
    code = "unknown_tool"


class UnknownActionError(NotFoundError):
    code = "unknown_action"


class StreamNotFoundError(NotFoundError):
    code = "stream_not_found"


# -- provider ------------------------------------------------------------------------------


class ProviderError(AINativeError):
    status = 502
    code = "provider_error"


class ProviderAuthError(ProviderError):
    status = 401
    code = "provider_auth_error"


class ProviderBadRequest(ProviderError):
    status = 400
    code = "provider_bad_request"


class ProviderRateLimited(ProviderError):
    status = 429
    code = "provider_rate_limited"
    retryable = True

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    status = 503
    code = "provider_unavailable"
    retryable = True


class ProviderTimeout(ProviderUnavailable):
    status = 504
    code = "provider_timeout"


class ProviderResponseError(ProviderError):
    status = 502
    code = "provider_response_error"
    retryable = True


# -- caps --------------------------------------------------------------------------------


class CapacityError(AINativeError):
    """A request refused because the server is at one of its caps; retry after
    ``retry_after`` seconds."""

    status = 503
    code = "capacity_exceeded"
    retryable = True

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyStreams(CapacityError):
    status = 429
    code = "too_many_streams"


class TooManyFollowers(CapacityError):
    status = 429
    code = "too_many_followers"


class RateLimited(CapacityError):
    """A client sent requests (or WebSocket frames) faster than the server's rate limit."""

    status = 429
    code = "rate_limited"


class ServerBusy(CapacityError):
    status = 503
    code = "server_busy"


# -- tools ---------------------------------------------------------------------------------


class ToolError(AINativeError):
    code = "tool_error"


class ToolArgumentsError(ToolError):
    status = 422
    code = "tool_arguments_error"


class ToolExecutionError(ToolError):
    status = 500
    code = "tool_execution_error"


class ToolTimeout(ToolExecutionError):
    """A tool call took longer than it is allowed (the server's ``tool_timeout``)."""

    status = 504
    code = "tool_timeout"


class ToolStepLimit(ToolError):
    """A tool loop made ``max_steps`` provider calls and the model still called tools."""

    code = "max_steps_reached"


# -- transport (client side) ---------------------------------------------------------------


class TransportError(AINativeError):
    code = "transport_error"
    retryable = True


class ConnectError(TransportError):
    code = "connect_error"


class ProtocolError(TransportError):
    code = "protocol_error"
    retryable = False


class HTTPStatusError(TransportError):
    """The server refused the request: ``status_code`` (also ``status``) and its message.

    ``server_code`` is the ainative error code of the server's JSON body when it sent one
    (``"unknown_provider"`` on a 404 tells a missing provider from a missing route), and
    ``retry_after`` the seconds of a ``Retry-After`` header.
    """

    code = "http_status_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        server_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.status = status_code
        self.server_code = server_code
        self.retry_after = retry_after


# -- stream --------------------------------------------------------------------------------


class StreamError(AINativeError):
    code = "stream_error"


class StreamingError(StreamError):
    code = "streaming_error"


class StreamCancelled(StreamError):
    status = 499
    code = "cancelled"


class StreamLimitExceeded(StreamError):
    status = 507
    code = "stream_limit_exceeded"


class StreamInterrupted(StreamError):
    code = "stream_interrupted"
    retryable = True


class ProducerLost(StreamError):
    """The server process producing a run stopped (its lease ran out) before the run ended.

    Another process of the same deployment ends the run with this error; retrying the
    request starts a new run.
    """

    status = 503
    code = "producer_lost"
    retryable = True


class StoreUnavailable(StreamError):
    """The event store shared by a deployment's processes (Redis) cannot be reached."""

    status = 503
    code = "store_unavailable"
    retryable = True


def _all_subclasses(cls: type[AINativeError]) -> list[type[AINativeError]]:
    out: list[type[AINativeError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_from_code(code: str | None, message: str) -> AINativeError:
    """Rebuild an error from a wire ``code`` (unknown codes give `StreamError`)."""
    classes: list[type[AINativeError]] = [AINativeError, *_all_subclasses(AINativeError)]
    for cls in classes:
        if cls.code == code and cls is not HTTPStatusError:
            return cls(message)
    return StreamError(message)
