"""Retrying a provider stream with backoff, only while nothing has reached the consumer.

Once an event was yielded, a retry would repeat it; a failure after that point becomes an
``error`` event followed by ``finish`` with reason ``error`` instead.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from ainative_core import ProviderError, ProviderRateLimited, StreamEvent

__all__ = ["RetryPolicy", "retry_call", "retry_stream"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` extra attempts; waits ``backoff * 2**n`` (capped, with jitter).

    A rate limit's ``retry_after`` is honoured when it is at most ``max_wait``; a longer one
    is not waited for: the error goes to the caller, who can pass the delay on.
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


async def retry_call(policy: RetryPolicy, call: Callable[[], Awaitable[_T]], log: Any) -> _T:
    """Await ``call()`` and retry it under ``policy`` when it raises a retryable error.

    ``log`` is a structlog logger (bound to the provider) that records each retry.
    """
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
    policy: RetryPolicy, attempt_stream: Callable[[], AsyncIterator[StreamEvent]], log: Any
) -> AsyncIterator[StreamEvent]:
    """Events of ``attempt_stream()``, retried under ``policy`` until the first event.

    A `ProviderError` before the first event is retried or raised; after it, it ends the
    stream with an ``error`` event (its wire ``code`` and ``retryable``) and ``finish``.
    """
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
