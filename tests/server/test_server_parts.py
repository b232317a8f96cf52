"""Part streams (``_parts``), the alias table (``_aliases``) and the front-end conversions."""

from __future__ import annotations

import pytest

from ainative_core import WireEvent
from ainative_server import Run, ServerConfig, StoredEvent, StreamHub, UIMessageStreamEncoding
from ainative_server._agui import messages_from_agui
from ainative_server._aisdk import messages_from_ui
from ainative_server._aliases import StreamAliases
from ainative_server._parts import drop_parts

BODY = (
    b"id: 1\ndata: {}\n\n"
    b": ping\n\n"
    b'id: 2\ndata: {"t":"id: 9"}\n\n'
    b"id: 3\ndata: {}\n\n"
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize(
    ("after", "expected", "reached"),
    [
        (0, BODY, True),
        (1, b'id: 2\ndata: {"t":"id: 9"}\n\nid: 3\ndata: {}\n\ndata: [DONE]\n\n', True),
        (2, b"id: 3\ndata: {}\n\ndata: [DONE]\n\n", True),
        (3, b": ping\n\ndata: [DONE]\n\n", False),
        (8, b": ping\n\ndata: [DONE]\n\n", False),  # "id: 9" in a part's data is no id
    ],
)
def test_drop_parts_leaves_out_the_parts_up_to_n_and_keeps_the_rest(
    after: int, expected: bytes, reached: bool
) -> None:
    assert drop_parts(BODY, after) == (expected, reached)


def test_one_event_may_become_several_parts_each_with_its_ordinal() -> None:
    encode = UIMessageStreamEncoding().encoder("s_1")
    events = [
        WireEvent("metadata", {"stream_id": "s_1", "provider": "echo", "model": "echo"}),
        WireEvent.token("Hi"),
        WireEvent.token("!"),
        WireEvent.done("stop"),
    ]
    frames = [encode(StoredEvent.encode(i, e)) for i, e in enumerate(events, 1)]
    assert [f.count(b"id: ") for f in frames] == [2, 2, 1, 3]
    ids = [line for f in frames for line in f.split(b"\n") if line.startswith(b"id: ")]
    assert ids == [f"id: {n}".encode() for n in range(1, 9)]


def test_aliases_are_bounded_and_forget_streams_the_hub_dropped() -> None:
    hub = StreamHub(ServerConfig())
    for name in ("x", "y", "z"):
        hub.runs["s_" + name] = Run("s_" + name, provider="echo", model=None, action="respond")
    aliases = StreamAliases(hub, limit=2)
    aliases.set("gone", "s_gone")
    assert aliases.run("gone") is None  # the hub does not know s_gone
    assert len(aliases) == 0
    for name in ("x", "y", "z"):
        aliases.set(name, "s_" + name)
    assert len(aliases) == 2
    assert aliases.run("x") is None  # the least recently set went first
    assert aliases.run("z") is hub.runs["s_z"]
    del hub.runs["s_y"]  # dropped at the end of its retention
    assert aliases.run("y") is None
    assert len(aliases) == 1


def test_ui_messages_become_our_messages_step_by_step() -> None:
    messages = messages_from_ui(
        [
            {"id": "u", "role": "user", "parts": [{"type": "text", "text": "a"}, {"type": "file"}]},
            {
                "id": "a",
                "role": "assistant",
                "parts": [
                    {"type": "step-start"},
                    {"type": "text", "text": "calling"},
                    {
                        "type": "dynamic-tool",
                        "toolName": "f",
                        "toolCallId": "1",
                        "state": "output-error",
                        "input": {"x": 1},
                        "errorText": "bad",
                    },
                    {"type": "tool-g", "toolCallId": "2", "state": "input-available", "input": {}},
                    {"type": "step-start"},
                    {"type": "reasoning", "text": "hidden"},
                ],
            },
        ]
    )
    assert messages == [
        {"role": "user", "content": "a"},
        {
            "role": "assistant",
            "content": "calling",
            "tool_calls": [{"id": "1", "name": "f", "arguments": '{"x": 1}'}],
        },
        {"role": "tool", "tool_call_id": "1", "content": "bad"},
    ]


def test_agui_messages_become_our_messages() -> None:
    assert messages_from_agui(
        [
            {"id": "1", "role": "developer", "content": "rules"},
            {"id": "2", "role": "reasoning", "content": "hidden"},
            {"id": "3", "role": "assistant", "content": "", "toolCalls": ["not an object"]},
            {"id": "4", "role": "tool", "toolCallId": "c", "content": "", "error": "failed"},
        ]
    ) == [
        {"role": "system", "content": "rules"},
        {"role": "tool", "tool_call_id": "c", "content": "failed"},
    ]


@pytest.mark.parametrize("token", ['say "hi"\n', "émoji 🎉", "\\", "</script>"])
def test_a_tokens_delta_is_its_logged_json_string(token: str) -> None:
    import json

    from ainative_server._parts import token_json

    event = StoredEvent.encode(2, WireEvent.token(token))
    assert json.loads(token_json(event)) == token
    odd = StoredEvent(3, "token", '{"type": "token", "data": 7}')  # not as a server writes it
    assert json.loads(token_json(odd)) == "7"
