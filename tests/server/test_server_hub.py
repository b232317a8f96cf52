"""The stream hub: producers never wait for followers, coalescing, bounds, grace, retention,
and subscriptions, the one owner of a follower's life."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import anyio
import anyio.lowlevel
import httpx
import pytest

from ainative_core import (
    ActionRequest,
    ConfigurationError,
    EchoProvider,
    ProviderRateLimited,
    StreamNotFoundError,
)
from ainative_server import (
    Batch,
    Encoder,
    Encoding,
    EventSink,
    Run,
    RunSpec,
    ServerConfig,
    StoredEvent,
    StreamHub,
    StreamManager,
    Subscription,
)
from ainative_testing import FakeProvider, PluginSandbox, TCPProxy

from .server_helpers import EventReader, Serve, parse_sse, tokens_of, wait_until

pytestmark = pytest.mark.anyio

Handler = Callable[[StreamManager], Awaitable[None]]
Frame = tuple[str, int]


class Kinds(Encoding[Frame]):
    """Frames as ``(type, id)``; ``("ping", 0)`` while idle. Counts what it encodes."""

    def __init__(self, name: str = "kinds") -> None:
        super().__init__(name, keepalive=("ping", 0))
        self.encoded: list[int] = []

    def encoder(self, stream_id: str) -> Encoder[Frame]:
        def encode(event: StoredEvent) -> Frame:
            self.encoded.append(event.id)
            return (event.type, event.id)

        return encode


def spec(handler: Handler) -> RunSpec:
    def make(run: Run, sink: EventSink) -> StreamManager:
        return StreamManager(
            sink,
            stream_id=run.stream_id,
            request=ActionRequest(),
            provider=EchoProvider(),
            provider_name="echo",
            model=None,
        )

    return RunSpec(handler, make, "echo", None, "test")


def start(
    hub: StreamHub,
    handler: Handler,
    encoding: Encoding[Frame] | None = None,
    *,
    resumable: bool = True,
) -> AbstractAsyncContextManager[Subscription[Frame]]:
    return hub.subscribe(encoding or Kinds(), start=spec(handler), resumable=resumable)


def tokens(count: int) -> Handler:
    async def handler(stream: StreamManager) -> None:
        for i in range(count):
            await stream.send_token(f"t{i} ")

    return handler


async def batches_of(subscription: Subscription[Frame]) -> AsyncIterator[Batch[Frame]]:
    for _ in range(100_000):
        try:
            yield await anext(subscription)
        except StopAsyncIteration:
            return
    raise AssertionError("the subscription never ended")


def running(run: Run | None) -> Run:
    assert run is not None
    return run


# -- in process ----------------------------------------------------------------------------


async def test_producer_finishes_while_a_follower_reads_nothing_then_one_batch_has_it_all() -> None:
    hub = StreamHub(ServerConfig(max_batch_bytes=1_048_576))  # the whole log fits one write
    with anyio.fail_after(10):
        async with hub.running(), start(hub, tokens(10_000)) as subscription:
            run = running(subscription.run)
            await run.finished.wait()  # the subscription has not read anything
            assert subscription.cursor == 0
            batch = await anext(subscription)
            assert len(batch.frames) == 10_002  # metadata, tokens, done: one write's worth
            assert batch.end
            assert batch.last_id == 10_002
            assert subscription.ended
            with pytest.raises(StopAsyncIteration):
                await anext(subscription)
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
        async with hub.running(), start(hub, busy) as subscription:
            run = running(subscription.run)
            async for batch in batches_of(subscription):
                batches.append([event_id for _, event_id in batch.frames])
                assert run.events >= batch.frames[-1][1]
    ids = [i for batch in batches for i in batch]
    assert ids == list(range(1, 2003))
    assert len(batches) < 200  # many events per write while the producer is busy


async def test_without_coalescing_a_follower_gets_one_event_per_batch() -> None:
    hub = StreamHub(ServerConfig(coalesce=False))
    with anyio.fail_after(10):
        async with hub.running(), start(hub, tokens(5)) as subscription:
            await running(subscription.run).finished.wait()
            sizes = [len(batch.frames) async for batch in batches_of(subscription)]
    assert sizes == [1] * 7


async def test_a_paced_producers_events_reach_the_follower_one_by_one_in_order() -> None:
    async def paced(stream: StreamManager) -> None:
        for i in range(20):
            await anyio.sleep(0.001)
            await stream.send_token(f"t{i} ")

    hub = StreamHub(ServerConfig(ping_interval=15.0))
    batches: list[list[int]] = []
    with anyio.fail_after(10):
        async with hub.running(), start(hub, paced) as subscription:
            async for batch in batches_of(subscription):
                assert batch.last_id is not None  # no keep-alive: events come in time
                batches.append([event_id for _, event_id in batch.frames])
    assert [i for batch in batches for i in batch] == list(range(1, 23))
    assert subscription.ended


async def test_an_idle_follower_is_woken_by_the_hub_for_its_keep_alive() -> None:
    # The hub wakes every waiting follower a few times per ping interval: an idle
    # subscription yields the keep-alive once the interval has passed, then what follows.
    release = anyio.Event()

    async def idle(stream: StreamManager) -> None:
        await stream.send_token("a")
        await release.wait()
        await stream.send_token("b")

    hub = StreamHub(ServerConfig(ping_interval=0.05))
    with anyio.fail_after(10):
        async with hub.running(), start(hub, idle) as subscription:
            first = await anext(subscription)
            assert first.frames == [("metadata", 1), ("token", 2)]
            started = anyio.current_time()
            ping = await anext(subscription)
            assert (ping.frames, ping.last_id, ping.end) == ([("ping", 0)], None, False)
            assert anyio.current_time() - started >= 0.05
            assert (await anext(subscription)).frames == [("ping", 0)]
            release.set()
            rest = [kind async for batch in batches_of(subscription) for kind, _ in batch.frames]
    assert [kind for kind in rest if kind != "ping"] == ["token", "done"]


async def test_an_encoding_without_keep_alive_just_waits() -> None:
    class Quiet(Encoding[Frame]):
        def encoder(self, stream_id: str) -> Encoder[Frame]:
            return lambda event: (event.type, event.id)

    release = anyio.Event()

    async def idle(stream: StreamManager) -> None:
        await stream.send_token("a")
        await release.wait()
        await stream.send_token("b")

    hub = StreamHub(ServerConfig(ping_interval=0.02))
    with anyio.fail_after(10):
        async with hub.running(), start(hub, idle, Quiet("quiet")) as subscription:
            assert (await anext(subscription)).last_id == 2
            with anyio.move_on_after(0.2):
                await anext(subscription)  # ten idle intervals: nothing to yield
            release.set()
            frames = [frame async for batch in batches_of(subscription) for frame in batch.frames]
    assert frames == [("token", 3), ("done", 4)]


async def test_prologue_and_epilogue_frame_what_each_subscription_sends() -> None:
    class Framed(Encoding[Frame]):
        def __init__(self) -> None:
            super().__init__("framed", prologue=("begin", 0), epilogue=("end", 0))

        def encoder(self, stream_id: str) -> Encoder[Frame]:
            return lambda event: (event.type, event.id)

    hub = StreamHub(ServerConfig())
    with anyio.fail_after(10):
        async with hub.running():
            async with start(hub, tokens(2), Framed()) as subscription:
                stream_id = subscription.stream_id
                await running(subscription.run).finished.wait()
                whole = [f async for batch in batches_of(subscription) for f in batch.frames]
            async with hub.subscribe(Framed(), stream_id=stream_id, after=3) as resumed:
                rest = [f async for batch in batches_of(resumed) for f in batch.frames]
    assert whole == [
        ("begin", 0),
        ("metadata", 1),
        ("token", 2),
        ("token", 3),
        ("done", 4),
        ("end", 0),
    ]
    assert rest == [("begin", 0), ("done", 4), ("end", 0)]


async def test_each_event_is_encoded_once_for_all_subscriptions_of_an_encoding() -> None:
    release = anyio.Event()

    async def held(stream: StreamManager) -> None:
        for i in range(50):
            await stream.send_token(f"t{i} ")
        await release.wait()

    kinds = Kinds()
    hub = StreamHub(ServerConfig())
    seen: list[list[Frame]] = []
    with anyio.fail_after(10):
        async with hub.running(), start(hub, held, kinds) as first:
            stream_id = first.stream_id
            async with (
                hub.subscribe(kinds, stream_id=stream_id) as second,
                hub.subscribe(kinds, stream_id=stream_id, after=10) as third,
            ):
                release.set()
                for subscription in (first, second, third):
                    seen.append(
                        [f async for batch in batches_of(subscription) for f in batch.frames]
                    )
    assert (
        seen[0] == seen[1] == [("metadata", 1), *(("token", i) for i in range(2, 52)), ("done", 52)]
    )
    assert seen[2] == seen[0][10:]
    assert sorted(kinds.encoded) == list(range(1, 53))  # once each, for three followers


async def test_an_encoder_sees_every_event_from_the_first_even_when_resumed_late() -> None:
    class Counting(Encoding[Frame]):
        """Frames carry their position in the stream, as a stateful protocol's would."""

        def encoder(self, stream_id: str) -> Encoder[Frame]:
            count = 0

            def encode(event: StoredEvent) -> Frame:
                nonlocal count
                count += 1
                return (event.type, count)

            return encode

    hub = StreamHub(ServerConfig())
    with anyio.fail_after(10):
        async with hub.running():
            async with start(hub, tokens(20)) as subscription:
                stream_id = subscription.stream_id
                await running(subscription.run).finished.wait()
            async with hub.subscribe(Counting("counting"), stream_id=stream_id, after=15) as late:
                frames = [f async for batch in batches_of(late) for f in batch.frames]
    assert frames == [
        (kind, i) for kind, i in zip(["token"] * 6 + ["done"], range(16, 23), strict=True)
    ]


async def test_a_run_over_max_events_ends_with_an_error_and_stays_bounded() -> None:
    hub = StreamHub(ServerConfig(max_events=50))
    with anyio.fail_after(10):
        async with hub.running():
            async with start(hub, tokens(10_000)) as subscription:
                run = running(subscription.run)
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
            async with start(hub, tokens(10_000)) as subscription:
                run = running(subscription.run)
            await run.finished.wait()
    assert run.finish_reason == "error"
    assert 4096 <= run.bytes < 4096 + 300  # the bound, one token, the error and done
    assert isinstance(run.error, Exception)


async def test_a_failure_before_any_event_is_raised_by_subscribe_and_the_run_forgotten() -> None:
    async def fail(stream: StreamManager) -> None:
        raise ProviderRateLimited("slow down", retry_after=3)

    hub = StreamHub()
    with anyio.fail_after(10):
        async with hub.running():
            with pytest.raises(ProviderRateLimited) as raised:
                async with start(hub, fail):
                    raise AssertionError("not reached: the run failed before its first event")
            assert hub.runs == {}
    assert raised.value.retry_after == 3


async def test_subscribe_takes_a_start_or_a_stream_id_and_refuses_unknown_streams() -> None:
    hub = StreamHub()
    with anyio.fail_after(10):
        async with hub.running():
            with pytest.raises(StreamNotFoundError, match="s_nope"):
                async with hub.subscribe(Kinds(), stream_id="s_nope"):
                    pass
            with pytest.raises(TypeError):
                async with hub.subscribe(Kinds()):
                    pass
            with pytest.raises(TypeError):
                async with hub.subscribe(Kinds(), start=spec(tokens(1)), stream_id="s_x"):
                    pass


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
        async with hub.running(), start(hub, forever) as subscription:
            run = running(subscription.run)
            await anyio.wait_all_tasks_blocked()
    assert cancelled == [True]
    assert run.done
    assert run.finish_reason == "cancelled"


async def test_abandoned_run_is_cancelled_after_the_grace_period() -> None:
    hub = StreamHub(ServerConfig(resume_grace=0.05))
    with anyio.fail_after(10):
        async with hub.running():
            async with start(hub, _slow) as subscription:
                slow = running(subscription.run)
                assert slow.followers == 1
            assert slow.followers == 0
            await slow.finished.wait()  # no follower: cancelled after the grace
    assert slow.finish_reason == "cancelled"


async def test_a_follower_back_within_the_grace_keeps_the_run_going() -> None:
    hub = StreamHub(ServerConfig(resume_grace=0.3))
    with anyio.fail_after(10):
        async with hub.running():
            async with start(hub, tokens_paced(40, 0.02)) as subscription:
                run = running(subscription.run)
                stream_id = subscription.stream_id
            async with hub.subscribe(Kinds(), stream_id=stream_id) as back:
                kinds = [kind async for batch in batches_of(back) for kind, _ in batch.frames]
    assert run.finish_reason == "stop"
    assert kinds.count("token") == 40


async def test_a_non_resumable_follower_leaving_early_cancels_the_run_at_once() -> None:
    hub = StreamHub(ServerConfig(resume_grace=3600))
    with anyio.fail_after(10):
        async with hub.running():
            async with start(hub, _slow, resumable=False) as subscription:
                run = running(subscription.run)
                await anext(subscription)
            await run.finished.wait()  # long before the grace
    assert run.finish_reason == "cancelled"


async def test_a_non_resumable_follower_does_not_cancel_a_run_others_follow() -> None:
    hub = StreamHub(ServerConfig(resume_grace=3600))
    with anyio.fail_after(10):
        async with hub.running(), start(hub, tokens_paced(10, 0.01)) as subscription:
            run = running(subscription.run)
            async with hub.subscribe(
                Kinds(), stream_id=subscription.stream_id, resumable=False
            ) as other:
                await anext(other)
            assert not run.done
            kinds = [k async for batch in batches_of(subscription) for k, _ in batch.frames]
    assert run.finish_reason == "stop"
    assert kinds.count("token") == 10


async def test_leaving_before_the_first_event_cancels_the_run_at_once() -> None:
    started = anyio.Event()

    async def late(stream: StreamManager) -> None:
        started.set()
        await anyio.sleep(3600)
        await stream.send_token("never")

    hub = StreamHub(ServerConfig(resume_grace=3600))
    with anyio.fail_after(10):
        async with hub.running():
            with anyio.move_on_after(0.05):
                async with start(hub, late):
                    raise AssertionError("not reached: the run has no event yet")
            assert started.is_set()
            (run,) = hub.runs.values()
            await run.finished.wait()
    assert run.finish_reason == "cancelled"


def tokens_paced(count: int, delay: float) -> Handler:
    async def handler(stream: StreamManager) -> None:
        for i in range(count):
            await stream.send_token(f"t{i} ")
            await anyio.sleep(delay)

    return handler


async def _slow(stream: StreamManager) -> None:
    for i in range(1000):
        await stream.send_token(str(i))
        await anyio.sleep(0.05)


def test_start_outside_running_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(ConfigurationError, match="not running"):
            async with start(StreamHub(), tokens(1)):
                pass

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
    resumable = {"X-AINative-Resumable": "1"}  # only then is there a grace period
    with serve(resume_grace=1.0) as (server, live):
        async with TCPProxy(live.port) as proxy, httpx.AsyncClient(headers=resumable) as client:
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
