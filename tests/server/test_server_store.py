"""The event store contract, on the in-memory store and on Redis: ids, cursors, waiting,
finishing, expiry, encoding once; and what only a store shared by processes does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest

from ainative_core import (
    ConfigurationError,
    StoreUnavailable,
    StreamLimitExceeded,
    StreamNotFoundError,
    WireEvent,
)
from ainative_server import (
    EventStore,
    InMemoryEventStore,
    RedisEventStore,
    ServerConfig,
    StoredEvent,
)
from ainative_server._store import redact_url, store_for
from ainative_testing import RedisServer

from .server_helpers import wait_for, wait_until

pytestmark = pytest.mark.anyio


def _ignore(stream_id: str) -> None:
    pass


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[EventStore]:
    """Each store kind, open for the test."""
    opened: EventStore
    if request.param == "memory":
        opened = InMemoryEventStore()
    else:
        redis: RedisServer = request.getfixturevalue("redis_service")
        opened = RedisEventStore(redis.url)
    async with opened.opened(_ignore):
        yield opened


async def test_append_assigns_sequence_ids_and_read_is_after_the_cursor(store: EventStore) -> None:
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
    await store.delete("s1")


async def test_finish_marks_the_end_and_refuses_appends(store: EventStore) -> None:
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
    await store.delete("s1")


async def test_create_refuses_an_existing_stream(store: EventStore) -> None:
    await store.create("s1")
    with pytest.raises(ValueError, match="exists"):
        await store.create("s1")
    await store.delete("s1")


async def test_wait_returns_when_an_event_arrives_or_the_stream_finishes(
    store: EventStore,
) -> None:
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
    await store.delete("s1")


async def test_a_cancelled_wait_leaves_the_other_waiters_waiting(store: EventStore) -> None:
    await store.create("s1")
    woke: list[object] = []

    async def waiter() -> None:
        woke.append(await store.wait("s1", 0))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            async with anyio.create_task_group() as inner:
                inner.start_soon(_cancelled_wait, store)
                await anyio.wait_all_tasks_blocked()
                inner.cancel_scope.cancel()
            await anyio.wait_all_tasks_blocked()
            assert woke == []
            stored = await store.append("s1", WireEvent.token("a"))
    # A store may hand the waiter the event that woke it.
    assert len(woke) == 1
    woken = woke[0]
    assert woken is None or (
        isinstance(woken, StoredEvent) and (woken.id, woken.json) == (stored.id, stored.json)
    )
    await store.delete("s1")


async def _cancelled_wait(store: EventStore) -> None:
    await store.wait("s1", 0)
    raise AssertionError("woken")


async def test_a_cancelled_wait_is_pushed_no_later_event(store: EventStore) -> None:
    # A push that returns None has delivered its event: the other waiter waits on.
    await store.create("s1")
    cancelled: list[StoredEvent] = []
    delivered: list[StoredEvent] = []
    woke: list[object] = []

    async def waiter() -> None:
        woke.append(await store.wait("s1", 0, delivered.append))

    async def cancelled_wait() -> None:
        await store.wait("s1", 0, cancelled.append)
        raise AssertionError("woken")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async with anyio.create_task_group() as inner:
                inner.start_soon(cancelled_wait)
                await anyio.wait_all_tasks_blocked()
                inner.cancel_scope.cancel()
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await store.append("s1", WireEvent.token("a"))
            await anyio.wait_all_tasks_blocked()
            await store.finish("s1")
    assert cancelled == []
    assert len(woke) == 1
    # The store pushed the event to the live waiter or woke it with it (or without).
    assert [event.id for event in delivered] in ([], [1])
    await store.delete("s1")


async def test_wake_all_returns_every_waiter_without_an_event(store: EventStore) -> None:
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
    await store.delete("s1")
    await store.delete("s2")


async def test_expired_and_deleted_streams_are_not_found(store: EventStore) -> None:
    await store.create("s1")
    await store.create("s2")
    await store.append("s1", WireEvent.done())
    await store.finish("s1")
    await store.expire("s1", 0.05)
    await store.delete("s2")

    async def expired() -> bool:  # at the deadline (Redis: the keys' TTL)
        try:
            await store.stats("s1")
        except StreamNotFoundError:
            return True
        return False

    await wait_for(expired)
    with pytest.raises(StreamNotFoundError, match="s1"):
        await store.read("s1", 0)
    with pytest.raises(StreamNotFoundError):
        await store.stats("s2")
    with pytest.raises(StreamNotFoundError):
        await store.append("nope", WireEvent.token("x"))
    with pytest.raises(StreamNotFoundError):
        await store.request_cancel("nope")


async def test_a_single_process_store_purges_expired_logs() -> None:
    store = InMemoryEventStore()
    await store.create("s1")
    await store.expire("s1", 0)
    assert store.purge() == 1
    assert len(store) == 0


async def test_an_expired_log_gives_its_id_back() -> None:
    store = InMemoryEventStore()
    await store.create("s1")
    await store.append("s1", WireEvent.token("old"))
    await store.expire("s1", 0)
    await store.create("s1")
    assert (await store.read("s1", 0)).events == []
    with pytest.raises(ValueError, match="exists"):
        await store.create("s1")


async def test_a_finished_stream_has_no_producer_to_cancel(store: EventStore) -> None:
    await store.create("s1")
    await store.append("s1", WireEvent.done())
    await store.finish("s1")
    assert not await store.request_cancel("s1")
    await store.delete("s1")


def test_stored_event_is_its_wire_json_encoded_once() -> None:
    event = StoredEvent.encode(7, WireEvent("metadata", {"k": "é\n"}))
    assert (event.id, event.type) == (7, "metadata")
    assert event.json == '{"type":"metadata","data":{"k":"é\\n"}}'
    assert json.loads(event.json) == {"type": "metadata", "data": {"k": "é\n"}}
    assert event.size == len(event.json)


def test_the_configured_store_is_built_by_name(redis_service: RedisServer) -> None:
    assert isinstance(store_for(ServerConfig()), InMemoryEventStore)
    redis = store_for(ServerConfig(store=redis_service.url, lease_timeout=1.5, max_events=10))
    assert isinstance(redis, RedisEventStore)
    assert (redis.lease_timeout, redis.max_events) == (1.5, 10)
    with pytest.raises(ConfigurationError, match="unknown store 'mongo://x'"):
        store_for(ServerConfig(store="mongo://x"))
    assert redact_url("redis://user:secret@host:1/0") == "redis://user:***@host:1/0"
    assert redact_url("redis://host:1/0") == "redis://host:1/0"


# -- what only a shared store does ------------------------------------------------------------


async def test_unreachable_redis_fails_to_open_with_a_clear_error() -> None:
    store = RedisEventStore("redis://127.0.0.1:1/0")
    with pytest.raises(StoreUnavailable, match=r"cannot reach the store redis://127\.0\.0\.1:1/0"):
        async with store.opened(_ignore):
            pass


async def test_another_process_reads_replays_and_follows_a_stream(
    redis_service: RedisServer,
) -> None:
    producer = RedisEventStore(redis_service.url)
    follower = RedisEventStore(redis_service.url)
    async with producer.opened(_ignore), follower.opened(_ignore):
        await producer.create("x1")
        for text in ("a", "b"):
            await producer.append("x1", WireEvent.token(text))

        async def written() -> bool:  # within a flush interval
            return (await follower.stats("x1")).count == 2

        await wait_for(written)
        with anyio.fail_after(5):
            follower.follow("x1")
            assert [e.json for e in (await follower.read("x1", 0)).events] == [
                '{"type":"token","data":"a"}',
                '{"type":"token","data":"b"}',
            ]
            async with anyio.create_task_group() as tg:

                async def produce() -> None:
                    await anyio.wait_all_tasks_blocked()
                    await producer.append("x1", WireEvent.token("c"))
                    await producer.append("x1", WireEvent.done())
                    await producer.finish("x1")

                tg.start_soon(produce)
                seen: list[int] = []
                cursor = 2
                for _ in range(100):
                    await follower.wait("x1", cursor)
                    result = await follower.read("x1", cursor)
                    seen += [e.id for e in result.events]
                    cursor = result.last_id
                    if result.at_end:
                        break
        assert seen == [3, 4]
        follower.unfollow("x1")
        await producer.delete("x1")


async def test_a_cancel_request_reaches_the_producing_process(redis_service: RedisServer) -> None:
    asked: list[str] = []
    producer = RedisEventStore(redis_service.url)
    other = RedisEventStore(redis_service.url)
    async with producer.opened(asked.append), other.opened(_ignore):
        await producer.create("x2")
        assert await other.request_cancel("x2")
        await wait_until(lambda: bool(asked))
        assert asked == ["x2"]
        await producer.delete("x2")


async def test_idle_counts_the_followers_of_every_process(redis_service: RedisServer) -> None:
    a = RedisEventStore(redis_service.url)
    b = RedisEventStore(redis_service.url)
    async with a.opened(_ignore), b.opened(_ignore):
        await a.create("x3")
        a.follow("x3")
        b.follow("x3")
        await b.read("x3", 0)
        a.unfollow("x3")
        with anyio.fail_after(5):
            assert await a.idle("x3") is None  # b still follows
            b.unfollow("x3")
            token = await b.idle("x3")
            assert token is not None
            assert await a.still_idle("x3", token)
            a.follow("x3")
            a.unfollow("x3")
            assert await a.idle("x3") is not None
            assert not await b.still_idle("x3", token)  # followed again since
        await a.delete("x3")


async def test_a_stream_whose_producer_stopped_ends_with_producer_lost(
    redis_service: RedisServer,
) -> None:
    follower = RedisEventStore(redis_service.url, lease_timeout=0.3)
    async with follower.opened(_ignore):
        producer = RedisEventStore(redis_service.url, lease_timeout=0.3)
        async with producer.opened(_ignore):
            await producer.create("x4")
            await producer.append("x4", WireEvent.token("a"))
        # The producer is gone (its lease with it) and the stream never ended.
        follower.follow("x4")
        with anyio.fail_after(5):
            cursor = 0
            events: list[StoredEvent] = []
            for _ in range(100):
                await follower.wait("x4", cursor)
                result = await follower.read("x4", cursor)
                events += result.events
                cursor = result.last_id
                if result.at_end:
                    break
        assert [e.type for e in events] == ["token", "error", "done"]
        error = json.loads(events[1].json)
        assert (error["code"], error["retryable"]) == ("producer_lost", True)
        follower.unfollow("x4")
        await follower.delete("x4")


async def test_redis_holds_the_bounds_of_a_stream(redis_service: RedisServer) -> None:
    store = RedisEventStore(redis_service.url, max_events=5)
    async with store.opened(_ignore):
        await store.create("x5")
        for text in ("a", "b", "c"):
            await store.append("x5", WireEvent.token(text))
        with pytest.raises(StreamLimitExceeded):
            await store.append("x5", WireEvent.token("d"))
        await store.append("x5", WireEvent.done("error"))
        await store.finish("x5")

        async def written() -> bool:
            return (await store.stats("x5")).finished

        await wait_for(written)
        other = RedisEventStore(redis_service.url)
        async with other.opened(_ignore):
            stats = await other.stats("x5")
            assert (stats.count, stats.finished) == (4, True)
            assert await other.client.xlen(other._log_key("x5")) == 4
        await store.delete("x5")


async def test_retention_is_a_redis_key_expiry(redis_service: RedisServer) -> None:
    store = RedisEventStore(redis_service.url)
    async with store.opened(_ignore):
        await store.create("x6")
        await store.append("x6", WireEvent.done())
        await store.finish("x6")
        await store.expire("x6", 30)

        async def expiring() -> bool:
            return 0 < await store.client.pttl(store._meta_key("x6")) <= 30_000

        await wait_for(expiring)
        assert 0 < await store.client.pttl(store._log_key("x6")) <= 30_000
        await store.delete("x6")
