"""End to end: ``ainative serve --provider anthropic`` streams the fake Messages API.

The server runs as a subprocess (uvicorn on asyncio, or Hypercorn on trio) with
``ANTHROPIC_BASE_URL`` pointing at the fake upstream; the test talks HTTP to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from ainative_anthropic.testing import AnthropicReply, FakeAnthropic
from ainative_testing import LiveServer, serve_process

CHAT = {"action": "chat", "params": {"message": "Hello"}}


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def served(
    request: pytest.FixtureRequest, anthropic_server: tuple[FakeAnthropic, LiveServer]
) -> Iterator[str]:
    """Base URL of ``ainative serve --provider anthropic --backend <param>``."""
    upstream = anthropic_server[1]
    backend = str(request.param)
    with serve_process(
        "--provider",
        "anthropic",
        "--backend",
        backend,
        env={"ANTHROPIC_BASE_URL": upstream.base_url, "ANTHROPIC_API_KEY": "test"},
    ) as url:
        yield url


def sse_events(response: httpx.Response) -> list[dict[str, object] | str]:
    out: list[dict[str, object] | str] = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_streams_tokens_end_to_end(served: str, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(AnthropicReply(text="Hello from Claude", output_tokens=3))
    with httpx.stream("POST", served + "/ai/stream", json=CHAT, timeout=10) as response:
        assert response.status_code == 200
        events = sse_events(response)
    tokens = [e["data"] for e in events if isinstance(e, dict) and e["type"] == "token"]
    assert "".join(str(t) for t in tokens) == "Hello from Claude"
    done = [e for e in events if isinstance(e, dict) and e["type"] == "done"]
    assert done == [
        {
            "type": "done",
            "data": {"finish_reason": "stop", "usage": {"input_tokens": 12, "output_tokens": 3}},
        }
    ]
    assert events[-1] == "[DONE]"
    [sent] = fake_anthropic.requests
    assert sent.body["messages"][-1] == {"role": "user", "content": "Hello"}


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (
            AnthropicReply.http_error(401, "authentication_error", "bad key"),
            401,
            "provider_auth_error",
        ),
        (
            AnthropicReply.http_error(429, "rate_limit_error", "slow", retry_after=30),
            429,
            "provider_rate_limited",
        ),
        (
            AnthropicReply.http_error(400, "invalid_request_error", "bad"),
            400,
            "provider_bad_request",
        ),
    ],
)
def test_errors_before_the_first_token_are_http_statuses(
    served: str, fake_anthropic: FakeAnthropic, reply: AnthropicReply, status: int, code: str
) -> None:
    fake_anthropic.script(reply)
    response = httpx.post(served + "/ai/stream", json=CHAT, timeout=10)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    if status == 429:
        assert response.headers["retry-after"] == "30"


def test_error_after_the_first_token_is_an_error_event(
    served: str, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(
        AnthropicReply(
            text="one two", failure="error_event", fail_after=1, error_type="overloaded_error"
        )
    )
    with httpx.stream("POST", served + "/ai/stream", json=CHAT, timeout=10) as response:
        assert response.status_code == 200
        events = [e for e in sse_events(response) if isinstance(e, dict)]
    kinds = [e["type"] for e in events]
    assert kinds[-3:] == ["token", "error", "done"]
    assert events[-2]["code"] == "provider_unavailable"
    assert events[-2]["retryable"] is True
    assert events[-1]["data"] == {"finish_reason": "error"}


def test_delete_cancels_the_upstream_request(served: str, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(AnthropicReply(text="tick " * 500, delay=0.02))
    with httpx.stream("POST", served + "/ai/stream", json=CHAT, timeout=10) as response:
        stream_id = response.headers["x-ainative-stream-id"]
        for line in response.iter_lines():
            if '"type":"token"' in line:
                break
        deleted = httpx.delete(f"{served}/ai/stream/{stream_id}", timeout=10)
        assert deleted.status_code < 300
        assert fake_anthropic.disconnected.wait(10), "the upstream request was not closed"
    assert fake_anthropic.disconnects == 1
