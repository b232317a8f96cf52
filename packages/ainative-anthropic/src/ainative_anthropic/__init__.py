"""ainative provider plugin for Anthropic's Messages API (official ``anthropic`` SDK).

The names below are imported on first access: loading the plugin (``_plugin``) imports
this package, and must not pull in the SDK before the provider is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainative_core import lazy_exports

if TYPE_CHECKING:
    from ._errors import map_anthropic_errors as map_anthropic_errors
    from ._provider import DEFAULT_MAX_TOKENS as DEFAULT_MAX_TOKENS
    from ._provider import DEFAULT_MODEL as DEFAULT_MODEL
    from ._provider import AnthropicProvider as AnthropicProvider

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_MODEL", "AnthropicProvider", "map_anthropic_errors"]

if not TYPE_CHECKING:  # mypy sees the names above, and flags any other as missing
    __getattr__, __dir__ = lazy_exports(__name__)
