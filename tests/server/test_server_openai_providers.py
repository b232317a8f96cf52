"""The OpenAI API in front of each provider plugin, each talking to its fake vendor server.

The official ``openai`` client talks to ``ainative serve --provider <vendor>`` (a subprocess,
uvicorn on asyncio or Hypercorn on trio, its plugins found through their entry points) whose
provider is pointed at the fake OpenAI, Messages or Ollama API on a loopback port: text, tool
calls (Anthropic's streamed ``tool_use`` and Ollama's whole calls come out as OpenAI tool-call
deltas), usage, and the vendor's errors as the SDK's exceptions.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from ainative_anthropic.testing import AnthropicReply, FakeAnthropic
from ainative_core import FakeUpstream
from ainative_ollama.testing import FakeOllama, OllamaReply
from ainative_testing import LiveServer, live_server, serve_process

from .server_helpers import parse_sse

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # the fake OpenAI upstream lives with the OpenAI plugin's tests
    sys.path.insert(0, _ROOT)

from tests.openai.fake_openai import FakeOpenAI, error_reply, text_reply, tool_reply  # noqa: E402

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
WEATHER_TOOL: Any = {
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
ARGUMENTS = '{"city": "Paris"}'


@dataclass
class Vendor:
    """One provider plugin, its fake upstream, and how to script that upstream."""

    provider: str
    model: str
    fake: FakeUpstream[Any]
    settings: dict[str, Any]
    text: Callable[[str], Any]
    tool: Callable[..., Any]  # (name="get_weather", arguments=ARGUMENTS) -> a tool-call reply
    error: Callable[[int], Any]
    usage: tuple[int, int]  # (prompt, completion) tokens of ``text("Hello from the vendor")``

    def sent_model(self) -> Any:
        return self.fake.requests[-1].body["model"]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, tuple[FakeUpstream[Any], LiveServer]]]:
    fakes: dict[str, FakeUpstream[Any]] = {
        "openai": FakeOpenAI(),
        "anthropic": FakeAnthropic(),
        "ollama": FakeOllama(),
    }
    with (
        live_server(fakes["openai"]) as openai_live,
        live_server(fakes["anthropic"]) as anthropic_live,
        live_server(fakes["ollama"]) as ollama_live,
    ):
        yield {
            "openai": (fakes["openai"], openai_live),
            "anthropic": (fakes["anthropic"], anthropic_live),
            "ollama": (fakes["ollama"], ollama_live),
        }


def _vendor(name: str, fake: FakeUpstream[Any], url: str) -> Vendor:
    if name == "openai":
        return Vendor(
            "openai",
            "gpt-4o",
            fake,
            {"api_key": "test", "base_url": f"{url}/v1", "max_retries": 0},
            lambda text: text_reply(text),
            lambda name="get_weather", arguments=ARGUMENTS: tool_reply(name, arguments),
            lambda status: error_reply(status, "upstream says no", headers={"retry-after": "3"}),
            (9, 4),
        )
    if name == "anthropic":
        return Vendor(
            "anthropic",
            "claude-haiku-4-5",
            fake,
            {"api_key": "test", "base_url": url, "max_retries": 0},
            lambda text: AnthropicReply(text=text, output_tokens=4),
            lambda name="get_weather", arguments=ARGUMENTS: AnthropicReply(
                text="", tool_calls=[(name, arguments)]
            ),
            lambda status: AnthropicReply.http_error(
                status,
                {401: "authentication_error", 429: "rate_limit_error"}.get(status, "api_error"),
                "upstream says no",
                retry_after=3,
            ),
            (12, 4),
        )
    return Vendor(
        "ollama",
        "llama3.2",
        fake,
        {"host": url, "max_retries": 0},
        lambda text: OllamaReply(text=text, eval_count=4),
        lambda name="get_weather", arguments=ARGUMENTS: OllamaReply(
            text="", tool_calls=[(name, arguments)]
        ),
        lambda status: OllamaReply.http_error(status, "upstream says no", retry_after=3),
        (12, 4),
    )


@pytest.fixture(scope="module", params=["openai", "anthropic", "ollama"])
def vendor_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def served(
    request: pytest.FixtureRequest,
    vendor_name: str,
    upstreams: dict[str, tuple[FakeUpstream[Any], LiveServer]],
) -> Iterator[tuple[Vendor, str]]:
    """``ainative serve --provider <vendor> --backend <asyncio|trio>`` on the fake upstream."""
    fake, live = upstreams[vendor_name]
    vendor = _vendor(vendor_name, fake, live.base_url)
    env = {"AINATIVE_PROVIDERS": json.dumps({vendor.provider: vendor.settings})}
    args = ("--provider", vendor.provider, "--backend", str(request.param))
    with serve_process(*args, env=env) as url:
        yield vendor, url


@pytest.fixture
def vendor(served: tuple[Vendor, str]) -> Vendor:
    """The vendor under test, its fake upstream reset for the test."""
    served[0].fake.script()
    return served[0]


@pytest.fixture
def client(served: tuple[Vendor, str]) -> Iterator[openai.OpenAI]:
    """The official client on the served ``/v1``."""
    with openai.OpenAI(base_url=f"{served[1]}/v1", api_key="x", max_retries=0, timeout=15) as sdk:
        yield sdk


def test_a_streamed_chat_with_usage(client: openai.OpenAI, vendor: Vendor) -> None:
    vendor.fake.script(vendor.text("Hello from the vendor"))
    chunks = list(
        client.chat.completions.create(
            model=vendor.provider,
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the vendor"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == vendor.usage
    sent = vendor.fake.requests[-1].body["messages"][-1]["content"]
    assert sent in ("Hi", [{"type": "text", "text": "Hi"}])  # Anthropic's content blocks


def test_a_whole_completion_names_the_registered_model(
    client: openai.OpenAI, vendor: Vendor
) -> None:
    vendor.fake.script(vendor.text("Hello from the vendor"))
    completion = client.chat.completions.create(model=vendor.model, messages=USER)
    assert completion.choices[0].message.content == "Hello from the vendor"
    assert completion.model == vendor.model
    assert vendor.sent_model() == vendor.model
    assert completion.usage is not None
    assert completion.usage.completion_tokens == vendor.usage[1]


def test_the_vendors_tool_call_comes_out_as_openai_tool_call_deltas(
    client: openai.OpenAI, vendor: Vendor
) -> None:
    vendor.fake.script(vendor.tool())
    with client.chat.completions.stream(
        model=f"{vendor.provider}/some-model",
        messages=USER,
        tools=[WEATHER_TOOL],
        tool_choice="required",
    ) as stream:
        chunks = [event.chunk for event in stream if event.type == "chunk"]
        completion = stream.get_final_completion()
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].index == 0
    assert deltas[0].function is not None
    assert deltas[0].function.name == "get_weather"
    assert deltas[0].id
    assert "".join(d.function.arguments or "" for d in deltas if d.function) == ARGUMENTS
    calls = completion.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.parsed_arguments) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert vendor.sent_model() == "some-model"
    sent = vendor.fake.requests[-1].body
    if vendor.provider == "openai":
        assert sent["tool_choice"] == "required"
    elif vendor.provider == "anthropic":
        assert sent["tool_choice"] == {"type": "any"}
        assert sent["tools"][0]["name"] == "get_weather"
    else:
        assert sent["tools"][0]["function"]["name"] == "get_weather"


@pytest.mark.parametrize(
    ("upstream_status", "error_class", "status"),
    [
        (401, openai.AuthenticationError, 401),
        (429, openai.RateLimitError, 429),
        (500, openai.InternalServerError, 503),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_vendors_errors_are_the_sdks_exceptions(
    client: openai.OpenAI,
    vendor: Vendor,
    upstream_status: int,
    error_class: type[openai.APIStatusError],
    status: int,
    stream: bool,
) -> None:
    vendor.fake.script(vendor.error(upstream_status))
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model=vendor.provider, messages=USER, stream=stream)
    assert type(raised.value) is error_class
    assert raised.value.status_code == status
    assert "upstream says no" in raised.value.message
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "3"


def test_models_lists_the_vendors_registrations(client: openai.OpenAI, vendor: Vendor) -> None:
    ids = {m.id: m.owned_by for m in client.models.list()}
    assert ids["echo"] == "echo"  # every installed plugin's, with entry points
    assert ids[vendor.provider] == vendor.provider
    assert ids[vendor.model] == vendor.provider


def test_the_model_calls_a_server_tool_and_reads_its_result_in_the_vendors_format(
    served: tuple[Vendor, str], vendor: Vendor
) -> None:
    """``/ai/stream`` with ``tools``: the vendor's tool call → the built-in ``calculate``
    runs → the vendor's next request carries the call and its result → the final text."""
    vendor.fake.script(vendor.tool("calculate", '{"expression": "6*7"}'), vendor.text("It is 42."))
    body = {"params": {"message": "What is 6*7?"}, "tools": ["calculate"]}
    response = httpx.post(f"{served[1]}/ai/stream", json=body, timeout=15)
    assert response.status_code == 200
    events = [json.loads(data) for _, data in parse_sse(response.content) if data != "[DONE]"]
    (result,) = [e["data"] for e in events if e["type"] == "tool_result"]
    assert (result["name"], result["result"]) == ("calculate", 42)
    assert "".join(e["data"] for e in events if e["type"] == "token") == "It is 42."
    assert events[-1]["data"]["finish_reason"] == "stop"
    assert len(vendor.fake.requests) == 2
    first, second = (r.body for r in vendor.fake.requests)
    offered = json.dumps(first["tools"])
    assert "calculate" in offered
    assert second["messages"][: len(first["messages"])] == first["messages"]
    call, answer = second["messages"][len(first["messages"]) :]
    assert call["role"] == "assistant"
    if vendor.provider == "openai":
        (sent,) = call["tool_calls"]
        assert sent["id"] == result["id"]
        assert sent["type"] == "function"
        assert sent["function"] == {"name": "calculate", "arguments": '{"expression": "6*7"}'}
        assert answer == {"role": "tool", "tool_call_id": result["id"], "content": "42"}
    elif vendor.provider == "anthropic":
        (block,) = call["content"]
        assert block == {
            "type": "tool_use",
            "id": result["id"],
            "name": "calculate",
            "input": {"expression": "6*7"},
        }
        assert answer == {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": result["id"], "content": "42"}],
        }
    else:
        (sent,) = call["tool_calls"]
        assert sent["function"]["name"] == "calculate"
        assert sent["function"]["arguments"] == {"expression": "6*7"}
        assert answer["role"] == "tool"
        assert answer["content"] == "42"
