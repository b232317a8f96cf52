"""Server-Sent Events: a cheap encoder and a spec-correct incremental decoder.

The decoder follows the WHATWG "event stream interpretation" algorithm: lines end in CR,
LF or CRLF (a CR at the end of one chunk and an LF at the start of the next are one line
end); a leading UTF-8 BOM is dropped; lines starting with ``:`` are comments; a line without
a colon is a field with an empty value; ``id`` containing NUL is ignored; ``retry`` is taken
only when it is all ASCII digits; a blank line dispatches the event, unless its data buffer
is empty, in which case nothing is dispatched. It is written here rather than taken from
httpx-sse, which dispatches spurious empty events when a comment follows an ``id:`` line
(florimondmanca/httpx-sse#35) and works on whole lines from httpx only.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Final, TypeAlias, final

from ._wire import DONE_SENTINEL

__all__ = [
    "SSE_DONE",
    "SSEDecoder",
    "ServerSentEvent",
    "encode_sse",
    "encode_sse_comment",
]

# A dispatched event before it becomes a `ServerSentEvent`: (data, event, id, retry).
_Raw: TypeAlias = tuple[str, str, str, int | None]
_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


@final
@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event. ``id`` is the stream's last event id at dispatch time."""

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


def encode_sse(
    data: str,
    *,
    id: int | str | None = None,
    event: str | None = None,
    retry: int | None = None,
) -> str:
    """Encode one event; multi-line ``data`` becomes one ``data:`` line per line.

    Lines end with ``\\n`` only: the seed's client splits on ``\\n``. This is the one SSE
    encoder of ainative; the common case (one line of data, an integer id or none) is a
    single string format.
    """
    if event is None and retry is None and "\n" not in data and "\r" not in data:
        if id is None:
            return f"data: {data}\n\n"
        if type(id) is int:
            return f"id: {id}\ndata: {data}\n\n"
    parts: list[str] = []
    if retry is not None:
        parts.append(f"retry: {int(retry)}\n")
    if id is not None:
        ident = str(id)
        if "\n" in ident or "\r" in ident or "\0" in ident:
            raise ValueError("an SSE id cannot contain CR, LF or NUL")
        parts.append(f"id: {ident}\n")
    if event is not None:
        if "\n" in event or "\r" in event:
            raise ValueError("an SSE event name cannot contain CR or LF")
        parts.append(f"event: {event}\n")
    if "\n" in data or "\r" in data:
        parts.extend(f"data: {line}\n" for line in _LINE_END.split(data))
    else:
        parts.append(f"data: {data}\n")
    parts.append("\n")
    return "".join(parts)


def encode_sse_comment(text: str = "") -> str:
    """A comment block (``: text``), e.g. a keep-alive ping; every line gets its colon."""
    return "".join(f": {line}\n" if line else ":\n" for line in _LINE_END.split(text)) + "\n"


SSE_DONE: Final = encode_sse(DONE_SENTINEL)
"""``data: [DONE]``: the end of an ainative (and OpenAI-style) SSE stream."""


@final
class SSEDecoder:
    """Incremental decoder: feed bytes (split anywhere), get the events completed so far.

    ``last_event_id`` and ``retry`` keep the values the stream has set, for reconnecting.
    """

    __slots__ = (
        "_buffer",
        "_data",
        "_decoder",
        "_event",
        "_pending_cr",
        "_started",
        "last_event_id",
        "retry",
    )

    def __init__(self, *, last_event_id: str = "") -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._pending_cr = False
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self.last_event_id = last_event_id
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return the events it completes (possibly none)."""
        return self.feed_text(self._decoder.decode(chunk))

    def feed_text(self, text: str) -> list[ServerSentEvent]:
        """Like `feed` for already-decoded text."""
        return [
            ServerSentEvent(data, event or "message", ident, retry)
            for data, event, ident, retry in self._decode(text)
        ]

    def feed_data(self, chunk: bytes) -> list[tuple[str, str]]:
        """Like `feed`, but each event is just ``(data, id)``: the cheap form for a client
        that ignores event names and ``retry`` (still readable on the decoder)."""
        text = self._decoder.decode(chunk)
        pairs = self._uniform(text)
        if pairs is None:
            pairs = [(raw[0], raw[2]) for raw in self._decode(text)]
        return pairs

    def _uniform(self, text: str) -> list[tuple[str, str]] | None:
        """All complete events at once when every one is ``id: N`` + one ``data:`` line with
        LF line ends (what an ainative server sends), else None (and nothing changed).

        The last, incomplete block stays unparsed in the buffer: its lines are read when it
        completes (by either path), which gives the same events.
        """
        if not self._started or self._pending_cr or self._data or self._event or "\r" in text:
            return None
        buffer = self._buffer + text
        end = buffer.rfind("\n\n")
        if end < 0:
            return None
        lines = buffer[: end + 1].split("\n")
        ids = lines[0::3]
        datas = lines[1::3]
        count = len(ids)
        if len(lines) != 3 * count or any(lines[2::3]):
            return None
        # Lines hold no LF, so a count of "\n<field>: " is a count of lines starting so.
        joined_ids = "\n" + "\n".join(ids)
        if (
            joined_ids.count("\nid: ") != count
            or "\0" in joined_ids
            or ("\n" + "\n".join(datas)).count("\ndata: ") != count
        ):
            return None
        self._buffer = buffer[end + 2 :]
        idents = [line[4:] for line in ids]
        self.last_event_id = idents[-1]
        return list(zip([line[6:] for line in datas], idents, strict=True))

    def _decode(self, text: str) -> list[_Raw]:
        """The events ``text`` completes, as ``(data, event, id, retry)``.

        Whole blocks of the common layouts (``id: N`` and one ``data:`` line, ``event:``
        and one ``data:`` line, or just the ``data:`` line, LF line ends) are decoded by
        slicing; anything else goes line by
        line through the general algorithm, with identical results.
        """
        if not text:
            return []
        if not self._started:
            self._started = True
            if text.startswith(_BOM):
                text = text[1:]
        if self._pending_cr:
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
        buffer = self._buffer + text
        events: list[_Raw] = []
        if "\r" in buffer:
            lines = _LINE_END.split(buffer)
            if buffer.endswith("\r"):
                # The CR may be the first half of a CRLF split across chunks.
                self._pending_cr = True
            self._buffer = lines.pop()
            self._lines(lines, events)
            return events
        end = buffer.rfind("\n\n")
        if end < 0:
            lines = buffer.split("\n")
            self._buffer = lines.pop()
            self._lines(lines, events)
            return events
        rest = buffer[end + 2 :]
        append = events.append
        for block in buffer[:end].split("\n\n"):
            # The fast layouts, only when no earlier line left a field pending.
            if not self._data and not self._event:
                if block.startswith("data: "):
                    if block.find("\n") < 0:
                        append((block[6:], "", self.last_event_id, self.retry))
                        continue
                else:
                    # ``id: N`` (ainative's layout) or ``event: name`` (Anthropic's), then
                    # one ``data:`` line.
                    field = 4 if block.startswith("id: ") else 7 * block.startswith("event: ")
                    newline = block.find("\n")
                    if (
                        field
                        and newline > 0
                        and block.startswith("data: ", newline + 1)
                        and block.find("\n", newline + 1) < 0
                    ):
                        value, data = block[field:newline], block[newline + 7 :]
                        if field == 7:
                            append((data, value, self.last_event_id, self.retry))
                            continue
                        if "\0" not in value:
                            self.last_event_id = value
                            append((data, "", value, self.retry))
                            continue
            lines = block.split("\n")
            lines.append("")
            self._lines(lines, events)
        lines = rest.split("\n")
        self._buffer = lines.pop()
        self._lines(lines, events)
        return events

    def _lines(self, lines: list[str], events: list[_Raw]) -> None:
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)

    def close(self) -> list[ServerSentEvent]:
        """End of stream: an incomplete event (no blank line yet) is discarded, per spec."""
        self._decoder.decode(b"", final=True)
        self._buffer = ""
        self._data = []
        self._event = ""
        return []

    def _line(self, line: str) -> _Raw | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> _Raw | None:
        if not self._data:
            self._event = ""
            return None
        event = ("\n".join(self._data), self._event, self.last_event_id, self.retry)
        self._data = []
        self._event = ""
        return event
