"""Chunks read as JSON objects: the shapes the fake upstream does not send."""

from __future__ import annotations

from typing import Any

import pytest

from ainative_core import ProviderRateLimited, ProviderResponseError, accumulate
from ainative_openai._convert import ChunkMapper, parse_chunk


def choice(delta: Any, finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


def test_a_chunk_is_its_json_object() -> None:
    data = '{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}'
    assert parse_chunk(data) == {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}}],
    }


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", '"text"', '{"choices": {"a": 1}}'])
def test_a_chunk_that_is_not_a_chunk_object_is_malformed(data: str) -> None:
    with pytest.raises(ProviderResponseError, match="malformed chunk"):
        parse_chunk(data)


def test_an_error_object_in_a_chunk_is_raised_as_its_error() -> None:
    with pytest.raises(ProviderRateLimited, match="slow down"):
        parse_chunk('{"error": {"message": "slow down", "type": "rate_limit_exceeded"}}')


def test_text_reasoning_tools_usage_and_finish_from_plain_objects() -> None:
    mapper = ChunkMapper()
    call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": '{"a"'}}
    more = {"index": 0, "function": {"arguments": ": 1}"}}
    events = [
        *mapper.feed({"model": "m", "choices": [choice({"role": "assistant", "content": ""})]}),
        *mapper.feed({"choices": [choice({"reasoning_content": "think"})]}),
        *mapper.feed({"choices": [choice({"content": "Hi"})]}),
        *mapper.feed({"choices": [choice({"content": "x"}, index=1)]}),  # not choice 0
        *mapper.feed({"choices": [choice({"tool_calls": [call]})]}),
        *mapper.feed({"choices": [choice({"tool_calls": [more]})]}),
        *mapper.feed({"choices": [choice({}, "tool_calls")]}),
        *mapper.feed({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}),
        *mapper.end(),
    ]
    assert [e.type for e in events] == [
        "reasoning",
        "text",
        "tool_call_start",
        "tool_call_delta",
        "tool_call_delta",
        "tool_call_end",
        "usage",
        "finish",
    ]
    completion = accumulate(events)
    assert (completion.text, completion.reasoning) == ("Hi", "think")
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("call_1", "f", '{"a": 1}')
    ]
    assert completion.finish_reason == "tool_call"
    assert completion.usage is not None
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (4, 2)
    assert mapper.model == "m"


def test_reasoning_that_is_not_text_is_ignored() -> None:
    mapper = ChunkMapper()
    events = mapper.feed({"choices": [choice({"reasoning": {"effort": "low"}, "content": "a"})]})
    assert [(e.type, e.text) for e in events] == [("text", "a")]


@pytest.mark.parametrize(
    "chunk",
    [
        {"choices": ["text"]},
        {"choices": [choice("text")]},
        {"choices": [choice({"content": 7})]},
        {"choices": [choice({"content": ["a", "b"]})]},
        {"choices": [choice({"tool_calls": {"index": 0}})]},
        {"choices": [choice({"tool_calls": [{"id": "c", "function": {"name": "f"}}]})]},
        {"choices": [choice({"tool_calls": [{"index": 0, "function": "f"}]})]},
        {"choices": [], "usage": "lots"},
    ],
    ids=[
        "choice",
        "delta",
        "content-number",
        "content-list",
        "tool-calls-object",
        "tool-call-without-index",
        "function-not-object",
        "usage",
    ],
)
def test_a_field_of_the_wrong_shape_is_a_response_error(chunk: dict[str, Any]) -> None:
    with pytest.raises(ProviderResponseError, match="openai: malformed"):
        ChunkMapper().feed(chunk)
