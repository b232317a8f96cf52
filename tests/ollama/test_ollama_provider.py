"""The Ollama provider against the fake Ollama server, through the real httpx code paths."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import anyio
import httpx
import pytest
from structlog.testing import capture_logs

from ainative_core import (
    FakeUpstream,
    GenerateRequest,
    InvalidRequestError,
    Message,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    RecordedRequest,
    StreamEvent,
    ToolCall,
    ToolSpec,
    UpstreamAnswer,
    accumulate,
    build_request,
    open_stream,
)
from ainative_ollama import OllamaProvider
from ainative_ollama.testing import FakeOllama, OllamaReply
from ainative_testing import LiveServer, StreamCollector, TCPProxy, live_server

pytestmark = pytest.mark.anyio

MakeProvider = Callable[..., OllamaProvider]


async def collect(provider: OllamaProvider, request: GenerateRequest) -> list[StreamEvent]:
    return await StreamCollector().collect(provider, request, within=10)


def kinds(events: list[StreamEvent]) -> list[str]:
    return [e.type for e in events]


# -- request shape ---------------------------------------------------------------------------


async def test_request_maps_roles_tools_and_options(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    request = GenerateRequest(
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="Weather in Paris?"),
            Message(
                role="assistant",
                tool_calls=[
                    ToolCall(id="call_0", name="get_weather", arguments='{"city": "Paris"}')
                ],
            ),
            Message(role="tool", tool_call_id="call_0", content="18C"),
        ],
        model="qwen3",
        temperature=0.2,
        top_p=0.8,
        max_tokens=64,
        stop=["END"],
        tools=[ToolSpec(name="get_weather", description="Weather for a city")],
        extra={"think": True, "keep_alive": "5m", "top_k": 20, "options": {"num_ctx": 4096}},
    )
    await collect(make_provider(), request)
    [sent] = fake_ollama.requests
    assert sent.path == "/api/chat"
    body = sent.body
    assert body["model"] == "qwen3"
    assert body["stream"] is True
    assert body["think"] is True
    assert body["keep_alive"] == "5m"
    assert body["options"] == {
        "temperature": 0.2,
        "top_p": 0.8,
        "num_predict": 64,
        "stop": ["END"],
        "top_k": 20,
        "num_ctx": 4096,
    }
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "18C", "tool_name": "get_weather"},
    ]
    assert "authorization" not in sent.headers


async def test_next_request_names_each_result_by_the_call_it_answers(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    calls = [("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Rome"}')]
    calls.append(("get_time", '{"timezone": "CET"}'))
    fake_ollama.script(OllamaReply(text="", tool_calls=calls), OllamaReply(text="Done."))
    provider = make_provider()
    turn = await provider.complete(build_request(prompt="Weather in Paris and Rome, time?"))
    paris, rome, time = turn.tool_calls
    request = GenerateRequest(
        messages=[
            Message(role="user", content="Weather in Paris and Rome, time?"),
            turn.to_message(),
            # Out of order, and a name that disagrees: the call's id decides.
            Message(role="tool", tool_call_id=time.id, content="no clock", is_error=True),
            Message(role="tool", tool_call_id=rome.id, content="24C", name="other"),
            Message(role="tool", tool_call_id=paris.id, content="18C"),
        ]
    )
    assert accumulate(await collect(provider, request)).text == "Done."
    assert fake_ollama.requests[-1].body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome, time?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
                {"function": {"name": "get_time", "arguments": {"timezone": "CET"}}},
            ],
        },
        # No error flag in /api/chat: the error's message is the content.
        {"role": "tool", "content": "no clock", "tool_name": "get_time"},
        {"role": "tool", "content": "24C", "tool_name": "get_weather"},
        {"role": "tool", "content": "18C", "tool_name": "get_weather"},
    ]


async def test_defaults_and_api_key(fake_ollama: FakeOllama, make_provider: MakeProvider) -> None:
    await collect(make_provider(model="gemma3", api_key="secret"), build_request(prompt="hi"))
    [sent] = fake_ollama.requests
    assert sent.body["model"] == "gemma3"
    assert "options" not in sent.body
    assert "tools" not in sent.body
    assert sent.headers["authorization"] == "Bearer secret"


async def test_bad_tool_arguments_fail_before_sending(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    request = GenerateRequest(
        messages=[
            Message(role="assistant", tool_calls=[ToolCall(id="t", name="f", arguments="{oops")])
        ]
    )
    with pytest.raises(InvalidRequestError, match="invalid arguments"):
        make_provider().stream(request)
    assert fake_ollama.requests == []


# -- streaming -------------------------------------------------------------------------------


async def test_streams_text_usage_and_metadata(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(
        OllamaReply(chunks=["Hel", "lo", " there"], prompt_eval_count=21, eval_count=7)
    )
    events = await collect(make_provider(), build_request(prompt="hi"))
    assert kinds(events) == ["metadata", "text", "text", "text", "usage", "finish"]
    assert (events[0].provider_metadata or {})["model"] == "llama3.2"
    assert [e.text for e in events if e.type == "text"] == ["Hel", "lo", " there"]
    finish = events[-1]
    assert finish.finish_reason == "stop"
    assert finish.usage is not None
    assert (finish.usage.input_tokens, finish.usage.output_tokens) == (21, 7)


async def test_thinking_becomes_reasoning_events(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(OllamaReply(text="42", thinking="Let me think"))
    completion = accumulate(await collect(make_provider(), build_request(prompt="q")))
    assert completion.reasoning == "Let me think"
    assert completion.text == "42"


async def test_whole_tool_calls_become_start_delta_end(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(
        OllamaReply(
            text="",
            tool_calls=[("get_weather", '{"city": "Paris"}'), ("get_time", '{"tz": "UTC"}')],
        )
    )
    events = await collect(make_provider(), build_request(prompt="q"))
    tool_events = [e for e in events if e.type.startswith("tool_call")]
    assert [(e.type, e.index) for e in tool_events] == [
        ("tool_call_start", 0),
        ("tool_call_delta", 0),
        ("tool_call_end", 0),
        ("tool_call_start", 1),
        ("tool_call_delta", 1),
        ("tool_call_end", 1),
    ]
    completion = accumulate(events)
    assert completion.finish_reason == "tool_call"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in completion.tool_calls] == [
        ("call_0", "get_weather", {"city": "Paris"}),
        ("call_1", "get_time", {"tz": "UTC"}),
    ]


async def test_length_done_reason(fake_ollama: FakeOllama, make_provider: MakeProvider) -> None:
    fake_ollama.script(OllamaReply(done_reason="length"))
    events = await collect(make_provider(), build_request(prompt="q", max_tokens=2))
    assert events[-1].finish_reason == "length"


async def test_complete_uses_a_non_streamed_request(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(
        OllamaReply(
            text="Sunny",
            thinking="hmm",
            tool_calls=[("get_weather", '{"city": "Oslo"}')],
            prompt_eval_count=9,
            eval_count=4,
        )
    )
    with anyio.fail_after(10):
        completion = await make_provider().complete(build_request(prompt="q"))
    assert fake_ollama.requests[0].body["stream"] is False
    assert completion.text == "Sunny"
    assert completion.reasoning == "hmm"
    assert completion.finish_reason == "tool_call"
    assert [(c.name, json.loads(c.arguments)) for c in completion.tool_calls] == [
        ("get_weather", {"city": "Oslo"})
    ]
    assert completion.usage is not None
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (9, 4)


# -- errors before the first token -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ProviderBadRequest),
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (404, ProviderBadRequest),
        (429, ProviderRateLimited),
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
        (504, ProviderTimeout),
    ],
)
async def test_http_errors_map_into_the_ainative_tree(
    fake_ollama: FakeOllama,
    make_provider: MakeProvider,
    status: int,
    expected: type[ProviderError],
) -> None:
    fake_ollama.script(OllamaReply.http_error(status, "scripted failure"))
    with pytest.raises(ProviderError) as info:
        await collect(make_provider(), build_request(prompt="q"))
    assert type(info.value) is expected
    assert "scripted failure" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
    with pytest.raises(expected):
        await make_provider().complete(build_request(prompt="q"))


async def test_rate_limit_carries_retry_after(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(OllamaReply.http_error(429, "slow down", retry_after=42))
    with pytest.raises(ProviderRateLimited) as info:
        await collect(make_provider(max_retries=3), build_request(prompt="q"))
    assert info.value.retry_after == 42
    assert len(fake_ollama.requests) == 1


async def test_ollama_not_running_is_unavailable(make_provider: MakeProvider) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = make_provider(host=f"127.0.0.1:{port}")
    with pytest.raises(ProviderUnavailable) as info:
        await collect(provider, build_request(prompt="q"))
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_slow_upstream_times_out(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(OllamaReply(delay=2.0))
    with pytest.raises(ProviderTimeout):
        await collect(make_provider(timeout=0.2), build_request(prompt="q"))


async def test_host_comes_from_the_environment(
    fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch, ollama_url: str
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", ollama_url.removeprefix("http://"))
    async with OllamaProvider(max_retries=0) as provider:
        assert provider.base_url == ollama_url
        events = await collect(provider, build_request(prompt="q"))
    assert events[-1].finish_reason == "stop"
    assert len(fake_ollama.requests) == 1


# -- retries ---------------------------------------------------------------------------------


async def test_retries_before_the_first_token(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(
        OllamaReply.http_error(503, "busy"),
        OllamaReply.http_error(429, "slow", retry_after=0.05),
        OllamaReply(failure="error_line", fail_after=0),
        OllamaReply(text="at last"),
    )
    with capture_logs() as logs:
        events = await collect(make_provider(max_retries=3), build_request(prompt="q"))
    assert accumulate(events).text == "at last"
    assert "error" not in kinds(events)
    assert len(fake_ollama.requests) == 4
    retries = [e for e in logs if e["event"] == "provider_retry"]
    assert [e["attempt"] for e in retries] == [1, 2, 3]
    assert {e["provider"] for e in retries} == {"ollama"}


async def test_gives_up_after_max_retries(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(OllamaReply.http_error(500, "boom"))
    with pytest.raises(ProviderUnavailable):
        await collect(make_provider(max_retries=2), build_request(prompt="q"))
    assert len(fake_ollama.requests) == 3


async def test_client_errors_are_not_retried(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(OllamaReply.http_error(404, "model 'nope' not found"))
    with pytest.raises(ProviderBadRequest, match="not found"):
        await make_provider(max_retries=3).complete(build_request(prompt="q"))
    assert len(fake_ollama.requests) == 1


async def test_connection_closed_before_the_response_is_unavailable(
    ollama_server: tuple[FakeOllama, LiveServer], make_provider: MakeProvider
) -> None:
    # Accepted, then closed before any response byte: the upstream is unavailable (503),
    # not a broken stream (502).
    async with TCPProxy(ollama_server[1].port, reject=True) as proxy:
        with pytest.raises(ProviderUnavailable):
            await collect(make_provider(host=proxy.url), build_request(prompt="q"))
    assert proxy.cuts >= 1


# -- failures after the first token ----------------------------------------------------------


@pytest.mark.parametrize("failure", ["error_line", "malformed", "drop", "truncate"])
async def test_failure_after_first_token_is_an_error_event(
    fake_ollama: FakeOllama, make_provider: MakeProvider, failure: str
) -> None:
    fake_ollama.script(OllamaReply(text="one two three", failure=failure, fail_after=1))  # type: ignore[arg-type]
    events = await collect(make_provider(max_retries=3), build_request(prompt="q"))
    assert kinds(events) == ["metadata", "text", "error", "finish"]
    error = events[2]
    assert error.code == "provider_response_error"
    assert error.retryable is True
    assert events[-1].finish_reason == "error"
    assert len(fake_ollama.requests) == 1


@pytest.mark.parametrize("failure", ["error_line", "malformed", "drop", "truncate"])
async def test_broken_stream_before_first_token_raises(
    fake_ollama: FakeOllama, make_provider: MakeProvider, failure: str
) -> None:
    fake_ollama.script(OllamaReply(failure=failure, fail_after=0))  # type: ignore[arg-type]
    with pytest.raises(ProviderResponseError):
        await collect(make_provider(), build_request(prompt="q"))


# -- cancellation ----------------------------------------------------------------------------


async def test_cancel_closes_the_upstream_connection(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    fake_ollama.script(OllamaReply(text="tick " * 200, delay=0.02))
    provider = make_provider()
    seen = 0
    with anyio.fail_after(10):
        with anyio.CancelScope() as scope:
            async with open_stream(provider, build_request(prompt="q")) as stream:
                async for event in stream:
                    seen += event.type == "text"
                    if seen == 3:
                        scope.cancel()
        assert await fake_ollama.wait_disconnect()
    assert fake_ollama.disconnects == 1
    fake_ollama.script(OllamaReply(text="again"))
    assert accumulate(await collect(provider, build_request(prompt="q"))).text == "again"


# -- reading the body ------------------------------------------------------------------------


class _Pieces(FakeUpstream[list[bytes]]):
    """Answers ``/api/chat`` with the scripted bytes, one piece per write, 10 ms apart."""

    def __init__(self) -> None:
        super().__init__([])

    def _accepts(self, method: str, path: str) -> bool:
        return path == "/api/chat"

    def _client_error(self, status: int) -> dict[str, str]:
        return {"error": "bad request"}

    def _answer(self, reply: list[bytes], request: RecordedRequest) -> UpstreamAnswer:
        return UpstreamAnswer.stream("application/x-ndjson", reply, delay=0.01)


async def test_lines_split_across_writes_and_a_last_line_without_newline(
    anyio_backend: str,
) -> None:
    text = b'{"model":"m","message":{"role":"assistant","content":"%s"},"done":false}\n'
    done = b'{"model":"m","message":{"content":""},"done":true,"eval_count":2}'
    first, second = text % b"one", text % b" two"
    fake = _Pieces()
    fake.script([first[:20], first[20:] + second[:5], second[5:], b"\n\n", done])
    with live_server(fake) as server:
        provider = OllamaProvider(host=server.base_url, max_retries=0)
        try:
            events = await collect(provider, build_request(prompt="q"))
        finally:
            await provider.aclose()
    assert [e.text for e in events if e.type == "text"] == ["one", " two"]
    assert events[-1].type == "finish"
    assert events[-1].usage is not None
    assert events[-1].usage.output_tokens == 2


async def test_warm_makes_the_client_and_sends_nothing(
    fake_ollama: FakeOllama, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    with capture_logs() as logs:
        await provider.warm()
        await provider.warm()
    assert fake_ollama.requests == []
    assert not [log for log in logs if log["event"] == "provider.warm_failed"]
    fake_ollama.script(OllamaReply(text="after warm"))
    assert accumulate(await collect(provider, build_request(prompt="q"))).text == "after warm"


async def test_warm_leaves_a_connection_to_ollama_that_the_first_request_uses(
    ollama_server: tuple[FakeOllama, LiveServer], make_provider: MakeProvider
) -> None:
    fake = ollama_server[0]
    fake.script(OllamaReply(text="one"))
    async with TCPProxy(ollama_server[1].port) as proxy:
        provider = make_provider(host=proxy.url)
        with anyio.fail_after(10):
            await provider.warm()
            assert proxy.connections == 1
            assert fake.requests == []  # a GET / only: no chat request
            assert accumulate(await collect(provider, build_request(prompt="q"))).text == "one"
    assert proxy.connections == 1


async def test_a_finished_stream_leaves_its_connection_in_the_pool(
    ollama_server: tuple[FakeOllama, LiveServer], make_provider: MakeProvider
) -> None:
    fake = ollama_server[0]
    fake.script(OllamaReply(text="one two"))
    async with TCPProxy(ollama_server[1].port) as proxy:
        provider = make_provider(host=proxy.url)
        for _ in range(3):
            # As the server reads a stream: it stops at the finish event.
            with anyio.fail_after(10):
                async with open_stream(provider, build_request(prompt="q")) as events:
                    kinds = []
                    async for event in events:
                        kinds.append(event.type)
                        if event.type == "finish":
                            break
            assert kinds[-1] == "finish"
    assert proxy.connections == 1
    assert fake.completed == 3


def test_tool_choice_none_offers_no_tools() -> None:
    from ainative_ollama._convert import build_body

    tools = [ToolSpec(name="get_weather")]
    offered = build_body(
        build_request(prompt="hi", tools=tools, tool_choice="required"), model="m", stream=True
    )
    withheld = build_body(
        build_request(prompt="hi", tools=tools, tool_choice="none"), model="m", stream=True
    )
    assert [t["function"]["name"] for t in offered["tools"]] == ["get_weather"]
    assert "tools" not in withheld
