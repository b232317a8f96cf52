"""Installed from the wheelhouse into fresh venvs, the distributions work as the README says.

``pip install --no-index --find-links dist "ainative[openai]"`` (real pip) gives a working
``ainative`` (serve, chat); ``ainative-client`` alone installs and chats; a scaffolded plugin
installs with the command ``ainative new-plugin`` prints and passes its own suite.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, pip_venv, run, uv, uv_venv

pytestmark = pytest.mark.slow

DISTRIBUTIONS = (
    "ainative",
    "ainative_anthropic",
    "ainative_client",
    "ainative_core",
    "ainative_ollama",
    "ainative_openai",
    "ainative_server",
    "ainative_testing",
)


@pytest.fixture(scope="module")
def full_venv(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ainative[openai]`` installed by pip with the README's command."""
    venv = pip_venv(tmp_path_factory.mktemp("full") / "venv")
    run(
        venv / "bin/pip", "install", "--quiet", "--no-index", "--find-links", wheelhouse,
        "ainative[openai]",
    )  # fmt: skip
    return venv


@pytest.fixture(scope="module")
def server_url(full_venv: Path) -> Iterator[str]:
    """``ainative serve --port 0`` from the full venv; the URL its banner names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AINATIVE_", "PYTEST_"))}
    env.pop("VIRTUAL_ENV", None)
    process = subprocess.Popen(
        [str(full_venv / "bin/ainative"), "serve", "--port", "0", "--no-page"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # written once the socket listens
        match = re.match(r"ainative serving on (http://127\.0\.0\.1:\d+) ", banner)
        assert match, f"no banner: {banner!r}"
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_every_wheel_carries_the_license(wheelhouse: Path) -> None:
    license_text = (REPO / "LICENSE").read_bytes()
    for name in DISTRIBUTIONS:
        [wheel] = wheelhouse.glob(f"{name}-0.1.0-py3-none-any.whl")
        with zipfile.ZipFile(wheel) as archive:
            assert archive.read(f"{name}-0.1.0.dist-info/licenses/LICENSE") == license_text
            metadata = archive.read(f"{name}-0.1.0.dist-info/METADATA").decode()
        assert "License-Expression: MIT" in metadata


def test_pip_installs_ainative_openai_from_the_wheelhouse_and_it_serves_and_chats(
    full_venv: Path, server_url: str
) -> None:
    assert run(full_venv / "bin/ainative", "--version").stdout.strip() == "ainative, version 0.1.0"
    # Ours, not PyPI's unrelated ainative-openai 0.1.0 (a module of the same name).
    shown = run(full_venv / "bin/pip", "show", "ainative-openai").stdout
    assert "Summary: ainative provider plugin for OpenAI" in shown
    plugins = run(full_venv / "bin/ainative", "plugins").stdout
    assert "providers: openai" in plugins
    chat = run(full_venv / "bin/ainative", "chat", "hello", "--url", server_url)
    assert chat.stdout.strip() == "hello"


def test_the_client_alone_installs_and_chats(
    wheelhouse: Path, server_url: str, tmp_path: Path
) -> None:
    venv = uv_venv(tmp_path / "venv")
    python = venv / "bin/python"
    run(
        uv(), "pip", "install", "-q", "--python", python, "--no-index", "--find-links",
        wheelhouse, "ainative-client",
    )  # fmt: skip
    code = (
        "import importlib.util, ainative_client\n"
        "assert importlib.util.find_spec('ainative_server') is None\n"
        "print(ainative_client.__name__)\n"
    )
    assert run(python, "-c", code).stdout.strip() == "ainative_client"
    assert run(venv / "bin/ainative", "--version").stdout.strip() == "ainative, version 0.1.0"
    for transport in ("sse", "ws"):
        chat = run(
            venv / "bin/ainative", "chat", "hello from the client", "--url", server_url,
            "--transport", transport,
        )  # fmt: skip
        assert chat.stdout.strip() == "hello from the client"


def test_a_scaffolded_plugin_installs_as_printed_and_passes_its_suite(
    wheelhouse: Path, full_venv: Path, tmp_path: Path
) -> None:
    # Run where the wheelhouse is ./dist, as after `nox -s wheels` in a checkout.
    created = run(full_venv / "bin/ainative", "new-plugin", "foo", cwd=wheelhouse.parent)
    [next_step] = [line for line in created.stdout.splitlines() if "next:" in line]
    match = re.fullmatch(r"\s*next: cd (\S+) && pip install (.+) && pytest", next_step)
    assert match, next_step
    root = wheelhouse.parent / match.group(1)
    args = shlex.split(match.group(2))
    assert args == ["--no-index", "--find-links", str(wheelhouse), "-e", ".[test]"]
    venv = uv_venv(tmp_path / "venv")
    run(uv(), "pip", "install", "-q", "--python", venv / "bin/python", *args, cwd=root)
    tested = run(venv / "bin/python", "-m", "pytest", "-p", "no:cacheprovider", cwd=root)
    summary = tested.stdout.strip().splitlines()[-1]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", summary)}
    assert counts.get("failed", 0) == 0, tested.stdout
    assert counts.get("error", 0) == 0, tested.stdout
    assert counts["passed"] >= 40, summary  # 19 conformance tests on each backend, and 2
