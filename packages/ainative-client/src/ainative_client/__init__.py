"""ainative-client: stream from an ainative server (SSE or WebSocket), with resume and AIApp.

Names are imported on first access: loading the plugin (``ainative_client._plugin``)
imports this package, and must not import httpx or httpx-ws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainative_core import lazy_exports

if TYPE_CHECKING:
    from ._app import AIApp as AIApp
    from ._app import AppConfig as AppConfig
    from ._client import AINativeClient as AINativeClient
    from ._client import Client as Client
    from ._config import EndReason as EndReason
    from ._config import StreamConfig as StreamConfig
    from ._config import StreamMethod as StreamMethod
    from ._config import StreamResult as StreamResult
    from ._engine import StreamingEngine as StreamingEngine
    from ._errors import map_transport_errors as map_transport_errors
    from ._errors import refusal_error as refusal_error
    from ._errors import status_error as status_error
    from ._reconciler import AIReconciler as AIReconciler
    from ._reconciler import Patch as Patch
    from ._reconciler import PatchOp as PatchOp
    from ._sse import SSEClientTransport as SSEClientTransport
    from ._state import AIStateManager as AIStateManager
    from ._state import AppState as AppState
    from ._state import StateListener as StateListener
    from ._tool_results import with_tool_results as with_tool_results
    from ._transport import ClientTransport as ClientTransport
    from ._transport import ReceivedEvent as ReceivedEvent
    from ._transport import TransportFactory as TransportFactory
    from ._transport import base_url as base_url
    from ._ws import WSClientTransport as WSClientTransport
    from ._ws import WSConnection as WSConnection

__all__ = [
    "AIApp",
    "AINativeClient",
    "AIReconciler",
    "AIStateManager",
    "AppConfig",
    "AppState",
    "Client",
    "ClientTransport",
    "EndReason",
    "Patch",
    "PatchOp",
    "ReceivedEvent",
    "SSEClientTransport",
    "StateListener",
    "StreamConfig",
    "StreamMethod",
    "StreamResult",
    "StreamingEngine",
    "TransportFactory",
    "WSClientTransport",
    "WSConnection",
    "base_url",
    "map_transport_errors",
    "refusal_error",
    "status_error",
    "with_tool_results",
]

if not TYPE_CHECKING:  # mypy sees the names above, and flags any other as missing
    __getattr__, __dir__ = lazy_exports(__name__)
