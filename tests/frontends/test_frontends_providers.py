"""Both front-end protocols on every provider plugin, reasoning and tool calls included.

Each provider talks to its fake upstream (a loopback server speaking the vendor's streaming
API) with a reply of reasoning, text and one tool call; the AI SDK's transport and message
reader, and AG-UI's ``HttpAgent`` and models, read what the ainative server makes of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from ag_ui.core import Event
from pydantic import TypeAdapter
from tests.openai.fake_openai import FakeOpenAI, Reply, text_reply, tool_reply

from ainative_anthropic import AnthropicProvider
from ainative_anthropic.testing import AnthropicReply, FakeAnthropic
from ainative_core import EchoProvider, Provider
from ainative_ollama import OllamaProvider
from ainative_ollama.testing import FakeOllama, OllamaReply
from ainative_openai import OpenAIProvider
from ainative_testing import live_server

from .conftest import Node, Serve

pytestmark = pytest.mark.anyio

REASONING = "The user asks about Paris."
TEXT = "Let me look that up."
ARGUMENTS = '{"city": "Paris"}'

Upstream = Callable[[], Any]


@contextmanager
def openai() -> Iterator[Provider]:
    chunks = text_reply(TEXT, reasoning=REASONING, usage=False).chunks[:-1]
    chunks += tool_reply("get_weather", ARGUMENTS).chunks[1:]
    with live_server(FakeOpenAI(Reply(chunks=chunks))) as upstream:
        yield OpenAIProvider(api_key="k", base_url=upstream.base_url + "/v1", max_retries=0)


@contextmanager
def anthropic() -> Iterator[Provider]:
    reply = AnthropicReply(text=TEXT, thinking=REASONING, tool_calls=[("get_weather", ARGUMENTS)])
    fake = FakeAnthropic()
    fake.script(reply)
    with live_server(fake) as upstream:
        yield AnthropicProvider(api_key="k", base_url=upstream.base_url, max_retries=0)


@contextmanager
def ollama() -> Iterator[Provider]:
    reply = OllamaReply(text=TEXT, thinking=REASONING, tool_calls=[("get_weather", ARGUMENTS)])
    fake = FakeOllama()
    fake.script(reply)
    with live_server(fake) as upstream:
        yield OllamaProvider(host=upstream.base_url, max_retries=0)


@contextmanager
def echo() -> Iterator[Provider]:
    yield EchoProvider()


PROVIDERS = {"openai": openai, "anthropic": anthropic, "ollama": ollama, "echo": echo}


@pytest.fixture(params=sorted(PROVIDERS))
def provider_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_use_chat_assembles_each_providers_answer(
    serve: Serve, node: Node, provider_name: str
) -> None:
    user = {"id": "u", "role": "user", "parts": [{"type": "text", "text": TEXT}]}
    with PROVIDERS[provider_name]() as provider, serve(provider) as (_, live):
        payload = {"api": f"{live.base_url}/ai/ui/chat", "mode": "send", "chatId": "c"}
        out = await node("ui_chat.mjs", {**payload, "messages": [user]})
    assert out["thrown"] is None
    assert out["errors"] == []
    assert out["strictErrors"] == []
    parts = {part["type"]: part for part in out["message"]["parts"]}
    assert parts["text"]["text"] == TEXT
    if provider_name == "echo":
        assert set(parts) == {"step-start", "text"}
        return
    assert parts["reasoning"]["text"] == REASONING
    assert parts["tool-get_weather"]["input"] == json.loads(ARGUMENTS)
    assert parts["tool-get_weather"]["state"] == "input-available"
    assert out["chunks"][-1] == {"type": "finish", "finishReason": "tool-calls"}


async def test_agui_runs_each_providers_answer(
    serve: Serve, node: Node, provider_name: str
) -> None:
    with PROVIDERS[provider_name]() as provider, serve(provider) as (_, live):
        out = await node(
            "agui_run.mjs",
            {
                "url": f"{live.base_url}/ai/agui",
                "threadId": "t",
                "runId": "r",
                "messages": [{"id": "u", "role": "user", "content": TEXT}],
            },
        )
    assert out["error"] is None
    events = [TypeAdapter(Event).validate_python(e) for e in out["events"]]
    assert events[0].type.value == "RUN_STARTED"
    assert events[-1].type.value == "RUN_FINISHED"
    assistant = next(m for m in out["messages"] if m["role"] == "assistant")
    assert assistant["content"] == TEXT
    if provider_name == "echo":
        return
    reasoning = next(m for m in out["messages"] if m["role"] == "reasoning")
    assert reasoning["content"] == REASONING
    (call,) = assistant["toolCalls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == json.loads(ARGUMENTS)
