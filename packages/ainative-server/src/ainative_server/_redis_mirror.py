"""This process's copy of a Redis-stored stream (a mirror), for `RedisEventStore`.

A mirror holds a stream's events from event 1, as `StoredEvent`s, for every local follower;
for a stream produced here it also holds the events not yet written to Redis.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, final

import anyio

from ._store import ReadResult, StoredEvent

__all__ = ["Mirror", "PresenceChange", "entries_of"]


@final
class Mirror:
    """This process's copy of one stream's log (from event 1), and its pending writes."""

    __slots__ = (
        "broken",
        "bytes",
        "events",
        "failure",
        "finish_pending",
        "finished",
        "follows",
        "owned",
        "owner",
        "pending",
        "ready",
        "stale",
        "stream_id",
        "syncing",
        "ttl_pending",
        "waiter",
    )

    def __init__(self, stream_id: str, *, owned: bool) -> None:
        self.stream_id = stream_id
        self.owned = owned
        """Produced by this process (its appends come from here)."""
        self.owner: str | None = None
        """The API key digest that owns the stream (known for a stream produced here)."""
        self.events: list[StoredEvent] = []
        self.bytes = 0
        self.finished = False
        self.waiter: anyio.Event | None = None
        self.ready = anyio.Event()
        """Set once the log has been loaded (at once for a stream produced here)."""
        self.failure: Exception | None = None
        """Raised by reads: the stream is gone from Redis."""
        self.broken: Exception | None = None
        """Raised by appends other than the final error and done: Redis refused or failed."""
        self.pending: list[StoredEvent] = []
        self.finish_pending = False
        self.ttl_pending: float | None = None
        self.follows = 0
        self.syncing = False
        self.stale = False
        if owned:
            self.ready.set()

    @property
    def last(self) -> int:
        return len(self.events)

    @property
    def dirty(self) -> bool:
        return bool(self.pending) or self.finish_pending or self.ttl_pending is not None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.set()

    def add(self, first: int, entries: Iterable[tuple[str, str]]) -> None:
        """Add the entries of ids ``first``, ``first + 1``... beyond what it has."""
        events = self.events
        for offset, (kind, json) in enumerate(entries):
            event_id = first + offset
            if event_id == len(events) + 1:
                stored = StoredEvent(event_id, kind, json)
                events.append(stored)
                self.bytes += stored.size

    def read(self, after: int, limit: int | None) -> ReadResult:
        start = max(after, 0)
        end = len(self.events) if limit is None else start + limit
        return ReadResult(self.events[start:end], self.finished, len(self.events))


@final
class PresenceChange:
    __slots__ = ("done", "follows", "result", "stream_id")

    def __init__(self, stream_id: str, follows: bool) -> None:
        self.stream_id = stream_id
        self.follows = follows
        self.result = -1
        self.done = anyio.Event()


def entries_of(raw: Any) -> list[tuple[int, str, str]]:
    """``(id, type, json)`` of XRANGE entries ``[b"N-0", [b"t", type, b"j", json]]``."""
    out: list[tuple[int, str, str]] = []
    for entry_id, fields in raw:
        values = dict(zip(fields[::2], fields[1::2], strict=True))
        out.append((int(entry_id.split(b"-", 1)[0]), values[b"t"].decode(), values[b"j"].decode()))
    return out
