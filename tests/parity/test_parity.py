"""The same behaviours over every transport: SSE, WebSocket and a third-party NDJSON plugin.

Each test runs per transport, on uvicorn and Hypercorn, from asyncio and trio: refusals
before the first event (the WebSocket at the stream path too), errors inside a stream,
cancel, resume from any id (finished and live), bounds, keep-alive while idle, a dropped
client's grace period when it declared it resumes, and an immediate cancel when it did not.
The client half of every transport maps a refusal to the same exception with the same
fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import httpx
import pytest

from ainative_client import AINativeClient
from ainative_core import (
    AINativeError,
    HTTPStatusError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from ainative_testing import FakeProvider, PluginSandbox, TCPProxy

from .conftest import Serve
from .drivers import Driver, Event, Refused, StreamPathWSDriver

pytestmark = pytest.mark.anyio

MakeDriver = Callable[..., AbstractAsyncContextManager[Driver]]

CHAT: dict[str, Any] = {"action": "chat", "params": {"message": "hello world"}}


def body(**extra: Any) -> dict[str, Any]:
    return {**CHAT, **extra}


def text_of(events: list[Event]) -> str:
    return "".join(e.obj["data"] for e in events if e.type == "token")


async def wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        for _ in range(2000):
            if condition():
                return
            await anyio.sleep(0.005)
    raise AssertionError("condition never held")


async def test_a_stream_is_metadata_tokens_then_done_with_consecutive_ids(
    serve: Serve, driver: MakeDriver
) -> None:
    with serve() as (_, live), anyio.fail_after(10):
        async with driver(live.base_url) as d, d.start(body()) as stream:
            events = await stream.read()
    assert [e.type for e in events] == ["metadata", "token", "token", "done"]
    assert [e.id for e in events] == [1, 2, 3, 4]
    assert events[0].obj["data"]["stream_id"] == stream.stream_id
    assert text_of(events) == "hello world"
    assert events[-1].obj["data"]["finish_reason"] == "stop"


# -- refusals before the first event ---------------------------------------------------------

EARLY = {
    "unknown provider": (body(provider="nope"), None, 404, "unknown_provider", False, None),
    "invalid params": (
        {"action": "chat", "params": {}},
        None,
        422,
        "invalid_request",
        False,
        None,
    ),
    "unknown action": (body(action="nope"), None, 404, "unknown_action", False, None),
    "rate limited": (
        body(provider="fake"),
        ProviderRateLimited("slow down", retry_after=3),
        429,
        "provider_rate_limited",
        True,
        3,
    ),
    "upstream down": (
        body(provider="fake"),
        ProviderUnavailable("upstream down"),
        503,
        "provider_unavailable",
        True,
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(EARLY))
async def test_a_failure_before_the_first_event_is_refused_with_the_same_fields(
    serve: Serve, driver: MakeDriver, parity_plugins: PluginSandbox, case: str
) -> None:
    request, failure, status, code, retryable, retry_after = EARLY[case]
    parity_plugins.add_provider("fake", FakeProvider(fail_before=failure))
    # No fallback action: an unknown action name is refused (else `prompt` answers it).
    with serve(fallback_action=None) as (server, live), anyio.fail_after(10):
        async with driver(live.base_url) as d:
            with pytest.raises(Refused) as refused:
                async with d.start(request):
                    raise AssertionError("not reached: the request is refused")
            # the socket or connection is still usable, and the refused run is not kept
            async with d.start(body()) as stream:
                assert text_of(await stream.read()) == "hello world"
        assert [run.stream_id for run in server.hub.runs.values()] == [stream.stream_id]
    got = refused.value
    assert (got.status, got.code, got.retryable, got.retry_after) == (
        status,
        code,
        retryable,
        retry_after,
    )
    assert got.message


@pytest.mark.parametrize("case", sorted(EARLY))
async def test_the_websocket_at_the_stream_path_refuses_with_the_same_frames(
    serve: Serve, parity_plugins: PluginSandbox, case: str
) -> None:
    request, failure, status, code, retryable, retry_after = EARLY[case]
    parity_plugins.add_provider("fake", FakeProvider(fail_before=failure))
    with serve(fallback_action=None) as (_, live), anyio.fail_after(10):
        async with httpx.AsyncClient(timeout=10) as client:
            d = StreamPathWSDriver(live.base_url, client, resumable=False)
            with pytest.raises(Refused) as refused:
                async with d.start(request):
                    raise AssertionError("not reached: the request is refused")
            async with d.start(body()) as stream:
                assert text_of(await stream.read()) == "hello world"
    got = refused.value
    assert (got.status, got.code, got.retryable, got.retry_after) == (
        status,
        code,
        retryable,
        retry_after,
    )


async def test_a_missing_key_is_refused_with_401_by_every_transport(
    serve: Serve, driver: MakeDriver
) -> None:
    with serve(api_keys=["sekrit"]) as (_, live), anyio.fail_after(10):
        async with driver(live.base_url) as d:
            with pytest.raises(Refused) as refused:
                async with d.start(body()):
                    raise AssertionError("not reached")
        async with (
            driver(live.base_url, {"Authorization": "Bearer sekrit"}) as d,
            d.start(body()) as stream,
        ):
            assert text_of(await stream.read()) == "hello world"
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")


async def test_resuming_an_unknown_stream_is_refused_with_404(
    serve: Serve, driver: MakeDriver
) -> None:
    with serve() as (_, live), anyio.fail_after(10):
        async with driver(live.base_url) as d:
            with pytest.raises(Refused) as refused:
                async with d.resume("s_nope", 0):
                    raise AssertionError("not reached")
    assert (refused.value.status, refused.value.code) == (404, "stream_not_found")


# -- inside a stream ---------------------------------------------------------------------------


async def test_a_provider_failure_after_the_first_token_is_an_error_event_then_done(
    serve: Serve, driver: MakeDriver, parity_plugins: PluginSandbox
) -> None:
    fake = FakeProvider(
        ["a", "b", "c"], fail_after=ProviderUnavailable("gone"), fail_after_tokens=2
    )
    parity_plugins.add_provider("fake", fake)
    with serve() as (_, live), anyio.fail_after(10):
        async with driver(live.base_url) as d, d.start(body(provider="fake")) as stream:
            events = await stream.read()
    assert [e.type for e in events] == ["metadata", "token", "token", "error", "done"]
    assert events[3].obj == {
        "type": "error",
        "data": "gone",
        "code": "provider_unavailable",
        "retryable": True,
    }
    assert events[4].obj["data"] == {"finish_reason": "error"}
    assert [e.id for e in events] == [1, 2, 3, 4, 5]


async def test_cancel_stops_the_provider_and_the_stream_ends_cancelled(
    serve: Serve, driver: MakeDriver, parity_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(500)], delay=0.02)
    parity_plugins.add_provider("fake", fake)
    with serve() as (server, live), anyio.fail_after(10):
        async with driver(live.base_url) as d, d.start(body(provider="fake")) as stream:
            await stream.read(3)
            await d.cancel(stream.stream_id)
            events = await stream.read()
        await wait_until(fake.cancelled.is_set)
        assert server.hub.get(stream.stream_id).finish_reason == "cancelled"
    assert events[-1].obj["data"]["finish_reason"] == "cancelled"
    assert 2 <= len(events) < 100


async def test_a_finished_stream_resumes_from_any_id_with_exactly_the_events_after_it(
    serve: Serve, driver: MakeDriver
) -> None:
    with serve() as (_, live), anyio.fail_after(20):
        async with driver(live.base_url) as d:
            async with d.start(body(options={"tokens": 6})) as stream:
                whole = await stream.read()
            assert len(whole) == 8
            for after in range(len(whole)):
                async with d.resume(stream.stream_id, after) as resumed:
                    rest = await resumed.read()
                assert rest == whole[after:], after
                assert resumed.ended
            # At or past the end, the final done again: every transport's client sees the end.
            for after in (len(whole), len(whole) + 5):
                async with d.resume(stream.stream_id, after) as resumed:
                    assert await resumed.read() == [whole[-1]]


async def test_a_live_stream_cut_mid_way_resumes_with_nothing_lost_or_repeated(
    serve: Serve, driver: MakeDriver, parity_plugins: PluginSandbox
) -> None:
    tokens = [f"t{i} " for i in range(40)]
    parity_plugins.add_provider("fake", FakeProvider(tokens, delay=0.01))
    with serve() as (_, live), anyio.fail_after(20):
        async with TCPProxy(live.port) as proxy:
            async with (
                driver(proxy.url, resumable=True) as cut,
                cut.start(body(provider="fake")) as stream,
            ):
                first = await stream.read(5)
                proxy.cut()
                first = await stream.read()  # what arrived before the cut
            assert not any(e.type == "done" for e in first)
        async with (
            driver(live.base_url) as d,
            d.resume(stream.stream_id, first[-1].id or 0) as resumed,
        ):
            rest = await resumed.read()
    ids = [e.id for e in first + rest]
    assert ids == list(range(1, len(tokens) + 3))
    assert text_of(first + rest) == "".join(tokens)


async def test_a_stream_over_its_bound_ends_with_an_error_event_then_done(
    serve: Serve, driver: MakeDriver
) -> None:
    with serve(max_events=20) as (_, live), anyio.fail_after(10):
        async with driver(live.base_url) as d, d.start(body(options={"tokens": 1000})) as stream:
            events = await stream.read()
    assert len(events) == 20
    assert (events[-2].type, events[-2].obj["code"]) == ("error", "stream_limit_exceeded")
    assert events[-1].obj["data"] == {"finish_reason": "error"}


KEEPALIVE = {"sse": True, "ndjson": True, "ws": False}
"""Whether the encoding sends its own keep-alive while idle (WebSocket relies on the
server's ping frames instead)."""


async def test_an_idle_stream_gets_its_transports_keep_alive_and_continues(
    serve: Serve, driver: MakeDriver, parity_plugins: PluginSandbox, transport: str
) -> None:
    parity_plugins.add_provider("fake", FakeProvider(["a", "b"], delay=0.5))
    with serve(ping_interval=0.1) as (_, live), anyio.fail_after(10):
        async with driver(live.base_url) as d, d.start(body(provider="fake")) as stream:
            events = await stream.read()
    assert text_of(events) == "ab"
    if KEEPALIVE[transport]:
        assert stream.keepalives >= 2
    else:
        assert stream.keepalives == 0


async def test_a_dropped_client_leaves_the_run_for_the_grace_period_then_it_is_cancelled(
    serve: Serve, driver: MakeDriver, parity_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    parity_plugins.add_provider("fake", fake)
    with serve(resume_grace=0.5) as (server, live), anyio.fail_after(10):
        async with (
            driver(live.base_url, resumable=True) as d,
            d.start(body(provider="fake")) as stream,
        ):
            await stream.read(3)
        run = server.hub.get(stream.stream_id)
        await wait_until(lambda: run.followers == 0)
        assert not run.done  # still producing during the grace period
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"
    assert fake.cancelled.is_set()


async def test_a_dropped_client_that_did_not_declare_resume_cancels_the_run_at_once(
    serve: Serve, driver: MakeDriver, parity_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    parity_plugins.add_provider("fake", fake)
    # The grace period is longer than the test may take: the run must end without it.
    with serve(resume_grace=60) as (server, live), anyio.fail_after(10):
        async with driver(live.base_url) as d, d.start(body(provider="fake")) as stream:
            await stream.read(3)
        run = server.hub.get(stream.stream_id)
        await wait_until(lambda: run.done)
        await wait_until(fake.cancelled.is_set)
    assert run.finish_reason == "cancelled"
    assert run.tokens < 1000


# -- the client half of each transport --------------------------------------------------------


CLIENT_TRANSPORTS = {"sse": "SSE", "ws": "WS", "ndjson": "ndjson"}


def _fields(exc: AINativeError) -> tuple[Any, ...]:
    return (
        type(exc),
        exc.status,
        getattr(exc, "server_code", None),
        getattr(exc, "retry_after", None),
    )


@pytest.mark.parametrize("case", sorted(EARLY))
async def test_the_client_raises_the_same_exception_for_a_refusal_on_every_transport(
    serve: Serve, parity_plugins: PluginSandbox, transport: str, case: str
) -> None:
    request, failure, status, code, _, retry_after = EARLY[case]
    parity_plugins.add_provider("fake", FakeProvider(fail_before=failure))
    options = {k: v for k, v in request.items() if k in ("provider", "action")}
    message = request["params"].get("message")
    with serve(fallback_action=None) as (_, live), anyio.fail_after(10):
        async with AINativeClient(live.base_url, transport=CLIENT_TRANSPORTS[transport]) as client:
            with pytest.raises(AINativeError) as raised:
                await client.complete_text(message or "", **options)
    expected: tuple[Any, ...]
    if failure is not None:
        expected = (type(failure), status, None, retry_after)
    else:
        expected = (HTTPStatusError, status, code, None)
    if message is None:  # the client sends an empty message: the same 422
        expected = (HTTPStatusError, 422, "invalid_request", None)
    assert _fields(raised.value) == expected


async def test_the_client_raises_401_alike_on_every_transport(serve: Serve, transport: str) -> None:
    with serve(api_keys=["sekrit"]) as (_, live), anyio.fail_after(10):
        async with AINativeClient(live.base_url, transport=CLIENT_TRANSPORTS[transport]) as client:
            with pytest.raises(HTTPStatusError) as raised:
                await client.complete_text("hi")
    assert _fields(raised.value) == (HTTPStatusError, 401, "unauthorized", None)


def test_the_ndjson_lines_are_the_wire_events_with_their_ids() -> None:
    from ainative_core import WireEvent
    from ainative_server import StoredEvent

    from .ndjson_plugin import NDJSON

    encode = NDJSON.encoder("s_1")
    line = encode(StoredEvent.encode(3, WireEvent.token("hi")))
    assert json.loads(line) == {"type": "token", "data": "hi", "id": 3}
    assert line.endswith(b"\n")
