"""`AIStateManager`: the application state, its listeners and an undo history."""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias, final

import structlog
from pydantic import BaseModel, ConfigDict, Field

from ainative_core import EventBus, Message

__all__ = ["AIStateManager", "AppState", "StateListener", "default_state"]

_log = structlog.get_logger("ainative.client.state")


class AppState(BaseModel):
    """A snapshot of an `AIApp`'s state; keys from ``initial_state`` beyond these are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    messages: list[Message] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    streaming: bool = False
    error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


StateListener: TypeAlias = Callable[[AppState], object]


def default_state() -> dict[str, Any]:
    return {"messages": [], "context": {}, "streaming": False, "error": None, "metadata": {}}


@final
class AIStateManager:
    """Holds the state as plain data (dicts and lists) and publishes snapshots.

    Every committed change (``set_state``, ``commit``, ``undo``) notifies the listeners
    once with a fresh `AppState` and emits ``state-change`` on ``event_bus``; the state
    before the change is pushed on a history of at most ``history_limit`` entries.
    """

    def __init__(
        self,
        initial_state: Mapping[str, Any] | None = None,
        *,
        event_bus: EventBus | None = None,
        history_limit: int = 50,
    ) -> None:
        self._data: dict[str, Any] = default_state()
        self._data.update(copy.deepcopy(dict(initial_state or {})))
        self._snapshot: AppState | None = None
        self._past: deque[dict[str, Any]] = deque(maxlen=history_limit)
        self._future: list[dict[str, Any]] = []
        self._listeners: list[StateListener] = []
        self.event_bus = event_bus
        self.version = 0

    @property
    def state(self) -> AppState:
        """The current state (a frozen snapshot; build a new one with `set_state`)."""
        if self._snapshot is None:
            self._snapshot = AppState.model_validate(self._data)
        return self._snapshot

    def get_state(self) -> dict[str, Any]:
        """A deep copy of the state as plain data."""
        return copy.deepcopy(self._data)

    def set_state(self, changes: Mapping[str, Any], *, record: bool = True) -> AppState:
        """Replace the given top-level keys."""
        data = copy.deepcopy(self._data)
        data.update(copy.deepcopy(dict(changes)))
        return self.commit(data, record=record)

    def commit(self, data: dict[str, Any], *, record: bool = True) -> AppState:
        """Make ``data`` (which the caller hands over) the state and notify once."""
        if record:
            self._past.append(self._data)
            self._future.clear()
        self._data = data
        return self._changed()

    def working_copy(self) -> dict[str, Any]:
        """A deep copy to change and `commit`."""
        return copy.deepcopy(self._data)

    @property
    def can_undo(self) -> bool:
        return bool(self._past)

    @property
    def can_redo(self) -> bool:
        return bool(self._future)

    def undo(self) -> bool:
        """Go back to the state before the last recorded change; False if there is none."""
        if not self._past:
            return False
        self._future.append(self._data)
        self._data = self._past.pop()
        self._changed()
        return True

    def redo(self) -> bool:
        if not self._future:
            return False
        self._past.append(self._data)
        self._data = self._future.pop()
        self._changed()
        return True

    def clear_history(self) -> None:
        self._past.clear()
        self._future.clear()

    def subscribe(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(state)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _changed(self) -> AppState:
        self.version += 1
        self._snapshot = None
        state = self.state
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                _log.exception("state listener failed")
        if self.event_bus is not None:
            self.event_bus.emit("state-change", {"state": state, "version": self.version})
        return state
