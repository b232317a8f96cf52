"""`RedisEventStore`: stream logs in Redis Streams, shared by every process of a deployment.

Each stream is a Redis Stream whose entry ids carry the event ids (event ``N`` is entry
``N-0``, so ``Last-Event-ID: N`` is a cursor without a lookup), beside a small hash of its
state; the Lua scripts are in `_redis_scripts`. Redis enforces the bounds (``max_events``
by ``MAXLEN``, ``max_bytes`` by refusing appends) and the retention (key expiry).

In each process the store keeps the events of the streams it produces or follows in memory
(a mirror), so local followers read and wait without a round trip, however many there are:

- appends go to the mirror at once (waking local followers) and are written to Redis in
  batches, one script call for every stream that has pending events, at most one call per
  ``flush_interval`` (a busy producer costs far less than a round trip per token);
- a stream produced elsewhere is loaded once, then kept current by the ``PUBLISH`` each
  write makes (one pub/sub connection per process, one channel per followed stream);
- a heartbeat renews this process's lease; a process that follows a stream whose producer's
  lease has run out ends it with ``producer_lost``; cancel requests reach the producing
  process on its control channel.

Connections per process: the multiplexed command connections (at most `MAX_CONNECTIONS`)
and one pub/sub connection, whatever the number of streams and followers.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, final

import anyio
import anyio.abc
import coredis
import coredis.exceptions
import coredis.retry

from ainative_core import (
    ProducerLost,
    StoreUnavailable,
    StreamLimitExceeded,
    StreamNotFoundError,
    WireEvent,
    get_logger,
)

from . import _redis_scripts as scripts
from ._redis_mirror import Mirror, PresenceChange, entries_of
from ._store import EventPush, EventStore, ReadResult, StoredEvent, StreamStats, redact_url

__all__ = ["MAX_CONNECTIONS", "RedisEventStore"]

MAX_CONNECTIONS: Final = 8
"""Most command connections one store opens (commands are multiplexed on them)."""
_PAGE: Final = 2_000
"""Entries per read of a log, and most entries of one stream per flush."""
_BUSY: Final = 4
_MAX_FLUSH_INTERVAL: Final = 0.02
_CONNECT_TIMEOUT: Final = 2.0
_COMMAND_TIMEOUT: Final = 5.0
_BACKOFF: Final = (0.05, 0.1, 0.2, 0.5, 1.0)
_FINAL: Final = frozenset({"error", "done"})
_UNREACHABLE = (coredis.exceptions.ConnectionError, TimeoutError, OSError)

_logger = get_logger("ainative.server")


def _backoff(attempt: int) -> float:
    return _BACKOFF[min(attempt, len(_BACKOFF) - 1)]


class _ClosingConnect:
    """Closes a coredis connection's buffers when it fails to connect.

    coredis 6 opens them in the connection's constructor and closes them only once connected,
    so each failed attempt (Redis down) would leave them to the garbage collector, with a
    ``ResourceWarning`` each.
    """

    async def _connect(self) -> Any:
        try:
            return await super()._connect()  # type: ignore[misc]
        except BaseException:
            for name in (
                "_write_buffer_in",
                "_write_buffer_out",
                "_push_message_buffer_in",
                "_push_message_buffer_out",
                "_streamed_message_buffer_in",
                "_streamed_message_buffer_out",
            ):
                stream = getattr(self, name, None)
                if stream is not None:
                    stream.close()
            raise


class _TCPConnection(_ClosingConnect, coredis.TCPConnection):
    pass


class _UnixConnection(_ClosingConnect, coredis.UnixDomainSocketConnection):
    pass


def _not_found(stream_id: str) -> StreamNotFoundError:
    return StreamNotFoundError(f"unknown or expired stream {stream_id!r}")


@final
class RedisEventStore(EventStore):
    """Stream logs in Redis (``redis://host:port/db``), shared by several server processes.

    Use it inside ``opened`` (the hub does): that connects, and `StoreUnavailable` says
    Redis cannot be reached. ``lease_timeout`` bounds how long the followers of a stream
    whose producing process died wait for their ``producer_lost`` error (about 4/3 of it);
    ``flush_interval`` is the longest an append waits to be written (local followers see it
    at once). ``max_events``/``max_bytes`` are the bounds Redis enforces (the hub's), and
    ``retention`` how long the log of a stream whose producer was lost stays readable.
    """

    shared = True

    def __init__(
        self,
        url: str,
        *,
        lease_timeout: float = 3.0,
        max_events: int = 200_000,
        max_bytes: int = 32 * 1_048_576,
        retention: float = 300.0,
        flush_interval: float = 0.002,
        prefix: str = "ainative:",
    ) -> None:
        self.url = url
        self.lease_timeout = lease_timeout
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.retention = retention
        self.flush_interval = flush_interval
        self.prefix = prefix
        self.process = "p_" + secrets.token_hex(8)
        """This process's name in Redis (its lease and control channel)."""
        self._replica_key = f"{prefix}replica:{self.process}"
        self._replicas = f"{prefix}replica:"
        self._channels = f"{prefix}n:"
        self._control = f"{prefix}ctl:"
        self._running_ttl_ms = int((retention + 10 * lease_timeout) * 1000)
        lost = WireEvent.failure_of(
            ProducerLost("the server process producing this stream stopped")
        ).to_json()
        done = WireEvent.done("error").to_json()
        self._lost_args = [lost, len(lost), done, len(done)]
        self._client: coredis.Redis[bytes] | None = None
        self._scripts: dict[str, Any] = {}
        self._pubsub: Any = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._on_cancel: Callable[[str], None] = lambda stream_id: None
        self._reset()

    def _reset(self) -> None:
        self._mirrors: dict[str, Mirror] = {}
        self._dirty: dict[str, Mirror] = {}
        self._flush_wanted = anyio.Event()
        self._last_flush = -math.inf
        self._changes: list[PresenceChange] = []
        self._changes_wanted = anyio.Event()
        self._leaving: dict[str, PresenceChange] = {}
        self._channels_wanted: set[str] = set()
        self._channels_on: set[str] = set()
        self._channels_changed = anyio.Event()

    def __repr__(self) -> str:
        return f"<RedisEventStore {redact_url(self.url)} {self.process}>"

    # -- keys ------------------------------------------------------------------------------

    def _log_key(self, stream_id: str) -> str:
        return f"{self.prefix}{{{stream_id}}}:log"

    def _meta_key(self, stream_id: str) -> str:
        return f"{self.prefix}{{{stream_id}}}:meta"

    @property
    def client(self) -> coredis.Redis[bytes]:
        """The Redis client (while `opened`)."""
        if self._client is None:
            raise StoreUnavailable(f"the store {redact_url(self.url)} is not open")
        return self._client

    async def _call(self, script: str, keys: list[str], args: list[Any]) -> Any:
        registered = self._scripts.get(script)
        if registered is None:
            registered = self._scripts[script] = self.client.register_script(script)
        try:
            return await registered(keys=keys, args=args)
        except _UNREACHABLE as exc:
            raise self._unavailable(exc) from None
        except coredis.exceptions.RedisError as exc:  # e.g. OOM under maxmemory
            raise StoreUnavailable(f"the store {redact_url(self.url)} refused: {exc}") from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"cannot reach the store {redact_url(self.url)}: {exc}")

    # -- life cycle ------------------------------------------------------------------------

    def opened(self, on_cancel: Callable[[str], None]) -> AbstractAsyncContextManager[object]:
        return self._open(on_cancel)

    @asynccontextmanager
    async def _open(self, on_cancel: Callable[[str], None]) -> AsyncIterator[RedisEventStore]:
        if self._client is not None:
            raise RuntimeError("this store is open already")
        self._reset()
        self._on_cancel = on_cancel
        client: coredis.Redis[bytes] = coredis.Redis.from_url(
            self.url,
            decode_responses=False,
            max_connections=MAX_CONNECTIONS,
            connect_timeout=_CONNECT_TIMEOUT,
            stream_timeout=_COMMAND_TIMEOUT,
            client_name=f"ainative-{self.process}",
        )
        pool = client.connection_pool
        pool.connection_class = (
            _UnixConnection
            if issubclass(pool.connection_class, coredis.UnixDomainSocketConnection)
            else _TCPConnection
        )
        failure: StoreUnavailable | None = None
        async with client:
            self._client = client
            self._scripts = {}
            try:
                await self._tick()  # connects, and takes this process's lease
            except StoreUnavailable as exc:
                failure = exc
            if failure is None:
                try:
                    async with self._running(client):
                        yield self
                finally:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                        await self._close()
            self._client = None
        if failure is not None:
            raise failure

    @asynccontextmanager
    async def _running(self, client: coredis.Redis[bytes]) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            await tg.start(self._listen, client, name="ainative-redis-pubsub")
            self._tg = tg
            for task in (self._flusher, self._presence, self._subscriber, self._ticker):
                tg.start_soon(task, name=f"ainative-redis-{task.__name__.strip('_')}")
            try:
                yield
            finally:
                self._tg = None
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await self._drain_writes()
                tg.cancel_scope.cancel()
        self._pubsub = None

    async def _listen(
        self, client: coredis.Redis[bytes], *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        """Hold the pub/sub connection (inside the store's task group, which cancels all of
        it on close, reconnection attempts included) and consume its message queue (messages
        go to their handlers; this keeps the queue empty)."""
        retry = coredis.retry.ExponentialBackoffRetryPolicy(
            (coredis.exceptions.ConnectionError,), retries=None, base_delay=0.05, max_delay=1.0
        )
        control = self._control + self.process
        async with client.pubsub(
            channel_handlers={control: self._on_control}, retry_policy=retry
        ) as pubsub:
            self._pubsub = pubsub
            task_status.started()
            while True:
                await pubsub.get_message()

    async def _drain_writes(self) -> None:
        """Write what is pending before closing (the producers have ended)."""
        for attempt in range(3):
            if not self._dirty and not self._changes:
                return
            try:
                if self._dirty:
                    await self._flush()
                if self._changes:
                    await self._apply_changes()
            except StoreUnavailable:
                await anyio.sleep(_backoff(attempt))

    async def _close(self) -> None:
        with contextlib.suppress(*_UNREACHABLE):
            await self.client.delete([self._replica_key])  # our lease ends now

    async def describe(self) -> str:
        try:
            info = await self.client.info("server", "memory", "persistence")
        except _UNREACHABLE as exc:
            raise self._unavailable(exc) from None

        def field(name: str) -> str:
            value = info.get(name)
            return value.decode() if isinstance(value, bytes) else str(value)

        aof = "on" if field("aof_enabled") == "1" else "off"
        return (
            f"redis {redact_url(self.url)} (Redis {field('redis_version')}, "
            f"maxmemory-policy {field('maxmemory_policy')}, appendonly {aof})"
        )

    # -- the log ---------------------------------------------------------------------------

    async def create(self, stream_id: str, *, owner: str | None = None) -> None:
        if stream_id in self._mirrors:
            raise ValueError(f"stream {stream_id!r} exists")
        args = [self.process, self._running_ttl_ms, owner or ""]
        if not await self._call(scripts.CREATE, [self._meta_key(stream_id)], args):
            raise ValueError(f"stream {stream_id!r} exists")
        mirror = self._mirrors[stream_id] = Mirror(stream_id, owned=True)
        mirror.owner = owner

    async def append(self, stream_id: str, event: WireEvent) -> StoredEvent:
        mirror = self._mirrors.get(stream_id)
        if mirror is None or not mirror.owned:
            raise StreamNotFoundError(f"stream {stream_id!r} is not produced by this process")
        if mirror.finished:
            raise ValueError(f"stream {stream_id!r} is finished")
        kind = event.type
        if kind not in _FINAL:
            if mirror.broken is not None:
                raise mirror.broken
            if mirror.events and (
                len(mirror.events) >= self.max_events - 2 or mirror.bytes >= self.max_bytes
            ):
                raise StreamLimitExceeded(
                    f"stream {stream_id} reached its bound "
                    f"(max_events={self.max_events}, max_bytes={self.max_bytes})"
                )
        stored = StoredEvent.encode(len(mirror.events) + 1, event)
        mirror.events.append(stored)
        mirror.bytes += stored.size
        mirror.wake()
        mirror.pending.append(stored)
        self._mark_dirty(mirror)
        return stored

    async def read(self, stream_id: str, after: int, limit: int | None = None) -> ReadResult:
        mirror = self._mirrors.get(stream_id)
        if mirror is not None:
            if not mirror.ready.is_set():
                await mirror.ready.wait()
            if mirror.failure is not None:
                raise mirror.failure
            return mirror.read(after, limit)
        events: list[StoredEvent] = []
        cursor = max(after, 0)
        while True:
            count = _PAGE if limit is None else min(_PAGE, limit - len(events))
            state = await self._read(stream_id, cursor, count)
            last, finished, _, _, entries = state
            events += [StoredEvent(i, kind, json) for i, kind, json in entries]
            if events:
                cursor = events[-1].id
            if len(entries) < count or (limit is not None and len(events) >= limit):
                return ReadResult(events, finished, last)

    async def _read(self, stream_id: str, after: int, count: int) -> Any:
        keys = [self._log_key(stream_id), self._meta_key(stream_id)]
        state = await self._call(scripts.READ, keys, [after, count])
        if state is None:
            raise _not_found(stream_id)
        last, finished, size, owner, entries = state
        return last, finished == 1, size, owner, entries_of(entries)

    async def wait(self, stream_id: str, after: int, push: EventPush | None = None) -> None:
        # ``push`` is not used: events reach this process from Redis, not from its appends.
        mirror = self._mirrors.get(stream_id)
        if mirror is None:
            await anyio.sleep(self.flush_interval * 25)  # not followed here: poll
            return
        if not mirror.ready.is_set():
            await mirror.ready.wait()
        if len(mirror.events) > after or mirror.finished or mirror.failure is not None:
            return
        if mirror.waiter is None:
            mirror.waiter = anyio.Event()
        await mirror.waiter.wait()

    def wake_all(self) -> bool:
        for mirror in self._mirrors.values():
            mirror.wake()
        return True

    async def finish(self, stream_id: str) -> None:
        mirror = self._mirrors.get(stream_id)
        if mirror is not None and mirror.owned:
            mirror.finished = True
            mirror.finish_pending = True
            mirror.wake()
            self._mark_dirty(mirror)
            return
        keys = [self._log_key(stream_id), self._meta_key(stream_id)]
        status = await self._call(
            scripts.FLUSH, keys, [*self._flush_head(), stream_id, 0, 1, -1, 0, "", ""]
        )
        if status[0] == b"gone":
            raise _not_found(stream_id)

    async def expire(self, stream_id: str, ttl: float) -> None:
        mirror = self._mirrors.get(stream_id)
        if mirror is not None and mirror.owned:
            mirror.ttl_pending = ttl
            self._mark_dirty(mirror)
            return
        milliseconds = max(int(ttl * 1000), 1)
        try:
            found = await self.client.pexpire(self._meta_key(stream_id), milliseconds)
            await self.client.pexpire(self._log_key(stream_id), milliseconds)
        except _UNREACHABLE as exc:
            raise self._unavailable(exc) from None
        if not found:
            raise _not_found(stream_id)

    async def delete(self, stream_id: str) -> None:
        mirror = self._mirrors.pop(stream_id, None)
        if mirror is not None:
            mirror.failure = _not_found(stream_id)
            mirror.ready.set()
            mirror.wake()
            self._dirty.pop(stream_id, None)
            self._want_channel(stream_id, False)
        try:
            await self.client.delete([self._log_key(stream_id), self._meta_key(stream_id)])
        except (*_UNREACHABLE, StoreUnavailable):
            _logger.warning("store.delete_failed", stream_id=stream_id)  # its keys expire

    async def stats(self, stream_id: str) -> StreamStats:
        mirror = self._mirrors.get(stream_id)
        if mirror is not None and mirror.ready.is_set() and mirror.failure is None:
            if mirror.owned:
                owner = mirror.owner
            else:
                owner = await self._owner(stream_id)
            return StreamStats(len(mirror.events), mirror.bytes, mirror.finished, owner)
        last, finished, size, _, _ = await self._read(stream_id, 0, 0)
        return StreamStats(last, size, finished, await self._owner(stream_id))

    async def _owner(self, stream_id: str) -> str | None:
        try:
            value = await self.client.hget(self._meta_key(stream_id), "k")
        except _UNREACHABLE as exc:
            raise self._unavailable(exc) from None
        return value.decode() if value is not None else None

    # -- writing ---------------------------------------------------------------------------

    def _mark_dirty(self, mirror: Mirror) -> None:
        self._dirty[mirror.stream_id] = mirror
        if not self._flush_wanted.is_set():
            self._flush_wanted.set()

    def _flush_head(self) -> list[Any]:
        return [self.max_events, self.max_bytes, self._channels, self._running_ttl_ms]

    async def _flusher(self) -> None:
        """Write pending events: at once after a quiet spell, else at most one call per
        ``flush_interval``, or per `_BUSY` times the last call's duration when that is
        longer (a loaded process then writes bigger batches, not more calls)."""
        failures = 0
        took = 0.0
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted = anyio.Event()
            gap = min(max(self.flush_interval, _BUSY * took), _MAX_FLUSH_INTERVAL)
            delay = self._last_flush + gap - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
            self._last_flush = time.monotonic()
            try:
                await self._flush()
                took = time.monotonic() - self._last_flush
            except StoreUnavailable as exc:
                for mirror in self._dirty.values():
                    if mirror.owned and mirror.broken is None:
                        mirror.broken = exc
                if failures == 0:
                    _logger.warning("store.write_failed", error=str(exc))
                await anyio.sleep(_backoff(failures))
                failures += 1
                self._flush_wanted.set()
            else:
                failures = 0

    async def _flush(self) -> None:
        """Write every stream's pending events (and end or expiry) in one script call."""
        batch = list(self._dirty.values())
        self._dirty.clear()
        keys: list[str] = []
        args = self._flush_head()
        sent: list[tuple[Mirror, int, bool, float | None]] = []
        for mirror in batch:
            events = mirror.pending[:_PAGE]
            whole = len(events) == len(mirror.pending)
            finish = mirror.finish_pending and whole
            ttl = mirror.ttl_pending if whole else None
            keys += [self._log_key(mirror.stream_id), self._meta_key(mirror.stream_id)]
            args += [
                mirror.stream_id,
                len(events),
                1 if finish else 0,
                -1 if ttl is None else max(int(ttl * 1000), 1),
                events[0].id if events else 0,
                ",".join([str(event.size) for event in events]),
                "\n".join([f"{event.type}\n{event.json}" for event in events]),
            ]
            sent.append((mirror, len(events), finish, ttl))
        try:
            statuses = await self._call(scripts.FLUSH, keys, args)
        except BaseException:
            for mirror, _, _, _ in sent:  # written again on the next round
                self._dirty.setdefault(mirror.stream_id, mirror)
            raise
        for (mirror, count, finish, ttl), status in zip(sent, statuses, strict=True):
            del mirror.pending[:count]
            if finish:
                mirror.finish_pending = False
            if ttl is not None and mirror.ttl_pending == ttl:
                mirror.ttl_pending = None
            if status != b"ok":
                self._refused(mirror, status.decode())
            if mirror.dirty:
                self._dirty.setdefault(mirror.stream_id, mirror)
                self._flush_wanted.set()
            else:
                self._maybe_drop(mirror)

    def _refused(self, mirror: Mirror, status: str) -> None:
        sid = mirror.stream_id
        if status == "limit":
            error: Exception = StreamLimitExceeded(f"stream {sid} reached its bound in the store")
        elif status == "fenced":
            error = ProducerLost(f"stream {sid} was ended by another process")
        else:  # gone (e.g. Redis restarted without its data), or a gap (never expected)
            error = StoreUnavailable(f"the log of stream {sid} is gone from the store ({status})")
        _logger.warning("store.write_refused", stream_id=sid, status=status)
        if mirror.broken is None:
            mirror.broken = error
        if status != "limit":
            mirror.pending.clear()
            mirror.finish_pending = False
            mirror.ttl_pending = None

    def _maybe_drop(self, mirror: Mirror) -> None:
        """Forget a mirror nobody here needs: not followed, not produced here, all written."""
        if mirror.follows > 0 or mirror.dirty or (mirror.owned and not mirror.finished):
            return
        if self._mirrors.get(mirror.stream_id) is mirror:
            del self._mirrors[mirror.stream_id]
            if not mirror.owned:
                self._want_channel(mirror.stream_id, False)

    # -- following -------------------------------------------------------------------------

    def follow(self, stream_id: str) -> None:
        mirror = self._mirrors.get(stream_id)
        if mirror is None:
            mirror = self._mirrors[stream_id] = Mirror(stream_id, owned=False)
            self._want_channel(stream_id, True)  # then loads it
        mirror.follows += 1
        if mirror.follows == 1:
            self._change(stream_id, follows=True)

    def unfollow(self, stream_id: str) -> None:
        mirror = self._mirrors.get(stream_id)
        if mirror is None or mirror.follows <= 0:
            return
        mirror.follows -= 1
        if mirror.follows == 0:
            self._leaving[stream_id] = self._change(stream_id, follows=False)
            self._maybe_drop(mirror)

    def _want_channel(self, stream_id: str, wanted: bool) -> None:
        """Subscribe to (or leave) the stream's channel; a new mirror is loaded once its
        channel is subscribed."""
        if wanted:
            self._channels_wanted.add(stream_id)
        else:
            self._channels_wanted.discard(stream_id)
        self._channels_changed.set()

    async def _subscriber(self) -> None:
        """Keep the pub/sub subscriptions those of the followed streams; load each new one
        once subscribed (so that no write between the load and the first message is lost)."""
        failures = 0
        while True:
            await self._channels_changed.wait()
            self._channels_changed = anyio.Event()
            add = self._channels_wanted - self._channels_on
            remove = self._channels_on - self._channels_wanted
            try:
                if add:
                    handlers = {self._channels + sid: self._on_events for sid in add}
                    await self._pubsub.subscribe(**handlers)
                    self._channels_on |= add
                if remove:
                    await self._pubsub.unsubscribe(*(self._channels + sid for sid in remove))
                    self._channels_on -= remove
                failures = 0
            except (*_UNREACHABLE, coredis.exceptions.RedisError) as exc:
                _logger.warning("store.subscribe_failed", error=str(exc))
                await anyio.sleep(_backoff(failures))
                failures += 1
                self._channels_changed.set()
            for sid in self._channels_on:
                mirror = self._mirrors.get(sid)
                if (
                    mirror is not None
                    and not mirror.owned
                    and not mirror.ready.is_set()
                    and not mirror.syncing
                    and self._tg is not None
                ):
                    self._tg.start_soon(self._sync, mirror)

    def _on_events(self, message: Any) -> None:
        """A write to a followed stream (see `_redis_scripts`): add it to the mirror."""
        sid = message["channel"].decode()[len(self._channels) :]
        mirror = self._mirrors.get(sid)
        if mirror is None or mirror.owned:
            return
        if mirror.syncing or not mirror.ready.is_set():
            mirror.stale = True  # the load in progress reads again
            return
        head, _, body = message["data"].decode().partition("\n")
        first_text, _, finished = head.partition(" ")
        first = int(first_text)
        lines = body.split("\n") if body else []
        if first > mirror.last + 1:
            if self._tg is not None:
                self._tg.start_soon(self._sync, mirror)  # a message was missed
            return
        mirror.add(first, zip(lines[::2], lines[1::2], strict=True))
        if finished == "1" and mirror.last == first + len(lines) // 2 - 1:
            mirror.finished = True
        mirror.wake()

    async def _sync(self, mirror: Mirror) -> None:
        """Bring a followed stream's mirror up to date with Redis."""
        if mirror.syncing:
            mirror.stale = True
            return
        mirror.syncing = True
        try:
            while True:
                mirror.stale = False
                last, finished, _, _, entries = await self._read(
                    mirror.stream_id, mirror.last, _PAGE
                )
                if entries:
                    mirror.add(entries[0][0], ((kind, json) for _, kind, json in entries))
                    mirror.wake()
                if mirror.last < last:
                    continue
                if finished:
                    mirror.finished = True
                if not mirror.stale:
                    break
        except StreamNotFoundError as exc:
            mirror.failure = exc
        except StoreUnavailable:
            pass  # the ticker syncs again once Redis answers
        finally:
            mirror.syncing = False
            mirror.ready.set()
            mirror.wake()

    # -- presence: which processes follow a stream -----------------------------------------

    def _change(self, stream_id: str, *, follows: bool) -> PresenceChange:
        change = PresenceChange(stream_id, follows)
        self._changes.append(change)
        self._changes_wanted.set()
        return change

    async def _presence(self) -> None:
        failures = 0
        while True:
            await self._changes_wanted.wait()
            self._changes_wanted = anyio.Event()
            try:
                await self._apply_changes()
                failures = 0
            except StoreUnavailable:
                await anyio.sleep(_backoff(failures))
                failures += 1
                self._changes_wanted.set()

    async def _apply_changes(self) -> None:
        changes = self._changes
        self._changes = []
        keys = [self._meta_key(change.stream_id) for change in changes]
        args = [f"p:{self.process}", *(1 if change.follows else 0 for change in changes)]
        try:
            results = await self._call(scripts.PRESENCE, keys, args)
        except BaseException:
            self._changes[:0] = changes
            raise
        for change, result in zip(changes, results, strict=True):
            change.result = result
            change.done.set()

    async def idle(self, stream_id: str) -> int | None:
        change = self._leaving.get(stream_id)
        if change is None:
            try:
                state = await self.client.hmget(self._meta_key(stream_id), ["pc", "g"])
            except _UNREACHABLE as exc:
                raise self._unavailable(exc) from None
            if state[0] is None:
                raise _not_found(stream_id)
            return int(state[1] or 0) if int(state[0]) == 0 else None
        await change.done.wait()
        if self._leaving.get(stream_id) is change:
            del self._leaving[stream_id]
        mirror = self._mirrors.get(stream_id)
        if mirror is not None and mirror.follows > 0:
            return None
        if change.result == -2:
            raise _not_found(stream_id)
        return change.result if change.result >= 0 else None

    async def still_idle(self, stream_id: str, token: int) -> bool:
        try:
            state = await self.client.hmget(self._meta_key(stream_id), ["pc", "g", "f"])
        except _UNREACHABLE as exc:
            raise self._unavailable(exc) from None
        count, generation, finished = state
        if count is None:
            return False
        return int(count) == 0 and int(generation or 0) == token and finished != b"1"

    # -- control and leases ----------------------------------------------------------------

    async def request_cancel(self, stream_id: str) -> bool:
        mirror = self._mirrors.get(stream_id)
        if mirror is not None and mirror.owned:  # produced here: no need to ask Redis
            if not mirror.finished:
                self._on_cancel(stream_id)
            return not mirror.finished
        result = await self._call(
            scripts.CANCEL, [self._meta_key(stream_id)], [self._control, stream_id]
        )
        if result < 0:
            raise _not_found(stream_id)
        return bool(result)

    def _on_control(self, message: Any) -> None:
        self._on_cancel(message["data"].decode())

    async def _ticker(self) -> None:
        failures = 0
        while True:
            await anyio.sleep(self.lease_timeout / 3)
            try:
                await self._tick()
                failures = 0
            except StoreUnavailable as exc:
                if failures == 0:
                    _logger.warning("store.heartbeat_failed", error=str(exc))
                failures += 1

    async def _tick(self) -> None:
        """Renew the lease; end followed streams whose producer is gone; catch up."""
        owned = [m for m in self._mirrors.values() if m.owned and not m.finished]
        watched = [
            m
            for m in self._mirrors.values()
            if not m.owned and m.ready.is_set() and not m.finished and m.failure is None
        ]
        keys = [self._replica_key]
        for mirror in (*owned, *watched):
            keys += [self._log_key(mirror.stream_id), self._meta_key(mirror.stream_id)]
        args = [
            int(self.lease_timeout * 1000),
            self._running_ttl_ms,
            len(owned),
            self._replicas,
            max(int(self.retention * 1000), 1),
            *self._lost_args,
            self._channels,
            *(mirror.stream_id for mirror in watched),
        ]
        cancels, states = await self._call(scripts.TICK, keys, args)
        for index in cancels:
            self._on_cancel(owned[index].stream_id)
        for mirror, state in zip(watched, states, strict=True):
            if state < 0:
                mirror.failure = _not_found(mirror.stream_id)
                mirror.wake()
            elif self._tg is not None and (
                state // 2 > mirror.last or (state % 2 and not mirror.finished)
            ):
                self._tg.start_soon(self._sync, mirror)
