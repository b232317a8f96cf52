"""Folding a stream of `StreamEvent` into a `Completion`."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import final

from ._models import Completion, StreamEvent, ToolCall, Usage

__all__ = ["CompletionAccumulator", "accumulate", "accumulate_async"]


@final
class CompletionAccumulator:
    """Collects events into a `Completion`; text is joined once, at the end.

    Tool calls are keyed by ``tool_call_id`` (falling back to ``index`` for providers that
    send the id only on the first delta) and keep the order of their ``tool_call_start``.
    """

    __slots__ = (
        "_args",
        "_error",
        "_finish",
        "_ids_by_index",
        "_metadata",
        "_names",
        "_reasoning",
        "_text",
        "_usage",
    )

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._names: dict[str, str] = {}
        self._args: dict[str, list[str]] = {}
        self._ids_by_index: dict[int, str] = {}
        self._usage: Usage | None = None
        self._finish: StreamEvent | None = None
        self._error: StreamEvent | None = None
        self._metadata: dict[str, object] = {}

    def add(self, event: StreamEvent) -> None:
        kind = event.type
        if kind == "text":
            self._text.append(event.text or "")
        elif kind == "reasoning":
            self._reasoning.append(event.text or "")
        elif kind == "tool_call_start":
            call_id = event.tool_call_id or f"call_{event.index}"
            self._ids_by_index[event.index] = call_id
            self._names[call_id] = event.tool_name or ""
            self._args.setdefault(call_id, [])
        elif kind == "tool_call_delta":
            call_id = event.tool_call_id or self._ids_by_index.get(
                event.index, f"call_{event.index}"
            )
            self._args.setdefault(call_id, []).append(event.args_delta or "")
            self._names.setdefault(call_id, event.tool_name or "")
        elif kind == "usage" and event.usage is not None:
            self._usage = event.usage
        elif kind == "finish":
            self._finish = event
            if event.usage is not None:
                self._usage = event.usage
        elif kind == "error":
            self._error = event
        if event.provider_metadata:
            self._metadata.update(event.provider_metadata)

    def completion(self) -> Completion:
        calls = [
            ToolCall(id=call_id, name=self._names.get(call_id, ""), arguments="".join(parts))
            for call_id, parts in self._args.items()
        ]
        finish = self._finish.finish_reason if self._finish is not None else None
        if finish is None and self._error is not None:
            finish = "error"
        return Completion(
            text="".join(self._text),
            reasoning="".join(self._reasoning),
            tool_calls=calls,
            usage=self._usage,
            finish_reason=finish,
            error=self._error.text if self._error is not None else None,
            error_code=self._error.code if self._error is not None else None,
            provider_metadata=dict(self._metadata),
        )


def accumulate(events: Iterable[StreamEvent]) -> Completion:
    """Fold an iterable of events (a finished list, say) into a `Completion`."""
    acc = CompletionAccumulator()
    for event in events:
        acc.add(event)
    return acc.completion()


async def accumulate_async(events: AsyncIterable[StreamEvent]) -> Completion:
    """Fold an async stream of events into a `Completion`."""
    acc = CompletionAccumulator()
    async for event in events:
        acc.add(event)
    return acc.completion()
