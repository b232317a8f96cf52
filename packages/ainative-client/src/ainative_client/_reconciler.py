"""`AIReconciler`: applies patches to an `AIStateManager`, coalescing rapid ones.

A `Patch` names an operation and a path into the state (keys for dicts, integer indexes
for lists, ``-1`` counting from the end):

- ``add``: when ``path``'s parent is a list, insert at the last segment (``"-"`` appends,
  negative indexes count from the end, ``-1`` appending); when it is a dict, set the key.
- ``remove``: delete the key or list element at ``path``.
- ``replace``: set the key or element at ``path`` (an empty path replaces the whole state).
- ``merge``: shallow-merge the dict ``value`` into the dict at ``path`` (or the root).

With batching, patches wait until ``batch_delay`` has passed since the first one of the
batch, then all are applied in one commit (one ``state-change``, one undo step unless
inside `AIStateManager.one_undo_step`). They are applied when a later patch arrives after
the delay, on `flush`, or by `autoflush`, a task that flushes due batches while it runs.

A commit copies only the containers its patches go through (the rest is shared with the
state before) and validates only what they changed; a batch that fails (a bad path, a
value that does not fit `AppState`) changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, final

import anyio

from ainative_core import ConfigurationError, EventBus

from ._frozen import FrozenDict, FrozenList, freeze
from ._state import AIStateManager, AppState

__all__ = ["AIReconciler", "Patch", "PatchOp", "PathKey"]

PatchOp: TypeAlias = Literal["add", "remove", "replace", "merge"]
PathKey: TypeAlias = str | int


@final
@dataclass(frozen=True, slots=True)
class Patch:
    """One change: ``Patch("add", ("messages", "-"), {"role": "user", "content": "Hi"})``.

    ``path`` may also be given as a dotted string (``"messages.-1.content"``): segments
    that look like integers are list indexes.
    """

    op: PatchOp
    path: tuple[PathKey, ...] = ()
    value: Any = None

    @classmethod
    def of(cls, op: PatchOp, path: str | Sequence[PathKey], value: Any = None) -> Patch:
        if isinstance(path, str):
            keys: tuple[PathKey, ...] = tuple(
                int(p) if p.lstrip("-").isdigit() else p for p in path.split(".") if p
            )
        else:
            keys = tuple(path)
        return cls(op, keys, value)


def _writable(parent: Any, key: PathKey, own: dict[int, Any]) -> Any:
    """``parent[key]``, first replaced by a new copy (not shared yet) if a dict or list."""
    child = parent[int(key)] if isinstance(parent, list) else parent[key]
    if id(child) in own or not isinstance(child, dict | list):
        return child
    copied = FrozenDict(child) if isinstance(child, dict) else FrozenList(child)
    if isinstance(parent, list):
        list.__setitem__(parent, int(key), copied)
    elif isinstance(parent, dict):
        dict.__setitem__(parent, key, copied)
    else:
        raise ConfigurationError(
            f"cannot change a {type(child).__name__} inside a {type(parent).__name__}"
        )
    own[id(copied)] = copied
    return copied


def apply_patch_to(data: dict[str, Any], patch: Patch, own: dict[int, Any]) -> dict[str, Any]:
    """Apply ``patch`` to ``data``, a copy of a state's root (returns it, or the new root).

    Copy-on-write: ``own`` holds (by ``id``, keeping them alive) the containers this batch
    made, which are not shared yet: ``data`` and the copies of the read-only dicts and
    lists that patches went through. Only those are filled in, through the plain ``dict``
    and ``list`` methods, and only with frozen values, so they are read-only state as soon
    as the batch is committed; everything else stays shared and untouched.
    """
    path, value = patch.path, freeze(patch.value)
    if not path:
        if patch.op == "replace" and isinstance(value, Mapping):
            root = dict(value)
            own[id(root)] = root
            return root
        if patch.op == "merge" and isinstance(value, Mapping):
            data.update(value)
            return data
        raise ConfigurationError(f"{patch.op} needs a path (got an empty one)")
    parent: Any = data
    for key in path[:-1]:
        parent = _writable(parent, key, own)
    key = path[-1]
    if patch.op == "merge":
        original = parent[int(key)] if isinstance(parent, list) else parent[key]
        if not isinstance(original, dict) or not isinstance(value, Mapping):
            raise ConfigurationError(f"merge needs dicts at {path!r}")
        dict.update(_writable(parent, key, own), value)
    elif isinstance(parent, list):
        if patch.op == "add":
            if key == "-":
                list.append(parent, value)
            else:
                index = int(key)
                list.insert(parent, index if index >= 0 else len(parent) + index + 1, value)
        elif patch.op == "remove":
            list.__delitem__(parent, int(key))
        else:
            list.__setitem__(parent, int(key), value)
    elif isinstance(parent, dict):
        if patch.op == "remove":
            dict.pop(parent, key, None)
        else:
            dict.__setitem__(parent, key, value)
    else:
        raise ConfigurationError(
            f"cannot {patch.op} at {path!r}: parent is {type(parent).__name__}"
        )
    return data


@final
class AIReconciler:
    """Applies `Patch`es to ``state_manager``, at once or in batches (see the module doc)."""

    def __init__(
        self,
        state_manager: AIStateManager,
        event_bus: EventBus | None = None,
        *,
        batch_delay: float = 0.016,
    ) -> None:
        self.state_manager = state_manager
        self.event_bus = event_bus
        if event_bus is not None and state_manager.event_bus is None:
            # The seed's `new AIReconciler(stateManager, eventBus)`: commits are announced
            # (``state-change``) on the bus given here when the manager has none of its own.
            state_manager.event_bus = event_bus
        self.batch_delay = batch_delay
        self._pending: list[Patch] = []
        self._batch_started = 0.0
        self._batch_delay = batch_delay
        self.commits = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def apply_patch(
        self, patch: Patch, *, batching: bool = True, batch_delay: float | None = None
    ) -> None:
        """Apply one patch now (``batching=False``, pending ones first) or in the next batch."""
        self.apply_patches([patch], batching=batching, batch_delay=batch_delay)

    def apply_patches(
        self,
        patches: Iterable[Patch],
        *,
        batching: bool = True,
        batch_delay: float | None = None,
    ) -> None:
        now = time.monotonic()
        if not self._pending:
            self._batch_started = now
            self._batch_delay = self.batch_delay if batch_delay is None else batch_delay
        self._pending.extend(patches)
        if not batching or now - self._batch_started >= self._batch_delay:
            self.flush()

    def flush(self) -> AppState | None:
        """Apply every pending patch in one commit; None if nothing was pending."""
        if not self._pending:
            return None
        patches, self._pending = self._pending, []
        # Copy-on-write: only the containers the patches go through are copied; the rest
        # stays shared with the current (read-only) state.
        data = dict(self.state_manager.data)
        own: dict[int, Any] = {id(data): data}
        for patch in patches:
            data = apply_patch_to(data, patch, own)
        state = self.state_manager.commit(data)
        self.commits += 1
        return state

    def reconcile(self, target: Mapping[str, Any]) -> list[Patch]:
        """Bring the state to ``target`` (top-level keys) in one commit; returns the patches."""
        self.flush()
        current = self.state_manager.data
        patches = [Patch("remove", (key,)) for key in current if key not in target]
        patches += [
            Patch("replace" if key in current else "add", (key,), value)
            for key, value in target.items()
            if current.get(key, _MISSING) != value
        ]
        if patches:
            self.apply_patches(patches, batching=False)
        return patches

    async def autoflush(self) -> None:
        """Flush batches as they fall due, until cancelled (run it in a task group)."""
        while True:
            await anyio.sleep(self._batch_delay if self._pending else self.batch_delay)
            if self._pending and time.monotonic() - self._batch_started >= self._batch_delay:
                self.flush()


_MISSING: Any = object()
