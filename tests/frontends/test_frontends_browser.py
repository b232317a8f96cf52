"""A real page with ``useChat`` (``@ai-sdk/react``, bundled by esbuild) in headless Chromium.

The page (``page/``) is served by this test on one loopback port, ``ainative serve`` runs on
another with CORS allowing the page's origin; Playwright drives Debian's Chromium (launched
as tests/browser does; no browser download). The reply shows token by token, and a reload
in the middle of the stream resumes the same reply (``useChat({resume: true})``).
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from playwright.sync_api import Page, sync_playwright
from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles
from tests.browser.chromium import launch

from ainative_testing import LiveServer, live_server, serve_process

from .conftest import HERE

pytestmark = pytest.mark.slow

TOKENS: Final = 60  # the page asks echo for 60 tokens, 50 ms apart
FULL: Final = "t0" + "".join(f" t{i}" for i in range(1, TOKENS))
POLLS: Final = 3000
POLL_MS: Final = 10


@pytest.fixture(scope="module")
def page_server(
    frontend_modules: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The chat page, bundled with esbuild, on a loopback port."""
    out = tmp_path_factory.mktemp("page")
    (out / "index.html").write_bytes((HERE / "page" / "index.html").read_bytes())
    subprocess.run(
        [
            str(frontend_modules / ".bin" / "esbuild"),
            str(HERE / "page" / "app.jsx"),
            "--bundle",
            "--format=esm",
            f"--outfile={out / 'app.js'}",
            "--define:process.env.NODE_ENV='production'".replace("'", '"'),
            "--log-level=warning",
        ],
        cwd=HERE,
        check=True,
        timeout=120,
    )
    app = Starlette()
    app.mount("/", StaticFiles(directory=out, html=True))
    with live_server(app) as server:
        yield server


@pytest.fixture(params=["asyncio", "trio"])
def ainative(request: pytest.FixtureRequest, page_server: LiveServer) -> Iterator[str]:
    """``ainative serve`` (echo) allowing the page's origin, on asyncio or trio."""
    env = {"AINATIVE_CORS_ORIGINS": json.dumps([page_server.base_url])}
    with serve_process("--backend", str(request.param), env=env) as base:
        yield base


def texts_until(page: Page, done: Any) -> list[str]:
    """The reply's successive texts, polled until ``done(text, status)``."""
    seen: list[str] = []
    for _ in range(POLLS):
        text = page.inner_text("#reply")
        if not seen or text != seen[-1]:
            seen.append(text)
        if done(text, page.inner_text("#status")):
            return seen
        page.wait_for_timeout(POLL_MS)
    raise AssertionError(f"the page never got there; it showed {seen[-3:]}")


def test_use_chat_shows_the_reply_token_by_token_and_a_reload_resumes_it(
    page_server: LiveServer, ainative: str
) -> None:
    url = f"{page_server.base_url}/index.html?api={ainative}&chat=browser-chat"
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(url)
            page.click("#send")
            before = texts_until(page, lambda text, _: text.count("t") >= 10)
            message_id = page.inner_text("#message-id")
            page.reload()
            after = texts_until(page, lambda text, status: text == FULL and status == "ready")
            resumed_id = page.inner_text("#message-id")
        finally:
            browser.close()
    growing = [t for t in before if t]
    assert len(growing) >= 3  # several renders, each a longer prefix of the reply
    assert all(FULL.startswith(t) for t in growing)
    assert all(a != b and b.startswith(a) for a, b in itertools.pairwise(growing))
    assert message_id.startswith("s_")
    assert resumed_id == message_id  # the same run, resumed: not a new answer
    partial = [t for t in after if t and t != FULL]
    assert partial  # the resumed reply was still streaming after the reload
    assert after[-1] == FULL
