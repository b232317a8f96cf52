"""Wire events: the seed-compatible JSON objects and the mapping from provider events."""

from __future__ import annotations

import json

import pytest

from ainative_core import StreamEvent, Usage, WireEvent, sse_frame, wire_event_from_stream_event


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


def test_ws_json_adds_id_and_stream_id() -> None:
    frame = WireEvent.token("hi").to_ws_json("s_1", 4)
    assert json.loads(frame) == {"type": "token", "data": "hi", "id": 4, "stream_id": "s_1"}


def test_sse_frame_layout() -> None:
    assert sse_frame('{"type":"token","data":"a"}', 2) == (
        'id: 2\ndata: {"type":"token","data":"a"}\n\n'
    )
    assert sse_frame("[DONE]", None) == "data: [DONE]\n\n"


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
