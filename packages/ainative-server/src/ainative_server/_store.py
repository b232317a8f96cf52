"""The event log of a stream, behind the `EventStore` interface; in-memory implementation.

A stream's events are appended once and read by any number of followers from a cursor (the
id of the last event they have). Each event is stored as its wire JSON, encoded once when
appended; each wire protocol's frames are derived from it once per event (see
`ainative_server.Encoding`), however many clients follow it.

A store may be shared by several server processes (`RedisEventStore`): then any process
reads, resumes and cancels any stream. The few calls that coordinate processes (``follow``
and ``unfollow``, ``idle``/``still_idle`` for the resume-grace countdown, ``request_cancel``
and the ``opened`` context that runs heartbeats) are part of the interface; a store used by
one process implements them trivially (this process's counts are the whole picture).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import ClassVar, Final, final

import anyio

from ainative_core import ConfigurationError, StreamNotFoundError, WireEvent

from ._config import ServerConfig

__all__ = [
    "EventPush",
    "EventStore",
    "InMemoryEventStore",
    "ReadResult",
    "StoredEvent",
    "StreamStats",
    "probe_store",
    "redact_url",
    "store_for",
]

_REDIS_SCHEMES = ("redis", "rediss", "unix")

PURGE_INTERVAL: Final = 1.0
"""Seconds between the in-memory store's purges of expired logs when streams are created
(an expired log is never read: `InMemoryEventStore` drops one when it is asked for it)."""


@final
class StoredEvent:
    """One logged event: its sequence ``id``, its ``type`` and its wire ``json`` (the object
    the seed's clients read, e.g. ``{"type":"token","data":"Hi"}``)."""

    __slots__ = ("id", "json", "type")

    def __init__(self, event_id: int, kind: str, json: str) -> None:
        self.id = event_id
        self.type = kind
        self.json = json

    @classmethod
    def encode(cls, event_id: int, event: WireEvent) -> StoredEvent:
        """``event`` as logged with id ``event_id``."""
        return cls(event_id, event.type, event.to_json())

    @property
    def size(self) -> int:
        """What the event counts against a stream's ``max_bytes``."""
        return len(self.json)

    def __repr__(self) -> str:
        return f"<StoredEvent {self.id} {self.type} {len(self.json)} chars>"


@final
@dataclass(slots=True)
class ReadResult:
    """Events after a cursor; ``finished`` once the stream has ended, ``last_id`` its end."""

    events: list[StoredEvent]
    finished: bool
    last_id: int

    @property
    def at_end(self) -> bool:
        """True when these events reach the end of a finished stream."""
        end = self.events[-1].id if self.events else None
        return self.finished and (end is None or end == self.last_id)


@final
@dataclass(frozen=True, slots=True)
class StreamStats:
    """A stream's event count, encoded bytes, whether it has finished, and its ``owner``
    (the API key digest given to `EventStore.create`)."""

    count: int
    bytes: int
    finished: bool
    owner: str | None = None


EventPush = Callable[[StoredEvent], object]
"""What a waiting follower may be handed each appended event with (`EventStore.wait`)."""


class EventStore(ABC):
    """Where stream logs live. Ids are sequence numbers starting at 1.

    Methods raise `StreamNotFoundError` for an unknown (or expired) stream id, and a store
    that lives elsewhere raises `StoreUnavailable` when it cannot be reached. ``shared`` is
    True when other server processes use the same logs.
    """

    shared: ClassVar[bool] = False

    @abstractmethod
    async def create(self, stream_id: str, *, owner: str | None = None) -> None:
        """Start an empty log; ``owner`` (an API key's digest) is kept for `stats`."""

    @abstractmethod
    async def append(self, stream_id: str, event: WireEvent) -> StoredEvent:
        """Encode and append ``event``; returns it with its id."""

    @abstractmethod
    async def read(self, stream_id: str, after: int, limit: int | None = None) -> ReadResult:
        """The events with id > ``after`` (at most ``limit``)."""

    @abstractmethod
    def wait(self, stream_id: str, after: int, push: EventPush | None = None) -> Awaitable[object]:
        """Return once an event with id > ``after`` exists or the stream is finished
        (``await store.wait(...)``; an ``async def`` implements it).

        A store may return the appended event that ended the wait (a hand-off that spares
        the caller a `read` when its id is ``after + 1`` and it is not ``done``); None
        otherwise. Callers bound the wait with a timeout (``anyio.move_on_after``).

        ``push``: a store whose appends happen in this process may call ``push(event)`` in
        the appending task for each event appended while the caller waits, instead of
        waking it. A push that returns None has delivered the event and the wait goes on;
        any other value ends the wait and is what it returns. A store may ignore ``push``.
        """

    def wake_all(self) -> bool:
        """Wake every current `wait` now (its caller then checks its own deadline).

        Returns False when this store cannot: its waits must then be bounded with a timeout.
        A store that returns True lets a hub bound every follower's wait with one periodic
        call instead of one timer per wait.
        """
        return False

    @abstractmethod
    async def finish(self, stream_id: str) -> None:
        """Mark the log complete: no more appends; waiters wake up."""

    @abstractmethod
    async def expire(self, stream_id: str, ttl: float) -> None:
        """Drop the log ``ttl`` seconds from now."""

    @abstractmethod
    async def delete(self, stream_id: str) -> None:
        """Drop the log now (no error if it does not exist)."""

    @abstractmethod
    async def stats(self, stream_id: str) -> StreamStats:
        """Event count, encoded bytes and whether the stream has finished."""

    async def describe(self) -> str:
        """One line on what this store is (``ainative doctor``; inside `opened`)."""
        return type(self).__name__

    # -- coordination of the processes that share the store ---------------------------------

    def opened(self, on_cancel: Callable[[str], None]) -> AbstractAsyncContextManager[object]:
        """Connect for the life of a hub (``async with store.opened(on_cancel):``).

        ``on_cancel(stream_id)`` is called when another process asks to cancel a stream this
        process produces. A store of one process has nothing to open.
        """
        return contextlib.nullcontext()

    def follow(self, stream_id: str) -> None:  # noqa: B027  (a no-op unless shared)
        """This process has started following ``stream_id`` (its first local follower).

        A shared store then keeps the stream's events here as they come, for every local
        follower, and counts this process among the stream's followers.
        """

    def unfollow(self, stream_id: str) -> None:  # noqa: B027  (a no-op unless shared)
        """The last local follower of ``stream_id`` has left (undoes `follow`)."""

    @abstractmethod
    async def idle(self, stream_id: str) -> int | None:
        """None while some process follows ``stream_id``; else a token for `still_idle`.

        Called after `unfollow`, it sees this process's own leaving.
        """

    @abstractmethod
    async def still_idle(self, stream_id: str, token: int) -> bool:
        """True if no process has followed ``stream_id`` since `idle` returned ``token``."""

    @abstractmethod
    async def request_cancel(self, stream_id: str) -> bool:
        """Ask the process that produces ``stream_id`` to cancel it; True if it was running.

        `StreamNotFoundError` for an unknown stream. A store of one process has no other
        producer to ask: it returns False.
        """


_running_loop = asyncio._get_running_loop
"""The running asyncio loop of this thread, or None (trio): one C call, where each anyio
call finds its backend through sniffio (about a microsecond, per token on the hot path)."""


@final
class _Log:
    """A stream's events and its waiting followers: a future each on asyncio (woken with
    the appended event), one shared `anyio.Event` on other backends."""

    __slots__ = ("bytes", "deadline", "events", "finished", "futures", "owner", "waiter")

    def __init__(self, owner: str | None = None) -> None:
        self.owner = owner
        self.events: list[StoredEvent] = []
        self.bytes = 0
        self.finished = False
        self.deadline = math.inf
        self.futures: list[tuple[asyncio.Future[object], EventPush | None]] = []
        self.waiter: anyio.Event | None = None

    def wake(self, event: StoredEvent | None = None) -> None:
        futures = self.futures
        if futures:
            self.futures = kept = []
            for item in futures:
                future, push = item
                if future.done():
                    continue
                if push is None or event is None:
                    future.set_result(event)
                    continue
                outcome = push(event)
                if outcome is None:
                    kept.append(item)  # delivered: the waiter waits on
                elif not future.done():
                    future.set_result(outcome)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.set()

    def wait(self, push: EventPush | None) -> Awaitable[object]:
        loop = _running_loop()
        if loop is None:
            if self.waiter is None:
                self.waiter = anyio.Event()
            return _none_after(self.waiter)
        # A future per waiter: cancelling one waiter's wait leaves the others' alone. The
        # future itself is awaited (no coroutine around it: two frames fewer per token); a
        # cancelled one stays in ``futures`` until the next `wake` skips it (at most a wake
        # tick: the hub wakes every waiter that often).
        future: asyncio.Future[object] = loop.create_future()
        self.futures.append((future, push))
        return future


async def _none_after(event: anyio.Event) -> None:
    await event.wait()


async def _no_wait() -> None:
    return None


@final
class InMemoryEventStore(EventStore):
    """Logs in this process's memory (one server process). Expired logs are purged lazily."""

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self._purged_at = -math.inf

    def __len__(self) -> int:
        return len(self._logs)

    def _get(self, stream_id: str) -> _Log:
        log = self._logs.get(stream_id)
        if log is None or (log.deadline != math.inf and log.deadline <= time.monotonic()):
            if log is not None:
                del self._logs[stream_id]
                log.wake()
            raise StreamNotFoundError(f"unknown or expired stream {stream_id!r}")
        return log

    def wake_all(self) -> bool:
        for log in self._logs.values():
            log.wake()
        return True

    def purge(self) -> int:
        """Drop expired logs now; returns how many."""
        now = self._purged_at = time.monotonic()
        expired = [sid for sid, log in self._logs.items() if log.deadline <= now]
        for sid in expired:
            self._logs.pop(sid).wake()
        return len(expired)

    async def create(self, stream_id: str, *, owner: str | None = None) -> None:
        if time.monotonic() - self._purged_at >= PURGE_INTERVAL:
            self.purge()  # a scan of every log: not at each of many creates
        if stream_id in self._logs:
            with contextlib.suppress(StreamNotFoundError):
                self._get(stream_id)  # drops it if it has expired
                raise ValueError(f"stream {stream_id!r} exists")
        self._logs[stream_id] = _Log(owner)

    async def append(self, stream_id: str, event: WireEvent) -> StoredEvent:
        log = self._get(stream_id)
        if log.finished:
            raise ValueError(f"stream {stream_id!r} is finished")
        events = log.events
        stored = StoredEvent(len(events) + 1, event.type, event.to_json())
        events.append(stored)
        log.bytes += len(stored.json)
        log.wake(stored)
        return stored

    async def read(self, stream_id: str, after: int, limit: int | None = None) -> ReadResult:
        log = self._get(stream_id)
        start = max(after, 0)
        events = log.events
        end = len(events) if limit is None else start + limit
        return ReadResult(events[start:end], log.finished, len(events))

    def wait(self, stream_id: str, after: int, push: EventPush | None = None) -> Awaitable[object]:
        log = self._get(stream_id)
        if len(log.events) > after or log.finished:
            return _no_wait()
        return log.wait(push)

    async def finish(self, stream_id: str) -> None:
        log = self._get(stream_id)
        log.finished = True
        log.wake()

    async def expire(self, stream_id: str, ttl: float) -> None:
        self._get(stream_id).deadline = time.monotonic() + ttl

    async def delete(self, stream_id: str) -> None:
        log = self._logs.pop(stream_id, None)
        if log is not None:
            log.wake()

    async def stats(self, stream_id: str) -> StreamStats:
        log = self._get(stream_id)
        return StreamStats(len(log.events), log.bytes, log.finished, log.owner)

    async def describe(self) -> str:
        return "memory (the logs of this process only: no resume through another process)"

    async def idle(self, stream_id: str) -> int | None:
        return 0

    async def still_idle(self, stream_id: str, token: int) -> bool:
        return True

    async def request_cancel(self, stream_id: str) -> bool:
        self._get(stream_id)
        return False


def store_for(config: ServerConfig) -> EventStore:
    """The store ``config.store`` names: ``memory`` (one process) or a Redis URL
    (``redis://host:port/db``, ``rediss://``, ``unix://``), shared by every process given it.

    `ConfigurationError` for anything else, or for Redis without the ``redis`` extra.
    """
    url = config.store.strip()
    if url in ("", "memory"):
        return InMemoryEventStore()
    scheme = url.partition("://")[0].lower()
    if scheme not in _REDIS_SCHEMES or "://" not in url:
        raise ConfigurationError(
            f"unknown store {redact_url(url)!r}; expected memory or redis://host:port/db"
        )
    try:
        from ._redis import RedisEventStore
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        from ainative_core._wheelhouse import install_command

        raise ConfigurationError(
            f"the Redis store needs coredis: {install_command('ainative-server[redis]')} ({exc})"
        ) from None
    return RedisEventStore(
        url,
        lease_timeout=config.lease_timeout,
        max_events=config.max_events,
        max_bytes=config.max_bytes,
    )


def redact_url(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


async def probe_store(config: ServerConfig) -> str:
    """Open the store ``config.store`` names once and describe it in one line.

    Raises `ConfigurationError` (a store that cannot be built) or `StoreUnavailable`.
    """
    store = store_for(config)
    async with store.opened(lambda stream_id: None):
        return await store.describe()
