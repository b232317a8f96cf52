"""Stream translation corner cases the fake upstream does not produce."""

from __future__ import annotations

from typing import Any

import pytest

from ainative_anthropic._convert import StreamTranslator, convert_messages, parse_event
from ainative_core import InvalidRequestError, Message, ProviderResponseError, accumulate


def ns(**fields: Any) -> dict[str, Any]:
    """A raw stream event's JSON object (or one of its nested objects)."""
    return fields


def test_tool_input_given_whole_in_block_start_becomes_one_delta() -> None:
    translator = StreamTranslator()
    usage = ns(input_tokens=3, output_tokens=1)
    events = [
        *translator.feed(ns(type="message_start", message=ns(id="msg_1", model="m", usage=usage))),
        *translator.feed(
            ns(
                type="content_block_start",
                index=0,
                content_block=ns(type="tool_use", id="toolu_1", name="f", input={"a": 1}),
            )
        ),
        *translator.feed(ns(type="content_block_stop", index=0)),
        *translator.feed(
            ns(
                type="message_delta",
                delta=ns(stop_reason="tool_use"),
                usage=ns(output_tokens=5, cache_read_input_tokens=2),
            )
        ),
        *translator.feed(ns(type="message_stop")),
    ]
    assert [e.type for e in events] == [
        "metadata",
        "tool_call_start",
        "tool_call_delta",
        "tool_call_end",
        "usage",
        "finish",
    ]
    completion = accumulate(events)
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("toolu_1", "f", '{"a": 1}')
    ]
    assert completion.usage is not None
    assert completion.usage.input_tokens == 3
    assert completion.usage.output_tokens == 5
    assert completion.usage.model_extra == {"cache_read_input_tokens": 2}


def test_json_delta_for_an_unknown_block_is_a_response_error() -> None:
    delta = ns(type="input_json_delta", partial_json="{")
    with pytest.raises(ProviderResponseError):
        StreamTranslator().feed(ns(type="content_block_delta", index=3, delta=delta))


def test_unknown_events_and_blocks_are_ignored() -> None:
    translator = StreamTranslator()
    assert translator.feed(ns(type="ping")) == []
    assert translator.feed(ns(type="future_event")) == []
    block = ns(type="future_block", data="xyz")
    assert translator.feed(ns(type="content_block_start", index=0, content_block=block)) == []
    assert translator.feed(ns(type="content_block_stop", index=0)) == []


def test_stream_event_data_is_read_as_its_json_object() -> None:
    raw = parse_event(
        '{"type": "content_block_start", "index": 0,'
        ' "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}}'
    )
    assert raw == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
    }
    events = StreamTranslator().feed(raw)
    assert [(e.type, e.tool_call_id, e.tool_name) for e in events] == [
        ("tool_call_start", "toolu_1", "f")
    ]


def test_stream_event_of_an_unknown_type_is_none() -> None:
    assert parse_event('{"type": "future_event", "x": 1}') is None


@pytest.mark.parametrize("data", ["{broken", "[1, 2]"])
def test_stream_event_that_is_not_a_json_object_is_a_value_error(data: str) -> None:
    with pytest.raises(ValueError):
        parse_event(data)


@pytest.mark.parametrize(
    "raw",
    [
        ns(type="content_block_delta", index=0, delta="text"),
        ns(type="content_block_delta", delta=ns(type="text_delta", text="a")),
        ns(type="content_block_delta", index=0, delta=ns(type="text_delta", text=7)),
        ns(type="content_block_start", index=0, content_block=ns(type="tool_use", name="f")),
        ns(type="message_start", message=None),
    ],
    ids=["delta-not-object", "no-index", "text-not-string", "tool-without-id", "no-message"],
)
def test_stream_event_of_the_wrong_shape_is_a_response_error(raw: dict[str, Any]) -> None:
    with pytest.raises(ProviderResponseError, match="Anthropic stream event"):
        StreamTranslator().feed(raw)


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ("get_weather", {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice_and_user_take_the_messages_api_shape(choice: str, sent: object) -> None:
    from ainative_anthropic._convert import build_params
    from ainative_core import build_request

    request = build_request(prompt="hi", tool_choice=choice, user="u-1")
    params = build_params(request, model="claude", max_tokens=10)
    assert params["tool_choice"] == sent
    assert params["metadata"] == {"user_id": "u-1"}
    assert "tool_choice" not in build_params(build_request(prompt="hi"), model="c", max_tokens=1)


def test_signature_delta_for_a_block_that_is_not_thinking_is_a_response_error() -> None:
    translator = StreamTranslator()
    translator.feed(ns(type="content_block_start", index=0, content_block=ns(type="text")))
    delta = ns(type="signature_delta", signature="c2ln")
    with pytest.raises(ProviderResponseError, match="signature_delta"):
        translator.feed(ns(type="content_block_delta", index=0, delta=delta))


def test_thinking_blocks_keep_their_order_among_other_blocks() -> None:
    translator = StreamTranslator()
    message = ns(id="msg_1", model="m", usage=ns(input_tokens=1, output_tokens=1))
    translator.feed(ns(type="message_start", message=message))
    blocks = [
        ns(type="thinking", thinking="a", signature=""),
        ns(type="text", text=""),
        ns(type="redacted_thinking", data="R"),
        ns(type="thinking", thinking="", signature=""),
    ]
    for index, block in enumerate(blocks):
        translator.feed(ns(type="content_block_start", index=index, content_block=block))
    for index, piece in ((0, "b"), (3, "c"), (3, "d")):
        delta = ns(type="thinking_delta", thinking=piece)
        translator.feed(ns(type="content_block_delta", index=index, delta=delta))
    for index, signature in ((0, "s0"), (3, "s3")):
        delta = ns(type="signature_delta", signature=signature)
        translator.feed(ns(type="content_block_delta", index=index, delta=delta))
    events = translator.feed(ns(type="message_stop"))
    assert [e.type for e in events] == ["usage", "metadata", "finish"]
    assert events[1].provider_metadata == {
        "anthropic": {
            "thinking_blocks": [
                {"type": "thinking", "thinking": "ab", "signature": "s0"},
                {"type": "redacted_thinking", "data": "R"},
                {"type": "thinking", "thinking": "cd", "signature": "s3"},
            ]
        }
    }


@pytest.mark.parametrize(
    "metadata",
    [
        {"anthropic": {"thinking_blocks": "not a list"}},
        {"anthropic": {"thinking_blocks": [{"type": "text", "text": "x"}]}},
        {"anthropic": {"thinking_blocks": ["x"]}},
    ],
    ids=["not-a-list", "not-thinking", "not-a-block"],
)
def test_malformed_thinking_blocks_are_an_invalid_request(metadata: dict[str, Any]) -> None:
    message = Message(role="assistant", content="x", provider_metadata=metadata)
    with pytest.raises(InvalidRequestError, match="thinking_blocks"):
        convert_messages([message])


def test_other_providers_metadata_is_not_sent() -> None:
    message = Message(role="assistant", content="x", provider_metadata={"openai": {"a": 1}})
    assert convert_messages([message])[1] == [
        {"role": "assistant", "content": [{"type": "text", "text": "x"}]}
    ]
