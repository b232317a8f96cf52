"""The seed guide's client examples (packages/ainative-js/examples/seed-guide.mjs: the
guide's code with only the import and the server URL changed) against a live server, with
our client: in Node, and in Chromium through an import map."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Route

from ainative_server import AINativeServer

from .conftest import ChatServer

EXAMPLES = Path(__file__).resolve().parents[2] / "packages" / "ainative-js" / "examples"
PAGE = """<!doctype html>
<script type="importmap">{"imports": {"ainative": "/ai/client.js"}}</script>
<p>seed guide</p>
"""


def check(report: dict[str, Any], server: AINativeServer) -> None:
    assert report["methods"] == {method: ["Hello", "Hello"] for method in ("SSE", "WS", "AUTO")}
    assert report["usingAIApp"] == {"sawStreaming": True, "last": ""}
    # The metadata event is stream-data too (payload.token undefined), as in the seed.
    assert report["manual"] == ["Token: undefined", "Token: Hello"]
    (logged,) = report["errors"]["logged"]
    assert logged.startswith("Stream error: 404: unknown provider 'no-such-provider'")
    assert report["errors"]["ends"] == ["error"]
    cancelled = report["cancellation"]
    assert cancelled["streaming"] is False
    assert cancelled["reply"].startswith("t0 t1 t2 t3")
    run = server.hub.runs[cancelled["streamId"]]
    assert run.finish_reason == "cancelled"
    assert report["testing"] == [None, "Hello", " world"]


def test_seed_guide_examples_in_node(chat_server: ChatServer) -> None:
    node = shutil.which("node")
    assert node is not None, "Node 20 is needed for the JavaScript client's tests"
    with chat_server(delay=0) as (server, live):
        done = subprocess.run(
            [node, "--experimental-websocket", str(EXAMPLES / "run-seed-guide.mjs"), live.base_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        check(json.loads(done.stdout), server)


def test_seed_guide_examples_in_chromium(page: Page, chat_server: ChatServer) -> None:
    def serve(route: Route) -> None:
        route.fulfill(path=EXAMPLES / "seed-guide.mjs", content_type="text/javascript")

    with chat_server(delay=0) as (server, live):
        page.route(f"{live.base_url}/examples/seed-guide.mjs", serve)
        # A document the server itself answered (Chromium's local network access checks
        # refuse loopback connections to a page that came from nowhere), then the import
        # map that makes the guide's `from 'ainative'` the served client.
        page.goto(f"{live.base_url}/health")
        page.set_content(PAGE)
        report = page.evaluate(
            "async (url) => (await import('/examples/seed-guide.mjs')).runStreamingGuide(url)",
            live.base_url,
        )
        check(report, server)
