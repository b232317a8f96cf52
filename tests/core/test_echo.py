"""The echo provider: tokens that join back to the prompt, options, limits, cancellation."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from ainative_core import (
    EchoProvider,
    InvalidRequestError,
    Message,
    StreamEvent,
    accumulate,
    build_request,
    echo_tokens,
    open_stream,
)

pytestmark = pytest.mark.anyio


def test_tokens_join_back_exactly() -> None:
    text = "  Hello,  brave\tnew\nworld  "
    assert "".join(echo_tokens(text)) == text
    assert echo_tokens("Hello world") == ["Hello", " world"]


async def collect(provider: EchoProvider, **options: object) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    with anyio.fail_after(10):
        async with open_stream(provider, build_request(**options)) as stream:  # type: ignore[arg-type]
            async for event in stream:
                events.append(event)
    return events


async def test_echoes_last_user_message_then_usage_and_finish() -> None:
    events = await collect(
        EchoProvider(),
        messages=[{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}],
        prompt="Hello world",
    )
    assert [e.text for e in events if e.type == "text"] == ["Hello", " world"]
    assert [e.type for e in events[-2:]] == ["usage", "finish"]
    assert events[-1].finish_reason == "stop"
    assert events[-1].usage is not None
    assert events[-1].usage.output_tokens == 2


async def test_tokens_option_generates_n_tokens() -> None:
    events = await collect(EchoProvider(), prompt="x", tokens=5)
    assert "".join(e.text or "" for e in events if e.type == "text") == "t0 t1 t2 t3 t4"
    assert events[1] == StreamEvent.text_delta(" t1")  # the same as a validated event
    assert events[1].model_dump() == StreamEvent.text_delta(" t1").model_dump()


async def test_max_tokens_stops_with_length() -> None:
    events = await collect(EchoProvider(), prompt="x", tokens=10, max_tokens=3)
    assert sum(e.type == "text" for e in events) == 3
    assert events[-1].finish_reason == "length"


async def test_bad_options_fail_before_the_first_event() -> None:
    with pytest.raises(InvalidRequestError, match="tokens"):
        EchoProvider().stream(build_request(prompt="x", tokens="many"))
    with pytest.raises(InvalidRequestError, match="delay"):
        EchoProvider().stream(build_request(prompt="x", delay=-1))


async def test_generate_yields_text_tokens_like_the_seed() -> None:
    tokens = [t async for t in EchoProvider().generate(prompt="Hello brave world", stream=True)]
    assert tokens == ["Hello", " brave", " world"]
    whole = [t async for t in EchoProvider().generate(prompt="Hello world", stream=False)]
    assert whole == ["Hello world"]


async def test_cancellation_at_any_await_even_without_delay() -> None:
    seen = 0
    with anyio.fail_after(10):
        with anyio.CancelScope() as scope:
            async with open_stream(EchoProvider(), build_request(prompt="x", tokens=10**9)) as s:
                async for _event in s:
                    seen += 1
                    if seen == 50:
                        scope.cancel()
    assert scope.cancelled_caught
    assert seen == 50


async def test_delay_paces_tokens_and_is_cancellable() -> None:
    provider = EchoProvider(delay=30.0)
    with anyio.move_on_after(0.2) as scope:
        await collect(provider, prompt="a b c")
    assert scope.cancelled_caught


async def test_complete_folds_the_stream() -> None:
    completion = await EchoProvider().complete(build_request(prompt="Hello world"))
    assert completion.text == "Hello world"
    assert completion.finish_reason == "stop"


async def test_scripted_tool_calls_then_the_results_text() -> None:
    script = [
        {"name": "calculate", "arguments": {"expression": "6*7"}},
        {"name": "get_time", "arguments": '{"timezone": "UTC"}'},
    ]
    request = build_request(prompt="go", tool_call=script)
    with anyio.fail_after(5):
        async with open_stream(EchoProvider(), request) as stream:
            events = [event async for event in stream]
    first = accumulate(events)
    assert first.finish_reason == "tool_call"
    assert [(c.id, c.name, c.parsed_arguments()) for c in first.tool_calls] == [
        ("call_0_0", "calculate", {"expression": "6*7"}),
        ("call_0_1", "get_time", {"timezone": "UTC"}),
    ]
    assert sum(e.type == "tool_call_delta" for e in events) > 2  # arguments in pieces
    answered = [
        *request.messages,
        first.to_message(),
        Message(role="tool", tool_call_id="call_0_0", content="42"),
        Message(role="tool", tool_call_id="call_0_1", content="noon"),
    ]
    # The provider's own setting scripts the same calls; the results end the conversation.
    with anyio.fail_after(5):
        second = await EchoProvider(tool_call=script).complete(
            request.model_copy(update={"messages": answered, "extra": {}})
        )
    assert (second.text, second.finish_reason, second.tool_calls) == ("42\nnoon", "stop", [])


@pytest.mark.parametrize(
    "script",
    [3, {"arguments": {}}, {"name": "x", "arguments": "not json"}, {"name": "x", "arguments": [1]}],
)
async def test_a_bad_tool_call_script_is_refused_before_any_event(script: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"tool_call|arguments must be a JSON object"):
        EchoProvider().stream(build_request(prompt="go", tool_call=script))
