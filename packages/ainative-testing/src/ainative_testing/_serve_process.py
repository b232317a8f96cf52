"""``ainative serve`` in a subprocess, for end-to-end tests of the command and its plugins."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Final

__all__ = ["serve_process"]

_HOST: Final = "127.0.0.1"
_STOP_TIMEOUT: Final = 10.0
# Variables of the test process that must not reach the server: the sandbox's plugin
# settings (the server should load its plugins from entry points) and pytest's own.
_DROPPED_PREFIXES: Final = ("AINATIVE_", "PYTEST_")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(opener: urllib.request.OpenerDirector, url: str) -> bool:
    try:
        with opener.open(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def serve_process(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    executable: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    start_timeout: float = 30.0,
) -> Iterator[str]:
    """Run ``ainative serve --port <free port> *args`` and yield its base URL once healthy.

    The server gets this process's environment without ``AINATIVE_*`` and ``PYTEST_*``
    variables (so it loads its plugins from entry points), updated with ``env`` (a None value
    removes a variable). ``executable`` is the ``ainative`` script (default: the one next to
    this Python). The URL is yielded once ``GET /health`` answers 200 on 127.0.0.1; if the
    process exits first or ``start_timeout`` passes, `RuntimeError` carries its stderr. On
    exit the process is terminated, and killed if it does not stop within 10 s.
    """
    port = _free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    for key, value in (env or {}).items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    script = (
        Path(executable) if executable is not None else Path(sys.executable).parent / "ainative"
    )
    command = [str(script), "serve", "--port", str(port), *args]
    base = f"http://{_HOST}:{port}"
    # Loopback only: never through a proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            command, cwd=cwd, env=child_env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            deadline = time.monotonic() + start_timeout
            while not _healthy(opener, base + "/health"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    stderr.seek(0)
                    output = stderr.read().decode(errors="replace")
                    state = (
                        f"exited with {proc.returncode}"
                        if proc.poll() is not None
                        else (f"did not answer /health within {start_timeout:g} s")
                    )
                    raise RuntimeError(f"ainative serve {state}:\n{output}")
                time.sleep(0.05)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(_STOP_TIMEOUT)
