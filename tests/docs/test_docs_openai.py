"""The examples of docs/openai.md, run against real loopback servers.

Each test holds the code of one example (same names, same calls); only the server URL, the
bounds on waiting and the printing differ (the tests assert what the page prints). Providers
the page names (``anthropic``, ``ollama``) are stand-ins registered under those names. The
LangChain example is not run: ``langchain-openai`` is not a dependency of the project.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anyio
import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from ainative import ServerConfig, create_app
from ainative_core import SSEDecoder, StreamEvent, Usage
from ainative_testing import (
    FakeProvider,
    LiveServer,
    PluginSandbox,
    ScriptedProvider,
    live_server,
    serve_process,
)

Serve = Callable[[Any], AbstractContextManager[LiveServer]]


@pytest.fixture
def live(docs_plugins: PluginSandbox) -> Iterator[LiveServer]:
    """``ainative serve``'s app (echo by default) on a loopback port, for the sync examples."""
    with live_server(create_app(ServerConfig())) as server:
        yield server


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


def test_the_openai_client(live: LiveServer) -> None:
    client = OpenAI(base_url=f"{live.base_url}/v1", api_key="not-needed")
    stream = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "hello world"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    printed = []
    for chunk in stream:
        if chunk.choices:
            printed.append(chunk.choices[0].delta.content or "")
        else:
            assert chunk.usage is not None
            printed.append(f"\n{chunk.usage.total_tokens} tokens")
    assert "".join(printed) == "hello world\n4 tokens"

    completion = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hello world"}]
    )
    assert completion.choices[0].message.content == "hello world"
    client.close()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the SDK's streams on trio: see the page
async def test_the_async_client(serve: Serve) -> None:
    printed: list[str] = []

    async def main(url: str) -> None:
        async with AsyncOpenAI(base_url=f"{url}/v1", api_key="x") as client:
            stream = await client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async for chunk in stream:
                printed.append(chunk.choices[0].delta.content or "")

    with serve(create_app(ServerConfig())) as server, anyio.fail_after(10):
        await main(server.base_url)
    assert "".join(printed) == "hi"


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


def test_tool_calls_assemble_with_the_sdk(docs_plugins: PluginSandbox) -> None:
    script = [
        StreamEvent.tool_call_start("toolu_1", "get_weather"),
        StreamEvent.tool_call_delta("toolu_1", '{"city": '),
        StreamEvent.tool_call_delta("toolu_1", '"Paris"}'),
        StreamEvent.tool_call_end("toolu_1"),
        StreamEvent.finish("tool_call", usage=Usage(input_tokens=5, output_tokens=7)),
    ]
    docs_plugins.add_provider("anthropic", ScriptedProvider(script))
    with live_server(create_app(ServerConfig())) as server:
        client = OpenAI(base_url=f"{server.base_url}/v1", api_key="not-needed")
        tools: Any = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                        "additionalProperties": False,
                    },
                    "strict": True,
                },
            }
        ]
        with client.chat.completions.stream(
            model="anthropic",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=tools,
        ) as stream:
            completion = stream.get_final_completion()
        client.close()
    call = (completion.choices[0].message.tool_calls or [])[0]
    assert (call.function.name, call.function.parsed_arguments) == (
        "get_weather",
        {"city": "Paris"},
    )


def test_models(docs_plugins: PluginSandbox) -> None:
    docs_plugins.add_provider("ollama", FakeProvider())
    with live_server(create_app(ServerConfig())) as server:
        client = OpenAI(base_url=f"{server.base_url}/v1", api_key="not-needed")
        ids = [model.id for model in client.models.list()]
        owner = client.models.retrieve("ollama/qwen2.5:7b").owned_by
        with pytest.raises(openai.NotFoundError) as unknown:
            client.chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "x"}]
            )
        client.close()
    assert ids[:1] == ["echo"]
    assert owner == "ollama"
    assert unknown.value.code == "model_not_found"


def test_resume_after_a_dropped_connection(live: LiveServer) -> None:
    body: dict[str, Any] = {
        "model": "echo",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    body["options"] = {"tokens": 50, "delay": 0.02}
    headers = {"X-AINative-Resumable": "true"}
    decoder = SSEDecoder()
    last_id = ""
    with httpx.Client(base_url=live.base_url, timeout=10) as http:
        with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
            stream_id = response.headers["x-ainative-stream-id"]
            for raw in response.iter_raw():
                events = decoder.feed(raw)
                if events:
                    last_id = events[-1].id
                    break  # the connection drops here
        resumed = http.get(f"/v1/chat/completions/{stream_id}", headers={"Last-Event-ID": last_id})
    assert resumed.text.endswith("data: [DONE]\n\n")
    content = [
        json.loads(e.data)["choices"][0]["delta"].get("content")
        for e in SSEDecoder().feed(resumed.content)
        if e.data != "[DONE]" and json.loads(e.data)["choices"]
    ]
    assert "".join(c for c in content if c) == "".join(
        f" t{i}" if i else "t0" for i in range(int(last_id) - 2, 50)
    )


def test_turning_it_off(docs_plugins: PluginSandbox) -> None:
    with live_server(create_app(ServerConfig(openai_api=False))) as server:
        assert httpx.get(f"{server.base_url}/v1/models", timeout=10).status_code == 404
