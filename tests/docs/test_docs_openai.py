"""What docs/openai.md says besides its Python blocks (which ``test_snippets.py`` runs).

The curl request with ``ainative serve`` itself, API keys as the client's ``api_key``, and
``openai_api=False``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from ainative import ServerConfig, create_app
from ainative_testing import (
    LiveServer,
    PluginSandbox,
    live_server,
    serve_process,
)

Serve = Callable[[Any], AbstractContextManager[LiveServer]]


def test_curl_streams_chat_completion_chunks() -> None:
    """The page's ``ainative serve`` and curl request, with the command itself."""
    with serve_process() as url:
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "echo",
                "messages": [{"role": "user", "content": "hello world"}],
                "stream": True,
            },
            timeout=10,
        )
    blocks = response.text.split("\n\n")
    assert [b.split("\n")[0] for b in blocks[:4]] == ["id: 2", "id: 3", "id: 4", "id: 5"]
    chunks = [json.loads(b.split("\n")[1][len("data: ") :]) for b in blocks[:4]]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "hello"},
        {"content": " world"},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[0]["id"].startswith("chatcmpl-s_")
    assert blocks[4:] == ["data: [DONE]", ""]


def test_api_keys_are_the_clients_api_key(docs_plugins: PluginSandbox) -> None:
    with live_server(create_app(ServerConfig(api_keys=["secret"]))) as server:
        url = f"{server.base_url}/v1"
        with OpenAI(base_url=url, api_key="secret") as client:
            answer = client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "hi"}]
            )
        with (
            OpenAI(base_url=url, api_key="wrong", max_retries=0) as client,
            pytest.raises(openai.AuthenticationError),
        ):
            client.models.list()
    assert answer.choices[0].message.content == "hi"


def test_turning_it_off(docs_plugins: PluginSandbox) -> None:
    with live_server(create_app(ServerConfig(openai_api=False))) as server:
        assert httpx.get(f"{server.base_url}/v1/models", timeout=10).status_code == 404
