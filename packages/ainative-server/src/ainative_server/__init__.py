"""ainative_server."""

from __future__ import annotations

__all__: list[str] = []
