"""The OpenAI provider over the real SDK against a fake OpenAI upstream on a loopback port."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from itertools import zip_longest

import anyio
import pytest
from structlog.testing import capture_logs
from tests.openai.fake_openai import (
    FakeOpenAI,
    Reply,
    chunk,
    error_reply,
    text_reply,
    tool_calls_reply,
    tool_reply,
    usage_chunk,
)

from ainative_core import (
    GenerateRequest,
    InvalidRequestError,
    Message,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    RetryPolicy,
    StreamEvent,
    ToolCall,
    ToolSpec,
    accumulate,
    build_request,
    open_stream,
)
from ainative_openai import OpenAIProvider
from ainative_testing import LiveServer, StreamCollector, TCPProxy

pytestmark = pytest.mark.anyio

Make = Callable[..., OpenAIProvider]


async def collect(provider: OpenAIProvider, request: GenerateRequest) -> list[StreamEvent]:
    return await StreamCollector().collect(provider, request, within=10)


def hello() -> GenerateRequest:
    return build_request(prompt="Say hello")


# -- the request the SDK sends --------------------------------------------------------------


async def test_request_carries_messages_options_and_tools(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    upstream.script(text_reply("ok"))
    request = GenerateRequest(
        model="gpt-test",
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="Weather?"),
            Message(
                role="assistant",
                tool_calls=[ToolCall(id="call_1", name="get_weather", arguments='{"c": 1}')],
            ),
            Message(role="tool", tool_call_id="call_1", content='{"temp": 20}'),
        ],
        temperature=0.2,
        max_tokens=50,
        top_p=0.9,
        stop=["END"],
        tools=[ToolSpec(name="get_weather", description="Weather in a city.")],
        extra={"seed": 7},
    )
    await collect(make_provider(), request)
    [sent] = upstream.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer test-key"
    body = sent.body
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0.2, 50, 0.9)
    assert body["stop"] == ["END"]
    assert body["seed"] == 7
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assistant, tool = body["messages"][2], body["messages"][3]
    assert assistant["content"] is None
    assert assistant["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"c": 1}'},
        }
    ]
    assert tool == {"role": "tool", "content": '{"temp": 20}', "tool_call_id": "call_1"}
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city.",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]


async def test_default_model_and_unset_options_are_not_sent(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    upstream.script(text_reply("ok"))
    await collect(make_provider(model="my-local-model"), hello())
    body = upstream.requests[0].body
    assert body["model"] == "my-local-model"
    assert not {"temperature", "max_tokens", "top_p", "stop", "tools"} & set(body)


async def test_usage_can_be_left_out_for_servers_that_reject_stream_options(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    upstream.script(text_reply("no usage", usage=False))
    events = await collect(make_provider(stream_usage=False), hello())
    assert "stream_options" not in upstream.requests[0].body
    assert [e.type for e in events] == ["text", "text", "finish"]
    assert events[-1].usage is None


async def test_settings_come_from_the_environment(
    upstream: FakeOpenAI, upstream_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("OPENAI_BASE_URL", upstream_url)
    upstream.script(text_reply("from env"))
    provider = OpenAIProvider(max_retries=0)
    try:
        completion = await provider.complete(hello())
    finally:
        await provider.aclose()
    assert completion.text == "from env"
    assert upstream.requests[0].headers["authorization"] == "Bearer env-key"


async def test_missing_key_for_openai_itself_fails_without_a_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    provider = OpenAIProvider()
    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY"):
        await collect(provider, hello())


async def test_warm_without_a_key_for_openai_itself_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ProviderAuthError, match="OPENAI_API_KEY"):
        await OpenAIProvider().warm()


async def test_warm_rehearses_in_memory_and_sends_nothing(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    provider = make_provider()
    with capture_logs() as logs:
        await provider.warm()
        await provider.warm()
    assert upstream.requests == []
    assert not [log for log in logs if log["event"] == "provider.warm_failed"]
    upstream.script(text_reply("after warm"))
    assert accumulate(await collect(provider, hello())).text == "after warm"
    assert len(upstream.requests) == 1


# -- what comes back ------------------------------------------------------------------------


async def test_text_usage_and_finish(upstream: FakeOpenAI, make_provider: Make) -> None:
    upstream.script(text_reply("Hello there world"))
    events = await collect(make_provider(), hello())
    assert [e.type for e in events] == ["text", "text", "text", "usage", "finish"]
    assert "".join(e.text or "" for e in events if e.type == "text") == "Hello there world"
    assert events[-1].usage is not None
    assert (events[-1].usage.input_tokens, events[-1].usage.output_tokens) == (9, 3)


@pytest.mark.parametrize(
    ("openai_reason", "reason"),
    [("length", "length"), ("content_filter", "content_filter"), ("stop", "stop")],
)
async def test_finish_reasons_are_mapped(
    upstream: FakeOpenAI, make_provider: Make, openai_reason: str, reason: str
) -> None:
    upstream.script(text_reply("cut", finish_reason=openai_reason))
    events = await collect(make_provider(), hello())
    assert events[-1].finish_reason == reason


async def test_reasoning_deltas_become_reasoning_events(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    upstream.script(text_reply("42", reasoning="Let me think"))
    completion = accumulate(await collect(make_provider(), hello()))
    assert completion.reasoning == "Let me think"
    assert completion.text == "42"


async def test_two_parallel_tool_calls_are_assembled(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    first = tool_reply("get_weather", '{"city": "Paris"}', call_id="call_a", index=0)
    second = tool_reply("get_time", '{"tz": "CET"}', call_id="call_b", index=1)
    # Interleave the argument pieces of both calls, as OpenAI does for parallel calls.
    body = [*first.chunks[:2], second.chunks[1]]
    pieces = zip_longest(first.chunks[2:-2], second.chunks[2:-2])
    body += [piece for pair in pieces for piece in pair if piece is not None]
    body += first.chunks[-2:]
    upstream.script(Reply(chunks=body))
    completion = await make_provider().complete(hello())
    assert completion.finish_reason == "tool_call"
    calls = {c.id: (c.name, c.parsed_arguments()) for c in completion.tool_calls}
    assert calls == {
        "call_a": ("get_weather", {"city": "Paris"}),
        "call_b": ("get_time", {"tz": "CET"}),
    }


async def test_next_request_carries_the_tool_turn_and_both_results(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    calls = [
        ("call_w", "get_weather", '{"city": "Paris"}'),
        ("call_t", "get_time", '{"timezone": "CET"}'),
    ]
    upstream.script(tool_calls_reply(calls), text_reply("18C, and 09:30."))
    provider = make_provider()
    turn = await provider.complete(build_request(prompt="Weather and time?"))
    request = GenerateRequest(
        messages=[
            Message(role="user", content="Weather and time?"),
            turn.to_message(),
            Message(role="tool", tool_call_id="call_w", content='{"temperature_c": 18}'),
            Message(role="tool", tool_call_id="call_t", content="unknown zone", is_error=True),
        ]
    )
    assert accumulate(await collect(provider, request)).text == "18C, and 09:30."
    assert upstream.requests[-1].body["messages"] == [
        {"role": "user", "content": "Weather and time?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in calls
            ],
        },
        {"role": "tool", "content": '{"temperature_c": 18}', "tool_call_id": "call_w"},
        # No error flag in the Chat Completions API: the error's message is the content.
        {"role": "tool", "content": "unknown zone", "tool_call_id": "call_t"},
    ]


async def test_a_tool_message_without_its_call_id_fails_before_sending(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    request = GenerateRequest(messages=[Message(role="tool", content="18C")])
    with pytest.raises(InvalidRequestError, match="tool_call_id"):
        make_provider().stream(request)
    assert upstream.requests == []


async def test_text_before_a_tool_call_is_kept(upstream: FakeOpenAI, make_provider: Make) -> None:
    upstream.script(tool_reply("lookup", '{"q": "x"}', text="Let me look."))
    completion = await make_provider().complete(hello())
    assert completion.text == "Let me look."
    assert [c.name for c in completion.tool_calls] == ["lookup"]


# -- errors before the first token ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ProviderBadRequest),
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (404, ProviderBadRequest),
        (422, ProviderBadRequest),
        (429, ProviderRateLimited),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
async def test_error_statuses_raise_mapped_errors(
    upstream: FakeOpenAI, make_provider: Make, status: int, error: type[Exception]
) -> None:
    upstream.script(error_reply(status, "nope"))
    with pytest.raises(error, match="nope"):
        await collect(make_provider(), hello())


async def test_rate_limit_carries_retry_after(upstream: FakeOpenAI, make_provider: Make) -> None:
    upstream.script(error_reply(429, "slow down", headers={"retry-after": "7"}))
    with pytest.raises(ProviderRateLimited) as info:
        await collect(make_provider(), hello())
    assert info.value.retry_after == 7.0
    assert info.value.__cause__ is not None  # the SDK error is chained, not leaked


async def test_retries_before_the_first_token_then_streams(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    upstream.script(
        error_reply(429, "busy", headers={"retry-after-ms": "20"}),
        error_reply(503, "overloaded"),
        text_reply("finally"),
    )
    completion = await make_provider(max_retries=2, backoff=0.01).complete(hello())
    assert completion.text == "finally"
    assert len(upstream.requests) == 3


async def test_retries_stop_after_max_retries(upstream: FakeOpenAI, make_provider: Make) -> None:
    upstream.script(error_reply(500, "down"))
    with pytest.raises(ProviderUnavailable):
        await collect(make_provider(max_retries=2, backoff=0.01), hello())
    assert len(upstream.requests) == 3


async def test_retry_after_beyond_max_backoff_is_raised_not_waited(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    upstream.script(error_reply(429, "slow down", headers={"retry-after": "30"}), text_reply("x"))
    with pytest.raises(ProviderRateLimited) as info:
        await collect(make_provider(max_retries=2, backoff=0.01, max_backoff=5), hello())
    assert info.value.retry_after == 30.0
    assert len(upstream.requests) == 1


def test_retry_settings_map_onto_the_policy() -> None:
    provider = OpenAIProvider(api_key="k", max_retries=3, backoff=0.1, max_backoff=4)
    assert provider.retry == RetryPolicy(max_retries=3, backoff=0.1, max_wait=4.0)
    assert (provider.max_retries, provider.backoff, provider.max_backoff) == (3, 0.1, 4.0)
    assert OpenAIProvider(api_key="k", max_retries=-1).retry.max_retries == 0
    assert OpenAIProvider(api_key="k").retry == RetryPolicy(max_retries=2, backoff=0.5, max_wait=20)


async def test_auth_errors_are_not_retried(upstream: FakeOpenAI, make_provider: Make) -> None:
    upstream.script(error_reply(401, "bad key"))
    with pytest.raises(ProviderAuthError):
        await collect(make_provider(max_retries=3, backoff=0.01), hello())
    assert len(upstream.requests) == 1


async def test_malformed_first_chunk_raises_response_error(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    upstream.script(Reply(chunks=["{not json"]))
    with pytest.raises(ProviderResponseError, match="malformed"):
        await collect(make_provider(), hello())


async def test_error_object_in_the_stream_is_mapped(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    payload = {"error": {"message": "model overloaded", "type": "server_error"}}
    upstream.script(Reply(chunks=[json.dumps(payload)]))
    with pytest.raises(ProviderUnavailable, match="model overloaded"):
        await collect(make_provider(), hello())


async def test_connection_refused_is_unavailable(make_provider: Make) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = make_provider(base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderUnavailable):
        await collect(provider, hello())


async def test_slow_first_chunk_times_out(upstream: FakeOpenAI, make_provider: Make) -> None:
    upstream.script(Reply(chunks=[chunk({"content": "late"})], delay=2.0))
    with pytest.raises(ProviderTimeout):
        await collect(make_provider(timeout=0.2), hello())


async def test_connection_closed_before_the_response_is_unavailable(
    upstream_server: tuple[FakeOpenAI, LiveServer], make_provider: Make
) -> None:
    # Accepted, then closed before any response byte: the upstream is unavailable (503),
    # not a broken stream (502).
    async with TCPProxy(upstream_server[1].port, reject=True) as proxy:
        with pytest.raises(ProviderUnavailable):
            await collect(make_provider(base_url=proxy.url + "/v1"), hello())
    assert proxy.cuts >= 1


# -- errors after the first token -----------------------------------------------------------


async def test_malformed_chunk_mid_stream_is_an_error_event(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    reply = text_reply("one two three")
    reply.chunks.insert(2, "{broken")
    upstream.script(reply)
    events = await collect(make_provider(max_retries=3), hello())
    assert [e.type for e in events][-2:] == ["error", "finish"]
    assert events[-2].code == "provider_response_error"
    assert events[-1].finish_reason == "error"
    assert len(upstream.requests) == 1  # no retry once a token went out


async def test_connection_dropped_mid_stream_is_an_error_event(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    reply = text_reply("one two three four")
    reply.drop_after = 3
    upstream.script(reply)
    events = await collect(make_provider(max_retries=3), hello())
    kinds = [e.type for e in events]
    assert kinds == ["text", "text", "error", "finish"]
    # The response had started: a truncated stream, not an unreachable upstream.
    assert events[2].code == "provider_response_error"
    assert events[2].retryable is True
    assert events[3].finish_reason == "error"
    assert len(upstream.requests) == 1


async def test_stream_ending_without_finish_is_an_error_event(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    upstream.script(Reply(chunks=[chunk({"content": "partial"}), usage_chunk()]))
    events = await collect(make_provider(), hello())
    assert [e.type for e in events] == ["text", "error", "finish"]
    assert events[1].code == "provider_response_error"


# -- cancellation ---------------------------------------------------------------------------


async def test_cancel_closes_the_upstream_connection_at_once(
    upstream: FakeOpenAI, make_provider: Make
) -> None:
    upstream.script(text_reply("tick " * 200, delay=0.02))
    provider = make_provider()
    with anyio.fail_after(10):
        with anyio.CancelScope() as scope:
            async with open_stream(provider, hello()) as events:
                async for event in events:
                    if event.type == "text":
                        scope.cancel()
                        await anyio.sleep(1)
        assert scope.cancelled_caught
        assert await upstream.wait_disconnect()
    assert upstream.completed == 0


async def test_a_finished_stream_leaves_its_connection_in_the_pool(
    upstream_server: tuple[FakeOpenAI, LiveServer], make_provider: Make
) -> None:
    fake = upstream_server[0]
    fake.script(text_reply("one two"))
    async with TCPProxy(upstream_server[1].port) as proxy:
        provider = make_provider(base_url=proxy.url + "/v1")
        for _ in range(3):
            # As the server reads a stream: it stops at the finish event.
            with anyio.fail_after(10):
                async with open_stream(provider, hello()) as events:
                    kinds = []
                    async for event in events:
                        kinds.append(event.type)
                        if event.type == "finish":
                            break
            assert kinds[-1] == "finish"
    assert proxy.connections == 1
    assert fake.completed == 3


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_and_user_are_sent_in_openais_shape(choice: str, sent: object) -> None:
    from ainative_core import build_request
    from ainative_openai._convert import request_params

    params = request_params(
        build_request(prompt="hi", tool_choice=choice, user="u-1"), default_model="m"
    )
    assert (params["tool_choice"], params["user"]) == (sent, "u-1")
    plain = request_params(build_request(prompt="hi"), default_model="m")
    assert "tool_choice" not in plain
    assert "user" not in plain
