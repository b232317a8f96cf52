"""Every Python block of the README and of docs/ runs (or is marked as a fragment).

The blocks are extracted from the Markdown files themselves (see ``snippets.py`` for the
markers), so a page cannot drift from the code: a program that raises, fails an
``assert`` or warns (warnings are errors) fails its test here, on asyncio and on trio.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import ainative_client._plugin as client_plugin
import ainative_server._plugin as server_plugin
from ainative import ServerConfig, create_app
from ainative_core import StreamEvent, Usage
from ainative_testing import (
    FakeProvider,
    LiveServer,
    PluginSandbox,
    ScriptedProvider,
    ServerBackend,
    live_server,
)

from .snippets import (
    Snippet,
    SnippetError,
    compile_snippet,
    extract,
    load_app,
    run_program,
    run_test_module,
)

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SNIPPETS = [snippet for page in PAGES for snippet in extract(page)]


def _cases(*kinds: str) -> list[Any]:
    cases = []
    for snippet in SNIPPETS:
        if snippet.kind not in kinds:
            continue
        backends = snippet.backends() if snippet.kind == "program" else ("asyncio", "trio")
        for backend in backends:
            cases.append(pytest.param(snippet, backend, id=f"{snippet.where}-{backend}"))
    return cases


def server_backend(backend: str) -> ServerBackend:
    return "uvicorn" if backend == "asyncio" else "hypercorn"


def stand_ins() -> PluginSandbox:
    """``ainative serve``'s plugins, with stand-ins for the vendors the pages name.

    ``anthropic`` answers every request with a ``get_weather`` tool call (the OpenAI API
    page's tool example); ``ollama`` is a `FakeProvider` (its model list).
    """
    sandbox = PluginSandbox()
    sandbox.add_plugin(server_plugin, name="server")
    sandbox.add_plugin(client_plugin, name="client")
    script = [
        StreamEvent.tool_call_start("toolu_1", "get_weather"),
        StreamEvent.tool_call_delta("toolu_1", '{"city": '),
        StreamEvent.tool_call_delta("toolu_1", '"Paris"}'),
        StreamEvent.tool_call_end("toolu_1"),
        StreamEvent.finish("tool_call", usage=Usage(input_tokens=5, output_tokens=7)),
    ]
    sandbox.add_provider("anthropic", ScriptedProvider(script))
    sandbox.add_provider("ollama", FakeProvider())
    return sandbox


@pytest.fixture(scope="module")
def default_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, LiveServer]]:
    """One ``ainative serve`` app per backend for the module (uvicorn or Hypercorn).

    Parametrized indirectly with the backend's name; pytest orders the tests so that each
    backend's server starts once.
    """
    backend = str(request.param)
    app = create_app(ServerConfig(), plugins=stand_ins().plugins)
    with live_server(app, backend=server_backend(backend)) as server:
        yield backend, server


@pytest.fixture
def url_for(default_server: tuple[str, LiveServer], docs_plugins: PluginSandbox) -> Iterator[Any]:
    """``url_for(snippet)``: where a program runs, serving its app block if it has one."""
    backend, server = default_server
    stack: list[Any] = []

    def url_for(snippet: Snippet) -> str:
        if snippet.app is None:
            return server.base_url
        manager = live_server(load_app(snippet.app), backend=server_backend(backend))
        stack.append(manager)
        return str(manager.__enter__().base_url)

    yield url_for
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def test_snippets_were_found() -> None:
    kinds = {snippet.kind for snippet in SNIPPETS}
    assert kinds == {"program", "app", "test", "fragment"}
    pages = {snippet.path for snippet in SNIPPETS}
    assert {ROOT / "README.md", ROOT / "docs" / "client.md"} <= pages


@pytest.mark.parametrize(
    ("snippet", "default_server"), _cases("program"), indirect=["default_server"]
)
def test_program(snippet: Snippet, default_server: tuple[str, LiveServer], url_for: Any) -> None:
    run_program(snippet, url_for(snippet), default_server[0])


@pytest.mark.parametrize(("snippet", "default_server"), _cases("app"), indirect=["default_server"])
def test_app_block_serves(
    snippet: Snippet, default_server: tuple[str, LiveServer], docs_plugins: PluginSandbox
) -> None:
    """An app block builds an app that starts, answers and stops on the backend's server."""
    app = load_app(snippet)
    with live_server(app, backend=server_backend(default_server[0])) as server:
        response = httpx.get(f"{server.base_url}/health", timeout=10)
    assert response.status_code in (200, 404), response.text  # 404: an app without /health


@pytest.mark.parametrize(
    "snippet", [s for s in SNIPPETS if s.kind == "test"], ids=lambda s: s.where
)
def test_test_block_passes(snippet: Snippet, tmp_path: Path) -> None:
    result = run_test_module(snippet, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


@pytest.mark.parametrize(
    "snippet", [s for s in SNIPPETS if s.kind == "fragment"], ids=lambda s: s.where
)
def test_fragment_compiles(snippet: Snippet) -> None:
    compile_snippet(snippet)


# -- the runner itself -------------------------------------------------------------------------


def test_a_python_block_is_a_program_or_marked(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nprint(1)\n```\n\n<!-- docs: fragment -->\n\n```python\nawait x\n```\n\n"
        "<!-- docs: app -->\n```python\napp = 1\n```\n\nText.\n\n```python\nprint(2)\n```\n"
    )
    program, fragment, app, client = extract(page)
    assert [s.kind for s in (program, fragment, app, client)] == [
        "program",
        "fragment",
        "app",
        "program",
    ]
    assert (program.app, client.app) == (None, app)
    page.write_text("# Page\n\n```py\nprint('hi')\n```\n")
    with pytest.raises(SnippetError, match=r"page\.md:3: a Python block is"):
        extract(page)
    page.write_text("```python app\nprint('hi')\n```\n")
    with pytest.raises(SnippetError, match="not ```python app"):
        extract(page)
    page.write_text("<!-- docs: example -->\n\n```python\nprint('hi')\n```\n")
    with pytest.raises(SnippetError, match="unknown kind 'example'"):
        extract(page)


def test_a_broken_snippet_fails_its_run(tmp_path: Path, default_server_url: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n"
        "```python\n"
        "import os\n\n"
        "import httpx\n\n"
        'url = os.environ.get("AINATIVE_URL", "http://127.0.0.1:8000")\n'
        'assert httpx.get(f"{url}/health").json()["status"] == "ok"\n'
        'raise SystemExit(httpx.get(f"{url}/no-such-page").status_code)\n'
        "```\n"
    )
    (snippet,) = extract(page)
    assert (snippet.kind, snippet.line) == ("program", 3)
    with pytest.raises(SystemExit) as failed:
        run_program(snippet, default_server_url, "asyncio")
    assert failed.value.code == 404  # the program ran against the server, then failed


def test_a_failing_assert_and_a_warning_fail_the_run(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nassert 1 + 1 == 3, 'arithmetic'\n```\n\n"
        "```python\nimport warnings\n\nwarnings.warn('deprecated', DeprecationWarning)\n```\n"
    )
    failing, warning = extract(page)
    with pytest.raises(AssertionError, match="arithmetic"):
        run_program(failing, "http://127.0.0.1:1", "trio")
    with pytest.raises(DeprecationWarning, match="deprecated"):
        run_program(warning, "http://127.0.0.1:1", "asyncio")


def test_a_hanging_snippet_times_out(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nimport time\n\nfor _ in range(30):\n    time.sleep(0.1)\n```\n")
    (snippet,) = extract(page)
    with pytest.raises(SnippetError, match="did not finish within"):
        run_program(snippet, "http://127.0.0.1:1", "asyncio", timeout=0.2)


def test_anyio_run_takes_the_tests_backend(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nimport anyio\nimport sniffio\n\n\n"
        "async def main() -> None:\n"
        "    assert sniffio.current_async_library() == 'trio'\n\n\n"
        "anyio.run(main)\n```\n"
    )
    (snippet,) = extract(page)
    run_program(snippet, "http://127.0.0.1:1", "trio")
    with pytest.raises(AssertionError):
        run_program(snippet, "http://127.0.0.1:1", "asyncio")


def test_a_failing_test_block_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs: test -->\n\n```python\ndef test_it() -> None:\n    assert 2 + 2 == 5\n```\n"
    )
    (snippet,) = extract(page)
    result = run_test_module(snippet, tmp_path)
    assert result.returncode == 1
    assert "1 failed" in result.stdout
