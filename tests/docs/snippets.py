"""Extract the Python snippets of Markdown pages and run them.

Every ```` ```python ```` block of the README and of ``docs/`` is one of (an HTML comment
``<!-- docs: KIND -->`` just before the block says which; the reader does not see it):

- no comment: a complete program. It reads the server's URL from ``AINATIVE_URL`` (default
  ``http://127.0.0.1:8000``, what ``ainative serve`` binds) and is run as ``__main__``
  against a live loopback server: the app of the nearest ``app`` block above it on the same
  page, or else ``ainative serve``'s app on the echo provider.
- ``<!-- docs: app -->``: a program that builds an ASGI ``app`` (and serves it under
  ``if __name__ == "__main__":``). It is run under another module name, so it does not
  serve; its ``app`` is served on a loopback port for the programs after it.
- ``<!-- docs: test -->``: a pytest module; it is run by pytest in a child process.
- ``<!-- docs: fragment -->``: part of a program (a file of a plugin project, a method); it
  is compiled, not run.

A block with more than ``python`` in its info string, another tag that means Python (``py``,
``python3``), or a comment naming another kind fails the tests. The marker is a comment, not
a word of the info string, because the site's Markdown (pymdownx.superfences) would not
render ```` ```python app ```` as code. The parser is markdown-it-py's (CommonMark, so the
blocks found are the blocks a reader sees, inside lists and admonitions too).
``pytest-examples``, ``phmdoctest``, ``mktestdocs`` and ``pytest-markdown-docs`` were
considered: none pairs a block with a live server started by a fixture (per backend, or from
an ``app`` block of the same page), which is what these pages need.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from markdown_it import MarkdownIt

Kind = Literal["program", "app", "test", "fragment"]
KINDS: dict[str, Kind] = {
    "": "program",
    "app": "app",
    "test": "test",
    "fragment": "fragment",
}
PYTHON_TAGS = {"python", "py", "python3", "pycon"}
DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT = 60.0


class SnippetError(Exception):
    """A block that is not marked as one of the kinds, or a program that failed."""


@dataclass(frozen=True)
class Snippet:
    """One fenced Python block of a page."""

    path: Path
    line: int  # 1-based line of the opening fence
    kind: Kind
    code: str
    app: Snippet | None = None  # the ``python app`` block a program runs against

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    def backends(self) -> tuple[str, ...]:
        """The event loops the program runs on: both, unless it names one."""
        if re.search(r"\basyncio\.run\(", self.code):
            return ("asyncio",)
        if re.search(r"\btrio\.run\(", self.code):
            return ("trio",)
        return ("asyncio", "trio")


MARKER = re.compile(r"<!--\s*docs:\s*(\S+)\s*-->")


def extract(path: Path, text: str | None = None) -> list[Snippet]:
    """The Python blocks of a Markdown file, each program paired with its app block."""
    text = path.read_text() if text is None else text
    snippets: list[Snippet] = []
    app: Snippet | None = None
    previous = None
    for token in MarkdownIt("commonmark").parse(text):
        if token.type == "fence" and token.map is not None:
            tag = token.info.strip()
            if tag.split(" ", 1)[0] in PYTHON_TAGS:
                line = token.map[0] + 1
                if tag != "python":
                    raise SnippetError(
                        f"{path.name}:{line}: a Python block is ```python, marked by an "
                        f"<!-- docs: app|test|fragment --> comment when it is not a "
                        f"complete program; not ```{tag}"
                    )
                marker = ""
                if previous is not None and previous.type == "html_block":
                    found = MARKER.fullmatch(previous.content.strip())
                    if found:
                        marker = found[1]
                if marker not in KINDS:
                    raise SnippetError(f"{path.name}:{line}: unknown kind {marker!r}")
                kind = KINDS[marker]
                snippet = Snippet(
                    path, line, kind, token.content, app if kind == "program" else None
                )
                if kind == "app":
                    app = snippet
                snippets.append(snippet)
        if token.type in ("fence", "html_block", "paragraph_open", "heading_open"):
            previous = token
    return snippets


def compile_snippet(snippet: Snippet) -> Any:
    """The block's code object; a fragment may hold top-level ``await``."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if snippet.kind == "fragment" else 0
    return compile(snippet.code, snippet.where, "exec", flags=flags, dont_inherit=True)


@contextmanager
def _environment(url: str) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ["AINATIVE_URL"] = url
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _exec_bounded(code: Any, namespace: dict[str, Any], timeout: float) -> None:
    """Run ``code`` in a worker thread; its exception, or a timeout, is raised here."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            exec(code, namespace)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=target, name="docs-snippet", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise SnippetError(f"did not finish within {timeout:.0f} s")
    if failure:
        raise failure[0]


def load_app(snippet: Snippet) -> Any:
    """Run an ``app`` block as a module (not ``__main__``) and return its ``app``."""
    namespace: dict[str, Any] = {"__name__": "docs_app", "__file__": str(snippet.path)}
    _exec_bounded(compile_snippet(snippet), namespace, TIMEOUT)
    if "app" not in namespace:
        raise SnippetError(f"{snippet.where}: a ```python app block defines no `app`")
    return namespace["app"]


def run_program(snippet: Snippet, url: str, backend: str, timeout: float = TIMEOUT) -> None:
    """Run a program block as ``__main__`` with ``AINATIVE_URL=url``.

    ``anyio.run(main)`` runs on ``backend`` (the test's), as if the reader had written
    ``anyio.run(main, backend=...)``; ``asyncio.run`` and ``trio.run`` run as written.
    """
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(snippet.path)}
    code = compile_snippet(snippet)
    real_run = anyio.run
    anyio.run = functools.partial(real_run, backend=backend)  # type: ignore[assignment]
    try:
        with _environment(url):
            _exec_bounded(code, namespace, timeout)
    finally:
        anyio.run = real_run


def run_test_module(snippet: Snippet, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run a ``test`` block with pytest in a child process (plugins from entry points)."""
    module = tmp / f"test_{snippet.path.stem}_{snippet.line}.py"
    module.write_text(snippet.code)
    env = {k: v for k, v in os.environ.items() if k != "AINATIVE_DISABLE_PLUGIN_AUTOLOAD"}
    command = [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "--rootdir", str(tmp), str(module)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        check=False,
    )
