"""The Anthropic provider against the fake Messages API, through the real SDK code paths."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import anthropic
import anyio
import httpx2
import pytest
from structlog.testing import capture_logs

from ainative_anthropic import DEFAULT_MAX_TOKENS, AnthropicProvider
from ainative_anthropic.testing import AnthropicReply, FakeAnthropic
from ainative_core import (
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
    StreamEvent,
    ToolCall,
    ToolSpec,
    accumulate,
    build_request,
    open_stream,
)
from ainative_testing import LiveServer, StreamCollector, TCPProxy

pytestmark = pytest.mark.anyio

MakeProvider = Callable[..., AnthropicProvider]


async def collect(provider: AnthropicProvider, request: GenerateRequest) -> list[StreamEvent]:
    return await StreamCollector().collect(provider, request, within=10)


def kinds(events: list[StreamEvent]) -> list[str]:
    return [e.type for e in events]


# -- request shape ---------------------------------------------------------------------------


async def test_request_maps_roles_tools_and_sampling(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    request = GenerateRequest(
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="system", content="Answer in French."),
            Message(role="user", content="Weather in Paris and Rome?"),
            Message(
                role="assistant",
                content="Let me check.",
                tool_calls=[
                    ToolCall(id="toolu_1", name="get_weather", arguments='{"city": "Paris"}'),
                    ToolCall(id="toolu_2", name="get_weather", arguments='{"city": "Rome"}'),
                ],
            ),
            Message(role="tool", tool_call_id="toolu_1", content="18C"),
            Message(role="tool", tool_call_id="toolu_2", content="24C"),
            Message(role="user", content="Thanks"),
        ],
        model="claude-haiku-4-5",
        temperature=0.3,
        top_p=0.9,
        max_tokens=200,
        stop=["END"],
        tools=[ToolSpec(name="get_weather", description="Weather for a city")],
        extra={"top_k": 5},
    )
    await collect(make_provider(), request)
    [sent] = fake_anthropic.requests
    assert sent.headers["authorization"] == "Bearer test-key"
    assert "anthropic-version" in sent.headers
    body = sent.body
    assert body["stream"] is True
    assert body["model"] == "claude-haiku-4-5"
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["max_tokens"] == 200
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["top_k"] == 5
    assert body["stop_sequences"] == ["END"]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {}},
        }
    ]
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "24C"},
            ],
        },
        {"role": "user", "content": "Thanks"},
    ]


async def test_defaults_model_and_max_tokens(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    await collect(make_provider(model="claude-opus-4-7"), build_request(prompt="hi"))
    body = fake_anthropic.requests[0].body
    assert body["model"] == "claude-opus-4-7"
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert not {"system", "temperature", "top_p", "tools", "stop_sequences"} & set(body)


async def test_bad_tool_arguments_fail_before_sending(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    request = GenerateRequest(
        messages=[
            Message(role="assistant", tool_calls=[ToolCall(id="t", name="f", arguments="{oops")]),
        ]
    )
    with pytest.raises(InvalidRequestError, match="invalid arguments"):
        make_provider().stream(request)
    assert fake_anthropic.requests == []


# -- streaming -------------------------------------------------------------------------------


async def test_streams_text_usage_and_metadata(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(
        AnthropicReply(chunks=["Hel", "lo", " there"], input_tokens=21, output_tokens=7)
    )
    events = await collect(make_provider(), build_request(prompt="hi"))
    assert kinds(events) == ["metadata", "text", "text", "text", "usage", "finish"]
    metadata = events[0].provider_metadata or {}
    assert metadata["model"] == "claude-sonnet-4-6"
    assert str(metadata["id"]).startswith("msg_")
    assert [e.text for e in events if e.type == "text"] == ["Hel", "lo", " there"]
    finish = events[-1]
    assert finish.finish_reason == "stop"
    assert finish.usage is not None
    assert (finish.usage.input_tokens, finish.usage.output_tokens) == (21, 7)


async def test_thinking_becomes_reasoning_events(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(AnthropicReply(text="42", thinking="Let me think"))
    events = await collect(make_provider(), build_request(prompt="q"))
    completion = accumulate(events)
    assert completion.reasoning == "Let me think"
    assert completion.text == "42"
    first_text = kinds(events).index("text")
    assert all(e.type != "reasoning" for e in events[first_text:])


async def test_streamed_tool_calls_are_assembled(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(
        AnthropicReply(
            text="Checking.",
            tool_calls=[
                ("get_weather", '{"city": "Paris", "unit": "celsius"}'),
                ("get_time", '{"tz": "Europe/Rome"}'),
            ],
            tool_chunks=4,
        )
    )
    events = await collect(make_provider(), build_request(prompt="q"))
    tool_events = [e for e in events if e.type.startswith("tool_call")]
    assert [e.type for e in tool_events[:6]] == [
        "tool_call_start",
        *["tool_call_delta"] * 4,
        "tool_call_end",
    ]
    assert {e.index for e in tool_events[:6]} == {0}
    assert {e.index for e in tool_events[6:]} == {1}
    completion = accumulate(events)
    assert completion.finish_reason == "tool_call"
    assert [(c.name, json.loads(c.arguments)) for c in completion.tool_calls] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}),
        ("get_time", {"tz": "Europe/Rome"}),
    ]
    assert completion.tool_calls[0].id.startswith("toolu_")


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_call"),
        ("refusal", "content_filter"),
    ],
)
async def test_stop_reason_maps_to_finish_reason(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider, stop_reason: str, finish: str
) -> None:
    fake_anthropic.script(AnthropicReply(stop_reason=stop_reason))
    events = await collect(make_provider(), build_request(prompt="q"))
    assert events[-1].finish_reason == finish


async def test_complete_uses_the_non_streaming_api(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(
        AnthropicReply(
            text="Sunny",
            thinking="hmm",
            tool_calls=[("get_weather", '{"city": "Oslo"}')],
            input_tokens=9,
            output_tokens=4,
        )
    )
    with anyio.fail_after(10):
        completion = await make_provider().complete(build_request(prompt="q"))
    assert "stream" not in fake_anthropic.requests[0].body
    assert completion.text == "Sunny"
    assert completion.reasoning == "hmm"
    assert completion.finish_reason == "tool_call"
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("get_weather", '{"city": "Oslo"}')
    ]
    assert completion.usage is not None
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (9, 4)


async def test_generate_yields_text_tokens(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(AnthropicReply(text="one two three"))
    provider = make_provider()
    with anyio.fail_after(10):
        tokens = [t async for t in provider.generate("hi")]
    assert tokens == ["one", " two", " three"]


# -- errors before the first token -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (400, "invalid_request_error", ProviderBadRequest),
        (401, "authentication_error", ProviderAuthError),
        (403, "permission_error", ProviderAuthError),
        (404, "not_found_error", ProviderBadRequest),
        (413, "request_too_large", ProviderBadRequest),
        (429, "rate_limit_error", ProviderRateLimited),
        (500, "api_error", ProviderUnavailable),
        (503, "api_error", ProviderUnavailable),
        (504, "timeout_error", ProviderTimeout),
        (529, "overloaded_error", ProviderUnavailable),
    ],
)
async def test_http_errors_map_into_the_ainative_tree(
    fake_anthropic: FakeAnthropic,
    make_provider: MakeProvider,
    status: int,
    error_type: str,
    expected: type[ProviderError],
) -> None:
    fake_anthropic.script(AnthropicReply.http_error(status, error_type, "scripted failure"))
    with pytest.raises(ProviderError) as info:
        await collect(make_provider(), build_request(prompt="q"))
    assert type(info.value) is expected
    assert "scripted failure" in str(info.value)
    assert isinstance(info.value.__cause__, anthropic.APIStatusError)
    with pytest.raises(expected):
        await make_provider().complete(build_request(prompt="q"))


async def test_rate_limit_carries_retry_after(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(
        AnthropicReply.http_error(429, "rate_limit_error", "slow down", retry_after=42)
    )
    with pytest.raises(ProviderRateLimited) as info:
        await collect(make_provider(max_retries=3), build_request(prompt="q"))
    assert info.value.retry_after == 42
    assert (info.value.status, info.value.code) == (429, "provider_rate_limited")
    # 42 s is longer than the provider waits: the error goes to the caller at once.
    assert len(fake_anthropic.requests) == 1


async def test_connection_refused_is_unavailable(make_provider: MakeProvider) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = make_provider(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderUnavailable) as info:
        await collect(provider, build_request(prompt="q"))
    assert isinstance(info.value.__cause__, anthropic.APIConnectionError)


async def test_slow_upstream_times_out(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(AnthropicReply(delay=2.0))
    with pytest.raises(ProviderTimeout):
        await collect(make_provider(timeout=0.2), build_request(prompt="q"))


async def test_missing_api_key_fails_without_a_request(
    fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch, anthropic_url: str
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    provider = AnthropicProvider(base_url=anthropic_url)
    with pytest.raises(ProviderAuthError, match="ANTHROPIC_API_KEY"):
        await collect(provider, build_request(prompt="q"))
    assert fake_anthropic.requests == []


async def test_warm_without_an_api_key_fails(
    monkeypatch: pytest.MonkeyPatch, anthropic_url: str
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ProviderAuthError, match="ANTHROPIC_API_KEY"):
        await AnthropicProvider(base_url=anthropic_url).warm()


async def test_warm_rehearses_in_memory_and_sends_nothing(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    with capture_logs() as logs:
        await provider.warm()
        await provider.warm()
    assert fake_anthropic.requests == []
    assert not [log for log in logs if log["event"] == "provider.warm_failed"]
    fake_anthropic.script(AnthropicReply(text="after warm"))
    assert accumulate(await collect(provider, build_request(prompt="q"))).text == "after warm"
    assert len(fake_anthropic.requests) == 1


async def test_settings_come_from_the_environment(
    fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch, anthropic_url: str
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_url)
    async with AnthropicProvider(max_retries=0) as provider:
        events = await collect(provider, build_request(prompt="q"))
    assert events[-1].finish_reason == "stop"
    assert fake_anthropic.requests[0].headers["authorization"] == "Bearer env-key"


# -- retries ---------------------------------------------------------------------------------


async def test_retries_before_the_first_token(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(
        AnthropicReply.http_error(529, "overloaded_error", "Overloaded"),
        AnthropicReply.http_error(429, "rate_limit_error", "slow", retry_after=0.05),
        AnthropicReply(failure="error_event", fail_after=0, error_type="overloaded_error"),
        AnthropicReply(text="at last"),
    )
    with capture_logs() as logs:
        events = await collect(make_provider(max_retries=3), build_request(prompt="q"))
    assert accumulate(events).text == "at last"
    assert "error" not in kinds(events)
    assert len(fake_anthropic.requests) == 4
    retries = [e for e in logs if e["event"] == "provider_retry"]
    assert [e["attempt"] for e in retries] == [1, 2, 3]
    assert {e["provider"] for e in retries} == {"anthropic"}


async def test_gives_up_after_max_retries(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(AnthropicReply.http_error(500, "api_error", "boom"))
    with pytest.raises(ProviderUnavailable):
        await collect(make_provider(max_retries=2), build_request(prompt="q"))
    assert len(fake_anthropic.requests) == 3


async def test_client_errors_are_not_retried(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(AnthropicReply.http_error(401, "authentication_error", "bad key"))
    with pytest.raises(ProviderAuthError):
        await make_provider(max_retries=3).complete(build_request(prompt="q"))
    assert len(fake_anthropic.requests) == 1


async def test_complete_retries_too(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(
        AnthropicReply.http_error(503, "api_error", "down"), AnthropicReply(text="ok")
    )
    completion = await make_provider(max_retries=1).complete(build_request(prompt="q"))
    assert completion.text == "ok"
    assert len(fake_anthropic.requests) == 2


async def test_connection_closed_before_the_response_is_unavailable(
    anthropic_server: tuple[FakeAnthropic, LiveServer], make_provider: MakeProvider
) -> None:
    # Accepted, then closed before any response byte: the upstream is unavailable (503),
    # not a broken stream (502).
    async with TCPProxy(anthropic_server[1].port, reject=True) as proxy:
        with pytest.raises(ProviderUnavailable):
            await collect(make_provider(base_url=proxy.url), build_request(prompt="q"))
    assert proxy.cuts >= 1


# -- failures after the first token ----------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (
            AnthropicReply(failure="error_event", fail_after=1, error_type="overloaded_error"),
            "provider_unavailable",
        ),
        (
            AnthropicReply(failure="error_event", fail_after=1, error_type="rate_limit_error"),
            "provider_rate_limited",
        ),
        (AnthropicReply(failure="malformed", fail_after=1), "provider_response_error"),
        (AnthropicReply(failure="drop", fail_after=1), "provider_response_error"),
        (AnthropicReply(failure="truncate", fail_after=1), "provider_response_error"),
    ],
    ids=["overloaded-event", "rate-limit-event", "malformed", "dropped", "truncated"],
)
async def test_failure_after_first_token_is_an_error_event(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider, reply: AnthropicReply, code: str
) -> None:
    fake_anthropic.script(reply.__class__(**{**reply.__dict__, "text": "one two three"}))
    events = await collect(make_provider(max_retries=3), build_request(prompt="q"))
    assert kinds(events) == ["metadata", "text", "error", "finish"]
    error = events[2]
    assert error.code == code
    assert error.retryable is True
    assert events[-1].finish_reason == "error"
    # Nothing is retried once a token went out.
    assert len(fake_anthropic.requests) == 1


@pytest.mark.parametrize("failure", ["malformed", "drop", "truncate"])
async def test_broken_stream_before_first_token_raises(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider, failure: str
) -> None:
    fake_anthropic.script(AnthropicReply(failure=failure, fail_after=0))  # type: ignore[arg-type]
    with pytest.raises(ProviderResponseError) as info:
        await collect(make_provider(), build_request(prompt="q"))
    cause = info.value.__cause__
    assert cause is None or isinstance(cause, (ValueError, httpx2.HTTPError))


# -- cancellation ----------------------------------------------------------------------------


async def test_cancel_closes_the_upstream_connection(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(AnthropicReply(text="tick " * 200, delay=0.02))
    provider = make_provider()
    seen = 0
    with anyio.fail_after(10):
        with anyio.CancelScope() as scope:
            async with open_stream(provider, build_request(prompt="q")) as stream:
                async for event in stream:
                    seen += event.type == "text"
                    if seen == 3:
                        scope.cancel()
        assert await fake_anthropic.wait_disconnect()
    assert fake_anthropic.disconnects == 1
    # The provider still works afterwards (a new connection).
    fake_anthropic.script(AnthropicReply(text="again"))
    events = await collect(provider, build_request(prompt="q"))
    assert accumulate(events).text == "again"


async def test_a_finished_stream_leaves_its_connection_in_the_pool(
    anthropic_server: tuple[FakeAnthropic, LiveServer], make_provider: MakeProvider
) -> None:
    fake = anthropic_server[0]
    fake.script(AnthropicReply(text="one two"))
    async with TCPProxy(anthropic_server[1].port) as proxy:
        provider = make_provider(base_url=proxy.url)
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
