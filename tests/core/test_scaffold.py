"""``ainative new-plugin`` scaffolds a provider plugin project that installs and works."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from ainative_core import ConfigurationError
from ainative_core._cli import cli
from ainative_core._scaffold import plugin_names, scaffold_plugin
from ainative_testing import serve_process

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
    assert pyproject["project"]["dependencies"] == ["ainative-core>=0.1.0,<0.2"]
    for path in root.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    provider = (root / "src/ainative_acme/_provider.py").read_text()
    assert "raise NotImplementedError" in provider
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
    assert (tmp_path / "ainative-acme/src/ainative_acme/_plugin.py").exists()
    again = CliRunner().invoke(cli, ["new-plugin", "acme", "--directory", str(tmp_path)])
    assert again.exit_code != 0
    assert "not empty" in again.output


# A small working provider written into the scaffolded project: it streams the user's
# message word by word and, driven by its settings, calls a tool or fails.
WORKING_PROVIDER = """
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import anyio

from ainative_core import (
    BaseProvider, GenerateRequest, ProviderAuthError, ProviderRateLimited,
    ProviderUnavailable, StreamEvent, Usage,
)

_ERRORS = {
    "auth_error": lambda: ProviderAuthError("bad key"),
    "rate_limited": lambda: ProviderRateLimited("slow down", retry_after=2.0),
    "unavailable": lambda: ProviderUnavailable("down"),
}


RECEIVED: list[GenerateRequest] = []


class AcmeProvider(BaseProvider):
    name = "acme"

    def __init__(self, *, delay: float = 0.0, tools: list[tuple[str, str]] | None = None,
                 fail: str | None = None, **_settings: Any) -> None:
        self.delay, self.tools, self.fail = delay, tools or [], fail

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        RECEIVED.append(request)  # stands for the requests an upstream received
        return self._run(request)

    async def _run(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        if self.fail:
            raise _ERRORS[self.fail]()
        text = [m for m in request.messages if m.role == "user"][-1].content
        usage = Usage(input_tokens=len(text.split()), output_tokens=1)
        if self.tools:
            for n, (name, arguments) in enumerate(self.tools):
                yield StreamEvent.tool_call_start(f"call_{n}", name, index=n)
                yield StreamEvent.tool_call_delta(f"call_{n}", arguments, index=n)
                yield StreamEvent.tool_call_end(f"call_{n}", index=n)
            yield StreamEvent.finish("tool_call", usage=usage)
            return
        words = re.findall(r"\\s*\\S+", text)
        for word in words:
            await anyio.sleep(self.delay)
            yield StreamEvent.text_delta(word)
        usage = Usage(input_tokens=len(words), output_tokens=len(words))
        yield StreamEvent.usage_report(usage)
        yield StreamEvent.finish("stop", usage=usage)
"""

WORKING_FACTORY = """
        def make(scenario: Scenario) -> AcmeProvider:
            if scenario.name == "slow":
                return AcmeProvider(delay=scenario.token_delay)
            if scenario.name == "tool_call":
                return AcmeProvider(tools=[(scenario.tool_name, scenario.tool_arguments)])
            if scenario.name == "parallel_tool_calls":
                return AcmeProvider(tools=[(c.name, c.arguments) for c in scenario.tool_calls()])
            if scenario.name in ("auth_error", "rate_limited", "unavailable"):
                return AcmeProvider(fail=scenario.name)
            return AcmeProvider()
"""


WORKING_HOOK = """
        from ainative_acme._provider import RECEIVED

        messages = RECEIVED[-1].messages
        return [(m.tool_call_id or "", m.content) for m in messages if m.role == "tool"]
"""


def run(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AINATIVE_", "PYTEST_"))}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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

    # As scaffolded, the provider raises NotImplementedError on purpose: the suite says so.
    skeleton = run(python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", cwd=root)
    assert skeleton.returncode == 1, skeleton.stdout
    assert "NotImplementedError" in skeleton.stdout

    # Written, it streams from the CLI and passes the whole suite on asyncio and trio.
    (root / "src/ainative_acme/_provider.py").write_text(WORKING_PROVIDER)
    tests = root / "tests/test_conformance.py"
    source = tests.read_text()
    start = source.index("        def make(")
    end = source.index("        return make")
    source = source[:start] + WORKING_FACTORY.lstrip("\n") + "\n" + source[end:]
    hook = "        return super().upstream_tool_results()\n"
    assert hook in source
    tests.write_text(source.replace(hook, WORKING_HOOK.lstrip("\n")))

    generated = run(venv / "bin/ainative", "generate", "Hello from acme", "-p", "acme", cwd=root)
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.strip() == "Hello from acme"

    passed = run(python, "-m", "pytest", "-v", "-p", "no:cacheprovider", cwd=root)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    on_asyncio = len(re.findall(r"\[[^\]]*asyncio[^\]]*\] PASSED", passed.stdout))
    on_trio = len(re.findall(r"\[[^\]]*trio[^\]]*\] PASSED", passed.stdout))
    assert on_asyncio == on_trio >= 15  # the whole suite, tools and errors included, twice
    assert "test_tool_call_assembly[trio] PASSED" in passed.stdout
    assert "test_tool_error_reaches_the_upstream[trio] PASSED" in passed.stdout

    served = serve_once(venv / "bin/ainative", root, "Served by acme")
    assert served == "Served by acme"


def serve_once(ainative: Path, cwd: Path, message: str) -> str:
    """Run ``ainative serve --provider acme``, stream one chat, return the joined tokens."""
    import httpx

    with serve_process(
        "--provider", "acme", executable=ainative, cwd=cwd, env={"VIRTUAL_ENV": None}
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
