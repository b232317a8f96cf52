"""Every package re-exports its public names under a sorted ``__all__``."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "ainative",
    "ainative_core",
    "ainative_client",
    "ainative_server",
    "ainative_openai",
    "ainative_anthropic",
    "ainative_ollama",
    "ainative_testing",
]


def isort_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then functions and the rest."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported, key=isort_key), f"{name}.__all__ is not sorted"
    for member in exported:
        assert hasattr(module, member), f"{name}.{member} is in __all__ but missing"
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith(name)
    }
    missing = public - set(exported)
    assert not missing, f"{name} exposes names outside __all__: {missing}"
