"""The Chat Completions encoding of a stream's log, and how a request body is read.

Encoding: events in, SSE blocks of ``chat.completion.chunk`` out, with what the log's
announcement sets up. Request: every field that maps to the `GenerateRequest`, and the 400s.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ainative_core import WireEvent
from ainative_server import StoredEvent
from ainative_server._openai_encoding import OPENAI_CHUNKS, announcement
from ainative_server._openai_request import OpenAIRequestError, parse_chat_request

META = WireEvent("metadata", {"stream_id": "s_1", "provider": "echo", "model": "echo-1"})
ANNOUNCED = WireEvent("metadata", announcement(created=1234, model="m-1", include_usage=True))


def encode(*events: WireEvent) -> list[list[tuple[str | None, Any]]]:
    """Each event's frame as its ``(id, data)`` SSE blocks, in order."""
    encoder = OPENAI_CHUNKS.encoder("s_1")
    frames = []
    for n, event in enumerate(events, start=1):
        frame = encoder(StoredEvent.encode(n, event)).decode()
        blocks = []
        for block in filter(None, frame.split("\n\n")):
            event_id: str | None = None
            data: Any = None
            for line in block.split("\n"):
                field, _, value = line.partition(": ")
                if field == "id":
                    event_id = value
                elif field == "data":
                    data = json.loads(value)
            blocks.append((event_id, data))
        frames.append(blocks)
    return frames


def delta(block: tuple[str | None, Any]) -> Any:
    return block[1]["choices"][0]["delta"]


def test_tokens_are_content_deltas_after_the_role_chunk() -> None:
    frames = encode(META, ANNOUNCED, WireEvent.token('say "hi"\n'), WireEvent.token("é 😀"))
    assert frames[0] == []  # the run's own metadata: nothing for OpenAI clients
    assert frames[1] == [
        (
            "2",
            {
                "id": "chatcmpl-s_1",
                "object": "chat.completion.chunk",
                "created": 1234,
                "model": "m-1",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            },
        )
    ]
    assert [(b[0], delta(b)) for f in frames[2:] for b in f] == [
        ("3", {"content": 'say "hi"\n'}),
        ("4", {"content": "é 😀"}),
    ]
    assert {b[1]["created"] for f in frames[1:] for b in f} == {1234}


def test_a_token_with_other_fields_is_read_whole() -> None:
    odd = WireEvent("token", 'a","b', code="c")
    frames = encode(META, ANNOUNCED, odd, WireEvent("token", 7))
    assert [delta(b) for f in frames[2:] for b in f] == [{"content": 'a","b'}, {"content": "7"}]


def test_done_is_the_finish_chunk_then_usage_when_announced() -> None:
    done = WireEvent.done("length", {"input_tokens": 3, "output_tokens": 5})
    frames = encode(META, ANNOUNCED, WireEvent.token("a"), done)
    finish, usage = frames[3]
    assert finish[0] == usage[0] == "4"
    assert finish[1]["choices"][0]["finish_reason"] == "length"
    assert delta(finish) == {}
    assert usage[1]["choices"] == []
    assert usage[1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    silent = WireEvent("metadata", announcement(created=1, model="m", include_usage=False))
    assert len(encode(META, silent, done)[2]) == 1  # not asked: no usage chunk


def test_a_usage_event_before_done_is_reported_by_done() -> None:
    usage = WireEvent("usage", {"input_tokens": 1, "output_tokens": 2})
    frames = encode(META, ANNOUNCED, usage, WireEvent.done("stop"))
    assert frames[2] == []
    assert frames[3][1][1]["usage"]["total_tokens"] == 3


def test_tool_calls_are_indexed_by_their_order_and_arguments_stream() -> None:
    def call(phase: str, call_id: str, **fields: Any) -> WireEvent:
        return WireEvent("tool_call", {"phase": phase, "id": call_id, "index": 7, **fields})

    frames = encode(
        META,
        ANNOUNCED,
        call("start", "c_a", name="f"),
        call("delta", "c_a", args_delta='{"x":'),
        call("start", "c_b", name="g"),
        call("delta", "c_a", args_delta="1}"),
        call("end", "c_a"),
        call("delta", "c_b", args_delta="{}"),
        WireEvent.done("tool_call"),
    )
    calls = [delta(b)["tool_calls"] for f in frames[2:8] for b in f]
    assert calls == [
        [{"index": 0, "id": "c_a", "type": "function", "function": {"name": "f", "arguments": ""}}],
        [{"index": 0, "function": {"arguments": '{"x":'}}],
        [{"index": 1, "id": "c_b", "type": "function", "function": {"name": "g", "arguments": ""}}],
        [{"index": 0, "function": {"arguments": "1}"}}],
        [{"index": 1, "function": {"arguments": "{}"}}],
    ]
    assert frames[6] == []  # an end has no chunk of its own
    assert frames[8][0][1]["choices"][0]["finish_reason"] == "tool_calls"


def test_reasoning_is_a_reasoning_content_delta() -> None:
    frames = encode(META, ANNOUNCED, WireEvent("reasoning", "hmm"))
    assert delta(frames[2][0]) == {"reasoning_content": "hmm"}


def test_an_error_is_an_error_chunk_and_done_adds_nothing() -> None:
    error = WireEvent.failure("slow down", code="provider_rate_limited", retryable=True)
    frames = encode(META, ANNOUNCED, WireEvent.token("a"), error, WireEvent.done("error"))
    assert frames[3] == [
        (
            "4",
            {
                "error": {
                    "message": "slow down",
                    "type": "rate_limit_error",
                    "param": None,
                    "code": "provider_rate_limited",
                }
            },
        )
    ]
    assert frames[4] == []


def test_a_cancelled_stream_ends_with_a_cancelled_error_chunk() -> None:
    frames = encode(META, ANNOUNCED, WireEvent.token("a"), WireEvent.done("cancelled"))
    assert frames[3][0][1]["error"]["code"] == "cancelled"


def test_a_stream_of_another_protocol_reads_with_the_runs_model() -> None:
    """No announcement (an ``/ai/stream`` run followed here): the role chunk comes first."""
    frames = encode(META, WireEvent.token("a"), WireEvent.done("stop"))
    role, token = frames[1]
    assert role[0] is None  # part of event 2's frame, before its own chunk
    assert delta(role) == {"role": "assistant", "content": ""}
    assert (token[0], delta(token), token[1]["model"]) == ("2", {"content": "a"}, "echo-1")
    assert len(frames[2]) == 1  # no usage chunk unless announced


def test_the_encoding_keeps_streams_alive_and_ends_them_with_done() -> None:
    assert OPENAI_CHUNKS.keepalive == b": ping\n\n"
    assert OPENAI_CHUNKS.epilogue == b"data: [DONE]\n\n"
    assert OPENAI_CHUNKS.prologue is None


# -- the request body ----------------------------------------------------------------------------


def parse(**fields: Any) -> Any:
    body = {"messages": [{"role": "user", "content": "hi"}], **fields}
    return parse_chat_request(body)


def test_every_mapped_field_reaches_the_generate_request() -> None:
    request = parse(
        messages=[
            {"role": "system", "content": "s"},
            {"role": "developer", "content": [{"type": "text", "text": "d"}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
            {"role": "function", "name": "f", "content": "42"},
        ],
        temperature=0.2,
        top_p=0.5,
        max_tokens=10,
        max_completion_tokens=20,
        stop="END",
        tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice="none",
        user="u",
        n=1,
        stream=True,
        stream_options={"include_usage": True},
        options={"tokens": 3},
        logprobs=True,  # unknown to ainative: ignored
    )
    generate = request.generate_request("m")
    assert [(m.role, m.content) for m in generate.messages] == [
        ("system", "s"),
        ("system", "d"),
        ("user", "ab"),
        ("assistant", "no"),
        ("tool", "42"),
    ]
    assert generate.messages[-1].name == "f"
    assert (generate.model, generate.temperature, generate.top_p) == ("m", 0.2, 0.5)
    assert (generate.max_tokens, generate.stop) == (20, ["END"])
    assert [(t.name, t.parameters) for t in generate.tools] == [
        ("f", {"type": "object", "properties": {}})
    ]
    assert (generate.tool_choice, generate.user, generate.extra) == ("none", "u", {"tokens": 3})
    assert request.include_usage
    assert not parse().include_usage
    assert parse(max_tokens=7).generate_request(None).max_tokens == 7


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 3}, "n"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages.0.content",
        ),
        ({"temperature": 3}, "temperature"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"options": {"messages": []}}, "options"),
    ],
)
def test_a_body_ainative_cannot_run_is_a_400_naming_the_field(
    fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(OpenAIRequestError) as raised:
        parse(**fields).generate_request(None)
    assert raised.value.status == 400
    assert raised.value.param == param
    assert raised.value.message


def test_a_body_that_is_not_an_object_is_a_400() -> None:
    with pytest.raises(OpenAIRequestError):
        parse_chat_request([1, 2])
