"""Developer tasks. The test matrix lives in tox.ini; these sessions call into it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


def _sync(session: nox.Session) -> None:
    """Install the locked workspace (all packages + dev tools) into this session's venv."""
    session.run_install(
        "uv",
        "sync",
        "--quiet",
        "--locked",
        "--all-packages",
        env={"UV_PROJECT_ENVIRONMENT": str(session.virtualenv.location)},
        external=True,
    )


def _tox(session: nox.Session, env: str) -> None:
    session.install("tox>=4.23", "tox-uv>=1.16")
    session.run("tox", "-e", env, "--", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (tox env `tests`); pass pytest options after `--`."""
    _tox(session, "tests")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check (tox env `lint`)."""
    _tox(session, "lint")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict (tox env `type`)."""
    _tox(session, "type")


_RAW_STREAM = """
import sys, httpx
body = {"action": "chat", "params": {"message": "hello world"}}
with httpx.stream("POST", sys.argv[1] + "/ai/stream", json=body) as response:
    for chunk in response.iter_text():
        sys.stdout.write(chunk)
        sys.stdout.flush()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@nox.session
def demo(session: nox.Session) -> None:
    """Start `ainative serve` on the echo provider and stream a reply from it, SSE then WS."""
    _sync(session)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    bindir = os.path.join(str(session.virtualenv.location), "bin")
    server = subprocess.Popen(
        [os.path.join(bindir, "ainative"), "serve", "--port", str(port), "--provider", "echo"]
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            session.error("the server did not start within 30 s")
        message = "Hello from ainative: tokens stream one by one"
        for transport in ("sse", "ws"):
            session.log(f"ainative chat over {transport.upper()} ({url})")
            session.run(
                "ainative",
                "chat",
                message,
                "--url",
                url,
                "--transport",
                transport,
                "-o",
                "delay=0.05",
            )
        session.log("the raw wire format (POST /ai/stream), as it arrives:")
        session.run("python", "-c", _RAW_STREAM, url)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site strictly into site/ (`-- serve`: serve it on 127.0.0.1:8000)."""
    _sync(session)
    env = {"NO_MKDOCS_2_WARNING": "1"}
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", "--dev-addr", "127.0.0.1:8000", env=env)
    else:
        session.run("mkdocs", "build", "--strict", env=env)


@nox.session
def wheels(session: nox.Session) -> None:
    """A wheelhouse in dist/: the 8 distributions' wheels and, locked, everything they need.

    Install from it with `pip install --no-index --find-links dist "ainative[openai]"`.
    `--no-index` matters: PyPI has an unrelated `ainative-openai` 0.1.0 whose wheel has the
    same name as ours, and pip, given both, installs that one. The third-party wheels are the
    locked versions (uv.lock, hashes checked) for the Python and platform running this
    session; hatchling and editables are there for `pip install -e` of a plugin project.
    """
    dist = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dist")
    os.makedirs(dist, exist_ok=True)
    for name in os.listdir(dist):
        if name.endswith(".whl"):
            os.remove(os.path.join(dist, name))
    session.run("uv", "build", "--all-packages", "--wheel", "--out-dir", dist, external=True)
    locked = os.path.join(session.create_tmp(), "locked.txt")
    session.run(
        "uv",
        "export",
        "--quiet",
        "--locked",
        "--all-packages",
        "--all-extras",
        "--no-dev",
        "--no-emit-workspace",
        "--output-file",
        locked,
        external=True,
    )
    session.install("pip")
    download = ("python", "-m", "pip", "download", "--quiet", "--only-binary", ":all:")
    session.run(*download, "--dest", dist, "--requirement", locked)
    session.run(*download, "--dest", dist, "hatchling>=1.25", "editables>=0.3")
    wheels = [name for name in os.listdir(dist) if name.endswith(".whl")]
    session.log(f"wheelhouse: {dist} ({len(wheels)} wheels)")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with the peers; writes docs/benchmarks.md (`-- --smoke`: tiny)."""
    _sync(session)
    session.run("python", "benchmarks/run.py", *session.posargs)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run with: nox -s <session>")


@nox.session
def screenshot(session: nox.Session) -> None:
    """The chat page in Debian's Chromium; writes docs/images/chat.png."""
    _sync(session)
    session.run("bash", ".ci/install-browser", external=True)
    session.run("python", "-m", "browser.screenshot", env={"PYTHONPATH": "tests"})
