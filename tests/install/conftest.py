"""The wheelhouse, built once per session as ``nox -s wheels`` builds it, and fresh venvs.

The wheelhouse is a directory named ``dist`` (in a temporary one): our 8 wheels from ``uv
build``, and the locked third-party wheels, hatchling and editables from ``pip download``.
Every command runs with an environment free of ``AINATIVE_*``, ``PYTEST_*`` and
``VIRTUAL_ENV``, so that a venv's ``ainative`` loads the plugins installed in it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(
    *args: str | Path, cwd: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end (within ``timeout``); its output is kept for the asserts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AINATIVE_", "PYTEST_"))}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def uv() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("wheelhouse") / "dist"
    run(uv(), "build", "--all-packages", "--wheel", "--out-dir", dist, "-q", cwd=REPO)
    locked = dist.parent / "locked.txt"
    run(
        uv(), "export", "--quiet", "--locked", "--all-packages", "--all-extras", "--no-dev",
        "--no-emit-workspace", "--output-file", locked, cwd=REPO,
    )  # fmt: skip
    pip = pip_venv(dist.parent / "download") / "bin" / "pip"
    download = (pip, "download", "--quiet", "--only-binary", ":all:", "--dest", dist)
    run(*download, "--requirement", locked)
    run(*download, "hatchling>=1.25", "editables>=0.3")
    return dist


def pip_venv(path: Path) -> Path:
    """A fresh venv with pip (the standard library's ``venv``), for what pip itself must do."""
    run(sys.executable, "-m", "venv", path)
    return path


def uv_venv(path: Path) -> Path:
    """A fresh venv without pip, for installs where pip is not the point (``uv pip``)."""
    run(uv(), "venv", "-q", path, "--python", sys.executable)
    return path
