"""Where ainative's wheels are to be installed from, for the install commands ainative prints.

The distributions are installed from a wheelhouse: the ``dist/`` that ``nox -s wheels``
fills in a checkout with their wheels and every wheel they need. It is installed with
``pip install --no-index --find-links DIST ...``: without ``--no-index`` pip may take a
distribution of the same name and version from PyPI over the local one (PyPI has an
unrelated ``ainative-openai`` 0.1.0). `install_command` names the wheelhouse found: a
``dist/`` in the working directory that holds ainative-core's wheel, else the ``dist/`` of
the checkout ainative runs from.
"""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = ["install_command", "wheelhouse", "wheelhouse_note"]


def _checkout() -> Path | None:
    """The checkout ainative-core runs from (``packages/ainative-core/src/...``), if it does."""
    here = Path(__file__).resolve()
    if len(here.parents) < 5:
        return None
    root = here.parents[4]
    if (root / "packages" / "ainative-core" / "src" / "ainative_core" / here.name).exists():
        return root
    return None


def wheelhouse() -> Path | None:
    """``./dist`` if it holds ainative-core's wheel, else a checkout's ``dist/``, else None.

    A checkout's ``dist/`` is returned even before ``nox -s wheels`` has filled it.
    """
    here = Path.cwd() / "dist"
    if any(here.glob("ainative_core-*.whl")):
        return here
    root = _checkout()
    return None if root is None else root / "dist"


def install_command(*requirements: str, editable: bool = False, note: bool = True) -> str:
    """The pip command that installs ``requirements`` from the wheelhouse.

    ``editable`` installs the first requirement in development mode (``-e``). Where no
    wheelhouse is found, ``DIST`` stands for it; unless ``note`` is false, the command then
    ends with `wheelhouse_note` (say it once after several commands).
    """
    found = wheelhouse()
    where = "DIST" if found is None else shlex.quote(str(found))
    args = [f'"{r}"' if "[" in r else r for r in requirements]
    if editable and args:
        args[0] = f"-e {args[0]}"
    command = f"pip install --no-index --find-links {where} {' '.join(args)}"
    extra = wheelhouse_note() if note else ""
    return f"{command} ({extra})" if extra else command


def wheelhouse_note() -> str:
    """What the commands of `install_command` need first, if anything: '' when the
    wheelhouse holds the wheels."""
    found = wheelhouse()
    if found is None:
        return "DIST: the dist/ that `nox -s wheels` fills in an ainative checkout"
    if not any(found.glob("ainative_core-*.whl")):
        return f"after `nox -s wheels` in {found.parent}"
    return ""
