"""Takes the chat page's screenshot for the docs: ``nox -s screenshot`` (or
``PYTHONPATH=tests python -m browser.screenshot``) writes docs/images/chat.png."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from ainative_server import ServerConfig, create_app
from ainative_testing import live_server

from .chromium import launch

OUT = Path(__file__).resolve().parents[2] / "docs" / "images" / "chat.png"
TIMEOUT = 15_000


def main() -> None:
    os.environ.pop("AINATIVE_DISABLE_PLUGIN_AUTOLOAD", None)
    app = create_app(ServerConfig(chat_page=True))
    with live_server(app) as live, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1100, "height": 560})
        page.goto(live.base_url + "/")
        expect(page.locator("#provider option")).not_to_have_count(0, timeout=TIMEOUT)
        page.check('input[name="transport"][value="WS"]')
        page.fill("#options", '{"delay": 0.04}')
        for text in (
            "Stream me a reply token by token, please.",
            "Now drop the connection halfway: the reply resumes from the last event id.",
        ):
            page.fill("#message", text)
            page.click("#send")
            if text.startswith("Now"):
                page.wait_for_function("Number(document.getElementById('tokens').textContent) >= 5")
                page.click("#drop")
            expect(page.locator("body")).to_have_attribute(
                "data-streaming", "false", timeout=TIMEOUT
            )
        page.fill("#message", "Hello")
        OUT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUT))
        browser.close()
    sys.stdout.write(f"wrote {OUT}\n")


if __name__ == "__main__":
    main()
