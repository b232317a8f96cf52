"""Fake providers for tests: scripted output, failures on cue, and observable cancellation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import final

import anyio
import anyio.lowlevel

from ainative_core import BaseProvider, GenerateRequest, StreamEvent, Usage

__all__ = ["FakeProvider", "ScriptedProvider"]


@final
class FakeProvider(BaseProvider):
    """Streams ``tokens`` with ``delay`` between them and can fail before or after the start.

    ``fail_before`` is raised before the first event; ``fail_after`` (an exception) is raised
    after ``fail_after_tokens`` tokens. ``started``, ``cancelled`` and ``closed`` are
    `anyio.Event`s a test awaits to see what happened to the generator; ``requests``
    keeps every request received.
    """

    def __init__(
        self,
        tokens: Sequence[str] = ("Hello", " world"),
        *,
        name: str = "fake",
        delay: float = 0.0,
        fail_before: BaseException | None = None,
        fail_after: BaseException | None = None,
        fail_after_tokens: int = 1,
    ) -> None:
        self.name = name
        self.tokens = list(tokens)
        self.delay = delay
        self.fail_before = fail_before
        self.fail_after = fail_after
        self.fail_after_tokens = fail_after_tokens
        self.requests: list[GenerateRequest] = []
        self.started = anyio.Event()
        self.cancelled = anyio.Event()
        self.closed = anyio.Event()

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        return self._run()

    async def _run(self) -> AsyncIterator[StreamEvent]:
        self.started.set()
        try:
            if self.fail_before is not None:
                raise self.fail_before
            for i, token in enumerate(self.tokens):
                if self.fail_after is not None and i == self.fail_after_tokens:
                    raise self.fail_after
                if self.delay:
                    await anyio.sleep(self.delay)
                else:
                    await anyio.lowlevel.checkpoint()
                yield StreamEvent.text_delta(token)
            if self.fail_after is not None and self.fail_after_tokens >= len(self.tokens):
                raise self.fail_after
            usage = Usage(input_tokens=1, output_tokens=len(self.tokens))
            yield StreamEvent.usage_report(usage)
            yield StreamEvent.finish("stop", usage=usage)
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
            raise
        except GeneratorExit:
            self.cancelled.set()
            raise
        finally:
            self.closed.set()


@final
class ScriptedProvider(BaseProvider):
    """Yields exactly the given events, in order, for every request."""

    def __init__(self, events: Sequence[StreamEvent], *, name: str = "scripted") -> None:
        self.name = name
        self.events = list(events)
        self.requests: list[GenerateRequest] = []

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        return self._run()

    async def _run(self) -> AsyncIterator[StreamEvent]:
        for event in self.events:
            await anyio.lowlevel.checkpoint()
            yield event
