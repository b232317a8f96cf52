"""The ``ainative serve`` command: uvicorn on asyncio, or Hypercorn on trio.

``--workers N`` runs N server processes on one port; they share one stream store (Redis),
which they read their settings from the environment to open (`worker_app`).
"""

from __future__ import annotations

import json
import os
import socket
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ._config import ServerConfig
    from ._server import AINativeServer

__all__ = ["check_default_provider", "check_store", "serve_command", "store_line", "worker_app"]

_WS_PING: Final = 20.0
_WORKER_APP: Final = "ainative_server._serve:worker_app"


def worker_app() -> FastAPI:
    """The app of one ``--workers`` (or ``--reload``) process: its settings come from
    ``AINATIVE_*``, its server from ``AINATIVE_SERVE_APP`` when ``serve`` was given one."""
    from ainative_core._cli import configure_cli_logging  # the CLI's, in a worker of it

    from ._gc import tune_gc
    from ._server import create_server

    configure_cli_logging()
    ref = os.environ.get("AINATIVE_SERVE_APP")
    ainative = _imported_server(ref) if ref else create_server()
    app = ainative.get_app()
    tune_gc(ainative.config.gc_threshold)
    return app


def _imported_server(ref: str) -> AINativeServer:
    """The `AINativeServer` at ``module:name`` (an instance, or a callable making one)."""
    import importlib
    import sys

    from ._server import AINativeServer

    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise click.BadParameter(f"{ref!r}: expected module:name", param_hint="APP")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `uvicorn module:app` finds the app's module
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot import {ref!r}: {exc}", param_hint="APP") from None
    if not isinstance(target, AINativeServer) and callable(target):
        target = target()
    if not isinstance(target, AINativeServer):
        raise click.BadParameter(
            f"{ref!r} is a {type(target).__name__}, not an AINativeServer", param_hint="APP"
        )
    return target


async def check_default_provider(ainative: AINativeServer) -> None:
    """Load and warm the default provider, then close it: its clients belong to this event
    loop, and the app's lifespan makes and warms the provider again on the server's."""
    try:
        await ainative.load_default_provider()
    finally:
        await ainative.close_providers()


def _load_env_file(path: str | None) -> None:
    """Load ``path`` (else ``./.env`` if there is one) into the environment; variables
    already set win."""
    from dotenv import load_dotenv

    chosen = path or (".env" if os.path.isfile(".env") else None)
    if chosen is None:
        return
    if not os.path.isfile(chosen):
        raise click.BadParameter(f"no such file: {chosen}", param_hint="--env-file")
    load_dotenv(chosen, override=False)


def check_store(config: ServerConfig) -> str:
    """Open the configured store once (a shared store must answer before serving); its
    description. Raises `ConfigurationError` or `StoreUnavailable`."""
    import anyio

    from ._store import probe_store

    return anyio.run(probe_store, config)


def store_line() -> str:
    """``store: ...`` for ``ainative doctor``: the configured store and whether it answers."""
    from ainative_core import AINativeError

    from ._config import ServerConfig
    from ._store import redact_url

    try:
        config = ServerConfig()
        return f"store: {check_store(config)}"
    except AINativeError as exc:
        return f"store: {redact_url(os.environ.get('AINATIVE_STORE', 'memory'))} UNAVAILABLE {exc}"


@click.command("serve")
@click.argument("app_ref", metavar="[APP]", required=False)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="KEY",
    help="Require this bearer key (repeatable; else AINATIVE_API_KEYS; none: no keys).",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Load environment variables from this file first [default: ./.env if present].",
)
@click.option(
    "--reload",
    is_flag=True,
    help="Restart when the code changes (development; asyncio backend).",
)
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
@click.option(
    "--store",
    default=None,
    help="Stream store: memory, or redis://host:port/db shared by processes "
    "(else AINATIVE_STORE or memory).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Server processes on the port (more than one needs a shared --store).",
)
@click.option(
    "--openai-api/--no-openai-api",
    default=None,
    help="Serve the OpenAI-compatible /v1 API (else AINATIVE_OPENAI_API, on by default).",
)
def serve_command(
    provider: str | None,
    model: str | None,
    host: str | None,
    port: int | None,
    backend: str,
    page: bool = True,
    cors_origins: tuple[str, ...] = (),
    store: str | None = None,
    workers: int = 1,
    openai_api: bool | None = None,
    app_ref: str | None = None,
    api_keys: tuple[str, ...] = (),
    env_file: str | None = None,
    reload: bool = False,
) -> None:
    """Serve the ainative API (SSE, WebSocket, OpenAI-compatible /v1, tools); echo unless
    configured.

    APP (``module:name``) serves an `AINativeServer` of yours (with its actions and tools)
    instead of a new one; ``--host``/``--port`` still choose where. Variables of ``.env`` (or
    ``--env-file``) that the environment does not set are loaded first, provider keys
    included.
    """
    import anyio

    from ainative_core import AINativeError

    from ._config import ServerConfig
    from ._server import create_server

    _load_env_file(env_file)
    if reload and backend != "asyncio":
        raise click.UsageError("--reload needs --backend asyncio")
    overrides: dict[str, object] = {}
    if api_keys:
        overrides["api_keys"] = list(api_keys)
    if store:
        overrides["store"] = store
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
    if openai_api is not None:
        overrides["openai_api"] = openai_api
    config = ServerConfig(**overrides)  # type: ignore[arg-type]
    shared = config.store.strip() not in ("", "memory")
    if workers > 1 and not shared:
        raise click.UsageError(
            "--workers needs a store the processes share (--store redis://host:port/db): "
            "with memory each process would see only its own streams"
        )
    try:
        stored = f", store {check_store(config)}" if shared else ""
    except AINativeError as exc:
        raise click.ClickException(str(exc)) from None
    ainative = _imported_server(app_ref) if app_ref else create_server(config)
    if app_ref:
        config = ainative.config.model_copy(
            update={k: v for k, v in overrides.items() if k in ("host", "port")}
        )
    try:
        # What the app does when it starts, done first here: a default provider that cannot
        # work ends the command with one line rather than with the server's traceback.
        anyio.run(check_default_provider, ainative, backend=backend)
    except AINativeError as exc:
        raise click.ClickException(f"cannot serve: {exc.message}") from None
    server = "uvicorn" if backend == "asyncio" else "hypercorn"
    if backend == "trio" and not _importable("trio", "hypercorn"):
        from ainative_core._wheelhouse import install_command

        raise click.ClickException(
            f"the trio backend needs trio and Hypercorn: {install_command('ainative[trio]')}"
        )
    # Bound here, before the banner: the banner names the real address (port 0 gives a
    # free port), and an address in use is one line rather than the server's traceback.
    separate = workers > 1 or reload  # processes that build their app from the environment
    sock = _bind(config.host, config.port, config.send_timeout) if not separate else None
    host, port = config.host, sock.getsockname()[1] if sock is not None else config.port
    url = f"http://{_url_host(host)}:{port}"
    processes = f", {workers} processes" if workers > 1 else ""
    if separate:
        # The worker processes build their app from the environment.
        if app_ref:
            os.environ["AINATIVE_SERVE_APP"] = app_ref
        if api_keys:
            os.environ["AINATIVE_API_KEYS"] = json.dumps(list(api_keys))
        for name in ("provider", "model", "store"):
            value = overrides.get(name)
            if isinstance(value, str):
                os.environ[f"AINATIVE_{name.upper()}"] = value
        os.environ["AINATIVE_CHAT_PAGE"] = "true" if config.chat_page else "false"
        if cors_origins:
            os.environ["AINATIVE_CORS_ORIGINS"] = json.dumps(config.cors_origins)
    app = ainative.get_app() if not separate else None
    click.echo(
        f"ainative serving on {url} "
        f"(provider {config.provider}, {server} on {backend}{processes}{stored})",
    )
    if config.chat_page:
        click.echo(f"chat page: {url}/")
    click.echo("Press Ctrl+C to quit")
    if app is not None:
        from ._gc import tune_gc

        tune_gc(config.gc_threshold)  # the start-up's objects made, before any request
    if backend == "asyncio":
        import uvicorn

        from ._uvicorn import HTTP_PROTOCOL

        settings: dict[str, Any] = {
            "host": host,
            "port": port,
            "log_level": "warning",
            "access_log": False,  # the app writes its own (ainative.access)
            "ws_ping_interval": _WS_PING,
            "ws_ping_timeout": _WS_PING,
            "ws_max_size": config.max_body_bytes,
            "timeout_graceful_shutdown": 2,
            # httptools, with bounds on the size of request headers and the wait for them.
            "http": HTTP_PROTOCOL,
            "h11_max_incomplete_event_size": config.max_header_bytes,
            "timeout_keep_alive": config.header_timeout,
        }
        if app is None or sock is None:
            if reload:
                settings["reload"] = True
            else:
                settings["workers"] = workers
            uvicorn.run(_WORKER_APP, factory=True, **settings)
        else:
            _draining_uvicorn(uvicorn.Config(app, **settings), ainative).run(sockets=[sock])
    else:
        import trio
        from hypercorn.config import Config
        from hypercorn.trio import serve

        hconfig = Config()
        hconfig.bind = [f"fd://{sock.fileno()}" if sock is not None else f"{host}:{port}"]
        hconfig.websocket_ping_interval = _WS_PING
        hconfig.websocket_max_message_size = config.max_body_bytes
        hconfig.h11_max_incomplete_size = config.max_header_bytes
        hconfig.h2_max_header_list_size = config.max_header_bytes
        hconfig.keep_alive_timeout = config.header_timeout  # also bounds the wait for headers
        hconfig.graceful_timeout = 2.0
        hconfig.loglevel = "WARNING"
        hconfig.accesslog = None  # the app writes its own (ainative.access)
        if app is None:
            from hypercorn.run import run

            hconfig.application_path = f"{_WORKER_APP}()"
            hconfig.worker_class = "trio"
            hconfig.workers = workers
            raise SystemExit(run(hconfig))
        trio.run(partial(serve, app, hconfig, shutdown_trigger=partial(_stop_signal, ainative)))  # type: ignore[arg-type]


async def _stop_signal(ainative: AINativeServer) -> None:
    """Hypercorn's shutdown trigger on trio: SIGINT or SIGTERM, then `StreamHub.drain`."""
    import signal

    import trio

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            break
    await ainative.hub.drain(ainative.config.shutdown_drain)


def _draining_uvicorn(config: Any, ainative: AINativeServer) -> Any:
    """A uvicorn server whose first SIGINT/SIGTERM drains the hub (`StreamHub.drain`)
    before it stops; a second one stops at once, as uvicorn does."""
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        loop: asyncio.AbstractEventLoop | None = None
        draining = False
        drain_task: asyncio.Future[None] | None = None

        async def serve(self, sockets: Any = None) -> None:
            self.loop = asyncio.get_running_loop()
            await super().serve(sockets)

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.draining or self.loop is None:
                super().handle_exit(sig, frame)
                return
            self.draining = True
            self.loop.call_soon_threadsafe(self._drain)

        def _drain(self) -> None:
            async def drain() -> None:
                await ainative.hub.drain(ainative.config.shutdown_drain)
                self.should_exit = True

            self.drain_task = asyncio.ensure_future(drain())  # held until it is done

    return Server(config)


def _importable(*names: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in names)


def _url_host(host: str) -> str:
    """``host`` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _bind(host: str, port: int, send_timeout: float) -> socket.socket:
    """A listening TCP socket on ``host``:``port``; `click.ClickException` if it cannot be.

    Where the system has ``TCP_USER_TIMEOUT`` (Linux), the kernel aborts a connection whose
    sent data has waited ``send_timeout`` seconds unacknowledged, a client that stopped
    reading included (its connections inherit the option). The hub's `SendWatch` drops
    such a follower in the app, but that needs a cancellable write: Hypercorn on trio
    shields its socket writes from cancellation, so there only the kernel can end them.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            milliseconds = max(1, int(send_timeout * 1000))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, milliseconds)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {_url_host(host)}:{port}: {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(True)
    return sock
