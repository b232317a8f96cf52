"""The seed's Python path: ``from ainative.server import create_app, ServerConfig, ...``.

The same objects as ``ainative_server`` (and ``ainative_core.ActionRequest``), under the
module name the seed's server code and tests import.
"""

from __future__ import annotations

from ainative_core import ActionRequest as ActionRequest
from ainative_server import AINativeServer as AINativeServer
from ainative_server import ServerConfig as ServerConfig
from ainative_server import ToolRequest as ToolRequest
from ainative_server import create_app as create_app
from ainative_server import create_server as create_server

__all__ = [
    "AINativeServer",
    "ActionRequest",
    "ServerConfig",
    "ToolRequest",
    "create_app",
    "create_server",
]
