"""The seed's TypeScript client assumptions hold against the real server's output.

`SeedSSEParser` ports the seed client's reader line for line: append decoded text to a
buffer, split on ``"\\n"``, keep the last piece, take lines starting with ``"data: "``,
stop at the literal ``[DONE]``, ``JSON.parse`` the rest (a parse failure is skipped) and
switch on ``type``. Everything else on the wire (``id:``, ``retry:``, ``: ping``) must be
harmless to it.
"""

from __future__ import annotations

import codecs
import json
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from ainative_testing import LiveServer

pytestmark = pytest.mark.anyio

MESSAGE = "The seed's parser reads data lines only"


class SeedSSEParser:
    """A Python port of the seed client's SSE reader (what a browser app runs)."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buffer = ""
        self.events: list[dict[str, Any]] = []
        self.parse_failures: list[str] = []
        self.ended = False

    def feed(self, value: bytes) -> None:
        if self.ended:
            return
        self.buffer += self.decoder.decode(value)
        lines = self.buffer.split("\n")
        self.buffer = lines.pop()
        for line in lines:
            if line.startswith("data: "):
                data = line[6:]
                if data == "[DONE]":
                    self.ended = True
                    return
                try:
                    self.events.append(json.loads(data))
                except ValueError:
                    self.parse_failures.append(data)

    def tokens(self) -> list[str]:
        return [e["data"] for e in self.events if e.get("type") == "token"]


def check_seed_view(events: list[dict[str, Any]], tokens: list[str]) -> None:
    assert "".join(tokens) == MESSAGE
    assert events[0]["type"] == "metadata"
    assert events[-1]["type"] == "done"
    assert events[-1]["data"]["finish_reason"] == "stop"
    assert {e["type"] for e in events} <= {"metadata", "token", "done", "usage", "error"}


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
async def test_seed_sse_parser_accepts_the_server_output(
    server: LiveServer, chunk_size: int | None
) -> None:
    body = b""
    async with httpx.AsyncClient() as http:
        with anyio.fail_after(10):
            response = await http.post(
                f"{server.base_url}/ai/stream",
                json={"action": "chat", "params": {"message": MESSAGE}},
            )
            body = response.content
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    text = body.decode()
    assert "\r" not in text  # the seed splits on "\n" only
    other = {
        line.split(":")[0] for line in text.split("\n") if line and not line.startswith("data: ")
    }
    assert other <= {"id", "retry", ""}  # what the seed's reader must ignore (":" comments too)
    assert "id" in other

    parser = SeedSSEParser()
    chunks = (
        [body]
        if chunk_size is None
        else [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    )
    for chunk in chunks:
        parser.feed(chunk)
    assert parser.ended  # the literal [DONE] ends it
    assert parser.parse_failures == []
    check_seed_view(parser.events, parser.tokens())


async def test_seed_websocket_client_view(server: LiveServer) -> None:
    """The seed's WS client sends the request on open and JSON.parses every frame."""
    events: list[dict[str, Any]] = []
    async with httpx.AsyncClient() as http:
        connecting: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            f"{server.base_url}/ai/ws", http
        )
        async with connecting as ws:
            await ws.send_text(json.dumps({"action": "chat", "params": {"message": MESSAGE}}))
            with anyio.fail_after(10):
                for _ in range(100):
                    events.append(json.loads(await ws.receive_text()))
                    if events[-1]["type"] == "done":
                        break
    check_seed_view(events, [e["data"] for e in events if e["type"] == "token"])
    # The extra fields are there for resuming; a client that ignores them loses nothing.
    assert all({"id", "stream_id"} <= e.keys() for e in events)
