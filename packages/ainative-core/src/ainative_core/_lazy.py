"""Lazy package attributes (PEP 562) for plugins whose heavy imports must wait for first use.

A plugin's entry point (``ainative_x._plugin``) imports its package ``__init__`` first, so a
package that re-exports its provider eagerly would import the vendor SDK whenever plugins
load (every ``ainative`` command). ``__getattr__, __dir__ = lazy_exports(__name__, {...})``
imports each name from its private module on first access instead.

The package also imports its names under ``if TYPE_CHECKING:``, and assigns ``__getattr__``
under ``if not TYPE_CHECKING:``: a type checker then knows each name's type, and reports a
name the package does not export instead of typing it ``Any``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    ``names`` maps each public name to the module that defines it, relative to ``package``
    or absolute (``{"OpenAIProvider": "._provider"}``); a resolved name is cached in the
    package.
    """
    lazy = dict(names)

    def __getattr__(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *lazy})

    return __getattr__, __dir__
