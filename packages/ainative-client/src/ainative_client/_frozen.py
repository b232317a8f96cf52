"""Read-only dicts and lists: state that can be shared without being copied.

`freeze` turns plain data into `FrozenDict`/`FrozenList` (subclasses of ``dict`` and
``list``, so they compare, serialise and type-check as such, but refuse every change) and
returns what is frozen already as it is, so freezing data that shares most of its parts
with frozen data costs only the new parts. `thaw` is the way back: a mutable deep copy.
``copy.copy``, ``copy.deepcopy`` and pickle also give plain, mutable containers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from itertools import compress, count
from operator import not_
from typing import Any, NoReturn, TypeVar, final

__all__ = ["FrozenDict", "FrozenList", "freeze", "thaw"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_SCALARS = (str, int, float, bytes, type(None))  # bool is an int


def _refuse(self: object, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(
        f"this {type(self).__name__} is read-only state: copy it (dict(...), list(...)) to change"
        " it, or change the state through its manager"
    )


@final
class FrozenDict(dict[K, V]):
    """A ``dict`` that refuses changes."""

    __slots__ = ()

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type[dict[K, V]], tuple[dict[K, V]]]:
        return dict, (dict(self),)


@final
class FrozenList(list[T]):
    """A ``list`` that refuses changes."""

    __slots__ = ()

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[type[list[T]], tuple[list[T]]]:
        return list, (list(self),)


_KEPT = (*_SCALARS, FrozenDict, FrozenList)
_KEPT_TYPES = frozenset(_KEPT)


def freeze(value: Any) -> Any:
    """``value`` with its dicts and lists made read-only (frozen parts are kept, not copied).

    Tuples are rebuilt from frozen items; objects other than scalars, dicts, lists and
    tuples are deep-copied once, so the caller's object is not shared (they stay mutable:
    keep state to JSON-like data).
    """
    if isinstance(value, _KEPT):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        # Finding the items to freeze runs at C speed: a long list of frozen items with a
        # new one (a message list after a patch) costs a copy, not a call per item.
        items = list(value)
        for index in compress(count(), map(not_, map(_KEPT_TYPES.__contains__, map(type, items)))):
            items[index] = freeze(items[index])
        return FrozenList(items)
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(freeze(item) for item in value)
    return copy.deepcopy(value)


def thaw(value: Any) -> Any:
    """A deep copy of ``value`` made of plain, mutable dicts and lists."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thaw(item) for item in value]
    if type(value) is tuple:
        return tuple(thaw(item) for item in value)
    return copy.deepcopy(value)
