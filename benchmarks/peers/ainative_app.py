"""ainative itself as `ainative serve` builds it: `create_app(ServerConfig())`, echo provider."""

from __future__ import annotations

from ainative_server import ServerConfig, create_app

__all__ = ["app"]

app = create_app(ServerConfig(provider="echo"))
