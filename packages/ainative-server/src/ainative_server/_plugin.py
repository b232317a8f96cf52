"""Plugin module of ainative-server: registers its pieces through the ainative hooks."""

from __future__ import annotations

from typing import Any

from ainative_core import hookimpl


@hookimpl
def ainative_register_transports(register: Any) -> None:
    register("sse", server="ainative_server._sse:SSETransport")
    register("ws", server="ainative_server._ws:WebSocketTransport")
    register("openai", server="ainative_server._openai_api:OpenAIAPI")
    register("ai-sdk", server="ainative_server._aisdk:UIMessageStreamTransport")
    register("ai-sdk-ws", server="ainative_server._aisdk_ws:UIMessageSocketTransport")
    register("ag-ui", server="ainative_server._agui:AGUITransport")


@hookimpl
def ainative_register_tools(register: Any) -> None:
    from ._builtin_tools import builtin_tools

    for tool in builtin_tools():
        register(tool)


@hookimpl
def ainative_register_settings(register: Any) -> None:
    from ._config import ServerConfig

    for field in ServerConfig.model_fields:
        register(f"AINATIVE_{field.upper()}")


@hookimpl
def ainative_register_commands(cli: Any) -> None:
    from ._serve import serve_command

    cli.add_command(serve_command)


@hookimpl
def ainative_doctor(report: Any) -> None:
    from ._serve import store_line

    report(store_line())
