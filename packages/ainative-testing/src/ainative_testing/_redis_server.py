"""A throwaway ``redis-server`` on a free loopback port, for tests of the Redis store.

``with redis_server() as redis:`` starts ``redis-server --port <free> --save '' --appendonly
no --bind 127.0.0.1`` (persistence off: nothing is written to disk) and stops it by its pid on
exit. ``redis.url`` is ``redis://127.0.0.1:<port>/0``; `RedisServer.stop` and `start` stop and
start it again on the same port (a Redis that goes away and comes back, empty).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Final, final

__all__ = ["RedisServer", "redis_server"]

_HOST: Final = "127.0.0.1"
_START_TIMEOUT: Final = 10.0
_STOP_TIMEOUT: Final = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@final
class RedisServer:
    """A ``redis-server`` process this test run started (see `redis_server`)."""

    def __init__(self, executable: str, port: int) -> None:
        self.executable = executable
        self.host = _HOST
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def __repr__(self) -> str:
        return f"<RedisServer {self.url} pid={self.pid}>"

    def start(self) -> None:
        """Start it (empty) and wait until it answers ``PING``; `RuntimeError` if it cannot."""
        if self.process is not None:
            raise RuntimeError("this redis-server is running already")
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (closed by stop)
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            _HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tempfile.gettempdir(),
        ]
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._log.seek(0)
                output = self._log.read().decode(errors="replace")
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{output}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 10 s); its data is gone."""
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(_STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None


@contextmanager
def redis_server(executable: str | None = None) -> Iterator[RedisServer]:
    """Run a ``redis-server`` for the block; `RuntimeError` when none is installed.

    ``executable`` defaults to ``redis-server`` on ``PATH`` (Debian: ``apt-get install
    redis-server``; it must not run as a system service for this).
    """
    found = executable or shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)"
        )
    server = RedisServer(found, _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
