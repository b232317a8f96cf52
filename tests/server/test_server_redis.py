"""Servers on the Redis store, in this process: the resume grace counts the followers of every
server, many followers cost a bounded number of connections, and a Redis that goes away ends
its streams with a retryable error, the servers working again once it is back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import coredis
import httpx
import pytest

from ainative_core import RESUMABLE_HEADER
from ainative_server import RedisEventStore
from ainative_server._redis import MAX_CONNECTIONS
from ainative_testing import RedisServer, redis_server

from .server_helpers import EventReader, Serve, parse_sse, tokens_of, wait_until

# These clients resume: they say so, as ainative's own clients do.
RESUMING = {RESUMABLE_HEADER: "1"}

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CHAT: dict[str, Any] = {"action": "chat", "params": {"message": "x"}}


def _long(delay: float = 0.01, tokens: int = 5000) -> dict[str, Any]:
    return {**CHAT, "options": {"tokens": tokens, "delay": delay}}


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A ``redis-server`` of this test alone (it is stopped and started again)."""
    with redis_server() as server:
        yield server


async def test_the_resume_grace_counts_the_followers_of_every_server(
    serve: Serve, redis_service: RedisServer
) -> None:
    settings = {"store": redis_service.url, "resume_grace": 0.3}
    with serve(**settings) as (a, live_a), serve(**settings) as (_, live_b):
        async with httpx.AsyncClient(timeout=10, headers=RESUMING) as client:
            with anyio.fail_after(20):
                async with client.stream(
                    "POST", f"{live_a.base_url}/ai/stream", json=_long()
                ) as started:
                    sid = started.headers["x-ainative-stream-id"]
                # The client left A; it follows on B for several grace periods.
                async with client.stream(
                    "GET", f"{live_b.base_url}/ai/stream/{sid}", headers={"Last-Event-ID": "1"}
                ) as response:
                    reader = EventReader(response)
                    with anyio.move_on_after(1.2):
                        await reader.read()
                    followed = list(reader.events)
                await wait_until(lambda: a.hub.get(sid).done)
    assert len(followed) > 20
    assert all(json.loads(data)["type"] == "token" for _, data in followed)  # still running
    assert a.hub.get(sid).finish_reason == "cancelled"  # once B's follower had left too


async def test_many_followers_on_one_server_share_its_few_connections(
    serve: Serve, redis_service: RedisServer
) -> None:
    followers = 40
    request = _long(delay=0.002, tokens=300)
    expected = "t0" + "".join(f" t{i}" for i in range(1, 300))
    with (
        serve(store=redis_service.url) as (_, live_a),
        serve(store=redis_service.url) as (b, live_b),
    ):
        store = b.hub.store
        assert isinstance(store, RedisEventStore)
        texts: list[str] = []
        connections: list[int] = []
        async with httpx.AsyncClient(
            headers=RESUMING, timeout=20, limits=httpx.Limits(max_connections=followers + 2)
        ) as client:
            with anyio.fail_after(30):
                async with client.stream(
                    "POST", f"{live_a.base_url}/ai/stream", json=request
                ) as started:
                    sid = started.headers["x-ainative-stream-id"]
                    producer = EventReader(started)
                    await producer.read(2)
                    ready = anyio.Event()
                    counted = 0

                    async def follow() -> None:
                        nonlocal counted
                        async with client.stream(
                            "GET", f"{live_b.base_url}/ai/stream/{sid}"
                        ) as response:
                            reader = EventReader(response)
                            await reader.read(2)
                            counted += 1
                            if counted == followers:
                                ready.set()
                            texts.append(tokens_of(await reader.read()))

                    async with anyio.create_task_group() as tg:
                        for _ in range(followers):
                            tg.start_soon(follow)
                        await ready.wait()
                        async with coredis.Redis.from_url(redis_service.url) as redis:
                            clients = await redis.client_list()
                        name = f"ainative-{store.process}"
                        connections.append(sum(1 for c in clients if c.get("name") == name))
                    await producer.read()
    assert texts == [expected] * followers
    # Command connections (at most MAX_CONNECTIONS) and one pub/sub connection.
    assert 1 <= connections[0] <= MAX_CONNECTIONS + 1


async def test_a_redis_lost_mid_stream_ends_it_with_a_retryable_error_then_recovers(
    serve: Serve, own_redis: RedisServer
) -> None:
    with serve(store=own_redis.url) as (_, live):
        async with httpx.AsyncClient(timeout=10, headers=RESUMING) as client:
            with anyio.fail_after(30):
                async with client.stream(
                    "POST", f"{live.base_url}/ai/stream", json=_long()
                ) as response:
                    reader = EventReader(response)
                    await reader.read(5)
                    own_redis.stop()
                    events = await reader.read()
                error, done, sentinel = events[-3:]
                own_redis.start()  # empty: the old streams are gone, new ones work
                for _ in range(200):
                    fresh = await client.post(
                        f"{live.base_url}/ai/stream",
                        json={**CHAT, "params": {"message": "back again"}},
                    )
                    if fresh.status_code == 200:
                        break
                    assert fresh.json()["error"]["code"] == "store_unavailable"
                    await anyio.sleep(0.05)
    obj = json.loads(error[1])
    assert (obj["type"], obj["code"], obj["retryable"]) == ("error", "store_unavailable", True)
    assert json.loads(done[1])["data"]["finish_reason"] == "error"
    assert sentinel[1] == "[DONE]"
    assert fresh.status_code == 200
    assert tokens_of(parse_sse(fresh.content)) == "back again"
