"""Retrying a provider call or stream with backoff, only while nothing reached the consumer.

Once a stream yielded an event, a retry would repeat it: a failure after that point becomes
an ``error`` event followed by ``finish`` with reason ``error`` instead. Provider plugins
wrap their one-attempt generator in `retry_stream` and their one-shot calls in `retry_call`.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, final

import anyio

from ._exceptions import ProviderError, ProviderRateLimited
from ._logging import get_logger
from ._models import StreamEvent

__all__ = ["RetryPolicy", "parse_retry_after", "retry_call", "retry_stream"]

_T = TypeVar("_T")


@final
@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` extra attempts; waits ``backoff * 2**n`` seconds (capped, with jitter).

    Only errors whose ``retryable`` is true are retried. The wait is capped at ``max_wait``
    and drawn between half and all of it. A rate limit's ``retry_after`` is honoured (waited
    for, at least) when it is at most ``max_wait``; a longer one is not waited for: the error
    goes to the caller, who can pass the delay on.
    """

    max_retries: int = 2
    backoff: float = 0.25
    max_wait: float = 8.0

    def delay(self, attempt: int, error: ProviderError) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None to give up."""
        if not error.retryable or attempt >= self.max_retries:
            return None
        wait = min(self.backoff * 2**attempt, self.max_wait) * (0.5 + random.random() / 2)
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            if error.retry_after > self.max_wait:
                return None
            wait = max(wait, float(error.retry_after))
        return float(wait)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    None when the headers carry neither or only a value that is not one of those forms;
    never negative.
    """
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


async def retry_call(policy: RetryPolicy, call: Callable[[], Awaitable[_T]], log: Any = None) -> _T:
    """Await ``call()`` and retry it under ``policy`` when it raises a retryable error.

    ``log`` is a structlog logger (bound to the provider, say) that records each retry as
    ``provider_retry``; without one a logger of this module is used.
    """
    log = get_logger("ainative.core") if log is None else log
    attempt = 0
    while True:
        try:
            return await call()
        except ProviderError as exc:
            wait = policy.delay(attempt, exc)
            if wait is None:
                raise
            log.info("provider_retry", attempt=attempt + 1, wait=round(wait, 3), code=exc.code)
        attempt += 1
        await anyio.sleep(wait)


async def retry_stream(
    policy: RetryPolicy,
    attempt_stream: Callable[[], AsyncIterator[StreamEvent]],
    log: Any = None,
) -> AsyncIterator[StreamEvent]:
    """Events of ``attempt_stream()``, retried under ``policy`` until the first event.

    A `ProviderError` before the first event is retried or raised; after it, it ends the
    stream with an ``error`` event (its wire ``code`` and ``retryable``) and ``finish``.
    Every attempt's iterator is closed (``aclose``) before the next one or the end, also on
    cancellation, which is never caught. ``log`` is as for `retry_call`; a failure after the
    first event is logged as ``provider_stream_failed``.
    """
    log = get_logger("ainative.core") if log is None else log
    attempt = 0
    while True:
        events = attempt_stream()
        started = False
        try:
            async for event in events:
                started = True
                yield event
            return
        except ProviderError as exc:
            if started:
                log.warning("provider_stream_failed", code=exc.code, error=exc.message)
                yield StreamEvent.error(exc.message, code=exc.code, retryable=exc.retryable)
                yield StreamEvent.finish("error")
                return
            wait = policy.delay(attempt, exc)
            if wait is None:
                raise
            log.info("provider_retry", attempt=attempt + 1, wait=round(wait, 3), code=exc.code)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        attempt += 1
        await anyio.sleep(wait)
