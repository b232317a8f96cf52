"""``ainative serve`` in a subprocess answers the seed's curl request, on both backends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

SCRIPT = Path(sys.executable).parent / "ainative"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_answers_the_curl_request_with_the_seed_format(backend: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")}
    args = [str(SCRIPT), "serve", "--backend", backend]
    if backend == "asyncio":
        args += ["--port", str(port)]
    else:
        env["AINATIVE_PORT"] = str(port)  # the port from the environment
    process = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "ainative serve did not start"
            time.sleep(0.05)
        response = httpx.post(
            f"{base}/ai/stream",
            content=b'{"action":"chat","params":{"message":"hello world"}}',
            headers={"content-type": "application/json"},
            timeout=10,
        )
    finally:
        process.terminate()
        try:
            out, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
    sid = response.headers["x-ainative-stream-id"]
    assert response.text == (
        "retry: 1000\n"
        f'id: 1\ndata: {{"type":"metadata","data":{{"stream_id":"{sid}",'
        '"provider":"echo","model":"echo"}}\n\n'
        'id: 2\ndata: {"type":"token","data":"hello"}\n\n'
        'id: 3\ndata: {"type":"token","data":" world"}\n\n'
        'id: 4\ndata: {"type":"done","data":{"finish_reason":"stop",'
        '"usage":{"input_tokens":2,"output_tokens":2}}}\n\n'
        "data: [DONE]\n\n"
    )
    server = "uvicorn" if backend == "asyncio" else "hypercorn"
    assert f"ainative serving on {base} (provider echo, {server} on {backend})" in out.decode()


def test_serve_is_a_command_the_plugin_adds() -> None:
    import click

    import ainative_server._plugin as plugin

    group = click.Group()
    plugin.ainative_register_commands(group)
    result = CliRunner().invoke(group, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--backend [asyncio|trio]" in result.output


def test_serve_with_an_unknown_provider_ends_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")}
    done = subprocess.run(
        [str(SCRIPT), "serve", "--port", str(free_port()), "--provider", "opena1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: cannot serve: unknown provider 'opena1'; installed: ")
