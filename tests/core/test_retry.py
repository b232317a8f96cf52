"""The shared retry policy: retries only before the first event, then error + finish."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

import anyio
import pytest
import structlog
from structlog.testing import capture_logs

from ainative_core import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    RetryPolicy,
    StreamEvent,
    build_request,
    parse_retry_after,
    retry_call,
    retry_stream,
)
from ainative_testing import FakeProvider

REQUEST = build_request(prompt="hi")
FAST = RetryPolicy(max_retries=3, backoff=0.001, max_wait=1.0)


class Attempts:
    """An ``attempt_stream`` callable: attempt ``n`` streams from the ``n``-th provider."""

    def __init__(self, *providers: FakeProvider) -> None:
        self.providers = list(providers)
        self.made: list[FakeProvider] = []

    def __call__(self) -> AsyncIterator[StreamEvent]:
        provider = self.providers[len(self.made)]
        self.made.append(provider)
        return provider.stream(REQUEST)


def ok(*tokens: str) -> FakeProvider:
    return FakeProvider(tokens or ("Hello", " world"))


def failing(error: ProviderError) -> FakeProvider:
    return FakeProvider(fail_before=error)


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    with anyio.fail_after(10):
        async with aclosing(stream) as events:  # type: ignore[type-var]
            return [event async for event in events]


def texts(events: list[StreamEvent]) -> str:
    return "".join(e.text or "" for e in events if e.type == "text")


# -- the policy ------------------------------------------------------------------------------


def test_delay_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=5, backoff=1.0, max_wait=3.0)
    down = ProviderUnavailable("down")
    for _ in range(20):
        assert 0.5 <= (policy.delay(0, down) or 0) <= 1.0
        assert 1.0 <= (policy.delay(1, down) or 0) <= 2.0
        assert 1.5 <= (policy.delay(4, down) or 0) <= 3.0  # 16 s capped at max_wait


def test_delay_gives_up_after_max_retries_and_on_final_errors() -> None:
    policy = RetryPolicy(max_retries=2, backoff=1.0, max_wait=3.0)
    assert policy.delay(1, ProviderUnavailable("down")) is not None
    assert policy.delay(2, ProviderUnavailable("down")) is None
    assert policy.delay(0, ProviderAuthError("no")) is None
    assert policy.delay(0, ProviderBadRequest("no")) is None
    assert RetryPolicy(max_retries=0).delay(0, ProviderUnavailable("down")) is None


def test_delay_honours_retry_after_up_to_max_wait() -> None:
    policy = RetryPolicy(max_retries=2, backoff=0.001, max_wait=3.0)
    assert policy.delay(0, ProviderRateLimited("slow", retry_after=2.5)) == 2.5
    assert policy.delay(0, ProviderRateLimited("slow", retry_after=3.5)) is None
    # Without retry_after a rate limit backs off like any retryable error.
    assert (policy.delay(0, ProviderRateLimited("slow")) or 1) <= 0.001


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0
    assert parse_retry_after({"retry-after": "-4"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (parse_retry_after({"retry-after": later}) or 0) <= 30
    earlier = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after({"retry-after": earlier}) == 0.0


# -- retry_stream ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_retries_before_the_first_event_until_success() -> None:
    attempts = Attempts(
        failing(ProviderUnavailable("down")),
        failing(ProviderTimeout("slow")),
        failing(ProviderResponseError("truncated")),
        ok("at", " last"),
    )
    with capture_logs() as logs:
        events = await collect(retry_stream(FAST, attempts))
    assert texts(events) == "at last"
    assert events[-1].type == "finish"
    assert events[-1].finish_reason == "stop"
    assert "error" not in [e.type for e in events]
    assert len(attempts.made) == 4
    retries = [e for e in logs if e["event"] == "provider_retry"]
    assert [e["attempt"] for e in retries] == [1, 2, 3]
    assert [e["code"] for e in retries] == [
        "provider_unavailable",
        "provider_timeout",
        "provider_response_error",
    ]


@pytest.mark.anyio
async def test_every_attempt_is_closed() -> None:
    attempts = Attempts(failing(ProviderUnavailable("a")), failing(ProviderUnavailable("b")), ok())
    await collect(retry_stream(FAST, attempts))
    assert all(p.closed.is_set() for p in attempts.made)
    assert len(attempts.made) == 3


@pytest.mark.anyio
async def test_gives_up_after_max_retries_with_the_last_error() -> None:
    attempts = Attempts(*(failing(ProviderUnavailable(f"down {n}")) for n in range(4)))
    with pytest.raises(ProviderUnavailable, match="down 3"):
        await collect(retry_stream(FAST, attempts))
    assert len(attempts.made) == 4
    assert all(p.closed.is_set() for p in attempts.made)


@pytest.mark.anyio
async def test_non_retryable_error_is_raised_at_once() -> None:
    attempts = Attempts(failing(ProviderAuthError("bad key")), ok())
    with capture_logs() as logs, pytest.raises(ProviderAuthError, match="bad key"):
        await collect(retry_stream(FAST, attempts))
    assert len(attempts.made) == 1
    assert attempts.made[0].closed.is_set()
    assert not [e for e in logs if e["event"] == "provider_retry"]


@pytest.mark.anyio
async def test_errors_outside_the_provider_tree_are_not_retried() -> None:
    attempts = Attempts(FakeProvider(fail_before=RuntimeError("bug")), ok())
    with pytest.raises(RuntimeError, match="bug"):
        await collect(retry_stream(FAST, attempts))
    assert len(attempts.made) == 1
    assert attempts.made[0].closed.is_set()


@pytest.mark.anyio
async def test_retry_after_is_waited_for() -> None:
    limited = ProviderRateLimited("slow", retry_after=0.05)
    attempts = Attempts(failing(limited), ok("done"))
    with capture_logs() as logs:
        events = await collect(retry_stream(FAST, attempts))
    assert texts(events) == "done"
    (retry,) = [e for e in logs if e["event"] == "provider_retry"]
    assert retry["wait"] >= 0.05  # not the 0.001 s backoff
    assert retry["code"] == "provider_rate_limited"


@pytest.mark.anyio
async def test_retry_after_beyond_max_wait_is_raised_with_its_delay() -> None:
    attempts = Attempts(failing(ProviderRateLimited("slow", retry_after=60)), ok())
    with pytest.raises(ProviderRateLimited) as info:
        await collect(retry_stream(FAST, attempts))
    assert info.value.retry_after == 60
    assert len(attempts.made) == 1


@pytest.mark.anyio
async def test_no_retry_after_the_first_event() -> None:
    broken = FakeProvider(
        ["one", " two", " three"], fail_after=ProviderUnavailable("reset"), fail_after_tokens=2
    )
    attempts = Attempts(broken, ok("never"))
    with capture_logs() as logs:
        events = await collect(retry_stream(FAST, attempts))
    assert [e.type for e in events] == ["text", "text", "error", "finish"]
    assert texts(events) == "one two"
    error, finish = events[-2:]
    assert error.text == "reset"
    assert error.code == "provider_unavailable"
    assert error.retryable is True
    assert finish.finish_reason == "error"
    assert len(attempts.made) == 1
    assert broken.closed.is_set()
    assert [e["event"] for e in logs] == ["provider_stream_failed"]


@pytest.mark.anyio
async def test_a_final_error_after_the_first_event_is_not_retryable() -> None:
    broken = FakeProvider(["a", "b"], fail_after=ProviderBadRequest("refused"))
    events = await collect(retry_stream(FAST, Attempts(broken)))
    assert [e.type for e in events] == ["text", "error", "finish"]
    assert events[1].code == "provider_bad_request"
    assert events[1].retryable is False


@pytest.mark.anyio
async def test_consumer_closing_early_closes_the_attempt() -> None:
    slow = FakeProvider(["a", "b", "c"])
    stream = retry_stream(FAST, Attempts(slow))
    with anyio.fail_after(10):
        async with aclosing(stream) as events:  # type: ignore[type-var]
            first = await events.__anext__()
    assert first.text == "a"
    assert slow.cancelled.is_set()
    assert slow.closed.is_set()


@pytest.mark.anyio
async def test_cancellation_while_streaming_propagates() -> None:
    slow = FakeProvider(["a", "b"], delay=60)
    attempts = Attempts(slow, ok())
    seen: list[StreamEvent] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                seen.extend(await collect(retry_stream(FAST, attempts)))

            tg.start_soon(consume)
            await slow.started.wait()
            tg.cancel_scope.cancel()
    assert seen == []  # cancelled, not turned into an error event
    assert slow.cancelled.is_set()
    assert slow.closed.is_set()
    assert len(attempts.made) == 1


@pytest.mark.anyio
async def test_cancellation_during_backoff_propagates() -> None:
    first = failing(ProviderUnavailable("down"))
    attempts = Attempts(first, ok())
    patient = RetryPolicy(max_retries=3, backoff=60, max_wait=60)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                await collect(retry_stream(patient, attempts))

            tg.start_soon(consume)
            await first.closed.wait()
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    assert tg.cancel_scope.cancelled_caught
    assert len(attempts.made) == 1  # the second attempt never started


# -- retry_call ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_retry_call_retries_until_success() -> None:
    errors: list[ProviderError] = [ProviderUnavailable("a"), ProviderRateLimited("b")]
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        if errors:
            raise errors.pop(0)
        return "fine"

    with capture_logs() as logs:
        assert await retry_call(FAST, call) == "fine"
    assert calls == 3
    assert [e["attempt"] for e in logs if e["event"] == "provider_retry"] == [1, 2]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "calls_made"),
    [
        (ProviderAuthError("bad key"), 1),
        (ProviderRateLimited("slow", retry_after=60), 1),
        (ProviderUnavailable("down"), 4),
    ],
)
async def test_retry_call_raises_what_it_does_not_retry(
    error: ProviderError, calls_made: int
) -> None:
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await retry_call(FAST, call)
    assert calls == calls_made


@pytest.mark.anyio
async def test_retry_call_uses_the_given_logger() -> None:
    attempts = iter([ProviderUnavailable("down")])

    async def call() -> int:
        for error in attempts:
            raise error
        return 1

    log = structlog.get_logger("test").bind(provider="mine")
    with capture_logs() as logs:
        assert await retry_call(FAST, call, log) == 1
    assert [e["provider"] for e in logs] == ["mine"]
