"""``ainative new-plugin`` scaffolds a provider plugin project that installs and works."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from ainative_core import ConfigurationError
from ainative_core._cli import cli
from ainative_core._scaffold import plugin_names, scaffold_plugin
from ainative_testing import live_server, serve_process

REPO = Path(__file__).resolve().parents[2]


def test_names_are_derived_from_the_plugin_name() -> None:
    names = plugin_names("my-llm")
    assert (names.provider, names.distribution, names.module, names.cls) == (
        "my-llm",
        "ainative-my-llm",
        "ainative_my_llm",
        "MyLlmProvider",
    )
    assert plugin_names("ainative-acme").provider == "acme"
    assert plugin_names("Acme_AI").module == "ainative_acme_ai"


@pytest.mark.parametrize("bad", ["", "1abc", "my llm", "x/y", "-x", "a--b", "ünï"])
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid plugin name"):
        plugin_names(bad)


def test_scaffold_writes_a_plugin_distribution(tmp_path: Path) -> None:
    root = scaffold_plugin("acme", tmp_path)
    assert root == tmp_path / "ainative-acme"
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "ainative-acme"
    assert pyproject["project"]["entry-points"]["ainative"] == {"acme": "ainative_acme._plugin"}
    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    assert "ainative-testing>=0.1.0,<0.2" in pyproject["project"]["optional-dependencies"]["test"]
    assert pyproject["project"]["dependencies"] == [
        "ainative-core>=0.1.0,<0.2",
        "anyio>=4.10",
        "httpx>=0.27",
    ]
    for path in root.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    provider = (root / "src/ainative_acme/_provider.py").read_text()
    assert "NotImplementedError" not in provider
    assert "class AcmeProvider(BaseProvider):" in provider
    assert "ACME_BASE_URL" in provider
    assert (
        "class FakeAcme(FakeUpstream[AcmeReply]):"
        in (root / "src/ainative_acme/testing.py").read_text()
    )
    conformance = (root / "tests/test_conformance.py").read_text()
    assert "class TestAcmeProviderConformance(ProviderConformance):" in conformance
    assert "def anyio_backend" in (root / "tests/conftest.py").read_text()
    assert (root / "src/ainative_acme/py.typed").exists()


def test_scaffolded_package_imports_its_provider_on_first_use(tmp_path: Path) -> None:
    root = scaffold_plugin("acme", tmp_path)
    code = (
        "import sys, ainative_acme._plugin\n"
        "assert 'ainative_acme._provider' not in sys.modules, 'provider imported at load'\n"
        "import ainative_acme\n"
        "assert 'AcmeProvider' in dir(ainative_acme)\n"
        "from ainative_acme import AcmeProvider\n"
        "assert 'ainative_acme._provider' in sys.modules\n"
        "assert AcmeProvider.name == 'acme'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_scaffold_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    scaffold_plugin("acme", tmp_path)
    with pytest.raises(ConfigurationError, match="not empty"):
        scaffold_plugin("acme", tmp_path)


def test_new_plugin_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", "acme", "--directory", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "created" in result.output
    # The next step names the wheelhouse to install from (this checkout's dist/).
    assert f'pip install --no-index --find-links {REPO / "dist"} -e ".[test]"' in result.output
    assert (tmp_path / "ainative-acme/src/ainative_acme/_plugin.py").exists()
    again = CliRunner().invoke(cli, ["new-plugin", "acme", "--directory", str(tmp_path)])
    assert again.exit_code != 0
    assert "not empty" in again.output


def run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith(("AINATIVE_", "PYTEST_"))}
    child.pop("VIRTUAL_ENV", None)
    child.update(env or {})
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=child,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load_fake(root: Path) -> ModuleType:
    """The scaffolded project's ``testing`` module (it needs ainative-core only)."""
    spec = importlib.util.spec_from_file_location(
        "acme_testing", root / "src/ainative_acme/testing.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.mark.slow
def test_scaffolded_project_passes_ruff_and_mypy_strict(tmp_path: Path) -> None:
    root = scaffold_plugin("acme", tmp_path)
    bindir = Path(sys.executable).parent
    for command in (("ruff", "check", "."), ("ruff", "format", "--check", ".")):
        checked = run(bindir / command[0], *command[1:], cwd=root)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # mypy reads the project's own configuration: strict, over src and tests.
    typed = run(bindir / "mypy", "--no-incremental", cwd=root)
    assert typed.returncode == 0, typed.stdout + typed.stderr
    assert "Success: no issues found in 7 source files" in typed.stdout


@pytest.mark.slow
def test_scaffolded_plugin_installs_lists_serves_and_passes_the_conformance_suite(
    tmp_path: Path,
) -> None:
    from uv import find_uv_bin

    uv = find_uv_bin()
    root = scaffold_plugin("acme", tmp_path)
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    created = run(uv, "venv", "-q", venv, "--python", sys.executable, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    installed = run(
        uv, "pip", "install", "-q", "--python", python,
        REPO / "packages/ainative-core", REPO / "packages/ainative-testing",
        REPO / "packages/ainative-server",
        "--editable", f"{root}[test]",
        cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr

    listed = run(venv / "bin/ainative", "plugins", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "acme  [ainative-acme 0.1.0]" in listed.stdout
    assert "providers: acme" in listed.stdout

    # As scaffolded, unmodified, the project passes the whole suite on asyncio and trio.
    passed = run(python, "-m", "pytest", "-v", "-p", "no:cacheprovider", cwd=root)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    on_asyncio = len(re.findall(r"\[[^\]]*asyncio[^\]]*\] PASSED", passed.stdout))
    on_trio = len(re.findall(r"\[[^\]]*trio[^\]]*\] PASSED", passed.stdout))
    assert on_asyncio == on_trio >= 19  # the whole suite, tools and errors included, twice
    assert "test_tool_call_assembly[trio] PASSED" in passed.stdout
    assert "test_tool_error_reaches_the_upstream[trio] PASSED" in passed.stdout
    assert "test_cancel_closes_stream[asyncio] PASSED" in passed.stdout

    # From the CLI and from a server, it streams what its backend (the fake) answers.
    fake = load_fake(root)
    upstream = fake.FakeAcme(fake.AcmeReply(text="Hello from acme"))
    with live_server(upstream) as backend:
        env = {"ACME_BASE_URL": backend.base_url}
        generated = run(venv / "bin/ainative", "generate", "Hi", "-p", "acme", cwd=root, env=env)
        assert generated.returncode == 0, generated.stderr
        assert generated.stdout.strip() == "Hello from acme"
        assert upstream.requests[-1].body["messages"][-1] == {"role": "user", "content": "Hi"}
        served = serve_once(venv / "bin/ainative", root, "Served by acme", env)
    assert served == "Hello from acme"


def serve_once(ainative: Path, cwd: Path, message: str, env: dict[str, str]) -> str:
    """Run ``ainative serve --provider acme``, stream one chat, return the joined tokens."""
    import httpx

    with serve_process(
        "--provider", "acme", executable=ainative, cwd=cwd, env={"VIRTUAL_ENV": None, **env}
    ) as base:
        body = {"action": "chat", "params": {"message": message}}
        response = httpx.post(f"{base}/ai/stream", json=body, timeout=15)
        assert response.status_code == 200, response.text
        events = [
            json.loads(line[len("data: ") :])
            for line in response.text.split("\n")
            if line.startswith("data: ") and line != "data: [DONE]"
        ]
        assert events[-1]["type"] == "done"
        return "".join(str(e["data"]) for e in events if e["type"] == "token")
