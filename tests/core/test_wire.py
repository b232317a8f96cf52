"""Wire events: the seed-compatible JSON objects and the mapping from provider events."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ainative_core import (
    AINativeError,
    ProviderRateLimited,
    StreamEvent,
    Usage,
    WireEvent,
    error_fields,
    wire_event_from_stream_event,
)


def test_token_json_matches_the_seed_byte_for_byte() -> None:
    assert WireEvent.token("Hello").to_json() == '{"type":"token","data":"Hello"}'
    assert WireEvent.token(" world").to_json() == '{"type":"token","data":" world"}'


def test_token_json_escapes_like_json_stringify_and_keeps_non_ascii() -> None:
    text = 'quote " backslash \\ newline \n tab \t ü 😀'
    body = WireEvent.token(text).to_json()
    assert "\n" not in body
    assert "ü" in body
    assert json.loads(body) == {"type": "token", "data": text}


def test_fast_path_equals_generic_encoding() -> None:
    event = WireEvent.token("x\u2028y")
    assert json.loads(event.to_json()) == event.to_dict()


def test_error_and_done_shapes() -> None:
    err = WireEvent.failure("slow down", code="provider_rate_limited", retryable=True)
    assert json.loads(err.to_json()) == {
        "type": "error",
        "data": "slow down",
        "code": "provider_rate_limited",
        "retryable": True,
    }
    done = WireEvent.done("stop", {"input_tokens": 1, "output_tokens": 2})
    assert done.to_json() == (
        '{"type":"done","data":{"finish_reason":"stop",'
        '"usage":{"input_tokens":1,"output_tokens":2}}}'
    )


def test_error_fields_are_what_a_client_is_told_of_an_error() -> None:
    limited = ProviderRateLimited("slow down", retry_after=2.5)
    assert error_fields(limited) == {
        "code": "provider_rate_limited",
        "message": "slow down",
        "retryable": True,
        "retry_after": 2.5,
    }
    assert error_fields(AINativeError("plain")) == {
        "code": "internal_error",
        "message": "plain",
        "retryable": False,
    }
    # Not ours: the text may hold internals.
    assert error_fields(KeyError("secret path")) == {
        "code": "internal_error",
        "message": "internal server error",
        "retryable": False,
    }


def test_failure_of_an_error_is_its_error_event() -> None:
    event = WireEvent.failure_of(ProviderRateLimited("slow down"))
    assert event == WireEvent.failure("slow down", code="provider_rate_limited", retryable=True)
    hidden = WireEvent.failure_of(ValueError("boom"))
    assert (hidden.data, hidden.code) == ("internal server error", "internal_error")
    shown = WireEvent.failure_of(ValueError("boom"), internal_message="boom")
    assert (shown.data, shown.code) == ("boom", "internal_error")


def test_from_json_rejects_non_objects_and_missing_type() -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        WireEvent.from_json("[1]")
    with pytest.raises(ValueError, match="type"):
        WireEvent.from_json('{"data": 1}')


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (StreamEvent.text_delta("hi"), {"type": "token", "data": "hi"}),
        (StreamEvent.reasoning_delta("hmm"), {"type": "reasoning", "data": "hmm"}),
        (
            StreamEvent.tool_call_start("c1", "get_time"),
            {
                "type": "tool_call",
                "data": {"phase": "start", "id": "c1", "name": "get_time", "index": 0},
            },
        ),
        (
            StreamEvent.tool_call_delta("c1", '{"a"'),
            {
                "type": "tool_call",
                "data": {"phase": "delta", "id": "c1", "args_delta": '{"a"', "index": 0},
            },
        ),
        (
            StreamEvent.tool_call_end("c1"),
            {"type": "tool_call", "data": {"phase": "end", "id": "c1", "index": 0}},
        ),
        (
            StreamEvent.usage_report(Usage(input_tokens=2, output_tokens=3)),
            {"type": "usage", "data": {"input_tokens": 2, "output_tokens": 3}},
        ),
        (StreamEvent.finish("length"), {"type": "done", "data": {"finish_reason": "length"}}),
        (
            StreamEvent.error("boom", code="provider_unavailable", retryable=True),
            {"type": "error", "data": "boom", "code": "provider_unavailable", "retryable": True},
        ),
        (StreamEvent.metadata({"model": "m"}), {"type": "metadata", "data": {"model": "m"}}),
    ],
)
def test_stream_event_to_wire(event: StreamEvent, expected: dict[str, object]) -> None:
    wire = wire_event_from_stream_event(event)
    assert wire is not None
    assert json.loads(wire.to_json()) == expected


def test_empty_text_has_no_wire_form() -> None:
    assert wire_event_from_stream_event(StreamEvent.text_delta("")) is None


_token_values = st.one_of(
    st.text(),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_tails = st.sampled_from(["}", " }", ',"code":"c"}', ',"type":"error"}', "", "}}", "} ", "]"])


@given(value=_token_values, tail=_tails, ascii_only=st.booleans())
def test_token_fast_path_parses_exactly_as_json_loads(
    value: object, tail: str, ascii_only: bool
) -> None:
    text = '{"type":"token","data":' + json.dumps(value, ensure_ascii=ascii_only) + tail
    try:
        expected = WireEvent.from_dict(json.loads(text))
    except ValueError:
        with pytest.raises(ValueError):
            WireEvent.from_json(text)
    else:
        assert WireEvent.from_json(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"token","data":"a\x01"}',  # raw control character: invalid JSON
        '{"type":"token","data":"\\ud800"}',  # lone surrogate escape: valid JSON
        '{"type":"token","data":"unterminated}',
        '{"type":"token","data":}',
    ],
)
def test_token_fast_path_edge_cases_agree_with_json_loads(text: str) -> None:
    try:
        expected = WireEvent.from_dict(json.loads(text))
    except ValueError:
        with pytest.raises(ValueError):
            WireEvent.from_json(text)
    else:
        assert WireEvent.from_json(text) == expected
