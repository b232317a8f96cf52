"""Folding provider events into a Completion."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ainative_core import (
    ActionRequest,
    CompletionAccumulator,
    GenerateRequest,
    Message,
    StreamEvent,
    ToolCall,
    Usage,
    accumulate,
    build_request,
)


def test_text_reasoning_usage_and_finish_are_folded() -> None:
    usage = Usage(input_tokens=3, output_tokens=2)
    completion = accumulate(
        [
            StreamEvent.reasoning_delta("think "),
            StreamEvent.reasoning_delta("hard"),
            StreamEvent.text_delta("Hello"),
            StreamEvent.text_delta(" world"),
            StreamEvent.metadata({"model": "m1"}),
            StreamEvent.finish("stop", usage=usage),
        ]
    )
    assert completion.text == "Hello world"
    assert completion.reasoning == "think hard"
    assert completion.usage == usage
    assert completion.finish_reason == "stop"
    assert completion.provider_metadata == {"model": "m1"}
    assert completion.to_message() == Message(
        role="assistant", content="Hello world", provider_metadata={"model": "m1"}
    )


def test_tool_calls_are_assembled_in_start_order_even_interleaved() -> None:
    acc = CompletionAccumulator()
    for event in [
        StreamEvent.tool_call_start("b", "second", index=1),
        StreamEvent.tool_call_start("a", "first", index=0),
        StreamEvent.tool_call_delta("a", '{"x":', index=0),
        StreamEvent.tool_call_delta("b", "{}", index=1),
        StreamEvent.tool_call_delta("a", " 1}", index=0),
        StreamEvent.tool_call_end("a"),
        StreamEvent.tool_call_end("b"),
        StreamEvent.finish("tool_call"),
    ]:
        acc.add(event)
    completion = acc.completion()
    assert completion.tool_calls == [
        ToolCall(id="b", name="second", arguments="{}"),
        ToolCall(id="a", name="first", arguments='{"x": 1}'),
    ]
    assert completion.tool_calls[1].parsed_arguments() == {"x": 1}
    assert completion.finish_reason == "tool_call"


def test_deltas_without_id_are_matched_by_index() -> None:
    completion = accumulate(
        [
            StreamEvent.tool_call_start("call_9", "f", index=2),
            StreamEvent(type="tool_call_delta", index=2, args_delta='{"a": 2}'),
        ]
    )
    assert completion.tool_calls == [ToolCall(id="call_9", name="f", arguments='{"a": 2}')]


def test_error_without_finish_gives_finish_reason_error() -> None:
    completion = accumulate(
        [StreamEvent.text_delta("par"), StreamEvent.error("lost", code="provider_unavailable")]
    )
    assert completion.text == "par"
    assert completion.error == "lost"
    assert completion.error_code == "provider_unavailable"
    assert completion.finish_reason == "error"


def test_tool_call_arguments_must_be_an_object() -> None:
    assert ToolCall(id="x", name="f", arguments="").parsed_arguments() == {}
    with pytest.raises(ValueError, match="not a JSON object"):
        ToolCall(id="x", name="f", arguments="[1]").parsed_arguments()


def test_generate_request_validation_names_the_field() -> None:
    with pytest.raises(ValidationError, match="temperature"):
        GenerateRequest(messages=[Message(role="user", content="x")], temperature=5)
    with pytest.raises(ValidationError, match="messages"):
        GenerateRequest(messages=[])
    assert GenerateRequest(messages=[Message(role="user")], stop="END").stop == ["END"]


def test_build_request_splits_known_fields_from_provider_extras() -> None:
    request = build_request(prompt="hi", model="m", max_tokens=5, tokens=10, delay=0.1)
    assert request.model == "m"
    assert request.max_tokens == 5
    assert request.extra == {"tokens": 10, "delay": 0.1}
    assert request.messages == [Message(role="user", content="hi")]


def test_action_request_defaults_match_the_seed_shape() -> None:
    body = ActionRequest.model_validate({"action": "chat", "params": {"message": "Hello"}})
    assert body.context == {}
    assert body.provider is None
    assert body.options == {}
