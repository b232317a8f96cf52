"""lazy_exports: a package's names are imported from their modules on first access only."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

INITS = {
    "explicit table": (
        "from ainative_core import lazy_exports\n"
        "__all__ = ['Heavy']\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'Heavy': '._heavy'})\n"
    ),
    "table from the TYPE_CHECKING imports": (
        "from typing import TYPE_CHECKING\n"
        "from ainative_core import lazy_exports\n"
        "if TYPE_CHECKING:\n"
        "    from ._heavy import Heavy as Heavy\n"
        "__all__ = ['Heavy']\n"
        "if not TYPE_CHECKING:\n"
        "    __getattr__, __dir__ = lazy_exports(__name__)\n"
    ),
}


@pytest.fixture(params=sorted(INITS))
def lazy_pkg(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    pkg = tmp_path / "lazy_demo_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(INITS[request.param])
    (pkg / "_heavy.py").write_text("class Heavy:\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "lazy_demo_pkg"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("lazy_demo_pkg")]:
            del sys.modules[name]


def test_names_load_on_first_access_and_are_cached(lazy_pkg: str) -> None:
    import importlib

    module = importlib.import_module(lazy_pkg)
    assert f"{lazy_pkg}._heavy" not in sys.modules
    assert "Heavy" in dir(module)
    heavy = module.Heavy
    assert f"{lazy_pkg}._heavy" in sys.modules
    assert vars(module)["Heavy"] is heavy
    with pytest.raises(AttributeError, match="has no attribute 'Light'"):
        _ = module.Light


def test_the_table_is_the_type_checking_imports(tmp_path: Path) -> None:
    from ainative_core._lazy import type_checking_imports

    source = tmp_path / "init.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ._eager import Eager as Eager\n"
        "if TYPE_CHECKING:\n"
        "    from ._a import A as A\n"
        "    from ._b import B as B, b as b\n"
        "    from other_package import Far as Far\n"
        "    from .._up import Up as Up\n"
    )
    assert type_checking_imports(source) == {
        "A": "._a",
        "B": "._b",
        "b": "._b",
        "Far": "other_package",
        "Up": ".._up",
    }
