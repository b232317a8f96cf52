"""End to end: ``ainative serve --provider openai`` streams from a fake OpenAI upstream.

The server runs as a real subprocess (the openai plugin found through its entry point);
``OPENAI_BASE_URL`` points it at the fake upstream served on a loopback port in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.openai.fake_openai import FakeOpenAI, error_reply, text_reply, tool_reply

from ainative_testing import LiveServer, serve_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def ainative_server(
    request: pytest.FixtureRequest, upstream_server: tuple[FakeOpenAI, LiveServer]
) -> Iterator[str]:
    """``ainative serve --provider openai`` in a subprocess (uvicorn or Hypercorn on trio)."""
    env = {
        "OPENAI_BASE_URL": upstream_server[1].base_url + "/v1",
        "OPENAI_API_KEY": "test",
        "AINATIVE_PROVIDERS": json.dumps({"openai": {"max_retries": 0}}),
    }
    backend = str(request.param)
    with serve_process("--provider", "openai", "--backend", backend, env=env) as base:
        yield base


def stream(base: str, message: str, **fields: object) -> tuple[int, list[dict[str, object]], str]:
    """POST /ai/stream; the status, the decoded events and the raw body."""
    body = {"action": "chat", "params": {"message": message}, **fields}
    with httpx.Client(timeout=15) as client:
        response = client.post(f"{base}/ai/stream", json=body)
    events = [
        json.loads(line[len("data: ") :])
        for line in response.text.split("\n")
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    return response.status_code, events, response.text


def test_streams_tokens_end_to_end(ainative_server: str, upstream: FakeOpenAI) -> None:
    upstream.script(text_reply("Hello from the fake OpenAI"))
    status, events, raw = stream(ainative_server, "Hi", model="gpt-e2e")
    assert status == 200
    tokens = [e["data"] for e in events if e["type"] == "token"]
    assert "".join(str(t) for t in tokens) == "Hello from the fake OpenAI"
    assert len(tokens) == 5
    done = events[-1]
    assert done["type"] == "done"
    assert isinstance(done["data"], dict)
    assert done["data"]["finish_reason"] == "stop"
    assert raw.endswith("data: [DONE]\n\n")
    sent = upstream.requests[-1].body
    assert sent["model"] == "gpt-e2e"
    assert sent["messages"][-1] == {"role": "user", "content": "Hi"}
    assert upstream.requests[-1].headers["authorization"] == "Bearer test"


def test_tool_calls_end_to_end(ainative_server: str, upstream: FakeOpenAI) -> None:
    upstream.script(tool_reply("get_weather", '{"city": "Paris"}'))
    status, events, _ = stream(ainative_server, "Weather?")
    assert status == 200
    phases = [e["data"]["phase"] for e in events if e["type"] == "tool_call"]  # type: ignore[index]
    assert phases[0] == "start"
    assert phases[-1] == "end"
    done = events[-1]
    assert done["data"]["finish_reason"] == "tool_call"  # type: ignore[index]


@pytest.mark.parametrize(
    ("upstream_status", "status", "code"),
    [
        (401, 401, "provider_auth_error"),
        (429, 429, "provider_rate_limited"),
        (500, 503, "provider_unavailable"),
    ],
)
def test_upstream_errors_become_http_statuses(
    ainative_server: str, upstream: FakeOpenAI, upstream_status: int, status: int, code: str
) -> None:
    upstream.script(error_reply(upstream_status, "upstream says no", headers={"retry-after": "3"}))
    with httpx.Client(timeout=15) as client:
        response = client.post(
            f"{ainative_server}/ai/stream", json={"action": "chat", "params": {"message": "x"}}
        )
    assert response.status_code == status
    assert code in response.text
    if status == 429:
        assert response.headers["retry-after"] == "3"


def test_connection_dropped_mid_stream_ends_with_an_error_event(
    ainative_server: str, upstream: FakeOpenAI
) -> None:
    reply = text_reply("one two three four")
    reply.drop_after = 3
    upstream.script(reply)
    status, events, _ = stream(ainative_server, "x")
    assert status == 200
    assert [e["type"] for e in events][-2:] == ["error", "done"]
    assert events[-2]["code"] == "provider_response_error"
    assert events[-2]["retryable"] is True
    assert events[-1]["data"]["finish_reason"] == "error"  # type: ignore[index]


def test_serve_without_a_key_ends_with_one_line_and_no_request(upstream: FakeOpenAI) -> None:
    dropped = ("AINATIVE_", "OPENAI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ainative"), "serve", "--provider", "openai"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "Error: cannot serve: default provider 'openai' cannot start: "
        "no OpenAI API key: set OPENAI_API_KEY or api_key"
    ]
    assert upstream.requests == []
