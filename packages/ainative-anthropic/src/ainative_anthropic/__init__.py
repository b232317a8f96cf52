"""ainative provider plugin for Anthropic's Messages API (official ``anthropic`` SDK).

The names below are imported on first access: loading the plugin (``_plugin``) imports
this package, and must not pull in the SDK before the provider is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._errors import map_anthropic_errors as map_anthropic_errors
    from ._provider import DEFAULT_MAX_TOKENS as DEFAULT_MAX_TOKENS
    from ._provider import DEFAULT_MODEL as DEFAULT_MODEL
    from ._provider import AnthropicProvider as AnthropicProvider

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_MODEL", "AnthropicProvider", "map_anthropic_errors"]

_LAZY = {
    "AnthropicProvider": "._provider",
    "DEFAULT_MAX_TOKENS": "._provider",
    "DEFAULT_MODEL": "._provider",
    "map_anthropic_errors": "._errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
