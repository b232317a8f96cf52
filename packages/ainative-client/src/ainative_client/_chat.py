"""``ainative chat "Hello"``: stream a reply from an ainative server to the terminal."""

from __future__ import annotations

import json
import sys
from contextlib import aclosing
from typing import Any

import anyio
import click

from ainative_core import (
    ActionRequest,
    AINativeError,
    ConnectError,
    WireEvent,
    error_from_code,
    parse_options,
)

__all__ = ["chat_command"]


class _Printer:
    """Prints a stream's events: tokens as they come, each tool call and result on a line."""

    def __init__(self) -> None:
        self.line_open = False

    def show(self, event: WireEvent) -> None:
        data = event.data
        if event.type == "token":
            self._write(str(data))
        elif event.type == "tool_call" and isinstance(data, dict) and data.get("phase") == "end":
            self._line(f"[tool call] {data.get('name')}({data.get('arguments') or ''})")
        elif event.type == "tool_result" and isinstance(data, dict):
            if "error" in data:
                self._line(f"[tool error] {data.get('name')}: {data['error']}")
            else:
                self._line(f"[tool result] {data.get('name')}: {_shown(data.get('result'))}")
        elif event.type == "error":
            raise error_from_code(event.code, str(data))
        elif event.type == "done" and isinstance(data, dict):
            pending = data.get("tool_calls")
            if data.get("finish_reason") == "tool_call" and isinstance(pending, list):
                names = ", ".join(str(call.get("name")) for call in pending)
                self._line(f"[stopped] the model called client tools: {names}")

    def _write(self, text: str) -> None:
        click.echo(text, nl=False)
        sys.stdout.flush()
        self.line_open = not text.endswith("\n")

    def _line(self, text: str) -> None:
        if self.line_open:
            click.echo()
        click.echo(click.style(text, dim=True))
        self.line_open = False


def _headers(pairs: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME:VALUE, got {pair!r}", param_hint="-H")
        headers[name.strip()] = value.strip()
    return headers


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


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
@click.option(
    "--tools",
    "tools",
    default=None,
    metavar="all|NAME,...",
    help="Server tools the model may call (default: the server's choice).",
)
@click.option(
    "--api-key",
    envvar="AINATIVE_API_KEY",
    default=None,
    help="Bearer key for a server with keys (else AINATIVE_API_KEY).",
)
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="NAME:VALUE",
    help="Extra request header (repeatable).",
)
@click.option("--system", default=None, help="A system message before MESSAGE.")
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
    tools: str | None,
    api_key: str | None,
    headers: tuple[str, ...],
    system: str | None,
    no_reconnect: bool,
    backend: str,
) -> None:
    """Send MESSAGE to an ainative server and print the reply token by token.

    MESSAGE ``-`` reads it from stdin. Tool calls the model makes and their results are
    printed as they happen, one line each.
    """
    if message == "-":
        message = sys.stdin.read()
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(
            f"{url!r} is not an http:// or https:// URL (try http://{url})", param_hint="--url"
        )
    sent_headers = _headers(headers)
    if api_key:
        sent_headers["Authorization"] = f"Bearer {api_key}"
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
                headers=sent_headers,
                reconnect=not no_reconnect,
                max_reconnect_attempts=3,
                reconnect_delay=0.2,
            ) as client,
            aclosing(client.stream_events(request_of(client))) as events,
        ):
            async for received in events:
                printer.show(received.event)

    def request_of(client: AINativeClient) -> ActionRequest:
        request = client.request(message, tools=chosen, **extra)
        if system is None:
            return request
        context = {"messages": [{"role": "system", "content": system}]}
        return request.model_copy(update={"context": context})

    printer = _Printer()
    chosen: bool | list[str] | None = None
    if tools is not None:
        chosen = True if tools == "all" else [n.strip() for n in tools.split(",") if n.strip()]

    try:
        anyio.run(run, backend=backend)
    except ConnectError as exc:
        raise click.ClickException(f"cannot reach the ainative server at {url}: {exc}") from None
    except AINativeError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    if printer.line_open:
        click.echo()
