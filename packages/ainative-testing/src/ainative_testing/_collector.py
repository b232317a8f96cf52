"""A stream collector: consume a provider's stream the way ainative does, and keep the events."""

from __future__ import annotations

from typing import final

import anyio

from ainative_core import (
    Completion,
    EventType,
    GenerateRequest,
    Provider,
    StreamEvent,
    accumulate,
    build_request,
    open_stream,
)

__all__ = ["StreamCollector"]


@final
class StreamCollector:
    """Collects the events of provider streams for assertions.

    `collect` consumes a stream under `open_stream` (so the provider's cleanup runs, as in
    the server) within ``within`` seconds, optionally stopping after ``stop_after`` events.
    Events of successive `collect` calls accumulate until `clear`.
    """

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    async def collect(
        self,
        provider: Provider,
        request: GenerateRequest | None = None,
        *,
        prompt: str = "Hello",
        within: float = 30.0,
        stop_after: int | None = None,
    ) -> list[StreamEvent]:
        """Consume one stream (of ``request``, or of ``prompt``); return the events it gave."""
        if request is None:
            request = build_request(prompt=prompt)
        start = len(self.events)
        with anyio.fail_after(within):
            async with open_stream(provider, request) as events:
                async for event in events:
                    self.events.append(event)
                    if stop_after is not None and len(self.events) - start >= stop_after:
                        break
        return self.events[start:]

    def clear(self) -> None:
        self.events.clear()

    @property
    def types(self) -> list[EventType]:
        """The event types, in order: handy for ``assert c.types == [...]``."""
        return [event.type for event in self.events]

    @property
    def text(self) -> str:
        """The text events joined."""
        return "".join(event.text or "" for event in self.events if event.type == "text")

    @property
    def completion(self) -> Completion:
        """The events folded into a `Completion` (as ``provider.complete`` would)."""
        return accumulate(self.events)
