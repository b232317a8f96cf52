"""The seed's Python path: ``from ainative.streaming import stream_tokens``."""

from __future__ import annotations

from ainative_server import StreamManager as StreamManager
from ainative_server import stream_tokens as stream_tokens

__all__ = ["StreamManager", "stream_tokens"]
