"""Server processes: start on a free loopback port, wait until ready, measure, stop by pid."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, final

__all__ = ["CLOCK_TICKS", "ROOT", "STARTED", "ServerProcess", "free_port", "raise_fd_limit"]

ROOT: Final = Path(__file__).resolve().parent.parent
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
STARTED: Final[list[int]] = []
"""The pid of every server process started by this process, in order."""


def free_port() -> int:
    """A port the kernel considers free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file soft limit towards ``wanted``; returns the new limit.

    Children inherit it, so the servers started afterwards can hold as many sockets.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the runner dies, even if it is killed outright."""
    # Linux's PR_SET_PDEATHSIG (1); the stdlib has no binding, hence ctypes.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


@final
class ServerProcess:
    """One server under test in its own process (``python -m benchmarks._serve``).

    Use as a context manager: the process is always stopped by its pid on exit, errors included.
    ``command`` (with ``{port}`` in it) runs something else than a benchmark target, such as
    ``ainative serve``; ``env`` is added to the environment (a None value removes the
    variable); ``output`` takes the process's stdout and stderr (a chatty server's access
    log) instead of the runner's terminal.
    """

    def __init__(
        self,
        target: str,
        server: str = "uvicorn",
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str | None] | None = None,
        output: Path | None = None,
    ) -> None:
        self.target = target
        self.server = server
        self._command = list(command) if command is not None else None
        self._env = dict(env or {})
        self._output = output
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._clock_id: int | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("server not started")
        return self._proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> ServerProcess:
        """Start the process; `wait_ready` then waits until it accepts connections."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("AINATIVE_DISABLE_PLUGIN_AUTOLOAD", None)
        for name, value in self._env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        command = [sys.executable, "-m", "benchmarks._serve", self.target, str(self.port)]
        command.append(self.server)
        if self._command is not None:
            command = [part.replace("{port}", str(self.port)) for part in self._command]
        self._clock_id = None
        if self._output is None:
            self._proc = subprocess.Popen(command, cwd=ROOT, env=env, preexec_fn=_die_with_parent)
        else:
            with self._output.open("ab") as out:
                self._proc = subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                )
        STARTED.append(self._proc.pid)
        return self

    def wait_ready(self, timeout: float = 60.0, *, attempts: int = 3) -> ServerProcess:
        """Wait until the server answers HTTP; relaunch on another port if it exited at startup.

        Answers, not just accepts: ``ainative serve`` listens before its app has started (so
        that its banner names the bound port), and the kernel accepts connections meanwhile.

        (Another process on the machine may take the free port before the server binds it.)
        """
        proc = self._proc
        if proc is None:
            raise RuntimeError("server not started")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                if attempts > 1:
                    self._proc = None
                    self.port = free_port()
                    return self.launch().wait_ready(timeout, attempts=attempts - 1)
                raise RuntimeError(f"{self.target} server exited with {proc.returncode}")
            if _answers_http(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.target} server did not listen within {timeout} s")

    def start(self) -> ServerProcess:
        return self.launch().wait_ready()

    def stop(self, *, graceful: bool = True) -> None:
        """Stop the process by its pid: SIGTERM (unless not graceful), SIGKILL after 3 s."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if graceful:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=3)
                return
            except subprocess.TimeoutExpired:
                pass
        proc.kill()
        proc.wait(timeout=10)

    def cpu_seconds(self) -> float:
        """CPU time of the process so far (all threads), in nanosecond resolution.

        Read from the process's CPU-time clock (``clock_getcpuclockid``); where that is not
        available, utime + stime of ``/proc/<pid>/stat`` (clock ticks, 10 ms).
        """
        clock = self._clock()
        if clock is not None:
            try:
                return time.clock_gettime(clock)
            except OSError:
                pass
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        # The command name may contain spaces: fields are counted after its closing paren.
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def _clock(self) -> int | None:
        # The stdlib has no clock_getcpuclockid(pid); /proc only counts in 10 ms ticks, too
        # coarse for the short figures, hence libc through ctypes.
        if self._clock_id is None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                clock = ctypes.c_int()
                if libc.clock_getcpuclockid(self.pid, ctypes.byref(clock)) == 0:
                    self._clock_id = clock.value
            except (OSError, AttributeError):
                pass
        return self._clock_id

    def rss_bytes(self) -> int:
        """Resident set size (``VmRSS`` of ``/proc/<pid>/status``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _answers_http(port: int) -> bool:
    """Whether a server on ``port`` answers a ``GET /health`` with any HTTP status line."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False
