"""The stream hub: runs (producer tasks) decoupled from the connections that follow them.

A run's producer (action handler -> provider -> events) runs in the hub's task group, which
lives in the application's lifespan; it appends to the run's log in the `EventStore` and
never waits for a reader. SSE responses and WebSocket streams are `Follower`s: they read the
log from a cursor, and a follower that has fallen behind takes every pending event at once,
so a slow client costs one write per batch and never slows the producer. When the last
follower of a running stream goes away, the producer keeps running for ``resume_grace``
seconds (a client may resume); then it is cancelled. Finished logs stay readable for
``retention`` seconds.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final, Literal, TypeAlias, final

import anyio
import anyio.abc
import anyio.lowlevel
import structlog

from ainative_core import (
    AINativeError,
    ConfigurationError,
    StreamLimitExceeded,
    StreamNotFoundError,
    WireEvent,
)

from ._config import ServerConfig
from ._manager import EventSink, StreamManager
from ._store import EventStore, InMemoryEventStore, ReadResult, StoredEvent

__all__ = ["Follower", "ProducerFactory", "Run", "StreamHub"]

LINGER_ROUNDS: Final = 64
"""Most extra loop rounds a coalescing follower waits for a busy producer's next events."""
LINGER_BYTES: Final = 65_536
"""A coalescing follower stops gathering once its batch has this many bytes."""

_TICKS_PER_PING: Final = 4
"""A hub whose store can wake every waiter does so this many times per ping interval."""

PROBE_EVERY: Final = 8
"""A follower woken by each event lingers after one wake-up in this many anyway, so it
notices a producer that has sped up."""

RunStatus: TypeAlias = Literal["running", "finished"]
ProducerFactory: TypeAlias = Callable[["Run", EventSink], StreamManager]
"""Builds the `StreamManager` of a new run around the sink that appends to its log."""

_logger = structlog.get_logger("ainative.server")


@final
class Run:
    """One stream's producer-side state in this process (counts, timing, end)."""

    def __init__(self, stream_id: str, *, provider: str, model: str | None, action: str) -> None:
        self.stream_id = stream_id
        self.provider = provider
        self.model = model
        self.action = action
        self.status: RunStatus = "running"
        self.finish_reason: str | None = None
        self.error: BaseException | None = None
        self.early_error: BaseException | None = None
        """Set when the run failed before it produced anything (the request's real error)."""
        self.tokens = 0
        self.events = 0
        self.bytes = 0
        self.started_at = time.monotonic()
        self.first_token_at: float | None = None
        self.ended_at: float | None = None
        self.followers = 1  # the creator's hold, handed to its first follower (adopt=True)
        self.ready = anyio.Event()
        """Set at the first event the action emits, or when the run ends."""
        self.finished = anyio.Event()
        self.cancel_requested = False
        self._scope: anyio.CancelScope | None = None
        self._idle_generation = 0

    @property
    def done(self) -> bool:
        return self.status == "finished"

    def __repr__(self) -> str:
        return f"<Run {self.stream_id} {self.status} events={self.events} bytes={self.bytes}>"


@final
class _RunSink:
    """The sink a run's `StreamManager` writes to."""

    __slots__ = ("hub", "run")

    def __init__(self, hub: StreamHub, run: Run) -> None:
        self.hub = hub
        self.run = run

    async def emit(self, event: WireEvent) -> None:
        await self.hub._append(self.run, event, limited=True)
        ready = self.run.ready
        if not ready.is_set():
            ready.set()


@final
class Follower:
    """Reads one stream's log from a cursor (the id of the last event it has)."""

    def __init__(self, hub: StreamHub, stream_id: str, cursor: int) -> None:
        self._hub = hub
        self.stream_id = stream_id
        self.cursor = cursor
        self.reached_end = False
        self._busy = True
        """Whether the last lingering found more events (a producer faster than the reader)."""
        self._wakes = 0

    async def next_batch(self, idle_timeout: float) -> list[StoredEvent] | None:
        """The pending events (all of them when coalescing, else one).

        ``[]`` after ``idle_timeout`` seconds without events (time for a keep-alive);
        ``None`` once the finished stream has been read to its end. After a batch that
        reaches the end, ``reached_end`` is True.

        When coalescing, a batch also takes what a busy producer adds while the loop runs
        other ready tasks: the follower yields and reads again as long as new events keep
        arriving (bounded by `LINGER_ROUNDS` and `LINGER_BYTES`). It lingers so when events
        were already pending, or after a wake-up when its last lingering found more; a
        producer that waits on its upstream (one token at a time) then costs one wake-up
        and one read per token, with a probe every `PROBE_EVERY` wake-ups.
        """
        if self.reached_end:
            return None
        hub = self._hub
        store = hub.store
        coalesce = hub.coalesce
        limit = None if coalesce else 1
        result = await store.read(self.stream_id, self.cursor, limit)
        events = result.events
        waited = not events and not result.finished
        if waited:
            result = await self._wait(idle_timeout, limit)
            events = result.events
        if coalesce and events and not result.finished:
            self._wakes += waited
            if not waited or self._busy or self._wakes % PROBE_EVERY == 0:
                before = len(events)
                result = await self._linger(events, result)
                self._busy = len(events) > before
        if events:
            self.cursor = events[-1].id
        if result.at_end:
            self.reached_end = True
            if not events:
                return None
        return events

    async def _wait(self, idle_timeout: float, limit: int | None) -> ReadResult:
        """Wait for events after the cursor, at most ``idle_timeout`` seconds; read them."""
        hub = self._hub
        store = hub.store
        stream_id = self.stream_id
        tick = hub._wake_tick
        if tick is None or idle_timeout < tick * _TICKS_PER_PING:
            with anyio.move_on_after(idle_timeout):
                await store.wait(stream_id, self.cursor)
            return await store.read(stream_id, self.cursor, limit)
        # The hub wakes every waiter each `tick` seconds: no timer per wait.
        deadline = time.monotonic() + idle_timeout
        while True:
            await store.wait(stream_id, self.cursor)
            result = await store.read(stream_id, self.cursor, limit)
            if result.events or result.finished or time.monotonic() >= deadline:
                return result

    async def _linger(self, events: list[StoredEvent], result: ReadResult) -> ReadResult:
        """Add to ``events`` what a busy producer appends in the next rounds of the loop.

        Returns the last read (``result`` if none was made), which tells whether
        ``events`` reach the end of the stream.
        """
        store = self._hub.store
        size = sum(len(e.sse) for e in events)
        idle_rounds = 0
        for _ in range(LINGER_ROUNDS):
            if size >= LINGER_BYTES:
                break
            await anyio.lowlevel.checkpoint()
            result = await store.read(self.stream_id, events[-1].id)
            if not result.events:
                # Two quiet rounds: trio runs ready tasks in random order, so one
                # round may pass before the producer's turn.
                idle_rounds += 1
                if idle_rounds == 2 or result.finished:
                    break
                continue
            idle_rounds = 0
            events += result.events
            size += sum(len(e.sse) for e in result.events)
            if result.finished:
                break
        return result


@final
class StreamHub:
    """Starts runs, keeps their logs, and hands out followers. Use inside `running`."""

    def __init__(self, config: ServerConfig | None = None, store: EventStore | None = None):
        self.config = config or ServerConfig()
        self.store: EventStore = store or InMemoryEventStore()
        self.coalesce = self.config.coalesce
        self._runs: dict[str, Run] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._wake_tick: float | None = None
        """Seconds between the hub's wake-ups of every waiting follower (None: no ticker)."""

    # -- life cycle ------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[StreamHub]:
        """Run the hub's task group; on exit every producer is cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            if self.store.wake_all():
                self._wake_tick = self.config.ping_interval / _TICKS_PER_PING
                tg.start_soon(self._wake_waiters, self._wake_tick, name="ainative-hub-wake")
            try:
                yield self
            finally:
                self._tg = None
                self._wake_tick = None
                tg.cancel_scope.cancel()

    async def _wake_waiters(self, tick: float) -> None:
        """Bound every follower's wait (for its pings) with one timer for the whole hub."""
        while True:
            await anyio.sleep(tick)
            self.store.wake_all()

    @property
    def runs(self) -> dict[str, Run]:
        """Runs this process knows of (running, or finished and retained)."""
        return self._runs

    @property
    def active(self) -> int:
        return sum(1 for run in self._runs.values() if not run.done)

    def get(self, stream_id: str) -> Run:
        """The run ``stream_id``; `StreamNotFoundError` if unknown or expired.

        The message does not list other stream ids: they are capabilities of other clients.
        """
        run = self._runs.get(stream_id)
        if run is None:
            raise StreamNotFoundError(f"unknown or expired stream {stream_id!r}")
        return run

    # -- producing -------------------------------------------------------------------------

    async def start(
        self,
        handler: Callable[[StreamManager], Awaitable[None]],
        make_manager: ProducerFactory,
        *,
        provider: str,
        model: str | None,
        action: str,
    ) -> Run:
        """Create a run, log its ``metadata`` event and start ``handler`` as its producer.

        The creator holds one follower slot until it follows with ``adopt=True`` (or
        calls `release`).
        """
        tg = self._tg
        if tg is None:
            raise ConfigurationError(
                "the stream hub is not running: serve the app with its lifespan "
                "(an included router's lifespan runs with the app's), or use hub.running()"
            )
        stream_id = "s_" + secrets.token_urlsafe(12)
        await self.store.create(stream_id)
        run = Run(stream_id, provider=provider, model=model, action=action)
        self._runs[stream_id] = run
        meta = {"stream_id": stream_id, "provider": provider, "model": model or provider}
        await self._append(run, WireEvent("metadata", meta), limited=False)
        _logger.debug(
            "stream.start", stream_id=stream_id, provider=provider, model=model, action=action
        )
        manager = make_manager(run, _RunSink(self, run))
        tg.start_soon(self._produce, run, handler, manager, name=f"ainative-run-{stream_id}")
        return run

    async def _append(self, run: Run, event: WireEvent, *, limited: bool) -> StoredEvent:
        config = self.config
        if (
            limited
            and event.type != "done"
            and (run.events >= config.max_events - 2 or run.bytes >= config.max_bytes)
        ):
            raise StreamLimitExceeded(
                f"stream {run.stream_id} reached its bound "
                f"(max_events={config.max_events}, max_bytes={config.max_bytes})"
            )
        stored = await self.store.append(run.stream_id, event)
        run.events += 1
        run.bytes += len(stored.sse)
        if event.type == "token":
            run.tokens += 1
            if run.first_token_at is None:
                run.first_token_at = time.monotonic()
        elif event.type == "done" and isinstance(event.data, dict):
            run.finish_reason = event.data.get("finish_reason")
        return stored

    async def _produce(
        self,
        run: Run,
        handler: Callable[[StreamManager], Awaitable[None]],
        manager: StreamManager,
    ) -> None:
        error: Exception | None = None
        completed = False
        try:
            with anyio.CancelScope() as scope:
                run._scope = scope
                if run.cancel_requested:
                    scope.cancel()
                try:
                    await handler(manager)
                except Exception as exc:
                    error = exc
            completed = not scope.cancelled_caught
        finally:
            with anyio.CancelScope(shield=True):
                await self._end(run, manager, error, cancelled=not completed)

    async def _end(
        self, run: Run, manager: StreamManager, error: Exception | None, *, cancelled: bool
    ) -> None:
        log = _logger.bind(stream_id=run.stream_id, provider=run.provider, action=run.action)
        try:
            if error is not None:
                run.error = error
                if manager.sent == 0:
                    run.early_error = error
                if isinstance(error, AINativeError):
                    failure = WireEvent.failure(
                        error.message, code=error.code, retryable=error.retryable
                    )
                else:
                    log.error("stream.producer_failed", exc_info=error)
                    failure = WireEvent.failure("internal server error", code="internal_error")
                if not manager.done:
                    await self._append(run, failure, limited=False)
                    await self._append(run, WireEvent.done("error"), limited=False)
            elif not manager.done:
                reason = "cancelled" if cancelled or run.cancel_requested else "stop"
                await self._append(run, WireEvent.done(reason), limited=False)
            await self.store.finish(run.stream_id)
            await self.store.expire(run.stream_id, self.config.retention)
        except StreamNotFoundError:
            pass  # discarded while ending
        except Exception:
            # Never let one stream's store failure take the hub's task group down.
            log.exception("stream.end_failed")
        finally:
            run.status = "finished"
            run.ended_at = time.monotonic()
            run.ready.set()
            run.finished.set()
            if self._tg is not None:
                self._tg.start_soon(self._forget_later, run)
        ttft = (
            round((run.first_token_at - run.started_at) * 1000, 2)
            if run.first_token_at is not None
            else None
        )
        log.info(
            "stream.end",
            reason=run.finish_reason,
            error=getattr(error, "code", None) if error is not None else None,
            tokens=run.tokens,
            events=run.events,
            bytes=run.bytes,
            time_to_first_token_ms=ttft,
            duration_ms=round((run.ended_at - run.started_at) * 1000, 2),
        )

    async def _forget_later(self, run: Run) -> None:
        await anyio.sleep(self.config.retention)
        if self._runs.get(run.stream_id) is run:
            del self._runs[run.stream_id]
            await self.store.delete(run.stream_id)

    # -- control ---------------------------------------------------------------------------

    def cancel(self, stream_id: str) -> Run:
        """Cancel a running stream's producer (no-op on a finished one)."""
        run = self.get(stream_id)
        if not run.done:
            run.cancel_requested = True
            if run._scope is not None:
                run._scope.cancel()
        return run

    async def discard(self, run: Run) -> None:
        """Forget a run at once (one that failed before the client learned its id)."""
        self._runs.pop(run.stream_id, None)
        await self.store.delete(run.stream_id)

    def release(self, run: Run) -> None:
        """Give up the creator's follower slot without following."""
        self._detach(run)

    def _detach(self, run: Run) -> None:
        run.followers -= 1
        if run.followers <= 0 and not run.done and self._tg is not None:
            run._idle_generation += 1
            self._tg.start_soon(self._cancel_if_abandoned, run, run._idle_generation)

    async def _cancel_if_abandoned(self, run: Run, generation: int) -> None:
        await anyio.sleep(self.config.resume_grace)
        if run.followers <= 0 and run._idle_generation == generation and not run.done:
            _logger.info("stream.abandoned", stream_id=run.stream_id, provider=run.provider)
            self.cancel(run.stream_id)

    # -- following -------------------------------------------------------------------------

    @asynccontextmanager
    async def follow(
        self, stream_id: str, after: int = 0, *, adopt: bool = False
    ) -> AsyncIterator[Follower]:
        """A follower from event id ``after``; raises `StreamNotFoundError` if unknown.

        ``adopt=True`` takes over the creator's slot instead of adding one.
        """
        await self.store.stats(stream_id)  # raises for unknown or expired streams
        run = self._runs.get(stream_id)
        if run is not None and not adopt:
            run.followers += 1
        try:
            yield Follower(self, stream_id, max(after, 0))
        finally:
            if run is not None:
                self._detach(run)
