"""A conversation that goes on after a tool turn: thinking blocks and tool results sent back.

With extended thinking on, the Messages API rejects a tool turn whose signed thinking blocks
are not sent back unchanged; these tests read the next request as the fake upstream got it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from ainative_anthropic import AnthropicProvider
from ainative_anthropic.testing import AnthropicReply, FakeAnthropic
from ainative_core import (
    Completion,
    GenerateRequest,
    Message,
    StreamEvent,
    accumulate,
    build_request,
)
from ainative_testing import StreamCollector

pytestmark = pytest.mark.anyio

MakeProvider = Callable[..., AnthropicProvider]

THINKING = {"type": "thinking", "thinking": "I need the weather and the time", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "RU5DUllQVEVE"}
TOOL_TURN = AnthropicReply(
    text="Checking.",
    thinking=str(THINKING["thinking"]),
    signature=str(THINKING["signature"]),
    redacted_thinking=[str(REDACTED["data"])],
    tool_calls=[("get_weather", '{"city": "Paris"}'), ("get_time", '{"timezone": "CET"}')],
)


async def collect(provider: AnthropicProvider, request: GenerateRequest) -> list[StreamEvent]:
    return await StreamCollector().collect(provider, request, within=10)


async def first_turn(provider: AnthropicProvider, *, streamed: bool) -> Completion:
    request = build_request(prompt="Weather and time in Paris?")
    if streamed:
        return accumulate(await collect(provider, request))
    with anyio.fail_after(10):
        return await provider.complete(request)


async def test_thinking_blocks_come_once_just_before_finish(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(TOOL_TURN)
    events = await collect(make_provider(), build_request(prompt="q"))
    carrying = [
        i
        for i, e in enumerate(events)
        if e.provider_metadata and "anthropic" in e.provider_metadata
    ]
    assert carrying == [len(events) - 2], [e.type for e in events]
    assert events[-2].type == "metadata"
    assert events[-2].provider_metadata == {"anthropic": {"thinking_blocks": [THINKING, REDACTED]}}
    assert events[-1].type == "finish"
    completion = accumulate(events)
    assert completion.reasoning == THINKING["thinking"]
    assert completion.provider_metadata["anthropic"] == {"thinking_blocks": [THINKING, REDACTED]}
    assert completion.provider_metadata["id"].startswith("msg_")


async def test_complete_keeps_the_thinking_blocks(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(TOOL_TURN)
    completion = await first_turn(make_provider(), streamed=False)
    assert completion.provider_metadata["anthropic"] == {"thinking_blocks": [THINKING, REDACTED]}
    assert completion.to_message().provider_metadata == completion.provider_metadata


async def test_no_thinking_no_thinking_metadata(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    fake_anthropic.script(AnthropicReply(text="Hi"))
    streamed = accumulate(await collect(make_provider(), build_request(prompt="q")))
    completed = await first_turn(make_provider(), streamed=False)
    assert "anthropic" not in streamed.provider_metadata
    assert "anthropic" not in completed.provider_metadata


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "completed"])
async def test_next_request_sends_the_turn_back_with_both_results(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider, streamed: bool
) -> None:
    fake_anthropic.script(TOOL_TURN, AnthropicReply(text="18C, and 09:30."))
    provider = make_provider()
    turn = await first_turn(provider, streamed=streamed)
    weather, time = turn.tool_calls
    request = GenerateRequest(
        messages=[
            Message(role="user", content="Weather and time in Paris?"),
            turn.to_message(),
            Message(role="tool", tool_call_id=weather.id, content='{"temperature_c": 18}'),
            Message(
                role="tool",
                tool_call_id=time.id,
                content="get_time failed: unknown time zone",
                is_error=True,
            ),
        ]
    )
    answer = accumulate(await collect(provider, request))
    assert answer.text == "18C, and 09:30."
    sent = fake_anthropic.requests[-1].body["messages"]
    assert sent == [
        {"role": "user", "content": "Weather and time in Paris?"},
        {
            "role": "assistant",
            "content": [
                THINKING,
                REDACTED,
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": weather.id,
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": time.id,
                    "name": "get_time",
                    "input": {"timezone": "CET"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": weather.id,
                    "content": '{"temperature_c": 18}',
                },
                {
                    "type": "tool_result",
                    "tool_use_id": time.id,
                    "content": "get_time failed: unknown time zone",
                    "is_error": True,
                },
            ],
        },
    ]


async def test_thinking_blocks_go_back_as_received(
    fake_anthropic: FakeAnthropic, make_provider: MakeProvider
) -> None:
    # Fields this version does not know are kept too: the blocks are the API's, not ours.
    block: dict[str, Any] = {**THINKING, "future_field": {"x": [1, 2]}}
    request = GenerateRequest(
        messages=[
            Message(role="user", content="q"),
            Message(
                role="assistant",
                provider_metadata={"anthropic": {"thinking_blocks": [block]}, "id": "msg_1"},
            ),
            Message(role="user", content="go on"),
        ]
    )
    await collect(make_provider(), request)
    assistant = fake_anthropic.requests[-1].body["messages"][1]
    assert assistant == {"role": "assistant", "content": [block]}
    assert request.messages[1].provider_metadata["anthropic"]["thinking_blocks"] == [block]
