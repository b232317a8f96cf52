"""The seed's Python path: ``from ainative.tools import Tool, ToolRegistry``.

The same objects as ``ainative_server.Tool`` and ``ainative_server.ToolRegistry``.
"""

from __future__ import annotations

from ainative_server import Tool as Tool
from ainative_server import ToolRegistry as ToolRegistry

__all__ = ["Tool", "ToolRegistry"]
