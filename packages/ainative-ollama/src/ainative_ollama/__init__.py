"""ainative provider plugin for Ollama (its ``/api/chat`` HTTP API over httpx).

The names below are imported on first access: loading the plugin (``_plugin``) imports
this package, and must not pull in httpx before the provider is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainative_core import lazy_exports

if TYPE_CHECKING:
    from ._errors import map_ollama_errors as map_ollama_errors
    from ._provider import DEFAULT_HOST as DEFAULT_HOST
    from ._provider import DEFAULT_MODEL as DEFAULT_MODEL
    from ._provider import OllamaProvider as OllamaProvider
    from ._provider import parse_host as parse_host

__all__ = ["DEFAULT_HOST", "DEFAULT_MODEL", "OllamaProvider", "map_ollama_errors", "parse_host"]

if not TYPE_CHECKING:  # mypy sees the names above, and flags any other as missing
    __getattr__, __dir__ = lazy_exports(__name__)
