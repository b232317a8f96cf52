"""Plugin module of ainative-client: the client halves of the sse and ws transports, and
the ``chat`` command, registered through the same hooks as any third-party plugin."""

from __future__ import annotations

from typing import Any

from ainative_core import hookimpl


@hookimpl
def ainative_register_transports(register: Any) -> None:
    register("sse", client="ainative_client._sse:SSEClientTransport")
    register("ws", client="ainative_client._ws:WSClientTransport")


@hookimpl
def ainative_register_commands(cli: Any) -> None:
    from ._chat import chat_command

    cli.add_command(chat_command)
