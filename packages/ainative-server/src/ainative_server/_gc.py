"""The garbage collector's settings for a server process (`tune_gc`).

A streaming server allocates a few container objects per token (events, frames, the
coroutines of each write) that die young, by reference count, while its heap holds many
long-lived ones: modules, the app, stream logs. With Python's default gen-0 threshold (700)
the collector runs every few hundred tokens and, every hundred of those, walks the whole
heap: under 200 paced streams that is ≈ 5 µs of CPU per token and pauses of tens of
milliseconds, which set the tail of the inter-token delay (``docs/benchmarks.md``).

`tune_gc` is what ``ainative serve`` does once its app is built: it freezes the objects
made so far (`gc.freeze`: start-up objects are never freed, so the collector need not walk
them) and raises the gen-0 threshold, so that most young objects are freed by reference
count before a collection sees them. It is a process-wide choice, so an app served some
other way keeps Python's settings unless its owner calls `tune_gc`.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["GC_THRESHOLD", "tune_gc"]

GC_THRESHOLD: Final = 10_000
"""The gen-0 threshold ``ainative serve`` sets (`ServerConfig.gc_threshold`)."""


def tune_gc(threshold: int = GC_THRESHOLD) -> None:
    """Freeze the objects made so far and set the collector's gen-0 threshold.

    ``threshold`` 0 leaves the collector as it is. The older generations' thresholds are
    kept: with fewer gen-0 collections, gen 1 and 2 run as much less often.
    """
    if threshold <= 0:
        return
    gc.collect()  # what is garbage now is freed, not frozen
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
