"""Lazy package attributes (PEP 562) for plugins whose heavy imports must wait for first use.

A plugin's entry point (``ainative_x._plugin``) imports its package ``__init__`` first, so a
package that re-exports its provider eagerly would import the vendor SDK whenever plugins
load (every ``ainative`` command). ``__getattr__, __dir__ = lazy_exports(__name__)``
imports each name from its private module on first access instead.

The package imports its names under ``if TYPE_CHECKING:`` (``from ._x import Name as
Name``), and assigns ``__getattr__`` under ``if not TYPE_CHECKING:``: a type checker then
knows each name's type, and reports a name the package does not export instead of typing it
``Any``. Those imports are also the table of what comes from where: on first access the
package's own source is read once for them, so each name is written in one import and in
``__all__``, nowhere else.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    ``names`` maps each public name to the module that defines it, relative to ``package``
    or absolute (``{"OpenAIProvider": "._provider"}``); by default it is read from the
    package's ``if TYPE_CHECKING:`` imports. A resolved name is cached in the package.
    """
    table: dict[str, str] | None = dict(names) if names is not None else None

    def lazy() -> dict[str, str]:
        nonlocal table
        if table is None:
            table = type_checking_imports(Path(str(sys.modules[package].__file__)))
        return table

    def __getattr__(name: str) -> Any:
        module = lazy().get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *lazy()})

    return __getattr__, __dir__


def type_checking_imports(source: Path) -> dict[str, str]:
    """``{name: module}`` of the ``from module import name as name`` imports that a module's
    ``if TYPE_CHECKING:`` blocks hold (relative modules keep their leading dots)."""
    found: dict[str, str] = {}
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if not (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom) and statement.module is not None:
                module = "." * statement.level + statement.module
                for alias in statement.names:
                    found[alias.asname or alias.name] = module
    return found
