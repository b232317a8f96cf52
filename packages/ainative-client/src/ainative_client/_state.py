"""`AIStateManager`: the application state, its listeners and an undo history."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from itertools import compress, count
from operator import is_not
from typing import Any, TypeAlias, final

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ainative_core import EventBus, Message, ToolCall, get_logger

from ._frozen import FrozenDict, FrozenList, freeze, thaw

__all__ = ["AIStateManager", "AppState", "StateListener", "default_state"]

_log = get_logger("ainative.client.state")


class AppState(BaseModel):
    """A snapshot of an `AIApp`'s state; keys from ``initial_state`` beyond these are kept.

    The snapshots of `AIStateManager` are read-only all the way down: their messages,
    lists and dicts refuse changes too (``dict(...)``, ``list(...)`` or
    `AIStateManager.get_state` give mutable copies), so a listener may keep what it gets
    and can never change the state through it.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    messages: list[Message] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    streaming: bool = False
    error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


StateListener: TypeAlias = Callable[[AppState], object]


def default_state() -> dict[str, Any]:
    return {"messages": [], "context": {}, "streaming": False, "error": None, "metadata": {}}


class _ReadOnlyToolCall(ToolCall):
    """A `ToolCall` that refuses changes; equal to a `ToolCall` with the same fields."""

    model_config = ConfigDict(frozen=True)

    def __eq__(self, other: object) -> bool:
        return self.__dict__ == other.__dict__ if isinstance(other, ToolCall) else NotImplemented

    def __hash__(self) -> int:
        return hash((self.id, self.name, self.arguments))

    def __repr_name__(self) -> str:
        return "ToolCall"


class _ReadOnlyMessage(Message):
    """A `Message` that refuses changes (its tool calls too); equal to a `Message` alike."""

    model_config = ConfigDict(frozen=True)

    def __eq__(self, other: object) -> bool:
        return self.__dict__ == other.__dict__ if isinstance(other, Message) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like Message's

    def __repr_name__(self) -> str:
        return "Message"


_NO_CALLS: FrozenList[ToolCall] = FrozenList()


def _read_only_message(raw: Any) -> Message:
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_unset=True)
    message = _ReadOnlyMessage.model_validate(raw)
    calls = message.tool_calls
    # Set before anyone sees the message (a frozen model refuses setattr, not this).
    message.__dict__["tool_calls"] = (
        FrozenList(
            [_ReadOnlyToolCall.model_construct(c.model_fields_set, **c.__dict__) for c in calls]
        )
        if calls
        else _NO_CALLS
    )
    return message


_FIELDS = AppState.model_fields
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(info.rebuild_annotation()) for name, info in _FIELDS.items()
}
_MISSING: Any = object()


def _snapshot(data: Mapping[str, Any], before: Mapping[str, Any], previous: AppState) -> AppState:
    """The `AppState` of ``data``, validating only what differs from ``before``.

    ``previous`` is the snapshot of ``before``: the values ``data`` shares with ``before``
    (the same objects) are taken from it as they are, and so are the messages.
    """
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _FIELDS:
            extra[key] = value
        elif before.get(key, _MISSING) is value:
            fields[key] = getattr(previous, key)
        elif key == "messages":
            fields[key] = _messages(value, before.get(key), previous.messages)
        else:
            fields[key] = freeze(_ADAPTERS[key].validate_python(value))
    for key, info in _FIELDS.items():
        if key not in fields:
            fields[key] = freeze(info.get_default(call_default_factory=True))
    state = AppState.model_construct(set(data).intersection(_FIELDS), **fields)
    object.__setattr__(state, "__pydantic_extra__", FrozenDict(extra))
    return state


def _messages(items: Any, before: Any, previous: list[Message]) -> FrozenList[Message]:
    """Read-only messages for ``items``: those also in ``before`` are reused, others validated.

    ``items`` and ``before`` are compared by identity, at C speed, from both ends: only
    the items in between (a changed or appended message, usually) are looked at one by one.
    """
    if not isinstance(items, list):
        items = _ADAPTERS["messages"].validate_python(items)  # refuses what is no list
    old: list[Any] = before if isinstance(before, list) and len(before) == len(previous) else []
    shortest = min(len(old), len(items))
    head = next(compress(count(), map(is_not, old, items)), shortest)
    tail = next(compress(count(), map(is_not, reversed(old), reversed(items))), shortest)
    tail = min(tail, shortest - head)
    middle = items[head : len(items) - tail]
    moved = old[head : len(old) - tail]
    by_id = {
        id(raw): message
        for raw, message in zip(moved, previous[head : len(old) - tail], strict=True)
    }
    between = []
    for item in middle:
        found = by_id.get(id(item))
        between.append(found if found is not None else _read_only_message(item))
    return FrozenList([*previous[:head], *between, *previous[len(old) - tail :]])


_EMPTY: FrozenDict[str, Any] = FrozenDict()
_NOTHING = AppState.model_construct()

_Entry: TypeAlias = tuple[FrozenDict[str, Any], AppState]


@final
class AIStateManager:
    """Holds the state as read-only plain data (dicts and lists) and publishes snapshots.

    Every committed change (``set_state``, ``commit``, ``undo``) notifies the listeners
    once with a new `AppState` and emits ``state-change`` on ``event_bus``; the state
    before the change is pushed on a history of at most ``history_limit`` entries (or
    once for all the changes of a `one_undo_step`). A change copies only the containers
    it touches and validates only the values that differ: the rest is shared with the
    state before it, which is safe because every part is read-only.
    """

    def __init__(
        self,
        initial_state: Mapping[str, Any] | None = None,
        *,
        event_bus: EventBus | None = None,
        history_limit: int = 50,
    ) -> None:
        self._data: FrozenDict[str, Any] = freeze({**default_state(), **(initial_state or {})})
        self._snapshot = _snapshot(self._data, _EMPTY, _NOTHING)
        self._past: deque[_Entry] = deque(maxlen=history_limit)
        self._future: list[_Entry] = []
        self._listeners: list[StateListener] = []
        self._steps = 0  # one_undo_step depth
        self._step_recorded = False
        self.event_bus = event_bus
        self.version = 0

    @property
    def state(self) -> AppState:
        """The current state (a read-only snapshot; build a new one with `set_state`)."""
        return self._snapshot

    @property
    def data(self) -> Mapping[str, Any]:
        """The current state as read-only plain data, shared (`get_state` copies it)."""
        return self._data

    def get_state(self) -> dict[str, Any]:
        """A deep copy of the state as plain data."""
        return thaw(self._data)  # type: ignore[no-any-return]

    def set_state(self, changes: Mapping[str, Any], *, record: bool = True) -> AppState:
        """Replace the given top-level keys."""
        return self.commit({**self._data, **changes}, record=record)

    def commit(self, data: Mapping[str, Any], *, record: bool = True) -> AppState:
        """Make ``data`` the state and notify once; the caller's containers are not kept.

        Values shared with the current state (taken from `data`) are kept as they are, so
        committing it with a few keys or containers replaced costs only those. Raises
        pydantic's ``ValidationError``, changing nothing, when a value does not fit `AppState`.
        """
        frozen: FrozenDict[str, Any] = freeze(data)
        snapshot = _snapshot(frozen, self._data, self._snapshot)
        if record:
            self._record()
        self._data, self._snapshot = frozen, snapshot
        return self._changed()

    def working_copy(self) -> dict[str, Any]:
        """A deep copy to change and `commit`."""
        return self.get_state()

    @contextmanager
    def one_undo_step(self) -> Iterator[None]:
        """Record the changes made inside as one undo step: `undo` goes back to before them.

        Steps nest (the outermost one counts). Changes made by other tasks meanwhile join
        the step; `undo` or `redo` inside it ends it, so later changes make a step of
        their own.
        """
        self._steps += 1
        try:
            yield
        finally:
            self._steps -= 1
            if not self._steps:
                self._step_recorded = False

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
        self._future.append((self._data, self._snapshot))
        self._data, self._snapshot = self._past.pop()
        self._step_recorded = False
        self._changed()
        return True

    def redo(self) -> bool:
        if not self._future:
            return False
        self._past.append((self._data, self._snapshot))
        self._data, self._snapshot = self._future.pop()
        self._step_recorded = False
        self._changed()
        return True

    def clear_history(self) -> None:
        self._past.clear()
        self._future.clear()
        self._step_recorded = False

    def subscribe(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(state)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _record(self) -> None:
        if self._step_recorded:
            return
        self._past.append((self._data, self._snapshot))
        self._future.clear()
        self._step_recorded = self._steps > 0

    def _changed(self) -> AppState:
        self.version += 1
        state = self._snapshot
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                _log.exception("state listener failed")
        if self.event_bus is not None:
            self.event_bus.emit("state-change", {"state": state, "version": self.version})
        return state
