"""The SSE encoder and the spec-correct incremental decoder (WHATWG event-stream rules)."""

from __future__ import annotations

import itertools
import json

from hypothesis import example, given
from hypothesis import strategies as st

from ainative_core import (
    SSE_DONE,
    ServerSentEvent,
    SSEDecoder,
    WireEvent,
    encode_sse,
    encode_sse_comment,
)


def _chunks(data: bytes, split: list[int] | None = None) -> list[bytes]:
    cuts = [0, *(split or []), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(cuts)]


def decode_all(data: bytes, *, split: list[int] | None = None) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [event for chunk in _chunks(data, split) for event in decoder.feed(chunk)]


def test_encode_event_with_id_and_retry() -> None:
    assert encode_sse('{"a":1}', id=3, retry=1000) == 'retry: 1000\nid: 3\ndata: {"a":1}\n\n'


def test_encode_multiline_data_becomes_several_data_lines() -> None:
    assert encode_sse("a\nb\r\nc") == "data: a\ndata: b\ndata: c\n\n"


def test_encode_comment_prefixes_every_line() -> None:
    assert encode_sse_comment("ping") == ": ping\n\n"
    assert encode_sse_comment("a\nb") == ": a\n: b\n\n"


def test_encoded_lines_never_use_crlf() -> None:
    frame = encode_sse("x\ny", id=1, event="e", retry=5) + encode_sse_comment("c")
    assert "\r" not in frame


def test_lf_cr_and_crlf_line_ends_all_work() -> None:
    for sep in ("\n", "\r", "\r\n"):
        text = f"id: 1{sep}data: hello{sep}{sep}data: two{sep}{sep}"
        events = decode_all(text.encode())
        assert [e.data for e in events] == ["hello", "two"], repr(sep)
        assert events[1].id == "1"


def test_cr_only_stream_split_between_cr_and_following_line() -> None:
    data = b"data: a\r\rdata: b\r\r"
    for cut in range(1, len(data)):
        assert [e.data for e in decode_all(data, split=[cut])] == ["a", "b"], cut


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    data = b"data: a\r\n\r\ndata: b\r\n\r\n"
    for cut in range(1, len(data)):
        assert [e.data for e in decode_all(data, split=[cut])] == ["a", "b"], cut


def test_leading_bom_is_dropped_even_split_across_chunks() -> None:
    data = "\ufeffdata: x\n\n".encode()
    assert [e.data for e in decode_all(data, split=[1, 2])] == ["x"]


def test_bom_is_only_stripped_at_stream_start() -> None:
    events = decode_all("data: a\n\n\ufeffdata: b\n\n".encode())
    # The second BOM is part of the field name, so that line is an unknown field: ignored.
    assert [e.data for e in events] == ["a"]


def test_comment_between_id_and_data_does_not_dispatch_an_empty_event() -> None:
    events = decode_all(b"id: 7\n: ping\ndata: hello\n\n")
    assert events == [ServerSentEvent(data="hello", id="7")]


def test_comment_only_blocks_produce_no_events() -> None:
    assert decode_all(b": ping\n\n: ping\n\nid: 4\n\n") == []


def test_field_without_colon_is_field_with_empty_value() -> None:
    events = decode_all(b"data\n\ndata\ndata\n\n")
    assert [e.data for e in events] == ["", "\n"]


def test_retry_with_non_digits_is_ignored() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 1500\n\nretry: 10a\n\nretry: -5\n\nretry: 1e3\n\n")
    assert decoder.retry == 1500


def test_id_with_nul_is_ignored_and_empty_id_resets() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 5\ndata: a\n\nid: 6\x007\ndata: b\n\nid\ndata: c\n\n")
    assert [(e.id, e.data) for e in events] == [("5", "a"), ("5", "b"), ("", "c")]


def test_last_event_id_persists_across_events() -> None:
    events = decode_all(b"id: 1\ndata: a\n\ndata: b\n\n")
    assert [e.id for e in events] == ["1", "1"]


def test_only_one_leading_space_is_stripped_and_event_names_are_read() -> None:
    events = decode_all(b"event: update\ndata:  two spaces\n\ndata:none\n\n")
    assert events[0] == ServerSentEvent(data=" two spaces", event="update")
    assert events[1].data == "none"
    assert events[1].event == "message"


def test_event_and_data_blocks_keep_their_names_and_the_last_id() -> None:
    events = decode_all(
        b"id: 4\ndata: a\n\nevent: message_start\ndata: {}\n\nevent: ping\ndata: \n\n",
        split=[30],
    )
    assert [(e.data, e.event, e.id) for e in events] == [
        ("a", "message", "4"),
        ("{}", "message_start", "4"),
        ("", "ping", "4"),
    ]


def test_incomplete_event_at_end_of_stream_is_discarded() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete\n\ndata: partial") != []
    assert decoder.close() == []


def test_multibyte_utf8_split_at_every_byte() -> None:
    data = 'data: {"t":"héllo ✓ 😀"}\n\n'.encode()
    for cut in range(1, len(data)):
        events = decode_all(data, split=[cut])
        assert json.loads(events[0].data) == {"t": "héllo ✓ 😀"}


def test_unknown_fields_are_ignored() -> None:
    assert [e.data for e in decode_all(b"foo: bar\ndata: x\n\n")] == ["x"]


def test_done_sentinel_frame() -> None:
    assert SSE_DONE == "data: [DONE]\n\n"
    assert decode_all(SSE_DONE.encode())[0].data == "[DONE]"


# -- property: any wire event survives encode -> bytes split anywhere -> decode ---------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
_wire_events = st.builds(
    WireEvent,
    type=st.sampled_from(["token", "metadata", "done", "error", "tool_call", "reasoning", "x"]),
    data=st.one_of(st.text(), _json),
    code=st.one_of(st.none(), st.text(min_size=1, max_size=10)),
    retryable=st.one_of(st.none(), st.booleans()),
)


@given(
    events=st.lists(_wire_events, min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
    first_id=st.integers(min_value=1, max_value=10**9),
)
def test_encode_decode_round_trip_split_at_any_byte(
    events: list[WireEvent], cuts: list[int], first_id: int
) -> None:
    stream = "retry: 1000\n" + "".join(
        encode_sse(e.to_json(), id=first_id + i) + (encode_sse_comment("ping") if i % 2 else "")
        for i, e in enumerate(events)
    )
    data = stream.encode()
    split = sorted({c % (len(data) + 1) for c in cuts})
    decoded = decode_all(data, split=split)
    assert [WireEvent.from_json(d.data) for d in decoded] == events
    assert [d.id for d in decoded] == [str(first_id + i) for i in range(len(events))]


def _reference_decode(text: str) -> list[tuple[str, str, str, int | None]]:
    """The WHATWG algorithm written out plainly, over the whole (decoded) stream at once."""
    text = text.removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1]
    out: list[tuple[str, str, str, int | None]] = []
    data: list[str] = []
    event, last_id, retry = "", "", None
    for line in lines:
        if not line:
            if data:
                out.append(("\n".join(data), event or "message", last_id, retry))
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        value = value[1:] if colon and value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    return out


_sse_pieces = st.sampled_from(
    [
        "id: 1\n",
        "id: 22\n",
        "id:3\n",
        "id: a\0b\n",
        "id\n",
        "data: x\n",
        'data: {"type":"token","data":"t"}\n',
        "data:y\n",
        "data\n",
        "data:  two spaces\n",
        "event: e\n",
        "event: content_block_delta\ndata: {}\n\n",
        "event: \ndata: q\n\n",
        "event:e\ndata: r\n\n",
        "retry: 5\n",
        ": ping\n",
        "\n",
        "\n\n",
        "\r\n",
        "\r",
        "id: 9\r\ndata: z\r\n\r\n",
        "id: 7\ndata: w\n\n",
        "data: [DONE]\n\n",
        "é",
        "\ufeff",
    ]
)


@given(
    pieces=st.lists(_sse_pieces, max_size=24),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_decoder_matches_the_plain_algorithm_for_any_layout_and_split(
    pieces: list[str], cuts: list[int]
) -> None:
    data = "".join(pieces).encode()
    split = sorted({c % (len(data) + 1) for c in cuts})
    decoded = decode_all(data, split=split)
    expected = _reference_decode(data.decode())
    assert [(e.data, e.event, e.id, e.retry) for e in decoded] == expected
    decoder = SSEDecoder()
    pairs = [p for chunk in _chunks(data, split) for p in decoder.feed_data(chunk)]
    assert pairs == [(data_, ident) for data_, _, ident, _ in expected]


_block_lines = st.sampled_from(
    ["id: 1", "id: 2", "id: a\0b", "data: x", "data: y", ": c", "event: e", "retry: 3", "idx: 4"]
)
_ids = st.sampled_from(["1", "22", "a\0b", "", " 3"])
_values = st.text("ab:{} ", max_size=4)
_blocks = st.lists(
    st.one_of(
        st.builds(lambda i, d: f"id: {i}\ndata: {d}\n", _ids, _values),
        st.builds(lambda e, d: f"event: {e}\ndata: {d}\n", _values, _values),
        # An extra line, and no blank line: it runs into the next block.
        st.builds(lambda i, d, x: f"id: {i}\ndata: {d}\n{x}\n\0", _ids, _values, _block_lines),
        st.lists(_block_lines, min_size=0, max_size=3).map(
            lambda ls: "".join(f"{x}\n" for x in ls)
        ),
    ),
    max_size=12,
)


@example(blocks=["id: 1\ndata: a\n: c\n\0", "id: 2\ndata: b\n"], cuts=[])
@given(blocks=_blocks, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=4))
def test_mostly_uniform_blocks_decode_as_the_plain_algorithm(
    blocks: list[str], cuts: list[int]
) -> None:
    # The stream starts with a comment chunk, so every later chunk may take the batch path.
    data = "".join(
        block.removesuffix("\0") if block.endswith("\0") else block + "\n" for block in blocks
    ).encode()
    split = sorted({c % (len(data) + 1) for c in cuts})
    decoder = SSEDecoder()
    assert decoder.feed_data(b":\n") == []
    pairs = [p for chunk in _chunks(data, split) for p in decoder.feed_data(chunk)]
    assert pairs == [(data_, ident) for data_, _, ident, _ in _reference_decode(data.decode())]
