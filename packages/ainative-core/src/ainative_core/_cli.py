"""The ``ainative`` command line: core commands; other distributions add theirs by hook."""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import os
import platform
import sys
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import anyio
import click
import structlog
from pydantic import ValidationError

from ._catalogue import model_catalogue
from ._exceptions import AINativeError
from ._logging import ROOT_LOGGER
from ._models import Message
from ._options import parse_options
from ._plugins import NameClash, Plugins, get_plugins
from ._provider import build_request, open_stream

__all__ = ["cli", "configure_cli_logging", "main"]


def _version() -> str:
    try:
        return version("ainative-core")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


LOG_LEVELS: Final = ("debug", "info", "warning", "error")
LOG_FORMATS: Final = ("console", "json")


def configure_cli_logging(level: str | None = None, log_format: str | None = None) -> None:
    """Log to stderr at ``level`` as ``console`` lines or ``json`` objects; only the CLI
    configures logging, never the library.

    The defaults come from ``AINATIVE_LOG_LEVEL`` (``warning``) and ``AINATIVE_LOG_FORMAT``
    (``console``), which this sets in turn, so that ``serve --workers`` processes log alike.
    """
    level = (level or os.environ.get("AINATIVE_LOG_LEVEL") or "warning").lower()
    log_format = (log_format or os.environ.get("AINATIVE_LOG_FORMAT") or "console").lower()
    os.environ["AINATIVE_LOG_LEVEL"], os.environ["AINATIVE_LOG_FORMAT"] = level, log_format
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            # First: an event below the level is dropped before it is stamped and rendered.
            structlog.stdlib.filter_by_level,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger(ROOT_LOGGER)
    for old in [h for h in root.handlers if getattr(h, "_ainative_cli", False)]:
        root.removeHandler(old)
    handler._ainative_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.WARNING))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="ainative")
@click.option("-v", "--verbose", is_flag=True, help="Log debug output (--log-level debug).")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default=None,
    help="Least level logged to stderr [default: warning, or AINATIVE_LOG_LEVEL].",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS, case_sensitive=False),
    default=None,
    help="Log lines for people (console) or one JSON object each [default: console].",
)
def cli(verbose: bool, log_level: str | None, log_format: str | None) -> None:
    """ainative: token-by-token LLM streaming."""
    configure_cli_logging("debug" if verbose else log_level, log_format)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(as_json: bool) -> None:
    """List plugins, what each registers, broken plugins with their error, and name clashes."""
    plugins = get_plugins()
    infos = plugins.plugin_infos()
    broken = plugins.broken
    clashes = plugins.clashes
    models = model_catalogue(plugins)
    if as_json:
        report = {
            "plugins": [asdict(i) for i in infos],
            "models": [asdict(m) for m in models],
            "broken": [asdict(b) for b in broken],
            "clashes": [asdict(c) for c in clashes],
        }
        click.echo(json.dumps(report, indent=2))
        return
    for info in infos:
        dist = (
            f"{info.distribution} {info.version}" if info.distribution else "(registered in code)"
        )
        click.echo(f"{info.name}  [{dist}]")
        for label in ("providers", "transports", "tools", "commands"):
            names = getattr(info, label)
            if names:
                click.echo(f"  {label}: {', '.join(names)}")
        owned = [m.id for m in models if m.plugin == info.name]
        if owned:
            click.echo(f"  models: {', '.join(owned)}")
    for bad in broken:
        dist = f" [{bad.distribution} {bad.version}]" if bad.distribution else ""
        click.echo(f"BROKEN {bad.name}{dist}: {bad.error}")
    for clash in clashes:
        click.echo(_clash_line(clash))


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models_command(as_json: bool) -> None:
    """List the model names a server answers to (its /v1/models) and what each reaches.

    Any model of a provider is also reachable as ``provider/model``.
    """
    models = model_catalogue(get_plugins())
    if as_json:
        click.echo(json.dumps([asdict(m) for m in models], indent=2))
        return
    width = max((len(m.id) for m in models), default=0)
    for entry in models:
        target = entry.provider + (f" / {entry.model}" if entry.model else " (its default model)")
        click.echo(f"{entry.id:<{width}}  {entry.kind:<8}  {target}")


def _clash_line(clash: NameClash) -> str:
    return (
        f"CLASH {clash.kind} {clash.name!r}: {clash.winner} wins, "
        f"{clash.loser}'s registration ignored"
    )


@cli.command("generate")
@click.argument("prompt")
@click.option("-p", "--provider", "provider_name", default="echo", show_default=True)
@click.option("-m", "--model", default=None, help="Model name passed to the provider.")
@click.option("-s", "--system", default=None, help="A system message.")
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Generation or provider option (repeatable), e.g. -o max_tokens=50.",
)
@click.option(
    "--backend", type=click.Choice(["asyncio", "trio"]), default="asyncio", show_default=True
)
def generate_command(
    prompt: str,
    provider_name: str,
    model: str | None,
    system: str | None,
    options: tuple[str, ...],
    backend: str,
) -> None:
    """Stream a provider in-process to the terminal, token by token (no server)."""
    messages = [Message(role="system", content=system)] if system else []
    try:
        request = build_request(
            prompt=prompt, messages=messages, model=model, **parse_options(options)
        )
        provider = get_plugins().get_provider(provider_name)
    except AINativeError as exc:
        raise click.ClickException(str(exc)) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise click.BadParameter(problems, param_hint="-o") from None

    async def run() -> str | None:
        try:
            async with open_stream(provider, request) as events:
                async for event in events:
                    if event.type == "text" and event.text:
                        click.echo(event.text, nl=False)
                        sys.stdout.flush()
                    elif event.type == "error":
                        return f"{event.code}: {event.text}"
            return None
        finally:
            aclose = getattr(provider, "aclose", None)
            if aclose is not None:
                await aclose()  # release the provider's HTTP pool before the loop ends

    try:
        error = anyio.run(run, backend=backend)
    except AINativeError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # a provider's own bug: one line, not its traceback
        raise click.ClickException(
            f"provider {provider_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    click.echo()
    if error is not None:
        raise click.ClickException(error)


@cli.command("new-plugin")
@click.argument("name")
@click.option(
    "-d",
    "--directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where to create the ainative-NAME project.",
)
def new_plugin_command(name: str, directory: str) -> None:
    """Scaffold a third-party provider plugin project (ainative-NAME)."""
    from ._scaffold import plugin_names, scaffold_plugin
    from ._wheelhouse import install_command

    try:
        root = scaffold_plugin(name, directory)
        names = plugin_names(name)
    except AINativeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {root}")
    click.echo(f"  provider {names.provider!r}: write it in src/{names.module}/_provider.py")
    click.echo(f"  next: cd {root} && {install_command('.[test]', editable=True)} && pytest")


@cli.command("doctor")
def doctor_command() -> None:
    """Report Python, async backends, plugins and configuration found."""
    click.echo(
        f"ainative-core {_version()} on Python {platform.python_version()} ({sys.executable})"
    )
    for backend, module in (("asyncio", "asyncio"), ("trio", "trio"), ("uvloop", "uvloop")):
        found = importlib.util.find_spec(module) is not None
        click.echo(f"backend {backend}: {'available' if found else 'not installed'}")
    plugins: Plugins = get_plugins()
    for info in plugins.plugin_infos():
        click.echo(
            f"plugin {info.name}: {info.distribution or 'in code'} "
            f"providers={','.join(info.providers) or '-'}"
        )
    for line in plugins.doctor_lines():
        click.echo(line)
    for bad in plugins.broken:
        click.echo(f"plugin {bad.name}: BROKEN {bad.error}")
    for clash in plugins.clashes:
        click.echo(f"plugin {clash.loser}: {_clash_line(clash)}")
    names = sorted(k for k in os.environ if k.startswith("AINATIVE_"))
    keys = [k for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_HOST") if k in os.environ]
    click.echo(f"config: {', '.join(names + keys) or 'none (defaults: echo provider)'}")
    known = plugins.settings
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            click.echo(f"config: unknown {name}: no installed plugin reads it{hint}")
    if os.path.exists(".env"):
        click.echo("config: .env file in the current directory (ainative serve loads it)")


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``ainative`` script: core commands plus those plugins add."""
    configure_cli_logging()  # plugin warnings go to stderr; ``-v`` reconfigures
    get_plugins().add_commands(cli)
    return cli.main(args=argv, prog_name="ainative")
