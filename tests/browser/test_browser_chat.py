"""The chat page at / in real Chromium: tokens stream into the page over SSE and WebSocket,
Stop ends the provider call, and a dropped or cut connection resumes with nothing lost or
repeated."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ainative_server import AINativeServer
from ainative_testing import TCPProxy

from .conftest import ChatServer

TRANSPORTS = pytest.mark.parametrize("transport", ["SSE", "WS"])
WORDS = " ".join(f"word{i}" for i in range(20))
TIMEOUT = 15_000  # ms, for every wait on the page


def open_page(page: Page, url: str, transport: str) -> None:
    page.goto(url)
    expect(page.locator("#provider option")).to_have_count(1, timeout=TIMEOUT)
    page.check(f'input[name="transport"][value="{transport}"]')


def send(page: Page, text: str) -> None:
    """Send ``text``; returns once the page shows it (the reply is then streaming, or over)."""
    sent = page.locator(".message.user").count()
    page.fill("#message", text)
    page.click("#send")
    expect(page.locator(".message.user")).to_have_count(sent + 1, timeout=TIMEOUT)


def wait_until_idle(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-streaming", "false", timeout=TIMEOUT)


def wait_for_tokens(page: Page, count: int) -> None:
    page.wait_for_function(
        f"Number(document.getElementById('tokens').textContent) >= {count}", timeout=TIMEOUT
    )


def replies(page: Page) -> list[str]:
    texts: list[str] = page.eval_on_selector_all(
        ".message.assistant", "items => items.map(item => item.lastChild.data)"
    )
    return texts


def wait_for_run(server: AINativeServer, stream_id: str) -> Any:
    """The server's run of ``stream_id`` once its producer has ended (bounded wait)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        run = server.hub.runs.get(stream_id)
        if run is not None and run.done:
            return run
        time.sleep(0.02)
    raise AssertionError(f"run {stream_id} did not end: {server.hub.runs}")


@TRANSPORTS
def test_page_streams_a_reply_token_by_token(
    page: Page, chat_server: ChatServer, transport: str
) -> None:
    message = "one two three four five six seven eight"
    with chat_server() as (server, live):
        open_page(page, live.base_url + "/", transport)
        # Every state of the reply's text in the page, as the DOM changes.
        page.evaluate(
            """() => {
                window.seen = [];
                new MutationObserver(() => {
                    const reply = document.querySelector('.message.assistant:last-child');
                    const text = reply?.lastChild?.data;
                    if (text !== undefined && text !== window.seen.at(-1)) window.seen.push(text);
                }).observe(document.getElementById('messages'),
                           {subtree: true, childList: true, characterData: true});
            }"""
        )
        send(page, message)
        wait_until_idle(page)
        seen: list[str] = page.evaluate("window.seen")
        assert seen[-1] == message
        assert [s for s in seen if s] == [
            " ".join(message.split()[: len(s.split())]) for s in seen if s
        ]
        assert len([s for s in seen if s and s != message]) >= 2, seen  # partial replies shown
        assert replies(page) == [message]
        expect(page.locator("#tokens")).to_have_text("8")
        expect(page.locator("#ttft")).to_have_text(re.compile(r"^\d+ ms$"))
        expect(page.locator("#rate")).to_have_text(re.compile(r"^\d+(\.\d)? tokens/s$"))
        expect(page.locator("#used-transport")).to_have_text(transport)
        stream_id = page.text_content("#stream-id") or ""
        run = wait_for_run(server, stream_id)
        assert run.finish_reason == "stop"
        assert run.tokens == 8


@TRANSPORTS
def test_stop_button_ends_the_provider_call(
    page: Page, chat_server: ChatServer, transport: str
) -> None:
    with chat_server(delay=0.05) as (server, live):
        open_page(page, live.base_url + "/", transport)
        send(page, WORDS)
        wait_for_tokens(page, 3)
        page.click("#stop")
        wait_until_idle(page)
        expect(page.locator("#status")).to_have_text("Stopped.")
        run = wait_for_run(server, page.text_content("#stream-id") or "")
        assert run.finish_reason == "cancelled"
        assert run.tokens < len(WORDS.split())
        shown = replies(page)[0]
        assert shown
        assert WORDS.startswith(shown)


@TRANSPORTS
def test_drop_button_resumes_with_nothing_lost_or_repeated(
    page: Page, chat_server: ChatServer, transport: str
) -> None:
    with chat_server() as (server, live):
        open_page(page, live.base_url + "/", transport)
        send(page, WORDS)
        wait_until_idle(page)  # an uncut reply first
        send(page, WORDS)
        wait_for_tokens(page, 3)
        page.click("#drop")
        wait_until_idle(page)
        uncut, resumed = replies(page)
        assert resumed == uncut == WORDS
        expect(page.locator("#reconnects")).to_have_text("1")
        expect(page.locator("#tokens")).to_have_text(str(len(WORDS.split())))
        assert len(server.hub.runs) == 2  # resumed, not started again


@TRANSPORTS
def test_connection_cut_by_the_network_resumes_losslessly(
    page: Page, chat_server: ChatServer, transport: str
) -> None:
    with chat_server() as (server, live), TCPProxy(live.port) as proxy:
        open_page(page, proxy.url + "/", transport)
        send(page, WORDS)
        wait_until_idle(page)
        send(page, WORDS)
        wait_for_tokens(page, 3)
        assert proxy.cut() >= 1
        wait_until_idle(page)
        uncut, resumed = replies(page)
        assert resumed == uncut == WORDS
        assert int(page.text_content("#reconnects") or 0) >= 1
        assert len(server.hub.runs) == 2
        assert proxy.cuts >= 1


@TRANSPORTS
def test_bearer_key_typed_into_the_page_stays_in_memory(
    page: Page, chat_server: ChatServer, transport: str
) -> None:
    with chat_server(api_keys=["secret"]) as (_, live):
        page.goto(live.base_url + "/")
        expect(page.locator("#status")).to_contain_text("needs an API key", timeout=TIMEOUT)
        page.fill("#api-key", "secret")
        page.dispatch_event("#api-key", "change")
        expect(page.locator("#provider option")).to_have_count(1, timeout=TIMEOUT)
        page.check(f'input[name="transport"][value="{transport}"]')
        send(page, "hello there")
        wait_until_idle(page)
        assert replies(page) == ["hello there"]
        stored = page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]")
        assert stored == [0, 0, ""]


@TRANSPORTS
def test_page_shows_each_tool_call_with_its_arguments_and_result(
    page: Page, chat_server: ChatServer, transport: str
) -> None:
    script = {
        "tool_call": [
            {"name": "calculate", "arguments": {"expression": "6*7"}},
            {"name": "calculate", "arguments": {"expression": "1/0"}},
        ]
    }
    with chat_server(delay=0.0, model_tools=["calculate"]) as (_, live):
        open_page(page, live.base_url + "/", transport)
        page.fill("#options", json.dumps(script))
        send(page, "what is 6*7?")
        wait_until_idle(page)
        lines = page.locator(".message.assistant .tool-call")
        expect(lines).to_have_count(2, timeout=TIMEOUT)
        assert lines.nth(0).inner_text() == 'calculate({"expression": "6*7"}) → 42'
        assert lines.nth(1).inner_text().startswith('calculate({"expression": "1/0"}) → error: ')
        assert lines.nth(1).get_attribute("class") == "tool-call failed"
        shown = replies(page)
        assert len(shown) == 2  # the turn that called the tools, and the answer to the results
        assert shown[1].startswith("42\n")
        expect(page.locator(".message.tool")).to_have_count(0)
        expect(page.locator("#status")).to_have_text("")
