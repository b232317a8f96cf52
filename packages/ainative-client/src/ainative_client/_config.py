"""What the engine is asked to do: `StreamConfig`, and what it reports back: `StreamResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, final

from ainative_core import AINativeError

__all__ = ["EndReason", "StreamConfig", "StreamMethod", "StreamResult"]

StreamMethod: TypeAlias = Literal["SSE", "WS", "AUTO"]
EndReason: TypeAlias = Literal["complete", "aborted", "error"]


@final
@dataclass(frozen=True, slots=True)
class StreamConfig:
    """How to reach the stream and how hard to try.

    ``url`` is the server's base URL or its stream endpoint (``http://h:8000/ai/stream``;
    ``ws://`` URLs are accepted too). ``method`` is ``"SSE"``, ``"WS"``, ``"AUTO"`` or the
    name of any registered client transport. ``AUTO`` tries ``auto_order`` in turn (the one
    that last worked for this base URL first) and falls back when one cannot connect.

    Reconnecting waits ``reconnect_delay * 2**(n-1)`` seconds (at most ``max_reconnect_delay``,
    with jitter: between half and all of it) before attempt ``n``, and gives up after
    ``max_reconnect_attempts`` attempts in a row that received nothing.
    """

    url: str
    method: str = "SSE"
    headers: Mapping[str, str] = field(default_factory=dict)
    reconnect: bool = True
    reconnect_delay: float = 1.0
    max_reconnect_attempts: int = 5
    max_reconnect_delay: float = 30.0
    auto_order: tuple[str, ...] = ("sse", "ws")
    cancel_timeout: float = 5.0


@final
@dataclass(frozen=True, slots=True)
class StreamResult:
    """How a stream ended: the ``stream-end`` reason, the server's ``finish_reason``, the error."""

    reason: EndReason
    finish_reason: str | None = None
    error: AINativeError | None = None
    stream_id: str | None = None
    transport: str | None = None
    reconnects: int = 0
    usage: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    """What the stream's tool steps added to the conversation (assistant turns with their
    tool calls, then the tool results), from its ``done``."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """The client's tools the model called (``finish_reason`` ``tool_call``): answer them
    with `with_tool_results`."""
