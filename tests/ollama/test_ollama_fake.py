"""The fake Ollama server itself: routes, refusals, scripts and stream records.

These pin the shared `ainative_core.FakeUpstream` plumbing through a public fake.
"""

from __future__ import annotations

import json

import httpx
import pytest

from ainative_ollama.testing import FakeOllama, OllamaReply


def test_unknown_route_is_a_404_with_ollamas_error_body(
    fake_ollama: FakeOllama, ollama_url: str
) -> None:
    response = httpx.get(ollama_url + "/api/chat", timeout=10)
    assert response.status_code == 404
    assert response.json() == {"error": "404 page not found"}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert fake_ollama.requests == []


def test_a_body_that_is_not_json_is_a_400(fake_ollama: FakeOllama, ollama_url: str) -> None:
    response = httpx.post(ollama_url + "/api/chat", content=b"{nope", timeout=10)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid character in request body"}
    assert fake_ollama.requests == []


def test_replies_are_taken_in_order_and_the_last_repeats(
    fake_ollama: FakeOllama, ollama_url: str
) -> None:
    fake_ollama.script(OllamaReply(text="first"), OllamaReply(text="second"))
    answers = [
        httpx.post(ollama_url + "/api/chat", json={"stream": False, "n": n}, timeout=10).json()[
            "message"
        ]["content"]
        for n in range(3)
    ]
    assert answers == ["first", "second", "second"]
    assert [r.body["n"] for r in fake_ollama.requests] == [0, 1, 2]
    assert fake_ollama.completed == 0  # whole answers are not streams

    fake_ollama.script()
    assert fake_ollama.requests == []
    again = httpx.post(ollama_url + "/api/chat", json={"stream": False}, timeout=10)
    assert again.json()["message"]["content"] == "Hello world"


def test_a_stream_read_to_its_end_is_completed_not_a_disconnect(
    fake_ollama: FakeOllama, ollama_url: str
) -> None:
    fake_ollama.script(OllamaReply(text="a b c"))
    response = httpx.post(ollama_url + "/api/chat", json={"model": "m"}, timeout=10)
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["message"]["content"] for line in lines[:-1]] == ["a", " b", " c"]
    assert lines[-1]["done"] is True
    assert fake_ollama.completed == 1
    assert fake_ollama.disconnects == 0
    assert not fake_ollama.disconnected.is_set()


def test_a_dropped_stream_cuts_the_connection_and_is_not_completed(
    fake_ollama: FakeOllama, ollama_url: str
) -> None:
    fake_ollama.script(OllamaReply(text="a b c", failure="drop", fail_after=2))
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", ollama_url + "/api/chat", json={}, timeout=10) as response,
    ):
        lines.extend(response.iter_lines())
    assert len(lines) == 2
    assert fake_ollama.completed == 0
    assert fake_ollama.disconnects == 0
