"""ainative: token-by-token LLM streaming for Python.

The everyday names of every distribution in one place. Plugin authors and advanced users
import from the distribution modules (``ainative_core``, ...) directly. The client's and
the server's names are imported on first access, so ``import ainative`` does not import
FastAPI or httpx until they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainative_core import ActionRequest as ActionRequest
from ainative_core import AINativeError as AINativeError
from ainative_core import BaseProvider as BaseProvider
from ainative_core import BusEvent as BusEvent
from ainative_core import Completion as Completion
from ainative_core import EchoProvider as EchoProvider
from ainative_core import EventBus as EventBus
from ainative_core import GenerateRequest as GenerateRequest
from ainative_core import Message as Message
from ainative_core import Provider as Provider
from ainative_core import StreamEvent as StreamEvent
from ainative_core import StreamingError as StreamingError
from ainative_core import Usage as Usage
from ainative_core import __version__ as __version__
from ainative_core import get_plugins as get_plugins
from ainative_core import hookimpl as hookimpl
from ainative_core import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from ainative_client import AIApp as AIApp
    from ainative_client import AINativeClient as AINativeClient
    from ainative_client import AIReconciler as AIReconciler
    from ainative_client import AIStateManager as AIStateManager
    from ainative_client import AppConfig as AppConfig
    from ainative_client import Client as Client
    from ainative_client import StreamConfig as StreamConfig
    from ainative_client import StreamingEngine as StreamingEngine
    from ainative_client import with_tool_results as with_tool_results
    from ainative_server import AINativeServer as AINativeServer
    from ainative_server import ServerConfig as ServerConfig
    from ainative_server import StreamManager as StreamManager
    from ainative_server import Tool as Tool
    from ainative_server import ToolRegistry as ToolRegistry
    from ainative_server import create_app as create_app
    from ainative_server import create_router as create_router
    from ainative_server import create_server as create_server
    from ainative_server import stream_tokens as stream_tokens
    from ainative_server import tool as tool

__all__ = [
    "AIApp",
    "AINativeClient",
    "AINativeError",
    "AINativeServer",
    "AIReconciler",
    "AIStateManager",
    "ActionRequest",
    "AppConfig",
    "BaseProvider",
    "BusEvent",
    "Client",
    "Completion",
    "EchoProvider",
    "EventBus",
    "GenerateRequest",
    "Message",
    "Provider",
    "ServerConfig",
    "StreamConfig",
    "StreamEvent",
    "StreamManager",
    "StreamingEngine",
    "StreamingError",
    "Tool",
    "ToolRegistry",
    "Usage",
    "__version__",
    "create_app",
    "create_router",
    "create_server",
    "get_plugins",
    "hookimpl",
    "stream_tokens",
    "tool",
    "with_tool_results",
]

if not TYPE_CHECKING:  # mypy sees the names above, and flags any other as missing
    __getattr__, __dir__ = _lazy_exports(__name__)
