"""ainative server: stream hub, SSE/WebSocket transports, tools and the ``serve`` command.

Names are imported on first access: loading the plugin (``ainative_server._plugin``)
imports this package, and must not import FastAPI, Starlette or the server stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainative_core import lazy_exports

if TYPE_CHECKING:
    from ._actions import Action as Action
    from ._actions import ActionHandler as ActionHandler
    from ._config import ServerConfig as ServerConfig
    from ._hub import Follower as Follower
    from ._hub import Run as Run
    from ._hub import StreamHub as StreamHub
    from ._manager import EventSink as EventSink
    from ._manager import StreamManager as StreamManager
    from ._server import AINativeServer as AINativeServer
    from ._server import create_app as create_app
    from ._server import create_router as create_router
    from ._server import create_server as create_server
    from ._sse import SSETransport as SSETransport
    from ._sse import StreamResponse as StreamResponse
    from ._store import EventStore as EventStore
    from ._store import InMemoryEventStore as InMemoryEventStore
    from ._store import ReadResult as ReadResult
    from ._store import StoredEvent as StoredEvent
    from ._store import StreamStats as StreamStats
    from ._streaming import stream_tokens as stream_tokens
    from ._tools import Tool as Tool
    from ._tools import ToolRegistry as ToolRegistry
    from ._tools import tool as tool
    from ._transport import ServerTransport as ServerTransport
    from ._ws import WebSocketTransport as WebSocketTransport

__all__ = [
    "AINativeServer",
    "Action",
    "ActionHandler",
    "EventSink",
    "EventStore",
    "Follower",
    "InMemoryEventStore",
    "ReadResult",
    "Run",
    "SSETransport",
    "ServerConfig",
    "ServerTransport",
    "StoredEvent",
    "StreamHub",
    "StreamManager",
    "StreamResponse",
    "StreamStats",
    "Tool",
    "ToolRegistry",
    "WebSocketTransport",
    "create_app",
    "create_router",
    "create_server",
    "stream_tokens",
    "tool",
]

_LAZY = {
    "AINativeServer": "._server",
    "Action": "._actions",
    "ActionHandler": "._actions",
    "EventSink": "._manager",
    "EventStore": "._store",
    "Follower": "._hub",
    "InMemoryEventStore": "._store",
    "ReadResult": "._store",
    "Run": "._hub",
    "SSETransport": "._sse",
    "ServerConfig": "._config",
    "ServerTransport": "._transport",
    "StoredEvent": "._store",
    "StreamHub": "._hub",
    "StreamManager": "._manager",
    "StreamResponse": "._sse",
    "StreamStats": "._store",
    "Tool": "._tools",
    "ToolRegistry": "._tools",
    "WebSocketTransport": "._ws",
    "create_app": "._server",
    "create_router": "._server",
    "create_server": "._server",
    "stream_tokens": "._streaming",
    "tool": "._tools",
}

if not TYPE_CHECKING:  # mypy sees the names above, and flags any other as missing
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
