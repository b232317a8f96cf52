"""The reference pages: every public name in the API reference, generated pages current."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ainative_server import ServerConfig

from .reference import CLI_PAGE, CONFIG_PAGE, ERRORS_PAGE, command_group, error_classes, pages

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "ainative",
    "ainative.server",
    "ainative.streaming",
    "ainative.tools",
    "ainative_core",
    "ainative_client",
    "ainative_server",
    "ainative_openai",
    "ainative_anthropic",
    "ainative_ollama",
    "ainative_testing",
]


def inventory_names(path: Path) -> set[str]:
    """The object names of a Sphinx ``objects.inv`` (four header lines, then zlib)."""
    header, _, body = path.read_bytes().partition(b"zlib.\n")
    assert header.startswith(b"# Sphinx inventory version 2"), header[:40]
    lines = zlib.decompress(body).decode().splitlines()
    return {line.split(" ", 1)[0] for line in lines if line}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as ``mkdocs build --strict`` writes it (a warning or broken link fails)."""
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [str(Path(sys.executable).with_name("mkdocs")), "build", "--strict", "-q", "-d", out],
        cwd=ROOT,
        check=True,
        timeout=300,
        env={"PATH": str(Path(sys.executable).parent), "NO_MKDOCS_2_WARNING": "1"},
    )
    return out


@pytest.mark.parametrize("module", MODULES)
def test_the_reference_lists_every_name_of_all(site: Path, module: str) -> None:
    names = inventory_names(site / "objects.inv")
    public = importlib.import_module(module).__all__
    assert public, module
    missing = [name for name in public if f"{module}.{name}" not in names]
    assert missing == [], f"{module}: not in the API reference: {missing}"


def test_the_inventory_reader_sees_a_missing_name(site: Path) -> None:
    names = inventory_names(site / "objects.inv")
    assert "ainative_core.AINativeError" in names
    assert "ainative_core.NoSuchName" not in names


def test_generated_pages_are_current() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AINATIVE_DISABLE_PLUGIN_AUTOLOAD"}
    checked = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("reference.py")), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_config_page_is_made_from_the_fields() -> None:
    fresh = pages()
    assert set(fresh) == {CLI_PAGE, CONFIG_PAGE, ERRORS_PAGE}
    assert fresh[CONFIG_PAGE] == CONFIG_PAGE.read_text()
    assert "| `resume_grace` | `AINATIVE_RESUME_GRACE` | `float` | `15.0` |" in fresh[CONFIG_PAGE]


def test_the_cli_page_has_every_command_and_option() -> None:
    text = CLI_PAGE.read_text()
    group = command_group()
    assert {"serve", "chat", "generate", "plugins", "doctor"} <= set(group.commands)
    for name, command in group.commands.items():
        assert f"## `ainative {name}`" in text
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in text, (name, opt)


def test_the_config_page_has_every_field_and_variable() -> None:
    text = CONFIG_PAGE.read_text()
    for name in ServerConfig.model_fields:
        assert f"| `{name}` | `AINATIVE_{name.upper()}` |" in text


def test_the_errors_page_has_every_exception_and_code() -> None:
    text = ERRORS_PAGE.read_text()
    classes = error_classes()
    assert len(classes) > 40
    for cls in classes:
        assert f"[`{cls.__name__}`]" in text
        assert f"| `{cls.code}` | {cls.status} |" in text
