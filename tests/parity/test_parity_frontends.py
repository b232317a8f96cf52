"""The parity behaviours that apply to the front-end protocols (AI SDK UI messages, AG-UI).

Their messages are not our wire events, so they get drivers of their own here: what they
share with every transport is checked the same way: refusals before the first part with the
same status and code, 401 without a key, resume from any part id (finished and live, cut by
a proxy), bounds, keep-alive while idle, cancel, and the grace period of a dropped client.
Each runs per protocol on uvicorn and Hypercorn, from asyncio and trio.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import httpx
import pytest

from ainative_core import ProviderRateLimited, ProviderUnavailable, ResponseBody, SSEDecoder
from ainative_testing import FakeProvider, PluginSandbox, TCPProxy

from .conftest import Serve

pytestmark = pytest.mark.anyio

Part = tuple[int, dict[str, Any]]
_MAX_READS: Final = 100_000


@dataclass
class Read:
    """An open response: ``read()`` gathers parts until the end (or ``count`` parts)."""

    stream_id: str
    chunks: AsyncIterator[bytes]
    is_end: Callable[[dict[str, Any]], bool]
    parts: list[Part] = field(default_factory=list)
    keepalives: int = 0
    ended: bool = False
    decoder: SSEDecoder = field(default_factory=SSEDecoder)

    async def read(self, count: int | None = None) -> list[Part]:
        for _ in range(_MAX_READS):
            if self.ended or (count is not None and len(self.parts) >= count):
                return self.parts
            try:
                chunk = await anext(self.chunks)
            except (StopAsyncIteration, httpx.HTTPError):
                self.ended = True
                continue
            events = [e for e in self.decoder.feed(chunk) if e.data != "[DONE]"]
            if not events and b": ping" in chunk:
                self.keepalives += 1
            for event in events:
                obj = json.loads(event.data)
                self.parts.append((int(event.id), obj))
                self.ended = self.ended or self.is_end(obj)
        raise AssertionError("the stream never ended")


@dataclass(frozen=True)
class Protocol:
    name: str
    start_path: str
    resume_path: str
    end_types: frozenset[str]
    error_type: str

    def body(self, provider: str | None = None, **options: Any) -> dict[str, Any]:
        if self.name == "ai-sdk":
            user = {"id": "u", "role": "user", "parts": [{"type": "text", "text": "hello world"}]}
            return {"id": "chat", "messages": [user], "provider": provider, "options": options}
        return {
            "threadId": "thread",
            "runId": "run",
            "messages": [{"id": "u", "role": "user", "content": "hello world"}],
            "forwardedProps": {"provider": provider, "options": options},
        }

    def invalid_body(self) -> dict[str, Any]:
        return {"messages": []} if self.name == "ai-sdk" else {"threadId": "t"}

    def text(self, parts: list[Part]) -> str:
        kind = "text-delta" if self.name == "ai-sdk" else "TEXT_MESSAGE_CONTENT"
        return "".join(obj["delta"] for _, obj in parts if obj["type"] == kind)


PROTOCOLS: Final = {
    "ai-sdk": Protocol(
        "ai-sdk", "/ai/ui/chat", "/ai/ui/chat/{}/stream", frozenset({"finish"}), "error"
    ),
    "ag-ui": Protocol(
        "ag-ui", "/ai/agui", "/ai/agui/{}", frozenset({"RUN_FINISHED", "RUN_ERROR"}), "RUN_ERROR"
    ),
}


@pytest.fixture(params=sorted(PROTOCOLS))
def protocol(request: pytest.FixtureRequest) -> Protocol:
    return PROTOCOLS[str(request.param)]


class Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.status = response.status_code
        self.error = response.json()["error"] if response.content else {}


@asynccontextmanager
async def opened(
    client: httpx.AsyncClient, protocol: Protocol, method: str, url: str, **kwargs: Any
) -> AsyncIterator[Read]:
    async with client.stream(method, url, **kwargs) as response:
        if response.status_code != 200:
            await response.aread()
            raise Refused(response)

        def is_end(obj: dict[str, Any]) -> bool:
            return obj["type"] in protocol.end_types

        async with ResponseBody(response, response.aiter_raw()) as chunks:
            yield Read(response.headers["x-ainative-stream-id"], chunks, is_end)


def start(
    client: httpx.AsyncClient, protocol: Protocol, base: str, body: Any, *, resumable: bool = False
) -> Any:
    headers = {"X-AINative-Resumable": "1"} if resumable else {}
    return opened(client, protocol, "POST", base + protocol.start_path, json=body, headers=headers)


def resume(client: httpx.AsyncClient, protocol: Protocol, base: str, sid: str, after: int) -> Any:
    url = base + protocol.resume_path.format(sid)
    return opened(client, protocol, "GET", url, headers={"Last-Event-ID": str(after)})


async def wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        for _ in range(2000):
            if condition():
                return
            await anyio.sleep(0.005)
    raise AssertionError("condition never held")


EARLY: Final = {
    "unknown provider": ("nope", None, 404, "unknown_provider"),
    "invalid body": (None, None, 422, "invalid_request"),
    "rate limited": (
        "fake",
        ProviderRateLimited("slow down", retry_after=3),
        429,
        "provider_rate_limited",
    ),
    "upstream down": ("fake", ProviderUnavailable("upstream down"), 503, "provider_unavailable"),
}


@pytest.mark.parametrize("case", sorted(EARLY))
async def test_a_failure_before_the_first_part_is_refused_with_the_same_status_and_code(
    serve: Serve, parity_plugins: PluginSandbox, protocol: Protocol, case: str
) -> None:
    provider, failure, status, code = EARLY[case]
    parity_plugins.add_provider("fake", FakeProvider(fail_before=failure))
    body = protocol.invalid_body() if case == "invalid body" else protocol.body(provider)
    with serve() as (server, live), anyio.fail_after(10):
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(Refused) as refused:
                async with start(client, protocol, live.base_url, body):
                    raise AssertionError("not reached: the request is refused")
            async with start(client, protocol, live.base_url, protocol.body()) as stream:
                assert protocol.text(await stream.read()) == "hello world"
        assert [run.stream_id for run in server.hub.runs.values()] == [stream.stream_id]
    assert (refused.value.status, refused.value.error["code"]) == (status, code)


async def test_a_missing_key_is_refused_with_401(serve: Serve, protocol: Protocol) -> None:
    with serve(api_keys=["sekrit"]) as (_, live), anyio.fail_after(10):
        async with httpx.AsyncClient(timeout=10) as client:
            with pytest.raises(Refused) as refused:
                async with start(client, protocol, live.base_url, protocol.body()):
                    raise AssertionError("not reached")
        async with (
            httpx.AsyncClient(timeout=10, headers={"Authorization": "Bearer sekrit"}) as client,
            start(client, protocol, live.base_url, protocol.body()) as stream,
        ):
            assert protocol.text(await stream.read()) == "hello world"
    assert (refused.value.status, refused.value.error["code"]) == (401, "unauthorized")


async def test_a_finished_stream_resumes_from_any_part_with_exactly_the_parts_after_it(
    serve: Serve, protocol: Protocol
) -> None:
    with serve() as (_, live), anyio.fail_after(30):
        async with httpx.AsyncClient(timeout=10) as client:
            async with start(client, protocol, live.base_url, protocol.body(tokens=4)) as stream:
                whole = await stream.read()
            assert [i for i, _ in whole] == list(range(1, len(whole) + 1))
            for after in range(len(whole) + 2):
                async with resume(client, protocol, live.base_url, stream.stream_id, after) as r:
                    rest = await r.read()
                assert rest == whole[after:], after


async def test_a_live_stream_cut_mid_way_resumes_with_nothing_lost_or_repeated(
    serve: Serve, parity_plugins: PluginSandbox, protocol: Protocol
) -> None:
    tokens = [f"t{i} " for i in range(40)]
    parity_plugins.add_provider("fake", FakeProvider(tokens, delay=0.01))
    with serve() as (_, live), anyio.fail_after(20):
        async with httpx.AsyncClient(timeout=10) as client:
            async with (
                TCPProxy(live.port) as proxy,
                start(client, protocol, proxy.url, protocol.body("fake"), resumable=True) as stream,
            ):
                await stream.read(5)
                proxy.cut()
                first = await stream.read()
            assert first[-1][1]["type"] not in protocol.end_types
            async with resume(client, protocol, live.base_url, stream.stream_id, first[-1][0]) as r:
                rest = await r.read()
    parts = first + rest
    assert [i for i, _ in parts] == list(range(1, len(parts) + 1))
    assert protocol.text(parts) == "".join(tokens)
    assert parts[-1][1]["type"] in protocol.end_types


async def test_a_stream_over_its_bound_ends_with_an_error_part_then_the_end(
    serve: Serve, protocol: Protocol
) -> None:
    with serve(max_events=20) as (_, live), anyio.fail_after(10):
        async with (
            httpx.AsyncClient(timeout=10) as client,
            start(client, protocol, live.base_url, protocol.body(tokens=1000)) as stream,
        ):
            parts = await stream.read()
    errors = [obj for _, obj in parts if obj["type"] == protocol.error_type]
    assert len(errors) == 1
    assert "max_events=20" in errors[0].get("errorText", errors[0].get("message", ""))
    assert parts[-1][1]["type"] in protocol.end_types


async def test_an_idle_stream_gets_keep_alive_comments_and_continues(
    serve: Serve, parity_plugins: PluginSandbox, protocol: Protocol
) -> None:
    parity_plugins.add_provider("fake", FakeProvider(["a", "b"], delay=0.5))
    with serve(ping_interval=0.1) as (_, live), anyio.fail_after(10):
        async with (
            httpx.AsyncClient(timeout=10) as client,
            start(client, protocol, live.base_url, protocol.body("fake")) as stream,
        ):
            parts = await stream.read()
    assert protocol.text(parts) == "ab"
    assert stream.keepalives >= 2


async def test_cancel_stops_the_provider_and_the_stream_ends_cancelled(
    serve: Serve, parity_plugins: PluginSandbox, protocol: Protocol
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(500)], delay=0.02)
    parity_plugins.add_provider("fake", fake)
    with serve() as (server, live), anyio.fail_after(10):
        async with (
            httpx.AsyncClient(timeout=10) as client,
            start(client, protocol, live.base_url, protocol.body("fake")) as stream,
        ):
            await stream.read(4)
            url = live.base_url + protocol.resume_path.format(stream.stream_id)
            cancelled = await client.delete(url)
            parts = await stream.read()
        await wait_until(fake.cancelled.is_set)
        assert server.hub.get(stream.stream_id).finish_reason == "cancelled"
    assert cancelled.json() == {"stream_id": stream.stream_id, "cancelled": True}
    end = parts[-1][1]
    assert end == (
        {"type": "finish", "finishReason": "other"}
        if protocol.name == "ai-sdk"
        else {
            "type": "RUN_FINISHED",
            "threadId": "thread",
            "runId": "run",
            "outcome": {"type": "cancelled"},
        }
    )


async def test_a_dropped_client_leaves_the_run_for_the_grace_period_then_it_is_cancelled(
    serve: Serve, parity_plugins: PluginSandbox, protocol: Protocol
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    parity_plugins.add_provider("fake", fake)
    with serve(resume_grace=0.5) as (server, live), anyio.fail_after(10):
        async with (
            httpx.AsyncClient(timeout=10) as client,
            start(client, protocol, live.base_url, protocol.body("fake"), resumable=True) as stream,
        ):
            await stream.read(4)
        run = server.hub.get(stream.stream_id)
        await wait_until(lambda: run.followers == 0)
        assert not run.done  # still producing during the grace period
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"
    assert fake.cancelled.is_set()


async def test_a_client_that_did_not_declare_it_resumes_cancels_its_run_by_leaving(
    serve: Serve, parity_plugins: PluginSandbox, protocol: Protocol
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    parity_plugins.add_provider("fake", fake)
    with serve(resume_grace=30) as (server, live), anyio.fail_after(10):
        async with (
            httpx.AsyncClient(timeout=10) as client,
            start(client, protocol, live.base_url, protocol.body("fake")) as stream,
        ):
            await stream.read(4)
        run = server.hub.get(stream.stream_id)
        await wait_until(lambda: run.done)  # at once, not after the 30 s grace
    assert run.finish_reason == "cancelled"
    assert fake.cancelled.is_set()
