"""Fixtures for the browser tests: one real Chromium (Debian's) for the whole folder, a fresh
page per test, and the chat page served by uvicorn (asyncio) or Hypercorn (trio)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

import ainative_server._plugin
from ainative_server import AINativeServer, ServerConfig, create_server
from ainative_testing import LiveServer, PluginSandbox, live_server

from .chromium import launch

ChatServer = Callable[..., AbstractContextManager[tuple[AINativeServer, LiveServer]]]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context; an uncaught error in the page fails the test."""
    context = browser.new_context(viewport={"width": 1100, "height": 640})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


@pytest.fixture(params=["uvicorn", "hypercorn"])
def server_backend(request: pytest.FixtureRequest) -> str:
    """uvicorn serves on asyncio, Hypercorn on trio."""
    return str(request.param)


@pytest.fixture
def chat_server(ainative_plugins: PluginSandbox, server_backend: str) -> ChatServer:
    """``with chat_server(**settings) as (server, live)``: the chat page on a loopback port,
    echo answering at ``delay`` seconds per token."""
    ainative_plugins.add_plugin(ainative_server._plugin, name="server")

    @contextmanager
    def start(delay: float = 0.03, **settings: Any) -> Iterator[tuple[AINativeServer, LiveServer]]:
        config = ServerConfig(chat_page=True, providers={"echo": {"delay": delay}}, **settings)
        server = create_server(config, plugins=ainative_plugins.plugins)
        with live_server(server.get_app(), backend=server_backend) as live:  # type: ignore[arg-type]
            yield server, live

    return start
