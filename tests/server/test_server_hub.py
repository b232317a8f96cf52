"""The stream hub: producers never wait for followers, coalescing, bounds, grace, retention."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import httpx
import pytest

from ainative_core import ActionRequest, ConfigurationError, EchoProvider, ProviderRateLimited
from ainative_server import EventSink, Run, ServerConfig, StreamHub, StreamManager
from ainative_testing import FakeProvider, PluginSandbox, TCPProxy

from .server_helpers import EventReader, Serve, parse_sse, tokens_of, wait_until

pytestmark = pytest.mark.anyio

Handler = Callable[[StreamManager], Awaitable[None]]


async def start(hub: StreamHub, handler: Handler) -> Run:
    def make(run: Run, sink: EventSink) -> StreamManager:
        return StreamManager(
            sink,
            stream_id=run.stream_id,
            request=ActionRequest(),
            provider=EchoProvider(),
            provider_name="echo",
            model=None,
        )

    return await hub.start(handler, make, provider="echo", model=None, action="test")


def tokens(count: int) -> Handler:
    async def handler(stream: StreamManager) -> None:
        for i in range(count):
            await stream.send_token(f"t{i} ")

    return handler


# -- in process ----------------------------------------------------------------------------


async def test_producer_finishes_while_a_follower_reads_nothing_then_one_batch_has_it_all() -> None:
    hub = StreamHub(ServerConfig())
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, tokens(10_000))
            async with hub.follow(run.stream_id, adopt=True) as follower:
                await run.finished.wait()  # the follower has not read anything
                assert follower.cursor == 0
                batch = await follower.next_batch(1.0)
                assert batch is not None
                assert len(batch) == 10_002  # metadata, tokens, done: one write's worth
                assert follower.reached_end
                assert await follower.next_batch(1.0) is None
    assert run.tokens == 10_000
    assert run.finish_reason == "stop"


async def test_a_live_follower_of_a_busy_producer_gets_batches_not_single_events() -> None:
    async def busy(stream: StreamManager) -> None:
        for i in range(2000):
            await stream.send_token(f"t{i} ")
            await anyio.lowlevel.checkpoint()

    hub = StreamHub(ServerConfig())
    batches: list[list[int]] = []
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, busy)
            async with hub.follow(run.stream_id, adopt=True) as follower:
                while (batch := await follower.next_batch(1.0)) is not None:
                    batches.append([event.id for event in batch])
                    assert run.events >= batch[-1].id
    ids = [i for batch in batches for i in batch]
    assert ids == list(range(1, 2003))
    assert len(batches) < 200  # many events per write while the producer is busy


async def test_without_coalescing_a_follower_gets_one_event_per_batch() -> None:
    hub = StreamHub(ServerConfig(coalesce=False))
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, tokens(5))
            async with hub.follow(run.stream_id, adopt=True) as follower:
                await run.finished.wait()
                sizes = []
                while (batch := await follower.next_batch(1.0)) is not None:
                    sizes.append(len(batch))
    assert sizes == [1] * 7


async def test_a_paced_producers_events_reach_the_follower_one_by_one_in_order() -> None:
    async def paced(stream: StreamManager) -> None:
        for i in range(20):
            await anyio.sleep(0.001)
            await stream.send_token(f"t{i} ")

    hub = StreamHub(ServerConfig())
    batches: list[list[int]] = []
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, paced)
            async with hub.follow(run.stream_id, adopt=True) as follower:
                while (batch := await follower.next_batch(15.0)) is not None:
                    assert batch  # never an empty keep-alive batch: events come in time
                    batches.append([event.id for event in batch])
    assert [i for batch in batches for i in batch] == list(range(1, 23))
    assert follower.reached_end


async def test_an_idle_follower_is_woken_by_the_hub_for_its_keep_alive() -> None:
    # The hub wakes every waiting follower a few times per ping interval: an idle
    # follower returns [] once its own idle timeout has passed, then gets what follows.
    release = anyio.Event()

    async def idle(stream: StreamManager) -> None:
        await stream.send_token("a")
        await release.wait()
        await stream.send_token("b")

    hub = StreamHub(ServerConfig(ping_interval=0.05))
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, idle)
            async with hub.follow(run.stream_id, adopt=True) as follower:
                first = await follower.next_batch(0.05)
                assert first is not None
                assert [event.type for event in first] == ["metadata", "token"]
                started = anyio.current_time()
                assert await follower.next_batch(0.05) == []
                assert anyio.current_time() - started >= 0.05
                assert await follower.next_batch(0.05) == []
                release.set()
                rest = []
                while (batch := await follower.next_batch(0.05)) is not None:
                    rest += [event.type for event in batch]
    assert rest == ["token", "done"]


async def test_a_follower_with_a_shorter_idle_timeout_than_the_hubs_wake_up_still_returns() -> None:
    release = anyio.Event()

    async def idle(stream: StreamManager) -> None:
        await stream.send_token("a")
        await release.wait()

    hub = StreamHub(ServerConfig(ping_interval=60.0))
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, idle)
            async with hub.follow(run.stream_id, adopt=True) as follower:
                assert await follower.next_batch(0.05) is not None
                assert await follower.next_batch(0.05) == []
                release.set()
                while await follower.next_batch(0.05) is not None:
                    pass


async def test_a_run_over_max_events_ends_with_an_error_and_stays_bounded() -> None:
    hub = StreamHub(ServerConfig(max_events=50))
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, tokens(10_000))
            hub.release(run)
            await run.finished.wait()
            events = (await hub.store.read(run.stream_id, 0)).events
    assert run.events == len(events) == 50
    error = json.loads(events[-2].json)
    assert error["type"] == "error"
    assert error["code"] == "stream_limit_exceeded"
    assert json.loads(events[-1].json) == {"type": "done", "data": {"finish_reason": "error"}}


async def test_a_run_over_max_bytes_ends_with_an_error_and_stays_bounded() -> None:
    hub = StreamHub(ServerConfig(max_bytes=4096))
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, tokens(10_000))
            hub.release(run)
            await run.finished.wait()
    assert run.finish_reason == "error"
    assert 4096 <= run.bytes < 4096 + 300  # the bound, one token, the error and done
    assert isinstance(run.error, Exception)
    assert run.early_error is None


async def test_failure_before_any_event_is_the_runs_early_error() -> None:
    async def fail(stream: StreamManager) -> None:
        raise ProviderRateLimited("slow down", retry_after=3)

    hub = StreamHub()
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, fail)
            await run.ready.wait()
            await run.finished.wait()
    assert isinstance(run.early_error, ProviderRateLimited)
    assert run.finish_reason == "error"


async def test_hub_shutdown_cancels_running_producers() -> None:
    cancelled = []

    async def forever(stream: StreamManager) -> None:
        await stream.send_token("first")
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append(True)

    hub = StreamHub()
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, forever)
            await run.ready.wait()
            await anyio.wait_all_tasks_blocked()
    assert cancelled == [True]
    assert run.done
    assert run.finish_reason == "cancelled"


async def test_abandoned_run_is_cancelled_after_the_grace_period() -> None:
    hub = StreamHub(ServerConfig(resume_grace=0.05))
    with anyio.fail_after(10):
        async with hub.running():
            run = await start(hub, tokens(1))
            await run.finished.wait()
            slow = await start(hub, _slow)
            async with hub.follow(slow.stream_id, adopt=True):
                await slow.ready.wait()
            await slow.finished.wait()  # no follower: cancelled after the grace
    assert slow.finish_reason == "cancelled"


async def _slow(stream: StreamManager) -> None:
    for i in range(1000):
        await stream.send_token(str(i))
        await anyio.sleep(0.05)


def test_start_outside_running_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(ConfigurationError, match="not running"):
            await start(StreamHub(), tokens(1))

    anyio.run(main)


# -- over HTTP -----------------------------------------------------------------------------


async def test_stalled_client_does_not_block_the_producer(serve: Serve) -> None:
    body = {"action": "chat", "params": {"message": "x"}, "options": {"tokens": 10_000}}
    with serve() as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(20):
                async with client.stream("POST", "/ai/stream", json=body) as response:
                    run = server.hub.get(response.headers["x-ainative-stream-id"])
                    # Read nothing until the run is over: it finishes without us.
                    await wait_until(lambda: run.done)
                    assert run.tokens == 10_000
                    assert run.bytes <= server.config.max_bytes
                    events = await EventReader(response).read()
    assert len(events) == 10_003  # metadata, 10,000 tokens, done, [DONE]
    assert tokens_of(events).endswith(" t9999")
    assert json.loads(events[-2][1])["data"]["finish_reason"] == "stop"


async def test_max_events_ends_the_stream_with_an_error_event_and_stops_the_provider(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(10_000)])
    server_plugins.add_provider("fake", fake)
    body = {"action": "chat", "params": {"message": "x"}, "provider": "fake"}
    with serve(max_events=100) as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                response = await client.post("/ai/stream", json=body)
        run = server.hub.get(response.headers["x-ainative-stream-id"])
    events = parse_sse(response.content)
    assert len(events) == 101  # 100 logged events and [DONE]
    error = json.loads(events[-3][1])
    assert (error["type"], error["code"]) == ("error", "stream_limit_exceeded")
    assert json.loads(events[-2][1])["data"]["finish_reason"] == "error"
    assert run.events == 100
    await wait_until(fake.closed.is_set)


async def test_a_dropped_client_leaves_the_run_for_the_grace_period_then_it_is_cancelled(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    server_plugins.add_provider("fake", fake)
    body = {"action": "chat", "params": {"message": "x"}, "provider": "fake"}
    with serve(resume_grace=1.0) as (server, live):
        async with TCPProxy(live.port) as proxy, httpx.AsyncClient() as client:
            with anyio.fail_after(10):
                async with client.stream("POST", f"{proxy.url}/ai/stream", json=body) as response:
                    run = server.hub.get(response.headers["x-ainative-stream-id"])
                    reader = EventReader(response)
                    await reader.read(3)
                    proxy.cut()
                    await reader.read()
                await wait_until(lambda: run.followers == 0)
                assert not run.done  # still producing during the grace period
                await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"
    assert fake.cancelled.is_set()


async def test_finished_streams_are_dropped_after_the_retention(serve: Serve) -> None:
    body = {"action": "chat", "params": {"message": "hello"}}
    with serve(retention=0.2) as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                response = await client.post("/ai/stream", json=body)
                sid = response.headers["x-ainative-stream-id"]
                await wait_until(lambda: sid not in server.hub.runs)
                late = await client.get(f"/ai/stream/{sid}")
    assert late.status_code == 404


async def test_a_client_gone_before_the_first_token_leaves_the_run_to_the_grace_period(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider(["late"], delay=30)
    server_plugins.add_provider("fake", fake)
    body = {"action": "chat", "params": {"message": "x"}, "provider": "fake"}
    with serve(resume_grace=0.1) as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10), pytest.raises(httpx.ReadTimeout):
                await client.post("/ai/stream", json=body, timeout=0.3)
        await wait_until(lambda: len(server.hub.runs) == 1)
        (run,) = server.hub.runs.values()
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"
    assert fake.cancelled.is_set()
