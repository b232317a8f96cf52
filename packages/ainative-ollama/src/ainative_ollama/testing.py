"""Test helpers: a fake Ollama server to point `OllamaProvider` at.

Serve `FakeOllama` on a loopback port (``ainative_testing.live_server``) and give the
provider its URL as ``host``; script answers with `OllamaReply`.
"""

from __future__ import annotations

from ._fake import FakeOllama as FakeOllama
from ._fake import OllamaReply as OllamaReply
from ._fake import RecordedRequest as RecordedRequest

__all__ = ["FakeOllama", "OllamaReply", "RecordedRequest"]
