"""The stream hub: runs (producer tasks) decoupled from the connections that follow them.

A run's producer (action handler -> provider -> events) runs in the hub's task group, which
lives in the application's lifespan; it appends to the run's log in the `EventStore` and
never waits for a reader. Connections follow a log through `StreamHub.subscribe`, the one
owner of a follower's life: it starts the run (or finds the stream to resume), raises a
failure that came before the first event so the transport can refuse the request properly,
holds the follower's slot while it reads and releases it on the way out. When the last
follower of a running stream goes away, the producer keeps running for ``resume_grace``
seconds if that follower was ``resumable`` (its client said it comes back); then it is
cancelled. A follower that was not resumable cancels it at once. Finished logs stay readable for
``retention`` seconds. With a store of this process alone, the logs together hold at most
``max_retained_bytes``: past it the oldest finished logs no follower reads are dropped, and
while the others fill it new runs are refused (`ServerBusy`).

With a store shared by several processes (``EventStore.shared``), a stream may be produced
by one process and followed, resumed or cancelled through any other: the grace countdown
then starts in the process whose follower was the last one anywhere, and a cancel for a
stream produced elsewhere goes to its producer through the store.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, TypeVar, final

import anyio
import anyio.abc

from ainative_core import (
    AINativeError,
    ConfigurationError,
    ServerBusy,
    StoreUnavailable,
    StreamLimitExceeded,
    StreamNotFoundError,
    TooManyFollowers,
    TooManyStreams,
    WireEvent,
    get_logger,
)

from ._config import ServerConfig
from ._encoding import Encoding
from ._manager import EventSink, StreamManager
from ._send_watch import SendWatch
from ._store import EventStore, store_for
from ._subscription import TICKS_PER_PING, Feed, Subscription

__all__ = ["ProducerFactory", "Run", "RunSpec", "StreamHub"]

F = TypeVar("F")

RunStatus: TypeAlias = Literal["running", "finished"]
ProducerFactory: TypeAlias = Callable[["Run", EventSink], StreamManager]
"""Builds the `StreamManager` of a new run around the sink that appends to its log."""

_logger = get_logger("ainative.server")

CAP_RETRY_AFTER: Final = 1.0
"""The ``Retry-After`` (seconds) of a request refused at a cap."""


@final
@dataclass(frozen=True, slots=True)
class RunSpec:
    """What a new run does: ``handler(manager)`` produces its events through the
    `StreamManager` that ``make_manager(run, sink)`` builds; the names are its metadata.

    ``owner`` (an API key's digest) owns the stream: other owners cannot resume or cancel
    it. ``client`` is what the ``max_runs_per_client`` cap counts (None: no per-client cap).
    """

    handler: Callable[[StreamManager], Awaitable[None]]
    make_manager: ProducerFactory
    provider: str
    model: str | None
    action: str
    owner: str | None = None
    client: str | None = None


@final
class Run:
    """One stream produced by this process: what it is, its counts and timing, how it ended.

    ``finished`` is set when the producer has ended and the log is complete.
    """

    def __init__(
        self,
        stream_id: str,
        *,
        provider: str,
        model: str | None,
        action: str,
        owner: str | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.owner = owner
        """The digest of the API key that started the run (None without keys)."""
        self.provider = provider
        self.model = model
        self.action = action
        self.status: RunStatus = "running"
        self.finish_reason: str | None = None
        self.error: BaseException | None = None
        """The exception that ended the producer, if one did."""
        self.tokens = 0
        self.events = 0
        self.bytes = 0
        self.started_at = time.monotonic()
        self.first_token_at: float | None = None
        self.ended_at: float | None = None
        self.finished = anyio.Event()
        self._followers = 0
        self._ready = anyio.Event()
        """Set at the first event the action emits, or when the run ends."""
        self._emitted = False
        """Whether the action has emitted an event (``_ready`` was set for it)."""
        self._early_error: BaseException | None = None
        """Set when the run failed before it emitted anything (the request's real error)."""
        self._cancel_requested = False
        self._scope: anyio.CancelScope | None = None
        self._idle_generation = 0

    @property
    def done(self) -> bool:
        return self.status == "finished"

    @property
    def followers(self) -> int:
        """Subscriptions of this process reading the run now."""
        return self._followers

    def __repr__(self) -> str:
        return f"<Run {self.stream_id} {self.status} events={self.events} bytes={self.bytes}>"


@final
class _RunSink:
    """The sink a run's `StreamManager` writes to: its ``emit`` is the hub's append of the
    run's events itself (no coroutine of the sink's around it: one frame fewer per token)."""

    __slots__ = ("emit",)

    def __init__(self, hub: StreamHub, run: Run) -> None:
        self.emit: Callable[[WireEvent], Coroutine[Any, Any, None]] = functools.partial(
            hub._append, run
        )


@final
class StreamHub:
    """Starts runs, keeps their logs, and serves subscriptions. Use inside `running`."""

    def __init__(self, config: ServerConfig | None = None, store: EventStore | None = None):
        self.config = config or ServerConfig()
        self.store: EventStore = store or store_for(self.config)
        self.coalesce = self.config.coalesce
        self._runs: dict[str, Run] = {}
        self._feeds: dict[str, Feed] = {}
        self._idle: dict[str, int] = {}
        """Per stream followed here, a count of local idle spells (shared stores)."""
        self._tg: anyio.abc.TaskGroup | None = None
        self._producing = 0
        """Runs admitted and not yet ended (the ``max_runs`` cap)."""
        self._per_client: dict[str, int] = {}
        """The same, per client (the ``max_runs_per_client`` cap)."""
        self._finished: dict[str, Run] = {}
        """The finished runs in ``_runs``, in the order they ended (the oldest first)."""
        self._retained = 0
        """Encoded bytes of the logs of the runs in ``_runs`` (the ``max_retained_bytes``
        cap; counted only for a store of this process alone)."""
        self.wake_tick: float | None = None
        """Seconds between the hub's wake-ups of every waiting follower (None: no ticker)."""
        self.draining = False
        """`drain` began: new runs are refused."""
        self.sends = SendWatch(self.config.send_timeout)
        """Bounds every follower's write by ``send_timeout`` (one timer for the hub)."""
        self._drained: anyio.Event | None = None

    # -- life cycle ------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[StreamHub]:
        """Run the hub's task group (and open its store); on exit every producer is
        cancelled, and ends before the store closes."""
        async with self.store.opened(self._cancel_here), anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self.sends.run, name="ainative-hub-send-watch")
            if self.store.wake_all():
                self.wake_tick = self.config.ping_interval / TICKS_PER_PING
                tg.start_soon(self._wake_waiters, self.wake_tick, name="ainative-hub-wake")
            try:
                yield self
            finally:
                self._tg = None
                self.wake_tick = None
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
    def retained_bytes(self) -> int:
        """Encoded bytes the logs of this process's runs hold (running or retained)."""
        return self._retained

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

    # -- following -------------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(
        self,
        encoding: Encoding[F],
        *,
        start: RunSpec | None = None,
        stream_id: str | None = None,
        after: int = 0,
        resumable: bool = True,
        owner: str | None = None,
    ) -> AsyncIterator[Subscription[F]]:
        """Follow a new run (``start``) or an existing stream (``stream_id``, after ``after``).

        Starting waits for the run's first event: a failure before it (unknown model,
        provider refusal, rate limit) is raised here, before the transport has written
        anything, and the run is forgotten. Resuming raises `StreamNotFoundError` for an
        unknown or expired stream. Inside the block the subscription holds a follower slot;
        leaving releases it: the last follower of a running stream leaving starts the
        ``resume_grace`` countdown, or cancels the run at once when it was not
        ``resumable`` (its client cannot come back) or left before the first event.

        Resuming with an ``owner`` finds only the streams that owner started (any other is
        `StreamNotFoundError`); a stream with ``max_followers`` followers here refuses
        more with `TooManyFollowers`.
        """
        if (start is None) == (stream_id is None):
            raise TypeError("subscribe() takes either start or stream_id")
        run: Run | None
        if start is not None:
            run = await self._start(start)
            run._followers += 1
            try:
                await run._ready.wait()
            except BaseException:
                self._detach(run, abandon=True)  # its client never learned the id
                raise
            if run._early_error is not None:
                run._followers -= 1
                await self._discard(run)
                raise run._early_error
            sid = run.stream_id
        else:
            assert stream_id is not None
            await self._check_owner(stream_id, owner)  # raises for unknown or expired streams
            sid = stream_id
            followed = self._feeds.get(sid)
            if followed is not None and followed.users >= self.config.max_followers:
                raise TooManyFollowers(
                    f"stream {sid!r} has {followed.users} followers, the most allowed "
                    f"(max_followers={self.config.max_followers})",
                    retry_after=CAP_RETRY_AFTER,
                )
            run = self._runs.get(sid)
            if run is not None:
                run._followers += 1
        feed = self._feeds.get(sid)
        if feed is None:
            feed = self._feeds[sid] = Feed(sid)
            self.store.follow(sid)
        feed.users += 1
        subscription = Subscription(self, feed, encoding, after=after, run=run)
        try:
            yield subscription
        finally:
            feed.users -= 1
            last = feed.users == 0 and self._feeds.get(sid) is feed
            if last:
                del self._feeds[sid]
                self.store.unfollow(sid)
            abandon = not resumable and not subscription.ended
            if self.store.shared:
                if run is not None:
                    run._followers -= 1
                if last:
                    self._release_shared(sid, run, abandon=abandon)
            elif run is not None:
                self._detach(run, abandon=abandon)

    def _detach(self, run: Run, *, abandon: bool) -> None:
        run._followers -= 1
        if run._followers > 0 or run.done or self._tg is None:
            return
        if abandon:
            _logger.debug("stream.abandoned", stream_id=run.stream_id, provider=run.provider)
            self._cancel(run)
            return
        run._idle_generation += 1
        self._tg.start_soon(self._cancel_if_abandoned, run, run._idle_generation)

    async def _cancel_if_abandoned(self, run: Run, generation: int) -> None:
        await anyio.sleep(self.config.resume_grace)
        if run._followers <= 0 and run._idle_generation == generation and not run.done:
            _logger.info("stream.abandoned", stream_id=run.stream_id, provider=run.provider)
            self._cancel(run)

    def _release_shared(self, stream_id: str, run: Run | None, *, abandon: bool) -> None:
        """This process's last follower of ``stream_id`` left: count down for the stream
        in case no process follows it any more."""
        if (run is not None and run.done) or self._tg is None:
            return
        spell = self._idle[stream_id] = self._idle.get(stream_id, 0) + 1
        grace = 0.0 if abandon else self.config.resume_grace
        self._tg.start_soon(self._cancel_if_idle, stream_id, run, spell, grace)

    async def _cancel_if_idle(
        self, stream_id: str, run: Run | None, spell: int, grace: float
    ) -> None:
        try:
            token = await self.store.idle(stream_id)
            if token is None:
                return  # followed elsewhere: that process counts down when it is left
            await anyio.sleep(grace)
            if self._idle.get(stream_id) != spell or stream_id in self._feeds:
                return  # followed here again
            if (run is not None and run.done) or not await self.store.still_idle(stream_id, token):
                return
            _logger.info("stream.abandoned", stream_id=stream_id)
            if run is not None:
                self._cancel(run)
            else:
                await self.store.request_cancel(stream_id)
        except (StreamNotFoundError, StoreUnavailable):
            pass  # gone, or the store is away: its lease and retention end the stream
        finally:
            if self._idle.get(stream_id) == spell:
                del self._idle[stream_id]

    # -- producing -------------------------------------------------------------------------

    async def _start(self, spec: RunSpec) -> Run:
        """Create a run, log its ``metadata`` event and start its producer.

        The run is registered only together with what cleans it up: a failure before the
        producer has started removes it again.
        """
        tg = self._tg
        if tg is None:
            raise ConfigurationError(
                "the stream hub is not running: serve the app with its lifespan "
                "(an included router's lifespan runs with the app's), or use hub.running()"
            )
        await self._make_room()
        self._admit(spec.client)
        produced = False
        try:
            stream_id = "s_" + secrets.token_urlsafe(12)
            await self.store.create(stream_id, owner=spec.owner)
            run = Run(
                stream_id,
                provider=spec.provider,
                model=spec.model,
                action=spec.action,
                owner=spec.owner,
            )
            self._runs[stream_id] = run
            produced = await self._start_producer(run, spec)
        finally:
            if not produced:
                self._release(spec.client)
        _logger.debug(
            "stream.start",
            stream_id=stream_id,
            provider=spec.provider,
            model=spec.model,
            action=spec.action,
        )
        return run

    async def drain(self, grace: float) -> int:
        """Shut down gently: refuse new runs (`ServerBusy`), let the running ones go on for
        up to ``grace`` seconds, then cancel those left (their followers end with ``done``
        / ``cancelled``) and wait (2 s at most) for them to end. Returns how many were
        cancelled."""
        self.draining = True
        drained = self._drained = anyio.Event()
        if self._producing:
            with anyio.move_on_after(grace):
                await drained.wait()
        left = [run for run in self._runs.values() if not run.done]
        for run in left:
            self._cancel(run)
        if self._producing:
            with anyio.move_on_after(2.0):
                await drained.wait()
        return len(left)

    def _admit(self, client: str | None) -> None:
        """Count a new run against the caps, or refuse it (`ServerBusy`, `TooManyStreams`)."""
        config = self.config
        if self.draining:
            raise ServerBusy("the server is shutting down", retry_after=CAP_RETRY_AFTER)
        if self._producing >= config.max_runs:
            raise ServerBusy(
                f"the server runs {self._producing} streams, the most it takes "
                f"(max_runs={config.max_runs}); retry shortly",
                retry_after=CAP_RETRY_AFTER,
            )
        if self._retained >= config.max_retained_bytes and not self.store.shared:
            raise ServerBusy(
                f"streams running or being read hold {self._retained} bytes of logs, the most "
                f"this server keeps (max_retained_bytes={config.max_retained_bytes}); "
                "retry shortly",
                retry_after=CAP_RETRY_AFTER,
            )
        if client is not None:
            count = self._per_client.get(client, 0)
            if count >= config.max_runs_per_client:
                raise TooManyStreams(
                    f"this client runs {count} streams, the most allowed "
                    f"(max_runs_per_client={config.max_runs_per_client}); "
                    "retry when one has ended",
                    retry_after=CAP_RETRY_AFTER,
                )
            self._per_client[client] = count + 1
        self._producing += 1

    def _release(self, client: str | None) -> None:
        self._producing -= 1
        if self._drained is not None and not self._producing:
            self._drained.set()
        if client is not None:
            left = self._per_client[client] - 1
            if left:
                self._per_client[client] = left
            else:
                del self._per_client[client]

    async def _start_producer(self, run: Run, spec: RunSpec) -> bool:
        """Log the run's ``metadata`` event and start its producer, which releases the
        run's caps when it ends; True once started."""
        tg = self._tg
        assert tg is not None
        stream_id = run.stream_id

        async def produce(manager: StreamManager) -> None:
            try:
                await spec.handler(manager)
            finally:
                self._release(spec.client)

        try:
            meta = {
                "stream_id": stream_id,
                "provider": spec.provider,
                "model": spec.model or spec.provider,
            }
            await self._append(run, WireEvent("metadata", meta), limited=False)
            manager = spec.make_manager(run, _RunSink(self, run))
            tg.start_soon(self._produce, run, produce, manager, name=f"ainative-run-{stream_id}")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._discard(run)
            raise
        return True

    async def _append(self, run: Run, event: WireEvent, *, limited: bool = True) -> None:
        """Log ``event`` of ``run`` and count it. ``limited``: an event of the action's (its
        sink's), refused past the run's bounds (room is left for the ``error`` and ``done``
        that end it); the first marks the run ready."""
        config = self.config
        kind = event.type
        if (
            limited
            and kind != "done"
            and (run.events >= config.max_events - 2 or run.bytes >= config.max_bytes)
        ):
            raise StreamLimitExceeded(
                f"stream {run.stream_id} reached its bound "
                f"(max_events={config.max_events}, max_bytes={config.max_bytes})"
            )
        stored = await self.store.append(run.stream_id, event)
        size = len(stored.json)
        run.events += 1
        run.bytes += size
        if self._runs.get(run.stream_id) is run:
            self._retained += size
            if self._retained > config.max_retained_bytes and not self.store.shared:
                await self._evict(config.max_retained_bytes)
        if kind == "token":
            run.tokens += 1
            if run.first_token_at is None:
                run.first_token_at = time.monotonic()
        elif kind == "done" and isinstance(event.data, dict):
            run.finish_reason = event.data.get("finish_reason")
        if limited and not run._emitted:
            run._emitted = True
            run._ready.set()

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
                if run._cancel_requested:
                    scope.cancel()
                try:
                    await handler(manager)
                except Exception as exc:
                    error = exc
            completed = not scope.cancelled_caught
        finally:
            with anyio.CancelScope(shield=True):
                await self._end(run, error, cancelled=not completed)

    async def _end(self, run: Run, error: Exception | None, *, cancelled: bool) -> None:
        log = _logger.bind(stream_id=run.stream_id, provider=run.provider, action=run.action)
        try:
            ended = run.finish_reason is not None  # the action sent its own done
            if error is not None:
                run.error = error
                if not run._ready.is_set():
                    run._early_error = error  # raised to the subscriber, who reports it
                elif not isinstance(error, AINativeError):
                    log.error("stream.producer_failed", exc_info=error)
                if not ended:
                    await self._append(run, WireEvent.failure_of(error), limited=False)
                    await self._append(run, WireEvent.done("error"), limited=False)
            elif not ended:
                reason = "cancelled" if cancelled or run._cancel_requested else "stop"
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
            run._scope = None  # nothing to cancel any more (a retained run holds less)
            if self._runs.get(run.stream_id) is run:
                self._finished[run.stream_id] = run
            run._ready.set()
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
        if self._forget(run):
            await self.store.delete(run.stream_id)

    async def _discard(self, run: Run) -> None:
        """Forget a run at once (one whose client never learned its id)."""
        self._forget(run)
        await self.store.delete(run.stream_id)

    def _forget(self, run: Run) -> bool:
        """Drop ``run`` from the runs of this process; False if it was gone already."""
        if self._runs.get(run.stream_id) is not run:
            return False
        del self._runs[run.stream_id]
        self._finished.pop(run.stream_id, None)
        self._retained -= run.bytes
        return True

    async def _make_room(self) -> None:
        """Before a new run: drop finished logs while the logs fill ``max_retained_bytes``."""
        cap = self.config.max_retained_bytes
        if self._retained >= cap and not self.store.shared:
            await self._evict(cap - 1)

    async def _evict(self, target: int) -> None:
        """Drop finished runs, oldest first, until the logs hold ``target`` bytes or less
        (running runs, and finished ones a follower still reads, are not dropped)."""
        evicted = []
        for run in list(self._finished.values()):
            if self._retained <= target:
                break
            if not run.followers and self._forget(run):
                evicted.append(run)
        for run in evicted:
            _logger.debug("stream.evicted", stream_id=run.stream_id, bytes=run.bytes)
            await self.store.delete(run.stream_id)

    # -- control ---------------------------------------------------------------------------

    async def cancel(self, stream_id: str, *, owner: str | None = None) -> bool:
        """Cancel a running stream's producer, in this process or (shared store) another;
        True if it was running (a finished stream is left as it is).

        Its followers end with ``done`` / ``finish_reason: "cancelled"``.
        `StreamNotFoundError` if the stream is unknown or expired, or, with ``owner``, if
        another owner started it.
        """
        run = self._runs.get(stream_id)
        if run is None:
            await self._check_owner(stream_id, owner)
            return await self.store.request_cancel(stream_id)
        if owner is not None and run.owner != owner:
            raise StreamNotFoundError(f"unknown or expired stream {stream_id!r}")
        running = not run.done
        self._cancel(run)
        return running

    async def _check_owner(self, stream_id: str, owner: str | None) -> None:
        """`StreamNotFoundError` unless the stream exists and, with ``owner``, is theirs
        (told apart from an unknown stream by nothing: ids of others stay secret)."""
        stats = await self.store.stats(stream_id)
        if owner is not None and stats.owner != owner:
            raise StreamNotFoundError(f"unknown or expired stream {stream_id!r}")

    def _cancel_here(self, stream_id: str) -> None:
        """Another process asked the store to cancel ``stream_id``."""
        run = self._runs.get(stream_id)
        if run is not None:
            self._cancel(run)

    def _cancel(self, run: Run) -> None:
        if not run.done:
            run._cancel_requested = True
            if run._scope is not None:
                run._scope.cancel()
