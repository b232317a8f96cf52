"""`StreamAliases`: a client's own name for a stream (a chat id, a run id) -> its stream id.

Front-end protocols name a conversation, not a stream: the AI SDK resumes
``GET {api}/{chatId}/stream``, and an AG-UI client knows the ``runId`` it chose. The table
keeps the latest stream of each name, in this process, and is bounded twice: by count (the
least recently set names go first) and by the stream's life (a name whose stream has been
dropped from the hub, at the end of its retention, is forgotten when it is next looked up or
when the table needs room).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from ._hub import Run, StreamHub

__all__ = ["StreamAliases"]

DEFAULT_MAX_ALIASES: Final = 10_000


@final
class StreamAliases:
    """Names -> the stream last started under each, for the runs ``hub`` still retains."""

    def __init__(self, hub: StreamHub, *, limit: int = DEFAULT_MAX_ALIASES) -> None:
        self._hub = hub
        self._limit = limit
        self._streams: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._streams)

    def set(self, name: str, stream_id: str) -> None:
        """Name ``stream_id`` ``name`` (replacing the stream it named before)."""
        streams = self._streams
        streams[name] = stream_id
        streams.move_to_end(name)
        if len(streams) > self._limit:
            self._purge()
            while len(streams) > self._limit:
                streams.popitem(last=False)

    def run(self, name: str) -> Run | None:
        """The retained run last started under ``name``, if there is one."""
        stream_id = self._streams.get(name)
        if stream_id is None:
            return None
        run = self._hub.runs.get(stream_id)
        if run is None:
            del self._streams[name]
        return run

    def _purge(self) -> None:
        runs = self._hub.runs
        for name in [n for n, sid in self._streams.items() if sid not in runs]:
            del self._streams[name]
