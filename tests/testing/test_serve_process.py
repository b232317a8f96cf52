"""serve_process runs ``ainative serve`` as a subprocess and stops it afterwards."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from ainative_testing import serve_process

pytestmark = pytest.mark.slow


def test_serves_the_echo_provider_and_stops_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Test settings of this process must not reach the server (plugins load normally).
    monkeypatch.setenv("AINATIVE_PLUGINS", "no-such-plugin")
    with serve_process("--provider", "echo", env={"AINATIVE_PROVIDERS": "{}"}) as base:
        assert base.startswith("http://127.0.0.1:")
        body = {"action": "chat", "params": {"message": "Hello served world"}}
        response = httpx.post(base + "/ai/stream", json=body, timeout=15)
        assert response.status_code == 200
        events = [
            json.loads(line[len("data: ") :])
            for line in response.text.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"
        ]
        tokens = "".join(str(e["data"]) for e in events if e["type"] == "token")
        assert tokens == "Hello served world"
    with pytest.raises(httpx.TransportError):
        httpx.get(base + "/health", timeout=2)


def test_a_server_that_cannot_start_raises_with_its_stderr() -> None:
    with (
        pytest.raises(RuntimeError, match=r"exited with 2:\n(.|\n)*--backend"),
        serve_process("--backend", "no-such-backend"),
    ):
        pass


def test_env_none_removes_a_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in for the ``ainative`` script that reports its environment and exits.
    script = tmp_path / "fake-ainative"
    script.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        "sys.stderr.write(repr(sorted(k for k in os.environ if k.startswith('X_'))))\n"
        "sys.exit(3)\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("X_KEEP", "1")
    monkeypatch.setenv("X_DROP", "1")
    with (
        pytest.raises(RuntimeError, match=r"exited with 3:\n\['X_ADD', 'X_KEEP'\]"),
        serve_process(executable=script, env={"X_DROP": None, "X_ADD": "2"}),
    ):
        pass
