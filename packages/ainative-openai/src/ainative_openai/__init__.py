"""ainative-openai: the OpenAI provider plugin (OpenAI and OpenAI-compatible servers).

Names are imported on first access: loading the plugin (``ainative_openai._plugin``)
imports this package, and must not import the OpenAI SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainative_core import lazy_exports

if TYPE_CHECKING:
    from ._convert import FINISH_REASONS as FINISH_REASONS
    from ._errors import ERROR_TABLE as ERROR_TABLE
    from ._errors import map_openai_errors as map_openai_errors
    from ._provider import OpenAIProvider as OpenAIProvider

__all__ = ["ERROR_TABLE", "FINISH_REASONS", "OpenAIProvider", "map_openai_errors"]

if not TYPE_CHECKING:  # mypy sees the names above, and flags any other as missing
    __getattr__, __dir__ = lazy_exports(__name__)
