"""The ``ainative`` command line's core commands."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ainative_core import __version__, parse_options
from ainative_core._cli import cli
from ainative_testing import FakeProvider, PluginSandbox


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_generate_streams_echo(ainative_plugins: PluginSandbox, backend: str) -> None:
    result = CliRunner().invoke(cli, ["generate", "Hello brave world", "--backend", backend])
    assert result.exit_code == 0, result.output
    assert result.output == "Hello brave world\n"


def test_generate_passes_options_to_the_provider(ainative_plugins: PluginSandbox) -> None:
    result = CliRunner().invoke(cli, ["generate", "x", "-o", "tokens=3", "-o", "max_tokens=2"])
    assert result.output == "t0 t1\n"


def test_generate_unknown_provider_is_one_clear_line(ainative_plugins: PluginSandbox) -> None:
    result = CliRunner().invoke(cli, ["generate", "x", "--provider", "ech"])
    assert result.exit_code == 1
    assert "unknown provider 'ech'; installed: echo; did you mean 'echo'?" in result.output
    assert "Traceback" not in result.output


def test_generate_reports_a_provider_error_event(ainative_plugins: PluginSandbox) -> None:
    from ainative_core import ProviderUnavailable

    ainative_plugins.add_provider("flaky", FakeProvider(fail_before=ProviderUnavailable("down")))
    result = CliRunner().invoke(cli, ["generate", "x", "--provider", "flaky"])
    assert result.exit_code == 1
    assert "Error: down" in result.output


def test_plugins_lists_echo_with_its_registrations(ainative_plugins: PluginSandbox) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    report = json.loads(result.output)
    assert report["plugins"][0]["name"] == "echo"
    assert report["plugins"][0]["providers"] == ["echo"]
    assert report["broken"] == []


def test_doctor_reports_backends_and_plugins(ainative_plugins: PluginSandbox) -> None:
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0
    assert "backend asyncio: available" in result.output
    assert "backend trio: available" in result.output
    assert "plugin echo" in result.output


def test_parse_options_reads_json_values() -> None:
    assert parse_options(("a=1", "b=0.5", "c=true", "d=text", "e=[1]")) == {
        "a": 1,
        "b": 0.5,
        "c": True,
        "d": "text",
        "e": [1],
    }


def test_python_dash_m_ainative_is_the_command() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "ainative", "--version"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, f"ainative, version {__version__}\n")
