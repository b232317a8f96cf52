"""ainative core: wire protocol, events, errors, plugin system and the echo provider."""

from __future__ import annotations

from ._accumulator import CompletionAccumulator as CompletionAccumulator
from ._accumulator import accumulate as accumulate
from ._accumulator import accumulate_async as accumulate_async
from ._body import ResponseBody as ResponseBody
from ._catalogue import ModelEntry as ModelEntry
from ._catalogue import ModelKind as ModelKind
from ._catalogue import model_catalogue as model_catalogue
from ._catalogue import resolve_model as resolve_model
from ._echo import EchoProvider as EchoProvider
from ._echo import echo_tokens as echo_tokens
from ._eventbus import SEED_EVENTS as SEED_EVENTS
from ._eventbus import BusEvent as BusEvent
from ._eventbus import EventBus as EventBus
from ._eventbus import Listener as Listener
from ._exceptions import AINativeError as AINativeError
from ._exceptions import AuthenticationError as AuthenticationError
from ._exceptions import CapacityError as CapacityError
from ._exceptions import ConfigurationError as ConfigurationError
from ._exceptions import ConnectError as ConnectError
from ._exceptions import ForbiddenError as ForbiddenError
from ._exceptions import HostNotAllowedError as HostNotAllowedError
from ._exceptions import HTTPStatusError as HTTPStatusError
from ._exceptions import InvalidRequestError as InvalidRequestError
from ._exceptions import NotFoundError as NotFoundError
from ._exceptions import PayloadTooLargeError as PayloadTooLargeError
from ._exceptions import PluginError as PluginError
from ._exceptions import ProducerLost as ProducerLost
from ._exceptions import ProtocolError as ProtocolError
from ._exceptions import ProviderAuthError as ProviderAuthError
from ._exceptions import ProviderBadRequest as ProviderBadRequest
from ._exceptions import ProviderError as ProviderError
from ._exceptions import ProviderRateLimited as ProviderRateLimited
from ._exceptions import ProviderResponseError as ProviderResponseError
from ._exceptions import ProviderTimeout as ProviderTimeout
from ._exceptions import ProviderUnavailable as ProviderUnavailable
from ._exceptions import RateLimited as RateLimited
from ._exceptions import RequestError as RequestError
from ._exceptions import ServerBusy as ServerBusy
from ._exceptions import StoreUnavailable as StoreUnavailable
from ._exceptions import StreamCancelled as StreamCancelled
from ._exceptions import StreamError as StreamError
from ._exceptions import StreamingError as StreamingError
from ._exceptions import StreamInterrupted as StreamInterrupted
from ._exceptions import StreamLimitExceeded as StreamLimitExceeded
from ._exceptions import StreamNotFoundError as StreamNotFoundError
from ._exceptions import ToolArgumentsError as ToolArgumentsError
from ._exceptions import ToolError as ToolError
from ._exceptions import ToolExecutionError as ToolExecutionError
from ._exceptions import ToolStepLimit as ToolStepLimit
from ._exceptions import ToolTimeout as ToolTimeout
from ._exceptions import TooManyFollowers as TooManyFollowers
from ._exceptions import TooManyStreams as TooManyStreams
from ._exceptions import TransportError as TransportError
from ._exceptions import UnknownActionError as UnknownActionError
from ._exceptions import UnknownModelError as UnknownModelError
from ._exceptions import UnknownProviderError as UnknownProviderError
from ._exceptions import UnknownToolError as UnknownToolError
from ._exceptions import UnknownTransportError as UnknownTransportError
from ._exceptions import UnsupportedMediaTypeError as UnsupportedMediaTypeError
from ._exceptions import error_from_code as error_from_code
from ._fake_upstream import FakeUpstream as FakeUpstream
from ._fake_upstream import RecordedRequest as RecordedRequest
from ._fake_upstream import UpstreamAnswer as UpstreamAnswer
from ._hookspecs import hookimpl as hookimpl
from ._hookspecs import hookspec as hookspec
from ._http_client import REHEARSALS as REHEARSALS
from ._http_client import HttpClientChoice as HttpClientChoice
from ._http_client import aiohttp_transport as aiohttp_transport
from ._http_client import rehearsal_server as rehearsal_server
from ._http_client import use_aiohttp as use_aiohttp
from ._lazy import lazy_exports as lazy_exports
from ._logging import ROOT_LOGGER as ROOT_LOGGER
from ._logging import get_logger as get_logger
from ._models import ActionRequest as ActionRequest
from ._models import Completion as Completion
from ._models import EventType as EventType
from ._models import FinishReason as FinishReason
from ._models import GenerateRequest as GenerateRequest
from ._models import Message as Message
from ._models import Role as Role
from ._models import StreamEvent as StreamEvent
from ._models import ToolCall as ToolCall
from ._models import ToolSpec as ToolSpec
from ._models import Usage as Usage
from ._options import parse_options as parse_options
from ._plugins import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from ._plugins import BrokenPlugin as BrokenPlugin
from ._plugins import NameClash as NameClash
from ._plugins import PluginInfo as PluginInfo
from ._plugins import Plugins as Plugins
from ._plugins import ProviderInfo as ProviderInfo
from ._plugins import TransportInfo as TransportInfo
from ._plugins import get_plugins as get_plugins
from ._plugins import not_found as not_found
from ._plugins import resolve_ref as resolve_ref
from ._plugins import set_plugins as set_plugins
from ._provider import BaseProvider as BaseProvider
from ._provider import Provider as Provider
from ._provider import build_request as build_request
from ._provider import open_stream as open_stream
from ._retry import RetryPolicy as RetryPolicy
from ._retry import parse_retry_after as parse_retry_after
from ._retry import retry_call as retry_call
from ._retry import retry_stream as retry_stream
from ._sse import SSE_DONE as SSE_DONE
from ._sse import ServerSentEvent as ServerSentEvent
from ._sse import SSEDecoder as SSEDecoder
from ._sse import encode_sse as encode_sse
from ._sse import encode_sse_comment as encode_sse_comment
from ._wire import DONE_SENTINEL as DONE_SENTINEL
from ._wire import RESUMABLE_HEADER as RESUMABLE_HEADER
from ._wire import RESUMABLE_PARAM as RESUMABLE_PARAM
from ._wire import WIRE_VERSION as WIRE_VERSION
from ._wire import WireEvent as WireEvent
from ._wire import error_fields as error_fields
from ._wire import wire_event_from_stream_event as wire_event_from_stream_event

__version__ = "0.1.0"

__all__ = [
    "DONE_SENTINEL",
    "ENTRY_POINT_GROUP",
    "REHEARSALS",
    "RESUMABLE_HEADER",
    "RESUMABLE_PARAM",
    "ROOT_LOGGER",
    "SEED_EVENTS",
    "SSE_DONE",
    "WIRE_VERSION",
    "AINativeError",
    "ActionRequest",
    "AuthenticationError",
    "BaseProvider",
    "BrokenPlugin",
    "BusEvent",
    "CapacityError",
    "Completion",
    "CompletionAccumulator",
    "ConfigurationError",
    "ConnectError",
    "EchoProvider",
    "EventBus",
    "EventType",
    "FakeUpstream",
    "FinishReason",
    "ForbiddenError",
    "GenerateRequest",
    "HTTPStatusError",
    "HostNotAllowedError",
    "HttpClientChoice",
    "InvalidRequestError",
    "Listener",
    "Message",
    "ModelEntry",
    "ModelKind",
    "NameClash",
    "NotFoundError",
    "PayloadTooLargeError",
    "PluginError",
    "PluginInfo",
    "Plugins",
    "ProducerLost",
    "ProtocolError",
    "Provider",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderError",
    "ProviderInfo",
    "ProviderRateLimited",
    "ProviderResponseError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "RecordedRequest",
    "RequestError",
    "ResponseBody",
    "RetryPolicy",
    "Role",
    "SSEDecoder",
    "ServerBusy",
    "ServerSentEvent",
    "StoreUnavailable",
    "StreamCancelled",
    "StreamError",
    "StreamEvent",
    "StreamInterrupted",
    "StreamLimitExceeded",
    "StreamNotFoundError",
    "StreamingError",
    "TooManyFollowers",
    "TooManyStreams",
    "ToolArgumentsError",
    "ToolCall",
    "ToolError",
    "ToolExecutionError",
    "ToolSpec",
    "ToolStepLimit",
    "ToolTimeout",
    "TransportError",
    "TransportInfo",
    "UnknownActionError",
    "UnknownModelError",
    "UnknownProviderError",
    "UnknownToolError",
    "UnknownTransportError",
    "UnsupportedMediaTypeError",
    "UpstreamAnswer",
    "Usage",
    "WireEvent",
    "__version__",
    "accumulate",
    "accumulate_async",
    "aiohttp_transport",
    "build_request",
    "echo_tokens",
    "encode_sse",
    "encode_sse_comment",
    "error_fields",
    "error_from_code",
    "get_logger",
    "get_plugins",
    "hookimpl",
    "hookspec",
    "lazy_exports",
    "model_catalogue",
    "not_found",
    "open_stream",
    "parse_options",
    "parse_retry_after",
    "rehearsal_server",
    "resolve_model",
    "resolve_ref",
    "retry_call",
    "retry_stream",
    "set_plugins",
    "use_aiohttp",
    "wire_event_from_stream_event",
]
