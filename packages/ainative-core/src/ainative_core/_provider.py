"""The provider interface every LLM backend implements, and a base class with the defaults."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, runtime_checkable

from ._accumulator import CompletionAccumulator
from ._exceptions import InvalidRequestError, error_from_code
from ._models import Completion, GenerateRequest, Message, StreamEvent

__all__ = ["BaseProvider", "Provider", "build_request", "open_stream"]


@runtime_checkable
class Provider(Protocol):
    """An LLM backend. ``stream`` is an async generator of `StreamEvent`.

    The caller consumes ``stream()`` under ``contextlib.aclosing``: when the consumer is
    cancelled or stops early, the generator is closed at once, and a provider must release
    its upstream connection in its ``finally`` blocks.
    """

    name: str

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]: ...

    async def complete(self, request: GenerateRequest) -> Completion: ...


@asynccontextmanager
async def open_stream(
    provider: Provider, request: GenerateRequest
) -> AsyncIterator[AsyncIterator[StreamEvent]]:
    """``async with open_stream(p, req) as events``: the stream is closed on exit or cancel.

    This is ``contextlib.aclosing`` for any async iterator (an async generator, or a class
    with an optional ``aclose``): the provider's cleanup runs even when the consumer stops.
    """
    events = provider.stream(request)
    try:
        yield events
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def build_request(
    *,
    prompt: str | None = None,
    messages: Sequence[Message | dict[str, Any]] | None = None,
    **options: Any,
) -> GenerateRequest:
    """A `GenerateRequest` from a prompt and/or messages; unknown options go to ``extra``."""
    msgs = [m if isinstance(m, Message) else Message.model_validate(m) for m in messages or ()]
    if prompt is not None:
        msgs.append(Message(role="user", content=prompt))
    if not msgs:
        raise InvalidRequestError("give a prompt or at least one message")
    known = set(GenerateRequest.model_fields) - {"messages", "extra"}
    fields = {k: v for k, v in options.items() if k in known}
    extra = {k: v for k, v in options.items() if k not in known}
    return GenerateRequest(messages=msgs, extra=extra, **fields)


class BaseProvider(ABC):
    """Base class for providers: implement `stream`; `complete` and `generate` come free."""

    name: str = "provider"

    @abstractmethod
    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        """Yield the events of one generation (an ``async def`` with ``yield``)."""

    async def complete(self, request: GenerateRequest) -> Completion:
        """The whole response, folded from `stream`."""
        acc = CompletionAccumulator()
        async with open_stream(self, request) as events:
            async for event in events:
                acc.add(event)
        return acc.completion()

    async def generate(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Message | dict[str, Any]] | None = None,
        stream: bool = True,
        **options: Any,
    ) -> AsyncIterator[str]:
        """The seed's convenience: yields text tokens (the whole text once if not ``stream``).

        An ``error`` event is raised as the matching `AINativeError`.
        """
        request = build_request(prompt=prompt, messages=messages, **options)
        if not stream:
            completion = await self.complete(request)
            if completion.error is not None:
                raise error_from_code(completion.error_code, completion.error)
            yield completion.text
            return
        async with open_stream(self, request) as events:
            async for event in events:
                if event.type == "text" and event.text:
                    yield event.text
                elif event.type == "error":
                    raise error_from_code(event.code, event.text or "provider error")

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Release clients the provider holds (HTTP pools); the default holds none."""

    async def warm(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Get ready for the first request now: import what it needs and make its clients.

        A server awaits it when it starts (`AINativeServer.load_default_provider`), so that
        the first request pays no import or first-use cost, and a setting that cannot work
        fails there: raise the `ProviderError` of it (a missing key: `ProviderAuthError`).
        It sends nothing to the vendor (a provider may rehearse a request in memory), and
        may be awaited more than once. The default does nothing.
        """
