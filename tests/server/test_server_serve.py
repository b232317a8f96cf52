"""``ainative serve`` in a subprocess answers the seed's curl request, on both backends."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from ainative_testing import PluginSandbox, RedisServer, serve_process

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


@pytest.mark.slow
def test_serve_with_workers_shares_the_redis_store(redis_service: RedisServer) -> None:
    with serve_process("--workers", "2", "--store", redis_service.url) as base:
        for _ in range(4):  # whichever worker answers
            body = {"action": "chat", "params": {"message": "two workers"}}
            response = httpx.post(base + "/ai/stream", json=body, timeout=15)
            assert (
                "".join(
                    json.loads(line[6:])["data"]
                    for line in response.text.splitlines()
                    if line.startswith('data: {"type":"token"')
                )
                == "two workers"
            )
            sid = response.headers["x-ainative-stream-id"]
            replay = httpx.get(f"{base}/ai/stream/{sid}", timeout=15)  # any worker has it
            assert replay.status_code == 200
            assert replay.text.endswith("data: [DONE]\n\n")


def test_serve_refuses_workers_without_a_shared_store() -> None:
    with (
        pytest.raises(RuntimeError, match=r"exited with 2:(.|\n)*--workers needs a store"),
        serve_process("--workers", "2"),
    ):
        pass


def test_serve_with_an_unreachable_store_exits_with_one_line() -> None:
    port = free_port()  # nothing listens there
    result = subprocess.run(
        [str(SCRIPT), "serve", "--store", f"redis://127.0.0.1:{port}/0"],
        env={k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        f"Error: cannot reach the store redis://127.0.0.1:{port}/0: "
        f"Unable to establish a connection to 127.0.0.1:{port}"
    ]


def test_doctor_reports_the_store(
    server_plugins: PluginSandbox, redis_service: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ainative_core._cli import cli

    assert "store: memory" in CliRunner().invoke(cli, ["doctor"]).output
    monkeypatch.setenv("AINATIVE_STORE", redis_service.url)
    output = CliRunner().invoke(cli, ["doctor"]).output
    assert f"store: redis {redis_service.url} (Redis " in output
    assert "maxmemory-policy" in output
    monkeypatch.setenv("AINATIVE_STORE", "redis://127.0.0.1:1/0")
    output = CliRunner().invoke(cli, ["doctor"]).output
    assert "store: redis://127.0.0.1:1/0 UNAVAILABLE cannot reach the store" in output


@contextmanager
def serving_on_port_0(
    backend: str, **env: str
) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    """``ainative serve --port 0``: the process, the port its banner names, and the banner's
    lines. Terminated (then killed) on exit unless it ended."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")}
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", "0", "--backend", backend, "--no-page"],
        env={**environment, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline(), process.stdout.readline()]  # once it listens
        prefix = "ainative serving on http://127.0.0.1:"
        assert banner[0].startswith(prefix), banner
        yield process, int(banner[0][len(prefix) :].split(" ", 1)[0]), banner
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_on_port_0_names_the_bound_port_once_listening(backend: str) -> None:
    with serving_on_port_0(backend) as (process, port, banner):
        assert port > 0
        assert banner[1] == "Press Ctrl+C to quit\n"
        deadline = time.monotonic() + 30
        for _ in range(600):  # the socket accepts at once; the app answers once started
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None
                assert time.monotonic() < deadline, "no answer on the bound port"
                time.sleep(0.05)
        assert health.status_code == 200


def test_serve_on_a_port_in_use_ends_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(SCRIPT), "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    ("drain", "tokens", "reason"),
    [("10", 4, "stop"), ("0.3", 400, "cancelled")],
    ids=["finishes-within-the-drain", "cancelled-after-it"],
)
def test_sigterm_drains_open_streams_then_exits_cleanly(
    backend: str, drain: str, tokens: int, reason: str
) -> None:
    with serving_on_port_0(backend, AINATIVE_SHUTDOWN_DRAIN=drain) as (process, port, _):
        body = {"params": {"message": "x"}, "options": {"tokens": tokens, "delay": 0.1}}
        lines: list[str] = []
        url = f"http://127.0.0.1:{port}/ai/stream"
        with httpx.stream("POST", url, json=body, timeout=20) as response:
            signalled = False
            for line in response.iter_lines():
                lines.append(line)
                if not signalled and line.startswith("data:") and '"token"' in line:
                    process.send_signal(signal.SIGTERM)  # once the stream is under way
                    signalled = True
        returncode = process.wait(timeout=20)
        assert process.stderr is not None
        err = process.stderr.read()
    data = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert json.loads(data[-2])["data"]["finish_reason"] == reason
    assert returncode == 0
    assert "Traceback" not in err, err


def test_serve_an_app_of_yours_with_the_settings_of_its_env_file(tmp_path: Path) -> None:
    (tmp_path / "shouting.py").write_text(
        "from ainative_server import create_server\n"
        "\n"
        "server = create_server()\n"
        "\n"
        "\n"
        '@server.action("shout")\n'
        "async def shout(stream, request):\n"
        '    await stream.send_token(request.params["message"].upper())\n',
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text('AINATIVE_API_KEYS=["k-1"]\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")}
    with serve_process("shouting:server", env=env, cwd=tmp_path) as base:
        body = {"action": "shout", "params": {"message": "hi"}}
        refused = httpx.post(f"{base}/ai/stream", json=body, timeout=15)
        auth = {"Authorization": "Bearer k-1"}
        answered = httpx.post(f"{base}/ai/stream", json=body, headers=auth, timeout=15)
    assert refused.status_code == 401  # the key came from ./.env
    assert '{"type":"token","data":"HI"}' in answered.text


def test_serve_refuses_an_app_that_is_not_a_server(tmp_path: Path) -> None:
    (tmp_path / "notaserver.py").write_text("thing = 42\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")}
    done = subprocess.run(
        [str(SCRIPT), "serve", "notaserver:thing", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "'notaserver:thing' is a int, not an AINativeServer" in done.stderr


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(("setting", "seen"), [(None, "10000 frozen"), ("0", "700 not frozen")])
def test_serve_tunes_the_garbage_collector_unless_told_not_to(
    tmp_path: Path, backend: str, setting: str | None, seen: str
) -> None:
    (tmp_path / "collector.py").write_text(
        "import gc\n"
        "\n"
        "from ainative_server import create_server\n"
        "\n"
        "server = create_server()\n"
        "\n"
        "\n"
        '@server.action("gc")\n'
        "async def report(stream, request):\n"
        "    frozen = 'frozen' if gc.get_freeze_count() else 'not frozen'\n"
        "    await stream.send_token(f'{gc.get_threshold()[0]} {frozen}')\n",
        encoding="utf-8",
    )
    env = {"AINATIVE_GC_THRESHOLD": setting}
    with serve_process("collector:server", "--backend", backend, env=env, cwd=tmp_path) as base:
        answered = httpx.post(f"{base}/ai/stream", json={"action": "gc"}, timeout=15)
    assert json.dumps({"type": "token", "data": seen}, separators=(",", ":")) in answered.text
