"""ainative itself as `ainative serve` builds it: `create_app(ServerConfig())`, echo provider."""

from __future__ import annotations

from ainative_server import ServerConfig, create_app

__all__ = ["app"]

# The load figures open up to 5,000 streams from one address (hundreds on one WebSocket):
# caps above that, no rate limits.
app = create_app(
    ServerConfig(
        provider="echo",
        max_runs=100_000,
        max_runs_per_client=100_000,
        rate_limit=0,
        ws_message_rate=0,
    )
)
