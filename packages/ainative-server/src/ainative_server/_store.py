"""The event log of a stream, behind the `EventStore` interface; in-memory implementation.

A stream's events are appended once and read by any number of followers from a cursor (the
id of the last event they have). Each event is encoded once, when appended: the SSE frame
bytes are built then, and the WebSocket JSON is derived from them on first use and cached,
so a hundred followers cost no more encoding than one.

The interface is what a Redis Streams store needs to serve several replicas: ``append``
(``XADD`` + a counter for the sequence id), ``read`` after a cursor (``XRANGE``), ``wait``
for new events (``XREAD BLOCK``), ``finish`` (a marker), ``expire`` (``EXPIRE``) and ``delete``.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import final

import anyio

from ainative_core import StreamNotFoundError, WireEvent

__all__ = ["EventStore", "InMemoryEventStore", "ReadResult", "StoredEvent", "StreamStats"]


@final
class StoredEvent:
    """One logged event: its sequence ``id``, ``type`` and its encodings (built once)."""

    __slots__ = ("_ws", "id", "sse", "type")

    def __init__(self, event_id: int, kind: str, sse: bytes) -> None:
        self.id = event_id
        self.type = kind
        self.sse = sse
        self._ws: str | None = None

    @classmethod
    def encode(cls, event_id: int, event: WireEvent) -> StoredEvent:
        """Encode ``event`` as the SSE frame ``id: N\\ndata: <json>\\n\\n``."""
        frame = f"id: {event_id}\ndata: {event.to_json()}\n\n"
        return cls(event_id, event.type, frame.encode())

    @property
    def json(self) -> str:
        """The event's JSON object (the ``data:`` payload of the SSE frame)."""
        start = self.sse.index(b"data: ") + 6
        return self.sse[start:-2].decode()

    def ws_json(self, stream_id: str) -> str:
        """The WebSocket frame: the JSON object with ``id`` and ``stream_id`` added."""
        ws = self._ws
        if ws is None:
            body = self.json
            ws = f'{body[:-1]},"id":{self.id},"stream_id":{json.dumps(stream_id)}}}'
            self._ws = ws
        return ws

    def __repr__(self) -> str:
        return f"<StoredEvent {self.id} {self.type} {len(self.sse)} bytes>"


@final
@dataclass(frozen=True, slots=True)
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
    count: int
    bytes: int
    finished: bool


class EventStore(ABC):
    """Where stream logs live. Ids are sequence numbers starting at 1.

    Methods raise `StreamNotFoundError` for an unknown (or expired) stream id.
    """

    @abstractmethod
    async def create(self, stream_id: str) -> None:
        """Start an empty log."""

    @abstractmethod
    async def append(self, stream_id: str, event: WireEvent) -> StoredEvent:
        """Encode and append ``event``; returns it with its id."""

    @abstractmethod
    async def read(self, stream_id: str, after: int, limit: int | None = None) -> ReadResult:
        """The events with id > ``after`` (at most ``limit``)."""

    @abstractmethod
    async def wait(self, stream_id: str, after: int) -> None:
        """Return once an event with id > ``after`` exists or the stream is finished.

        Callers bound the wait with a timeout (``anyio.move_on_after``).
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


@final
class _Log:
    __slots__ = ("bytes", "deadline", "events", "finished", "waiter")

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.bytes = 0
        self.finished = False
        self.deadline = math.inf
        self.waiter: anyio.Event | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.set()


@final
class InMemoryEventStore(EventStore):
    """Logs in this process's memory (one server process). Expired logs are purged lazily."""

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}

    def __len__(self) -> int:
        return len(self._logs)

    def _get(self, stream_id: str) -> _Log:
        log = self._logs.get(stream_id)
        if log is None or log.deadline <= time.monotonic():
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
        now = time.monotonic()
        expired = [sid for sid, log in self._logs.items() if log.deadline <= now]
        for sid in expired:
            self._logs.pop(sid).wake()
        return len(expired)

    async def create(self, stream_id: str) -> None:
        self.purge()
        if stream_id in self._logs:
            raise ValueError(f"stream {stream_id!r} exists")
        self._logs[stream_id] = _Log()

    async def append(self, stream_id: str, event: WireEvent) -> StoredEvent:
        log = self._get(stream_id)
        if log.finished:
            raise ValueError(f"stream {stream_id!r} is finished")
        stored = StoredEvent.encode(len(log.events) + 1, event)
        log.events.append(stored)
        log.bytes += len(stored.sse)
        log.wake()
        return stored

    async def read(self, stream_id: str, after: int, limit: int | None = None) -> ReadResult:
        log = self._get(stream_id)
        start = max(after, 0)
        end = len(log.events) if limit is None else start + limit
        return ReadResult(log.events[start:end], log.finished, len(log.events))

    async def wait(self, stream_id: str, after: int) -> None:
        log = self._get(stream_id)
        if len(log.events) > after or log.finished:
            return
        if log.waiter is None:
            log.waiter = anyio.Event()
        await log.waiter.wait()

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
        return StreamStats(len(log.events), log.bytes, log.finished)
