"""ainative server: stream hub, SSE/WebSocket transports, the OpenAI-compatible API, tools
and the ``serve`` command.

Names are imported on first access: loading the plugin (``ainative_server._plugin``)
imports this package, and must not import FastAPI, Starlette or the server stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainative_core import lazy_exports

if TYPE_CHECKING:
    from ._actions import Action as Action
    from ._actions import ActionHandler as ActionHandler
    from ._agui import AGUIEncoding as AGUIEncoding
    from ._agui import AGUITransport as AGUITransport
    from ._aisdk import UIMessageStreamEncoding as UIMessageStreamEncoding
    from ._aisdk import UIMessageStreamTransport as UIMessageStreamTransport
    from ._aisdk_ws import UIChunkEncoding as UIChunkEncoding
    from ._aisdk_ws import UIMessageSocketTransport as UIMessageSocketTransport
    from ._config import ServerConfig as ServerConfig
    from ._encoding import Batch as Batch
    from ._encoding import Encoder as Encoder
    from ._encoding import Encoding as Encoding
    from ._endpoints import ToolRequest as ToolRequest
    from ._gc import tune_gc as tune_gc
    from ._http import cancel_on_disconnect as cancel_on_disconnect
    from ._http import client_can_resume as client_can_resume
    from ._http import error_body as error_body
    from ._http import error_response as error_response
    from ._http import error_status as error_status
    from ._http import read_json as read_json
    from ._http import read_model as read_model
    from ._hub import Run as Run
    from ._hub import RunSpec as RunSpec
    from ._hub import StreamHub as StreamHub
    from ._manager import EventSink as EventSink
    from ._manager import StreamManager as StreamManager
    from ._openai_api import OpenAIAPI as OpenAIAPI
    from ._openai_encoding import OpenAIEncoding as OpenAIEncoding
    from ._parts import PartsEncoding as PartsEncoding
    from ._parts import PartsResponse as PartsResponse
    from ._redis import RedisEventStore as RedisEventStore
    from ._response import Refusal as Refusal
    from ._response import StreamResponse as StreamResponse
    from ._server import AINativeServer as AINativeServer
    from ._server import create_app as create_app
    from ._server import create_router as create_router
    from ._server import create_server as create_server
    from ._sse import SSEEncoding as SSEEncoding
    from ._sse import SSETransport as SSETransport
    from ._sse import parse_last_event_id as parse_last_event_id
    from ._store import EventPush as EventPush
    from ._store import EventStore as EventStore
    from ._store import InMemoryEventStore as InMemoryEventStore
    from ._store import ReadResult as ReadResult
    from ._store import StoredEvent as StoredEvent
    from ._store import StreamStats as StreamStats
    from ._streaming import stream_tokens as stream_tokens
    from ._subscription import Subscription as Subscription
    from ._tools import Tool as Tool
    from ._tools import ToolRegistry as ToolRegistry
    from ._tools import tool as tool
    from ._transport import ServerTransport as ServerTransport
    from ._ws import WebSocketEncoding as WebSocketEncoding
    from ._ws import WebSocketTransport as WebSocketTransport

__all__ = [
    "AGUIEncoding",
    "AGUITransport",
    "AINativeServer",
    "Action",
    "ActionHandler",
    "Batch",
    "Encoder",
    "Encoding",
    "EventPush",
    "EventSink",
    "EventStore",
    "InMemoryEventStore",
    "OpenAIAPI",
    "OpenAIEncoding",
    "PartsEncoding",
    "PartsResponse",
    "ReadResult",
    "RedisEventStore",
    "Refusal",
    "Run",
    "RunSpec",
    "SSEEncoding",
    "SSETransport",
    "ServerConfig",
    "ServerTransport",
    "StoredEvent",
    "StreamHub",
    "StreamManager",
    "StreamResponse",
    "StreamStats",
    "Subscription",
    "Tool",
    "ToolRegistry",
    "ToolRequest",
    "UIChunkEncoding",
    "UIMessageSocketTransport",
    "UIMessageStreamEncoding",
    "UIMessageStreamTransport",
    "WebSocketEncoding",
    "WebSocketTransport",
    "cancel_on_disconnect",
    "client_can_resume",
    "create_app",
    "create_router",
    "create_server",
    "error_body",
    "error_response",
    "error_status",
    "parse_last_event_id",
    "read_json",
    "read_model",
    "stream_tokens",
    "tool",
    "tune_gc",
]


if not TYPE_CHECKING:  # mypy sees the names above, and flags any other as missing
    __getattr__, __dir__ = lazy_exports(__name__)
