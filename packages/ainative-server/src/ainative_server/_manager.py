"""`StreamManager`: the producer-side handle an action uses to emit a stream's events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from ainative_core import (
    ActionRequest,
    GenerateRequest,
    Provider,
    StreamEvent,
    StreamingError,
    Usage,
    WireEvent,
    error_from_code,
    wire_event_from_stream_event,
)

from ._tool_loop import run_tool_loop

if TYPE_CHECKING:
    from ._tools import Tool

__all__ = ["EventSink", "StreamManager"]

_NO_TOOLS: Final[Mapping[str, Tool]] = MappingProxyType({})


class EventSink(Protocol):
    """Where a `StreamManager` puts events: a hub run's log, or a collector."""

    async def emit(self, event: WireEvent) -> None: ...


@final
class StreamManager:
    """Emits one stream's events: ``await stream.send_token("Hi")`` ... ``send_done()``.

    A custom action (``@server.action("name")``) receives one, with the `ActionRequest`, the
    resolved ``provider`` and the `GenerateRequest` built from the request (``generate_request``).
    `stream` runs the tool loop: ``tools`` are the server tools the model may call (those
    the request and the server's ``model_tools`` enable), ``max_steps`` its most provider
    calls, ``tool_timeout`` each call's limit.
    An exception raised before anything was sent fails the request with its HTTP status; after
    that the stream ends with an ``error`` event and ``done``. Returning without `send_done`
    ends the stream with ``finish_reason`` ``"stop"``.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        stream_id: str,
        request: ActionRequest,
        provider: Provider,
        provider_name: str,
        model: str | None,
        generate_request: GenerateRequest | None = None,
        tools: Mapping[str, Tool] = _NO_TOOLS,
        max_steps: int = 8,
        tool_timeout: float | None = None,
    ) -> None:
        self._sink = sink
        self.stream_id = stream_id
        self.request = request
        self.provider = provider
        self.provider_name = provider_name
        self.model = model
        self.generate_request = generate_request
        self.tools = tools
        self.max_steps = max_steps
        self.tool_timeout = tool_timeout
        self.sent = 0
        self.done = False

    async def send(self, event: WireEvent) -> None:
        """Emit any wire event; after ``done`` nothing more may be sent."""
        if self.done:
            raise StreamingError(f"stream {self.stream_id} is done; cannot send {event.type!r}")
        if event.type == "done":
            self.done = True
        self.sent += 1
        await self._sink.emit(event)

    async def send_token(self, token: str) -> None:
        await self.send(WireEvent("token", token))

    async def send_metadata(self, data: Mapping[str, Any]) -> None:
        await self.send(WireEvent("metadata", dict(data)))

    async def send_error(
        self, message: str, *, code: str = "error", retryable: bool = False
    ) -> None:
        await self.send(WireEvent.failure(message, code=code, retryable=retryable))

    async def send_done(
        self, finish_reason: str = "stop", usage: Usage | Mapping[str, Any] | None = None
    ) -> None:
        data = usage.model_dump() if isinstance(usage, Usage) else usage
        await self.send(WireEvent.done(finish_reason, dict(data) if data is not None else None))

    async def send_events(self, events: AsyncIterator[StreamEvent]) -> None:
        """Relay provider events: text as tokens, ``usage`` folded into ``done``.

        A provider ``error`` event before anything was sent is raised (so the request fails
        with its status); after that it becomes an ``error`` event and ``done``.
        """
        usage: Usage | None = None
        for_wire = wire_event_from_stream_event
        async for event in events:
            kind = event.type
            if kind == "usage":
                usage = event.usage
                continue
            if kind == "error" and self.sent == 0:
                raise error_from_code(event.code, event.text or "provider error")
            wire = for_wire(event, usage=usage)
            if wire is not None:
                await self.send(wire)
            if kind == "error":
                await self.send_done("error", usage)
                return
            if kind == "finish":
                return
        if not self.done:
            await self.send_done("stop", usage)

    async def stream(
        self,
        request: GenerateRequest | None = None,
        *,
        before_first: Callable[[StreamEvent], Awaitable[None]] | None = None,
    ) -> None:
        """Run ``request`` (default: ``generate_request``) through the tool loop and relay it.

        With no ``tools`` that is one provider call, relayed as `send_events` does. Tools
        the request declares in its own ``tools`` are the client's: a call to one ends the
        stream (``finish_reason`` ``tool_call``). See `ainative_server._tool_loop`.
        ``before_first`` is awaited with the provider's first event before it is relayed.
        """
        request = request or self.generate_request
        if request is None:
            raise StreamingError("no generate request: pass one to stream()")
        await run_tool_loop(
            self,
            request,
            tools=self.tools,
            max_steps=self.max_steps,
            context=self.request.context,
            time_limit=self.tool_timeout,
            before_first=before_first,
        )
