"""Encodings: how a wire protocol writes the events of a stream's log.

A wire protocol is routes plus an `Encoding`. The log holds each event once, as its wire
JSON (`StoredEvent`); an encoding turns events into the frames its clients read (an SSE
block, a WebSocket text frame, an NDJSON line, a vendor's chunk). The hub encodes each
event once per encoding in use in this process and shares the frame with every subscription
of that encoding, so a hundred followers cost no more encoding than one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Generic, TypeAlias, TypeVar, final

from ._store import StoredEvent

__all__ = ["Batch", "Encoder", "Encoding"]

F = TypeVar("F")

Encoder: TypeAlias = Callable[[StoredEvent], F]
"""Encodes one stream's events, called once per event in id order (from the first event)."""


@dataclass(eq=False)
class Encoding(ABC, Generic[F]):
    """How one wire protocol writes a stream's events, one frame per event.

    ``name`` is unique among encodings: frames are cached under it. ``keepalive`` is what a
    subscription yields when its stream has been idle for ``ping_interval`` (None: nothing,
    the protocol keeps connections alive itself, e.g. WebSocket pings); ``prologue`` goes
    before the first frame of every subscription (SSE's ``retry:``), ``epilogue`` after the
    last frame of a finished stream (``data: [DONE]``). A frame may be empty (nothing to
    write for that event); an HTTP protocol's frame may hold several of its messages.
    """

    name: str
    _: KW_ONLY
    keepalive: F | None = None
    prologue: F | None = None
    epilogue: F | None = None

    @abstractmethod
    def encoder(self, stream_id: str) -> Encoder[F]:
        """A new encoder for the stream ``stream_id``.

        It is called once per event, in id order from the stream's first event, so it may
        keep state (a protocol whose frames depend on earlier events: block starts and
        ends, a running index).
        """


@final
class Batch(Generic[F]):
    """What a subscription hands its transport to write at once, in order.

    ``frames`` include the encoding's prologue, keep-alive and epilogue where they are due.
    ``last_id`` is the id of the last event the frames carry (None for a keep-alive);
    ``end`` is True when nothing follows (the finished stream has been read to its end).
    """

    __slots__ = ("end", "frames", "last_id")

    def __init__(self, frames: list[F], last_id: int | None, end: bool) -> None:
        self.frames = frames
        self.last_id = last_id
        self.end = end

    def __repr__(self) -> str:
        return f"<Batch {len(self.frames)} frames last_id={self.last_id} end={self.end}>"
