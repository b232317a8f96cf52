"""Every distribution declares what it imports, and pins ainative-core compatibly."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[2] / "packages"
# Import names whose distribution is named otherwise.
DISTRIBUTIONS = {"dotenv": "python-dotenv", "pydantic_settings": "pydantic-settings"}


def _requirement_names(project: dict[str, object]) -> set[str]:
    listed = list(project.get("dependencies", []))  # type: ignore[call-overload]
    for extra in dict(project.get("optional-dependencies", {})).values():  # type: ignore[call-overload]
        listed += extra
    return {re.split(r"[<>=!~\[; ]", item, maxsplit=1)[0].lower() for item in listed}


def _imports(source_root: Path) -> set[str]:
    found: set[str] = set()
    for path in source_root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    "package", sorted(p.parent.name for p in PACKAGES.glob("*/pyproject.toml"))
)
def test_a_distribution_declares_every_package_it_imports(package: str) -> None:
    root = PACKAGES / package
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = _requirement_names(project)
    own = {path.name for path in (root / "src").iterdir() if path.is_dir()}
    third_party = _imports(root / "src") - set(sys.stdlib_module_names) - own - {"__future__"}
    missing = sorted(
        name
        for name in third_party
        if DISTRIBUTIONS.get(name, name).lower().replace("_", "-") not in declared
    )
    assert missing == [], f"{project['name']} imports {missing} without declaring them"
    cores = [d for d in project.get("dependencies", []) if d.startswith("ainative-core")]
    assert cores == [] or re.fullmatch(r"ainative-core(==0\.1\.0|>=0\.1\.0,<0\.2)", cores[0])


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("import httpx\nfrom yaml import safe_load\n")
    assert _imports(tmp_path) == {"httpx", "yaml"}
    assert "httpx" not in _requirement_names({"dependencies": ["anyio>=4"]})
