"""The ``ainative serve`` command: uvicorn on asyncio, or Hypercorn on trio."""

from __future__ import annotations

from functools import partial
from typing import Final

import click

__all__ = ["serve_command"]

_WS_PING: Final = 20.0


@click.command("serve")
@click.option(
    "-p", "--provider", default=None, help="Default provider (else AINATIVE_PROVIDER or echo)."
)
@click.option("-m", "--model", default=None, help="Default model.")
@click.option("--host", default=None, help="Address to bind (else AINATIVE_HOST or 127.0.0.1).")
@click.option(
    "--port", default=None, type=click.IntRange(0, 65535), help="Else AINATIVE_PORT or 8000."
)
@click.option(
    "--backend",
    type=click.Choice(["asyncio", "trio"]),
    default="asyncio",
    show_default=True,
    help="asyncio serves with uvicorn, trio with Hypercorn.",
)
@click.option(
    "--page/--no-page",
    default=True,
    show_default=True,
    help="Serve the chat page at / (AINATIVE_CHAT_PAGE is ignored here).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Allow this browser origin too (repeatable; loopback origins always are; '*': any).",
)
def serve_command(
    provider: str | None,
    model: str | None,
    host: str | None,
    port: int | None,
    backend: str,
    page: bool = True,
    cors_origins: tuple[str, ...] = (),
) -> None:
    """Serve the ainative API (SSE, WebSocket, tools); echo provider unless configured."""
    from ._config import ServerConfig
    from ._server import create_app

    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if provider:
        overrides["provider"] = provider
    if model:
        overrides["model"] = model
    overrides["chat_page"] = page
    if cors_origins:
        overrides["cors_origins"] = [*ServerConfig().cors_origins, *cors_origins]
    config = ServerConfig(**overrides)  # type: ignore[arg-type]
    app = create_app(config)
    host, port = config.host, config.port
    server = "uvicorn" if backend == "asyncio" else "hypercorn"
    click.echo(
        f"ainative serving on http://{host}:{port} "
        f"(provider {config.provider}, {server} on {backend})",
    )
    if config.chat_page:
        click.echo(f"chat page: http://{host}:{port}/")
    if backend == "asyncio":
        import uvicorn

        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            ws_ping_interval=_WS_PING,
            ws_ping_timeout=_WS_PING,
            ws_max_size=config.max_body_bytes,
            timeout_graceful_shutdown=2,
        )
    else:
        import trio
        from hypercorn.config import Config
        from hypercorn.trio import serve

        hconfig = Config()
        hconfig.bind = [f"{host}:{port}"]
        hconfig.websocket_ping_interval = _WS_PING
        hconfig.websocket_max_message_size = config.max_body_bytes
        hconfig.graceful_timeout = 2.0
        hconfig.loglevel = "WARNING"
        trio.run(partial(serve, app, hconfig))  # type: ignore[arg-type]
