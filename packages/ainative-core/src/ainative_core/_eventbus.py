"""EventBus: the seed's publish/subscribe hub, with an async iterator for ``async for``."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias, final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._exceptions import StreamingError
from ._logging import get_logger

__all__ = ["SEED_EVENTS", "BusEvent", "EventBus", "Listener"]

SEED_EVENTS: Final = (
    "action",
    "tool",
    "stream-start",
    "stream-data",
    "stream-end",
    "stream-error",
    "state-change",
    "error",
)

_log = get_logger("ainative.eventbus")


@final
@dataclass(frozen=True, slots=True)
class BusEvent:
    """What a listener receives: ``type``, ``payload`` (a dict) and ``timestamp``."""

    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)


Listener: TypeAlias = Callable[[BusEvent], object]


@final
class _Subscription:
    __slots__ = ("overflowed", "send", "types")

    def __init__(self, send: MemoryObjectSendStream[BusEvent], types: frozenset[str] | None):
        self.send = send
        self.types = types
        self.overflowed = False


@final
class _SubscriptionIterator:
    """Iterates a subscription; a plain class so ``break`` leaves nothing to finalize."""

    __slots__ = ("_max_buffer", "_receive", "_sub")

    def __init__(
        self, receive: MemoryObjectReceiveStream[BusEvent], sub: _Subscription, max_buffer: int
    ) -> None:
        self._receive = receive
        self._sub = sub
        self._max_buffer = max_buffer

    def __aiter__(self) -> _SubscriptionIterator:
        return self

    async def __anext__(self) -> BusEvent:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            if self._sub.overflowed:
                raise StreamingError(
                    f"event subscriber fell more than {self._max_buffer} events behind"
                ) from None
            raise StopAsyncIteration from None


@final
class EventBus:
    """Synchronous listeners keyed by event name, a wildcard (`on_all`) and a bounded history.

    A listener that raises is logged and skipped; the others still run. ``emit`` is
    synchronous, so a listener should not block; slow consumers use `subscribe`, whose
    buffer is bounded: a subscriber more than ``max_buffer`` events behind is ended with
    `StreamingError` rather than growing memory without bound.
    """

    def __init__(self, *, history_size: int = 100) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._wildcard: list[Listener] = []
        self._subscriptions: list[_Subscription] = []
        self._history: deque[BusEvent] = deque(maxlen=history_size)

    def on(self, event_type: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for each ``event_type`` event; returns a function that unsubscribes."""
        self._listeners.setdefault(event_type, []).append(listener)
        return lambda: self.off(event_type, listener)

    def off(self, event_type: str, listener: Listener) -> None:
        """Remove ``listener`` (no error if it was not there)."""
        listeners = self._listeners.get(event_type)
        if listeners and listener in listeners:
            listeners.remove(listener)

    def once(self, event_type: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for the next ``event_type`` event only."""

        def wrapper(event: BusEvent) -> object:
            self.off(event_type, wrapper)
            return listener(event)

        return self.on(event_type, wrapper)

    def on_all(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event of any type."""
        self._wildcard.append(listener)

        def unsubscribe() -> None:
            if listener in self._wildcard:
                self._wildcard.remove(listener)

        return unsubscribe

    def emit(self, event_type: str, payload: dict[str, Any] | None = None) -> BusEvent:
        """Deliver an event to its listeners, the wildcard listeners and the subscribers."""
        event = BusEvent(event_type, payload if payload is not None else {})
        self._history.append(event)
        for listener in (*self._listeners.get(event_type, ()), *self._wildcard):
            try:
                listener(event)
            except Exception:
                _log.exception("listener failed", event_type=event_type)
        for sub in self._subscriptions:
            if sub.overflowed or (sub.types is not None and event_type not in sub.types):
                continue
            try:
                sub.send.send_nowait(event)
            except anyio.WouldBlock:
                sub.overflowed = True
                sub.send.close()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
        return event

    @property
    def history(self) -> list[BusEvent]:
        """The most recent events, oldest first."""
        return list(self._history)

    def clear_history(self) -> None:
        self._history.clear()

    def has_listeners(self, event_type: str) -> bool:
        """Whether an ``event_type`` event would reach anyone: a listener for it, a wildcard
        listener or a subscriber taking it (the history is not counted)."""
        if self._listeners.get(event_type) or self._wildcard:
            return True
        return any(sub.types is None or event_type in sub.types for sub in self._subscriptions)

    def listener_count(self, event_type: str | None = None) -> int:
        if event_type is None:
            return sum(map(len, self._listeners.values())) + len(self._wildcard)
        return len(self._listeners.get(event_type, ()))

    @asynccontextmanager
    async def subscribe(
        self, *types: str, max_buffer: int = 10_000
    ) -> AsyncIterator[AsyncIterator[BusEvent]]:
        """``async with bus.subscribe("stream-data") as events: async for e in events: ...``.

        With no ``types`` every event is delivered.
        """
        send, receive = anyio.create_memory_object_stream[BusEvent](max_buffer)
        sub = _Subscription(send, frozenset(types) if types else None)
        self._subscriptions.append(sub)

        try:
            with receive:
                yield _SubscriptionIterator(receive, sub, max_buffer)
        finally:
            self._subscriptions.remove(sub)
            send.close()
