"""``ainative chat``: a real subprocess against a live server, and against no server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ainative_testing import LiveServer

AINATIVE = str(Path(sys.executable).with_name("ainative"))


def run_chat(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AINATIVE_DISABLE_PLUGIN_AUTOLOAD"}
    env["AINATIVE_PLUGINS"] = "client"  # the installed client plugin only: a quick start-up
    return subprocess.run(
        [AINATIVE, "chat", *args], capture_output=True, text=True, timeout=60, env=env, check=False
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
