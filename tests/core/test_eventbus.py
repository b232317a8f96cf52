"""EventBus: seed semantics for listeners, plus the bounded async subscription."""

from __future__ import annotations

import anyio
import pytest

from ainative_core import BusEvent, EventBus, StreamingError


def test_on_emit_off_and_unsubscribe() -> None:
    bus = EventBus()
    seen: list[object] = []
    unsubscribe = bus.on("stream-data", lambda e: seen.append(e.payload["token"]))
    bus.emit("stream-data", {"token": "a"})
    unsubscribe()
    bus.emit("stream-data", {"token": "b"})
    assert seen == ["a"]


def test_once_fires_one_time() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.once("stream-end", lambda e: seen.append(e.payload["reason"]))
    bus.emit("stream-end", {"reason": "complete"})
    bus.emit("stream-end", {"reason": "error"})
    assert seen == ["complete"]
    assert bus.listener_count("stream-end") == 0


def test_on_all_sees_every_type_and_history_is_bounded() -> None:
    bus = EventBus(history_size=3)
    seen: list[str] = []
    bus.on_all(lambda e: seen.append(e.type))
    for name in ("action", "tool", "stream-start", "stream-end"):
        bus.emit(name)
    assert seen == ["action", "tool", "stream-start", "stream-end"]
    assert [e.type for e in bus.history] == ["tool", "stream-start", "stream-end"]


def test_failing_listener_does_not_stop_the_others() -> None:
    bus = EventBus()
    seen: list[str] = []

    def bad(event: BusEvent) -> None:
        raise RuntimeError("listener bug")

    bus.on("error", bad)
    bus.on("error", lambda e: seen.append("ok"))
    bus.emit("error", {"error": "x"})
    assert seen == ["ok"]


@pytest.mark.anyio
async def test_subscribe_delivers_filtered_events_in_order() -> None:
    bus = EventBus()
    received: list[str] = []
    with anyio.fail_after(5):
        async with bus.subscribe("stream-data", "stream-end") as events:
            bus.emit("stream-start")
            for token in ("a", "b"):
                bus.emit("stream-data", {"token": token})
            bus.emit("stream-end", {"reason": "complete"})
            async for event in events:
                received.append(event.payload.get("token") or event.payload["reason"])
                if event.type == "stream-end":
                    break
    assert received == ["a", "b", "complete"]


@pytest.mark.anyio
async def test_subscriber_that_falls_behind_is_ended_not_grown() -> None:
    bus = EventBus()
    with anyio.fail_after(5):
        async with bus.subscribe(max_buffer=3) as events:
            for i in range(10):
                bus.emit("stream-data", {"token": str(i)})
            got = [(await events.__anext__()).payload["token"] for _ in range(3)]
            with pytest.raises(StreamingError, match="fell more than 3 events behind"):
                await events.__anext__()
    assert got == ["0", "1", "2"]


@pytest.mark.anyio
async def test_has_listeners_counts_listeners_wildcards_and_subscribers() -> None:
    bus = EventBus()
    assert not bus.has_listeners("stream-data")
    bus.emit("stream-data")
    assert not bus.has_listeners("stream-data")  # the history does not count
    off = bus.on("stream-data", lambda e: None)
    assert bus.has_listeners("stream-data")
    assert not bus.has_listeners("tool")
    off()
    off_all = bus.on_all(lambda e: None)
    assert bus.has_listeners("tool")
    off_all()
    async with bus.subscribe("tool"):
        assert bus.has_listeners("tool")
        assert not bus.has_listeners("stream-data")
    async with bus.subscribe():
        assert bus.has_listeners("stream-data")
    assert not bus.has_listeners("tool")
