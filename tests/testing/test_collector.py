"""StreamCollector consumes streams as ainative does and keeps their events."""

from __future__ import annotations

import pytest

from ainative_core import EchoProvider, build_request
from ainative_testing import FakeProvider, StreamCollector

pytestmark = pytest.mark.anyio


async def test_collects_events_text_and_completion(stream_collector: StreamCollector) -> None:
    events = await stream_collector.collect(EchoProvider(), prompt="Hello there")
    assert stream_collector.types == ["text", "text", "usage", "finish"]
    assert events == stream_collector.events
    assert stream_collector.text == "Hello there"
    assert stream_collector.completion.finish_reason == "stop"


async def test_stop_after_closes_the_stream(stream_collector: StreamCollector) -> None:
    provider = FakeProvider(["a", "b", "c"])
    events = await stream_collector.collect(provider, build_request(prompt="x"), stop_after=1)
    assert [e.text for e in events] == ["a"]
    assert provider.closed.is_set()
    assert provider.cancelled.is_set()


async def test_collections_accumulate_until_cleared() -> None:
    collector = StreamCollector()
    first = await collector.collect(EchoProvider(), prompt="one")
    second = await collector.collect(EchoProvider(), prompt="two")
    assert collector.text == "onetwo"
    assert collector.events == first + second
    collector.clear()
    assert collector.events == []


async def test_a_hanging_stream_fails_after_the_timeout(stream_collector: StreamCollector) -> None:
    with pytest.raises(TimeoutError):
        await stream_collector.collect(EchoProvider(delay=10), prompt="slow", within=0.05)
