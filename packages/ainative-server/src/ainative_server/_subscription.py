"""A subscription: one follower of a stream's log, reading encoded batches from a cursor.

`StreamHub.subscribe` opens one and owns its life (the follower slot, release, grace);
this module holds what it reads with: the cursor logic (coalescing a busy producer's events
into one batch, waiting without a timer of its own) and the frames each encoding makes of
a stream's events, shared by every subscription of the stream in this process.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import time
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, final

import anyio
import anyio.lowlevel

from ainative_core import StreamNotFoundError

from ._encoding import Batch, Encoding
from ._store import ReadResult, StoredEvent, _running_loop

if TYPE_CHECKING:
    from ._hub import Run, StreamHub

__all__ = ["Feed", "Subscription"]

F = TypeVar("F")

LINGER_ROUNDS: Final = 64
"""Most extra loop rounds a coalescing subscription waits for a busy producer's next events."""
LINGER_BYTES: Final = 65_536
"""A coalescing subscription stops gathering once its batch has this many bytes."""
PROBE_EVERY: Final = 8
"""A subscription woken by each event lingers after one wake-up in this many anyway, so it
notices a producer that has sped up."""
SMALLEST_EVENT: Final = 16
"""Fewer bytes than any event's JSON: a read of ``max_batch_bytes // SMALLEST_EVENT + 1``
events holds every event one batch can take, so a long replay is read a batch at a time."""
TICKS_PER_PING: Final = 4
"""A hub whose store can wake every waiter does so this many times per ping interval."""


@final
class _Frames:
    """One encoding's frames of one stream: ``frames[i]`` is the frame of event ``i + 1``."""

    __slots__ = ("encode", "frames")

    def __init__(self, encoding: Encoding[Any], stream_id: str) -> None:
        self.encode = encoding.encoder(stream_id)
        self.frames: list[Any] = []


@final
class Feed:
    """The frames of one stream in this process, per encoding, shared by its subscriptions.

    Frames are made in id order from the first event (an encoder may keep state), once;
    they are dropped with the feed when the stream's last local subscription ends.
    """

    __slots__ = ("_caches", "stream_id", "users")

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.users = 0
        self._caches: dict[str, _Frames] = {}

    def made(self, encoding: Encoding[F], events: list[StoredEvent]) -> list[F] | None:
        """The frames of ``events`` (consecutive ids), made now if they are not yet; None
        when frames of earlier events must be made first (`frames` reads them)."""
        cache = self._caches.get(encoding.name)
        if cache is None:
            cache = self._caches[encoding.name] = _Frames(encoding, self.stream_id)
        frames = cache.frames
        first = events[0].id
        last = events[-1].id
        made = len(frames)
        if made < last:
            if made + 1 < first:
                return None
            encode = cache.encode
            frames.extend([encode(event) for event in events[made + 1 - first :]])
        return frames[first - 1 : last]

    async def frames(
        self, hub: StreamHub, encoding: Encoding[F], events: list[StoredEvent]
    ) -> list[F]:
        """The frames of ``events`` (consecutive ids), made now if they are not yet."""
        made = self.made(encoding, events)
        if made is not None:
            return made
        # A cold cache and a cursor past its end: the encoder starts at event 1.
        frames = self._caches[encoding.name].frames
        first = events[0].id
        count = len(frames)
        earlier = await hub.store.read(self.stream_id, count, first - 1 - count)
        missing = earlier.events
        if (missing[0].id if missing else first) != count + 1 or len(missing) != first - 1 - count:
            raise StreamNotFoundError(f"the log of stream {self.stream_id!r} is gone")
        made = self.made(encoding, missing + events)
        assert made is not None
        return made[len(missing) :]

    def frame_now(self, encoding: Encoding[F], event: StoredEvent) -> F | None:
        """The frame of ``event`` if it can be made now (its predecessors' are), else None."""
        cache = self._caches.get(encoding.name)
        if cache is None:
            return None
        frames: list[F] = cache.frames
        made = len(frames)
        if made == event.id - 1:
            frames.append(cache.encode(event))
        elif made < event.id - 1:
            return None
        return frames[event.id - 1]


PUSH_GAP: Final = 0.001
"""An event that comes less than this many seconds after the last pushed one is left to the
follower's task, which coalesces a fast producer's events into one write."""

_enter_task = asyncio.tasks._enter_task
_leave_task = asyncio.tasks._leave_task
"""asyncio's own switch of a loop's current task (what `asyncio.Task` does at each step, and
what Python 3.12's eager tasks do to run a new task's first step at once): a write started
for a waiting follower runs as that follower's task, not the producer's."""


@final
class _Pending:
    """A write started for a waiting follower that has to wait (for a full socket, say):
    the follower's task finishes it with ``await pending``."""

    __slots__ = ("coro", "error", "yielded")

    def __init__(
        self, coro: Coroutine[Any, Any, None], yielded: Any, error: BaseException | None
    ) -> None:
        self.coro = coro
        self.yielded = yielded
        self.error = error

    def __await__(self) -> Generator[Any, None, None]:
        if self.error is not None:
            raise self.error
        coro = self.coro
        yielded = self.yielded
        while True:  # what ``await coro`` would do, from the step where it stopped
            try:
                yield yielded
            except BaseException as exc:  # the follower's cancellation: into the write
                try:
                    yielded = coro.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                yielded = coro.send(None)
            except StopIteration:
                return


@final
class Subscription(Generic[F]):
    """One follower of a stream: ``async for batch in subscription`` gives `Batch`es of
    frames in ``encoding`` to write, keep-alives included, until the stream's end.

    ``stream_id`` is the stream's; ``run`` is its `Run` when this process produces it;
    ``cursor`` is the id of the last event handed out. A batch holds every event that is
    pending (coalescing), so a reader that falls behind catches up in one write and never
    slows the producer.
    """

    def __init__(
        self,
        hub: StreamHub,
        feed: Feed,
        encoding: Encoding[F],
        *,
        after: int,
        run: Run | None,
    ) -> None:
        self._hub = hub
        self._feed = feed
        self._encoding = encoding
        self.stream_id = feed.stream_id
        self.run = run
        self.cursor = max(after, 0)
        self.ended = False
        """True once the finished stream has been read to its end."""
        self._prologue = encoding.prologue
        self._busy = True
        """Whether the last lingering found more events (a producer faster than the reader)."""
        self._wakes = 0
        self.writer: Callable[[F], Coroutine[Any, Any, None]] | None = None
        """``writer(frame)`` writes one frame. When it is set, on asyncio, an event appended
        in this process while the subscription waits caught up is written at once, by the
        appending task: see `_push`."""
        self._pushed_at = -math.inf
        self._task: asyncio.Task[Any] | None = None
        self._context: contextvars.Context | None = None

    def _push(self, event: StoredEvent) -> object:
        """Write ``event`` now, for this waiting subscription (an `EventPush`).

        The producer that appended it calls this, so a paced token costs one task wake-up
        (the producer's) rather than two (the producer's, then the follower's). The write
        starts as the follower's task, in a copy of its context: whatever it enters
        (cancel scopes, timeouts) belongs to the follower. When its first step completes
        the write, the follower never wakes (None); when the write has to wait, the
        follower's task finishes it (a `_Pending`): the producer never waits on a socket.
        The event goes to the follower instead (returned) when it is not the next one, a
        ``done``, before the prologue, or less than `PUSH_GAP` after the last push (a busy
        producer, whose events the follower coalesces).
        """
        writer, task, context = self.writer, self._task, self._context
        if (
            event.id != self.cursor + 1
            or event.type == "done"
            or self._prologue is not None
            or writer is None
            or task is None
            or context is None
        ):
            return event
        now = time.monotonic()
        last, self._pushed_at = self._pushed_at, now
        if now - last < PUSH_GAP:
            return event
        frame = self._feed.frame_now(self._encoding, event)
        if frame is None:
            return event
        self.cursor = event.id
        coro = writer(frame)
        loop = task.get_loop()
        producer = asyncio.current_task(loop)
        if producer is not None:
            _leave_task(loop, producer)
        _enter_task(loop, task)
        try:
            yielded = context.run(coro.send, None)
        except StopIteration:
            return None
        except BaseException as exc:
            return _Pending(coro, None, exc)
        finally:
            _leave_task(loop, task)
            if producer is not None:
                _enter_task(loop, producer)
        return _Pending(coro, yielded, None)

    def __repr__(self) -> str:
        return f"<Subscription {self.stream_id} {self._encoding.name} cursor={self.cursor}>"

    def __aiter__(self) -> Subscription[F]:
        return self

    async def __anext__(self) -> Batch[F]:
        encoding = self._encoding
        idle = self._hub.config.ping_interval
        while not self.ended:
            events, ended = await self._next_events(idle)
            frames: list[F] = []
            if self._prologue is not None:
                frames.append(self._prologue)
                self._prologue = None
            if events is None:
                if encoding.epilogue is not None:
                    frames.append(encoding.epilogue)
                if frames:
                    return Batch(frames, None, True)
                break
            if not events:
                if encoding.keepalive is None and not frames:
                    continue
                if encoding.keepalive is not None:
                    frames.append(encoding.keepalive)
                return Batch(frames, None, False)
            made = self._feed.made(encoding, events)
            if made is None:
                made = await self._feed.frames(self._hub, encoding, events)
            if frames:
                frames += made
            else:
                frames = made
            if ended and encoding.epilogue is not None:
                frames.append(encoding.epilogue)
            return Batch(frames, events[-1].id, ended)
        raise StopAsyncIteration

    # -- reading the log -------------------------------------------------------------------

    async def _next_events(self, idle_timeout: float) -> tuple[list[StoredEvent] | None, bool]:
        """The pending events (all of them when coalescing, else one), and whether they
        reach the end of the stream (then ``ended`` is True too).

        ``[]`` after ``idle_timeout`` seconds without events (time for a keep-alive);
        ``None`` once the finished stream has been read to its end.

        When coalescing, a batch also takes what a busy producer adds while the loop runs
        other ready tasks: the subscription yields and reads again as long as new events
        keep arriving (bounded by `LINGER_ROUNDS` and `LINGER_BYTES`). It lingers so when
        events were already pending, or after a wake-up when its last lingering found more;
        a producer that waits on its upstream (one token at a time) then costs one wake-up
        and one read per token, with a probe every `PROBE_EVERY` wake-ups.
        """
        hub = self._hub
        store = hub.store
        coalesce = hub.coalesce
        limit = hub.config.max_batch_bytes // SMALLEST_EVENT + 1 if coalesce else 1
        run = self.run
        if run is not None and not run.done and run.events <= self.cursor and not store.shared:
            # Caught up with a run of this process, whose count is the log's: nothing to read.
            waited = True
        else:
            result = await store.read(self.stream_id, self.cursor, limit)
            if not result.events and result.finished and 0 < result.last_id <= self.cursor:
                # Resumed at (or past) the end of a finished stream: its last event
                # (``done``) again, so that a client of any transport sees the end.
                self.cursor = result.last_id - 1
                result = await store.read(self.stream_id, self.cursor, limit)
            waited = not result.events and not result.finished
        if waited:
            result = await self._wait(idle_timeout, limit)
        events = result.events
        if coalesce and events and not result.finished:
            self._wakes += waited
            if not waited or self._busy or self._wakes % PROBE_EVERY == 0:
                before = len(events)
                result = await self._linger(events, result)
                self._busy = len(events) > before
        budget = hub.config.max_batch_bytes
        if (
            events
            and (events[0].size if len(events) == 1 else sum(event.size for event in events))
            > budget
        ):
            # A replay (or a reader far behind) is handed out in writes of about
            # ``max_batch_bytes``: a client that does not read holds no more than that.
            size = 0
            for cut, event in enumerate(events):
                size += event.size
                if size > budget and cut > 0:
                    del events[cut:]
                    break
            self.cursor = events[-1].id
            return events, False
        if events:
            self.cursor = events[-1].id
        if result.at_end:
            self.ended = True
            return (events or None), True
        return events, False

    async def _wait(self, idle_timeout: float, limit: int | None) -> ReadResult:
        """Wait for events after the cursor, at most ``idle_timeout`` seconds; read them."""
        hub = self._hub
        store = hub.store
        stream_id = self.stream_id
        cursor = self.cursor
        tick = hub.wake_tick
        if tick is None or idle_timeout < tick * TICKS_PER_PING:
            with anyio.move_on_after(idle_timeout):
                await store.wait(stream_id, cursor)
            return await store.read(stream_id, cursor, limit)
        # The hub wakes every waiter each `tick` seconds: no timer per wait.
        deadline = time.monotonic() + idle_timeout
        push = None
        if self.writer is not None and _running_loop() is not None:
            push = self._push
            self._task = asyncio.current_task()
            self._context = contextvars.copy_context()
        while True:
            event = await store.wait(stream_id, cursor, push)
            if push is not None:
                if type(event) is _Pending:
                    await event
                    event = None
                cursor = self.cursor  # pushed events moved it
                deadline = max(deadline, self._pushed_at + idle_timeout)
            if not isinstance(event, StoredEvent):
                event = None
            if event is not None and event.id == cursor + 1 and event.type != "done":
                # Woken by the append of the next event: no read (a ``done`` is read, to
                # learn whether the stream has finished with it).
                return ReadResult([event], False, event.id)
            result = await store.read(stream_id, cursor, limit)
            if result.events or result.finished or time.monotonic() >= deadline:
                return result

    async def _linger(self, events: list[StoredEvent], result: ReadResult) -> ReadResult:
        """Add to ``events`` what a busy producer appends in the next rounds of the loop.

        Returns the last read (``result`` if none was made), which tells whether
        ``events`` reach the end of the stream.
        """
        store = self._hub.store
        size = sum(event.size for event in events)
        idle_rounds = 0
        # asyncio's own yield where it runs (anyio's finds its backend through sniffio first).
        on_asyncio = asyncio._get_running_loop() is not None
        for _ in range(LINGER_ROUNDS):
            if size >= LINGER_BYTES:
                break
            if on_asyncio:
                await asyncio.sleep(0)
            else:
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
            size += sum(event.size for event in result.events)
            if result.finished:
                break
        return result
