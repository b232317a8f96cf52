"""``ainative chat``: a real subprocess against a live server, and against no server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import ainative_server._plugin
from ainative_server import ServerConfig, create_server
from ainative_testing import LiveServer, PluginSandbox, live_server

AINATIVE = str(Path(sys.executable).with_name("ainative"))


def run_chat(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "AINATIVE_DISABLE_PLUGIN_AUTOLOAD"}
    environment["AINATIVE_PLUGINS"] = "client"  # the installed client plugin only: quick
    environment.update(env or {})
    return subprocess.run(
        [AINATIVE, "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


@pytest.mark.parametrize("transport", ["sse", "ws", "auto"])
def test_chat_prints_the_reply(echo_servers: dict[str, LiveServer], transport: str) -> None:
    url = echo_servers["uvicorn"].base_url
    done = run_chat("Hello from the terminal", "--url", url, "--transport", transport)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hello from the terminal\n"


def test_chat_passes_provider_options_and_backend(echo_servers: dict[str, LiveServer]) -> None:
    url = echo_servers["hypercorn"].base_url
    done = run_chat("x", "--url", url, "-o", "tokens=3", "--backend", "trio", "-p", "echo")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "t0 t1 t2\n"


def test_chat_reports_a_server_error_in_one_line(echo_servers: dict[str, LiveServer]) -> None:
    done = run_chat("x", "--url", echo_servers["uvicorn"].base_url, "-p", "nope")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown provider 'nope'" in lines[0]


def test_chat_without_a_server_fails_in_one_line() -> None:
    import socket

    with socket.socket() as probe:  # a loopback port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run_chat("x", "--url", f"http://127.0.0.1:{port}")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"Error: cannot reach the ainative server at http://127.0.0.1:{port}"
    )


@pytest.mark.parametrize("backend", ["uvicorn", "hypercorn"])
def test_chat_shows_tool_calls_and_results_as_they_happen(
    echo_servers: dict[str, LiveServer], backend: str
) -> None:
    url = echo_servers[backend].base_url
    script = ("-o", "tool_call=calculate", "-o", 'tool_args={"expression": "6*7"}')
    done = run_chat("what is 6*7?", "--url", url, "--tools", "calculate", *script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        '[tool call] calculate({"expression": "6*7"})\n[tool result] calculate: 42\n42\n'
    )
    # Without --tools the server offers none: the call is the client's, and ends the stream.
    done = run_chat("what is 6*7?", "--url", url, *script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[stopped] the model called client tools: calculate"


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[LiveServer]:
    """An echo server that wants the key ``k-1``."""

    sandbox = PluginSandbox()
    sandbox.add_plugin(ainative_server._plugin, "server")
    server = create_server(ServerConfig(api_keys=["k-1"]), plugins=sandbox.plugins)
    with live_server(server.get_app()) as live:
        yield live


def test_chat_sends_the_api_key_from_the_option_or_the_environment(
    keyed_server: LiveServer,
) -> None:
    url = keyed_server.base_url
    refused = run_chat("hi", "--url", url)
    assert refused.returncode == 1
    assert refused.stderr == (
        "Error: HTTPStatusError: 401 Unauthorized: missing or invalid bearer token\n"
    )
    assert run_chat("hi", "--url", url, "--api-key", "k-1").stdout == "hi\n"
    assert run_chat("hi", "--url", url, env={"AINATIVE_API_KEY": "k-1"}).stdout == "hi\n"
    # -H sends any header: the key as a raw Authorization header too.
    assert run_chat("hi", "--url", url, "-H", "Authorization: Bearer k-1").stdout == "hi\n"


def test_chat_reads_the_message_from_stdin_with_a_system_message(
    echo_servers: dict[str, LiveServer],
) -> None:
    url = echo_servers["uvicorn"].base_url
    done = run_chat("-", "--url", url, "--system", "Be brief.", stdin="from a pipe")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "from a pipe\n"  # echo answers the last user message


def test_chat_refuses_a_url_without_a_scheme_at_once() -> None:
    done = run_chat("hi", "--url", "127.0.0.1:9")
    assert done.returncode == 2
    assert "'127.0.0.1:9' is not an http:// or https:// URL (try http://127.0.0.1:9)" in (
        done.stderr
    )
