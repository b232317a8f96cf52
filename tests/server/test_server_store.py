"""The in-memory event store: ids, cursors, waiting, finishing, expiry; encoding once."""

from __future__ import annotations

import json

import anyio
import pytest

from ainative_core import StreamNotFoundError, WireEvent
from ainative_server import InMemoryEventStore, StoredEvent

pytestmark = pytest.mark.anyio


async def test_append_assigns_sequence_ids_and_read_is_after_the_cursor() -> None:
    store = InMemoryEventStore()
    await store.create("s1")
    for text in ("a", "b", "c"):
        await store.append("s1", WireEvent.token(text))
    result = await store.read("s1", 1)
    assert [e.id for e in result.events] == [2, 3]
    assert [e.json for e in result.events] == [
        '{"type":"token","data":"b"}',
        '{"type":"token","data":"c"}',
    ]
    assert not result.finished
    assert not result.at_end
    assert [e.id for e in (await store.read("s1", 0, limit=1)).events] == [1]
    stats = await store.stats("s1")
    assert (stats.count, stats.finished) == (3, False)
    assert stats.bytes == sum(e.size for e in (await store.read("s1", 0)).events)


async def test_finish_marks_the_end_and_refuses_appends() -> None:
    store = InMemoryEventStore()
    await store.create("s1")
    await store.append("s1", WireEvent.done())
    await store.finish("s1")
    result = await store.read("s1", 0)
    assert result.finished
    assert result.at_end
    assert result.last_id == 1
    assert (await store.read("s1", 1)).at_end
    with pytest.raises(ValueError, match="finished"):
        await store.append("s1", WireEvent.token("late"))


async def test_wait_returns_when_an_event_arrives_or_the_stream_finishes() -> None:
    store = InMemoryEventStore()
    await store.create("s1")
    woke: list[str] = []

    async def waiter() -> None:
        await store.wait("s1", 0)
        woke.append("event")
        await store.wait("s1", 1)
        woke.append("finish")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert woke == []
            await store.append("s1", WireEvent.token("a"))
            await anyio.wait_all_tasks_blocked()
            assert woke == ["event"]
            await store.finish("s1")
    assert woke == ["event", "finish"]


async def test_wake_all_returns_every_waiter_without_an_event() -> None:
    store = InMemoryEventStore()
    await store.create("s1")
    await store.create("s2")
    woke: list[str] = []

    async def waiter(stream_id: str) -> None:
        await store.wait(stream_id, 0)
        woke.append(stream_id)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter, "s1")
            tg.start_soon(waiter, "s2")
            await anyio.wait_all_tasks_blocked()
            assert woke == []
            assert store.wake_all()
    assert sorted(woke) == ["s1", "s2"]
    assert (await store.read("s1", 0)).events == []


async def test_expired_and_deleted_streams_are_not_found() -> None:
    store = InMemoryEventStore()
    await store.create("s1")
    await store.create("s2")
    await store.expire("s1", 0)
    with pytest.raises(StreamNotFoundError, match="s1"):
        await store.read("s1", 0)
    await store.delete("s2")
    with pytest.raises(StreamNotFoundError):
        await store.stats("s2")
    assert len(store) == 0
    with pytest.raises(StreamNotFoundError):
        await store.append("nope", WireEvent.token("x"))


def test_stored_event_is_its_wire_json_encoded_once() -> None:
    event = StoredEvent.encode(7, WireEvent("metadata", {"k": "é\n"}))
    assert (event.id, event.type) == (7, "metadata")
    assert event.json == '{"type":"metadata","data":{"k":"é\\n"}}'
    assert json.loads(event.json) == {"type": "metadata", "data": {"k": "é\n"}}
    assert event.size == len(event.json)
