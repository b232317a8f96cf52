"""``ainative chat "Hello"``: stream a reply from an ainative server to the terminal.

Without a message, in a terminal, it is a conversation: each line typed is sent with the
turns before it (``context.messages``), and the reply streams back. Ctrl-C during a reply
stops it (the server's run is cancelled) and returns to the prompt; Ctrl-D, or Ctrl-C at an
empty prompt, or ``/exit`` leaves; ``/reset`` forgets the turns so far.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import aclosing
from functools import partial
from typing import Any, Final

import anyio
import click

from ainative_core import (
    AINativeError,
    ConnectError,
    WireEvent,
    error_from_code,
    parse_options,
)

__all__ = ["chat_command"]

_PROMPT: Final = "you> "
_SPIN: Final = "|/-\\"
_SPIN_EVERY: Final = 0.1


class _Status:
    """A status line on stderr while the reply has not begun, erased at its first output;
    silent unless stderr is a terminal."""

    def __init__(self, text: str = "waiting for the reply") -> None:
        self.text = text
        self.shown = False
        self.done = not sys.stderr.isatty()

    async def spin(self) -> None:
        for tick in range(1_000_000):
            if self.done:
                return
            sys.stderr.write(f"\r{_SPIN[tick % len(_SPIN)]} {self.text}")
            sys.stderr.flush()
            self.shown = True
            await anyio.sleep(_SPIN_EVERY)

    def clear(self) -> None:
        self.done = True
        if self.shown:  # blanks, which any terminal understands
            sys.stderr.write("\r" + " " * (len(self.text) + 2) + "\r")
            sys.stderr.flush()
            self.shown = False


class _Printer:
    """Prints a stream's events: tokens as they come, each tool call and result on a line."""

    def __init__(self, status: _Status | None = None) -> None:
        self.line_open = False
        self.status = status
        self.text: list[str] = []
        """The reply's tokens so far."""

    def show(self, event: WireEvent) -> None:
        data = event.data
        if self.status is not None and event.type != "metadata":
            self.status.clear()  # the reply has begun
        if event.type == "token":
            self.text.append(str(data))
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

    def end_line(self) -> None:
        if self.line_open:
            click.echo()
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
@click.argument("message", required=False)
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
@click.option("--system", default=None, help="A system message before the conversation.")
@click.option("--no-reconnect", is_flag=True, help="Fail at once when the connection drops.")
@click.option(
    "--backend", type=click.Choice(["asyncio", "trio"]), default="asyncio", show_default=True
)
def chat_command(
    message: str | None,
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

    MESSAGE ``-`` reads it from stdin. Without MESSAGE, in a terminal, chat: each line is
    sent with the conversation so far; Ctrl-C stops a reply, Ctrl-D or ``/exit`` leaves,
    ``/reset`` starts over. Tool calls the model makes and their results are printed as
    they happen, one line each.
    """
    if message is None and not sys.stdin.isatty():
        raise click.UsageError(
            "Missing argument 'MESSAGE' ('-' reads it from stdin; in a terminal, "
            "no MESSAGE starts a conversation)."
        )
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
    chosen: bool | list[str] | None = None
    if tools is not None:
        chosen = True if tools == "all" else [n.strip() for n in tools.split(",") if n.strip()]
    # Imported here: the CLI lists its commands without loading the HTTP stack.
    from ._client import AINativeClient

    def connect() -> AINativeClient:
        return AINativeClient(
            url,
            transport=transport.upper(),
            provider=provider,
            model=model,
            headers=sent_headers,
            reconnect=not no_reconnect,
            max_reconnect_attempts=3,
            reconnect_delay=0.2,
        )

    async def reply(text: str, history: list[dict[str, str]], printer: _Printer) -> None:
        """Stream the reply to ``text`` after ``history``, printing it."""
        async with connect() as client:
            request = client.request(text, tools=chosen, **extra)
            if history:
                request = request.model_copy(update={"context": {"messages": history}})
            async with aclosing(client.stream_events(request)) as events:
                async for received in events:
                    printer.show(received.event)

    system_turn = [{"role": "system", "content": system}] if system is not None else []
    if message is None:
        _converse(reply, system_turn, backend, url)
        return
    printer = _Printer(_Status())
    try:
        turn = partial(reply, message, system_turn, printer)
        anyio.run(_with_status, turn, printer, backend=backend)
    except AINativeError as exc:
        raise click.ClickException(_failure(exc, url)) from None
    printer.end_line()


Reply = Callable[[str, list[dict[str, str]], _Printer], Awaitable[None]]


def _failure(exc: AINativeError, url: str) -> str:
    if isinstance(exc, ConnectError):
        return f"cannot reach the ainative server at {url}: {exc}"
    return f"{type(exc).__name__}: {exc}"


async def _beside(
    work: Callable[[], Awaitable[None]], *helpers: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Run ``work`` with ``helpers`` running beside it until it ends; its error is raised
    as it is (not in an exception group)."""
    error: Exception | None = None
    async with anyio.create_task_group() as tg:
        for helper in helpers:
            tg.start_soon(helper)
        try:
            await work()
        except Exception as exc:
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error


async def _with_status(work: Callable[[], Awaitable[None]], printer: _Printer) -> None:
    """Run ``work`` with the printer's status line spinning until its first output."""
    status = printer.status
    if status is None or status.done:
        await work()
        return
    try:
        await _beside(work, status.spin)
    finally:
        status.clear()


async def _interruptible(work: Callable[[], Awaitable[None]], printer: _Printer) -> bool:
    """Run ``work`` (with the status line) until it ends or Ctrl-C stops it; True if
    stopped. Cancelling the reply's stream cancels its run on the server."""
    stopped = False
    with anyio.CancelScope() as scope:

        async def on_interrupt() -> None:
            nonlocal stopped
            try:
                with anyio.open_signal_receiver(signal.SIGINT) as signals:
                    async for _ in signals:
                        stopped = True
                        scope.cancel()
                        return
            except NotImplementedError:  # no signal handlers here: KeyboardInterrupt it is
                return

        await _beside(partial(_with_status, work, printer), on_interrupt)
    return stopped


def _read_line() -> str | None:
    """The next line typed at the prompt; None to leave (Ctrl-D, or Ctrl-C with nothing
    typed); ``""`` when Ctrl-C dropped what was typed."""
    try:
        return input(_PROMPT)
    except EOFError:
        click.echo()
        return None
    except KeyboardInterrupt:
        click.echo()
        typed = _readline_buffer()
        return "" if typed else None


def _readline_buffer() -> str:
    readline = sys.modules.get("readline")
    return str(readline.get_line_buffer()) if readline is not None else ""


def _converse(reply: Reply, system_turn: list[dict[str, str]], backend: str, url: str) -> None:
    """The interactive chat: a prompt, a streamed reply, the conversation kept."""
    with contextlib.suppress(ImportError):  # line editing and history for input()
        import readline  # noqa: F401
    history = list(system_turn)
    hint = "Chat with the server: Ctrl-C stops a reply, Ctrl-D or /exit leaves."
    click.echo(click.style(hint, dim=True), err=True)
    for _ in range(sys.maxsize):
        line = _read_line()
        if line is None:
            return
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return
        if text == "/reset":
            history = list(system_turn)
            click.echo(click.style("[the conversation starts over]", dim=True), err=True)
            continue
        printer = _Printer(_Status())
        try:
            turn = partial(reply, line, history, printer)
            stopped = anyio.run(_interruptible, turn, printer, backend=backend)
        except AINativeError as exc:
            printer.end_line()
            click.echo(f"Error: {_failure(exc, url)}", err=True)
            continue
        except KeyboardInterrupt:  # between the prompt and the stream's start
            stopped = True
        printer.end_line()
        if stopped:
            click.echo(click.style("[stopped]", dim=True), err=True)
        answer = "".join(printer.text)
        if answer:  # the turn as far as it was shown; one with no answer is not kept
            history += [
                {"role": "user", "content": line},
                {"role": "assistant", "content": answer},
            ]
