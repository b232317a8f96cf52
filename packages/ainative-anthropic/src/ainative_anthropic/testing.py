"""Test helpers: a fake Anthropic Messages API to point `AnthropicProvider` at.

Serve `FakeAnthropic` on a loopback port (``ainative_testing.live_server``) and give the
provider its URL as ``base_url``; script answers with `AnthropicReply`.
"""

from __future__ import annotations

from ._fake import AnthropicReply as AnthropicReply
from ._fake import FakeAnthropic as FakeAnthropic
from ._fake import RecordedRequest as RecordedRequest

__all__ = ["AnthropicReply", "FakeAnthropic", "RecordedRequest"]
