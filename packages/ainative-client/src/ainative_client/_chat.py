"""``ainative chat "Hello"``: stream a reply from an ainative server to the terminal."""

from __future__ import annotations

import sys
from contextlib import aclosing

import anyio
import click

from ainative_core import AINativeError, ConnectError, parse_options

__all__ = ["chat_command"]


@click.command("chat")
@click.argument("message")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Server URL.")
@click.option(
    "-t",
    "--transport",
    type=click.Choice(["sse", "ws", "auto"], case_sensitive=False),
    default="sse",
    show_default=True,
)
@click.option("-p", "--provider", default=None, help="Provider the server should use.")
@click.option("-m", "--model", default=None, help="Model name passed to the provider.")
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Provider option (repeatable), e.g. -o tokens=20 -o delay=0.05.",
)
@click.option("--no-reconnect", is_flag=True, help="Fail at once when the connection drops.")
@click.option(
    "--backend", type=click.Choice(["asyncio", "trio"]), default="asyncio", show_default=True
)
def chat_command(
    message: str,
    url: str,
    transport: str,
    provider: str | None,
    model: str | None,
    options: tuple[str, ...],
    no_reconnect: bool,
    backend: str,
) -> None:
    """Send MESSAGE to an ainative server and print the reply token by token."""
    try:
        extra = parse_options(options)
    except AINativeError as exc:
        raise click.BadParameter(str(exc), param_hint="-o") from None
    # Imported here: the CLI lists its commands without loading the HTTP stack.
    from ._client import AINativeClient

    async def run() -> None:
        async with (
            AINativeClient(
                url,
                transport=transport.upper(),
                provider=provider,
                model=model,
                reconnect=not no_reconnect,
                max_reconnect_attempts=3,
                reconnect_delay=0.2,
            ) as client,
            aclosing(client.stream_text(message, **extra)) as tokens,
        ):
            async for token in tokens:
                click.echo(token, nl=False)
                sys.stdout.flush()

    try:
        anyio.run(run, backend=backend)
    except ConnectError as exc:
        raise click.ClickException(f"cannot reach the ainative server at {url}: {exc}") from None
    except AINativeError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    click.echo()
