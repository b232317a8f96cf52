"""End to end: ``ainative serve --provider ollama`` streams the fake Ollama server.

The server runs as a subprocess (uvicorn on asyncio, or Hypercorn on trio) with
``OLLAMA_HOST`` (``host:port``, no scheme) pointing at the fake upstream; the test talks HTTP to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from ainative_ollama.testing import FakeOllama, OllamaReply
from ainative_testing import LiveServer, serve_process

CHAT = {"action": "chat", "params": {"message": "Hello"}}


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def served(
    request: pytest.FixtureRequest, ollama_server: tuple[FakeOllama, LiveServer]
) -> Iterator[str]:
    """Base URL of ``ainative serve --provider ollama --backend <param>``."""
    upstream = ollama_server[1]
    backend = str(request.param)
    with serve_process(
        "--provider",
        "ollama",
        "--backend",
        backend,
        env={"OLLAMA_HOST": f"{upstream.host}:{upstream.port}"},
    ) as url:
        yield url


def sse_events(response: httpx.Response) -> list[dict[str, object] | str]:
    out: list[dict[str, object] | str] = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_streams_tokens_end_to_end(served: str, fake_ollama: FakeOllama) -> None:
    fake_ollama.script(OllamaReply(text="Hello from Llama", prompt_eval_count=12, eval_count=3))
    with httpx.stream("POST", served + "/ai/stream", json=CHAT, timeout=10) as response:
        assert response.status_code == 200
        events = sse_events(response)
    tokens = [e["data"] for e in events if isinstance(e, dict) and e["type"] == "token"]
    assert "".join(str(t) for t in tokens) == "Hello from Llama"
    done = [e for e in events if isinstance(e, dict) and e["type"] == "done"]
    assert done == [
        {
            "type": "done",
            "data": {"finish_reason": "stop", "usage": {"input_tokens": 12, "output_tokens": 3}},
        }
    ]
    assert events[-1] == "[DONE]"
    [sent] = fake_ollama.requests
    assert sent.body["messages"][-1] == {"role": "user", "content": "Hello"}


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (
            OllamaReply.http_error(401, "unauthorized"),
            401,
            "provider_auth_error",
        ),
        (
            OllamaReply.http_error(429, "too many requests", retry_after=30),
            429,
            "provider_rate_limited",
        ),
        (
            OllamaReply.http_error(404, "model 'llama3.2' not found, try pulling it first"),
            400,
            "provider_bad_request",
        ),
    ],
)
def test_errors_before_the_first_token_are_http_statuses(
    served: str, fake_ollama: FakeOllama, reply: OllamaReply, status: int, code: str
) -> None:
    fake_ollama.script(reply)
    response = httpx.post(served + "/ai/stream", json=CHAT, timeout=10)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    if status == 429:
        assert response.headers["retry-after"] == "30"


def test_error_after_the_first_token_is_an_error_event(
    served: str, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(OllamaReply(text="one two", failure="error_line", fail_after=1))
    with httpx.stream("POST", served + "/ai/stream", json=CHAT, timeout=10) as response:
        assert response.status_code == 200
        events = [e for e in sse_events(response) if isinstance(e, dict)]
    kinds = [e["type"] for e in events]
    assert kinds[-3:] == ["token", "error", "done"]
    assert events[-2]["code"] == "provider_response_error"
    assert events[-2]["retryable"] is True
    assert events[-1]["data"] == {"finish_reason": "error"}


def test_delete_cancels_the_upstream_request(served: str, fake_ollama: FakeOllama) -> None:
    fake_ollama.script(OllamaReply(text="tick " * 500, delay=0.02))
    with httpx.stream("POST", served + "/ai/stream", json=CHAT, timeout=10) as response:
        stream_id = response.headers["x-ainative-stream-id"]
        for line in response.iter_lines():
            if '"type":"token"' in line:
                break
        deleted = httpx.delete(f"{served}/ai/stream/{stream_id}", timeout=10)
        assert deleted.status_code < 300
        assert fake_ollama.disconnected.wait(10), "the upstream request was not closed"
    assert fake_ollama.disconnects == 1
