"""The tool loop: provider turns and the server tools the model calls, streamed as one run.

One step is one provider call. Its events are relayed as they come (text, reasoning,
``tool_call`` phases); a step that ends with tool calls runs the server's tools among them,
concurrently, each bounded by the registry's timeout, and streams a ``tool_result`` per call
as it finishes; the assistant turn and the results are appended to the conversation and the
next step starts. The stream ends when a step ends otherwise (``done`` with the summed usage
of all steps), when the model calls a tool that is not one of the server's (the client's:
``done`` with ``finish_reason`` ``tool_call``, the pending ``tool_calls`` and the
``messages`` the client appends before its results), or after ``max_steps`` steps (an
``error`` event, `ToolStepLimit`).

A server tool's call that cannot run (arguments that are not JSON or do not fit the schema,
a tool that raises or times out) becomes a result with ``error``, sent back to the model:
the stream goes on. Cancelling the run cancels the provider call and any running tool.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio

from ainative_core import (
    AINativeError,
    Completion,
    CompletionAccumulator,
    GenerateRequest,
    Message,
    StreamEvent,
    ToolCall,
    ToolStepLimit,
    Usage,
    WireEvent,
    error_from_code,
    open_stream,
    wire_event_from_stream_event,
)

from ._tools import Tool

if TYPE_CHECKING:
    from ._manager import StreamManager

__all__ = ["run_tool_loop", "tool_content"]

_TOOL_PHASES: Final = frozenset({"tool_call_start", "tool_call_delta", "tool_call_end"})


def tool_content(value: Any) -> str:
    """What the model reads of a tool's result: text as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


async def run_tool_loop(
    stream: StreamManager,
    request: GenerateRequest,
    *,
    tools: Mapping[str, Tool],
    max_steps: int,
    context: Any = None,
    time_limit: float | None = None,
    before_first: Callable[[StreamEvent], Awaitable[None]] | None = None,
) -> None:
    """Run ``request`` through the loop (see the module), emitting on ``stream``.

    ``tools`` are the server tools the model may call (their specs are offered beside the
    request's own ``tools``, which the client runs: a name in both is the client's). A call
    to any other name is the client's too.
    ``context`` reaches JSON-schema tools that take it. ``before_first`` is awaited with the
    first event of the first step before it is relayed.
    """
    client_names = {spec.name for spec in request.tools}
    server = {name: tool for name, tool in tools.items() if name not in client_names}
    offered = [*request.tools, *(tool.spec() for tool in server.values())]
    conversation = list(request.messages)
    added: list[Message] = []
    usage: Usage | None = None
    for step in range(max_steps):
        turn = request.model_copy(update={"messages": conversation, "tools": offered})
        outcome = await _relay_step(stream, turn, server, before_first if step == 0 else None)
        if outcome is None:  # the step ended the stream (an error event was sent)
            return
        completion, step_usage = outcome
        usage = _add(usage, step_usage)
        if completion.finish_reason != "tool_call" or not completion.tool_calls:
            await stream.send(_done(completion.finish_reason or "stop", usage, added))
            return
        message = completion.to_message()
        conversation.append(message)
        added.append(message)
        ours = [call for call in completion.tool_calls if call.name in server]
        results = await _run_calls(stream, ours, server, context, time_limit)
        conversation.extend(results)
        added.extend(results)
        pending = [call for call in completion.tool_calls if call.name not in server]
        if pending:
            await stream.send(_done("tool_call", usage, added, pending))
            return
    await stream.send(
        WireEvent.failure_of(
            ToolStepLimit(
                f"the model still called tools after max_steps={max_steps} provider calls"
            )
        )
    )
    await stream.send(_done("error", usage, added))


async def _relay_step(
    stream: StreamManager,
    request: GenerateRequest,
    server: Mapping[str, Tool],
    before_first: Callable[[StreamEvent], Awaitable[None]] | None,
) -> tuple[Completion, Usage | None] | None:
    """Relay one provider call; its folded completion and usage, or None if it ended the
    stream with an error (raised instead when nothing was sent yet)."""
    folded = CompletionAccumulator()
    usage: Usage | None = None
    names: dict[str, str] = {}
    arguments: dict[str, list[str]] = {}
    async with open_stream(stream.provider, request) as events:
        async for event in events:
            kind = event.type
            if before_first is not None:
                if not (kind == "error" and stream.sent == 0):
                    await before_first(event)
                before_first = None
            folded.add(event)
            if kind == "usage":
                usage = event.usage
                continue
            if kind == "finish":
                usage = event.usage or usage
                break
            if kind == "error":
                if stream.sent == 0:
                    raise error_from_code(event.code, event.text or "provider error")
                wire = wire_event_from_stream_event(event)
                if wire is not None:
                    await stream.send(wire)
                await stream.send(WireEvent.done("error", _dump(usage)))
                return None
            wire = wire_event_from_stream_event(event)
            if wire is None:
                continue
            if kind in _TOOL_PHASES:
                wire = _tool_call_event(wire, event, server, names, arguments)
            await stream.send(wire)
    if before_first is not None:  # a provider that sent nothing at all
        await before_first(StreamEvent.finish("stop"))
    return folded.completion(), usage


def _tool_call_event(
    wire: WireEvent,
    event: StreamEvent,
    server: Mapping[str, Tool],
    names: dict[str, str],
    arguments: dict[str, list[str]],
) -> WireEvent:
    """A ``tool_call`` event with ``server`` (the server runs it) and, at ``end``, the
    call's ``name`` and whole ``arguments`` text."""
    data = dict(wire.data)
    call_id = str(event.tool_call_id or "")
    if event.type == "tool_call_start":
        names[call_id] = event.tool_name or ""
        arguments[call_id] = []
    elif event.type == "tool_call_delta":
        arguments.setdefault(call_id, []).append(event.args_delta or "")
    else:
        data["name"] = names.get(call_id, "")
        data["arguments"] = "".join(arguments.get(call_id, ()))
    if names.get(call_id) in server:
        data["server"] = True
    return WireEvent("tool_call", data)


async def _run_calls(
    stream: StreamManager,
    calls: list[ToolCall],
    server: Mapping[str, Tool],
    context: Any,
    time_limit: float | None,
) -> list[Message]:
    """Run ``calls`` concurrently; their tool messages in call order. Each ``tool_result``
    event is sent as its call finishes."""
    results: list[Message | None] = [None] * len(calls)

    async def run(index: int, call: ToolCall) -> None:
        started = time.perf_counter()
        data: dict[str, Any] = {"id": call.id, "name": call.name}
        try:
            parsed = _arguments(call)
            data["arguments"] = parsed
            value = await server[call.name].call(parsed, context, time_limit=time_limit)
        except (AINativeError, _CallFailed) as exc:
            message = exc.message if isinstance(exc, AINativeError) else str(exc)
            data["error"] = message
            results[index] = Message(
                role="tool", tool_call_id=call.id, name=call.name, content=message, is_error=True
            )
        else:
            data["result"] = value
            results[index] = Message(
                role="tool", tool_call_id=call.id, name=call.name, content=tool_content(value)
            )
        data["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        await stream.send(WireEvent("tool_result", _jsonable(data)))

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(run, index, call)
    return [message for message in results if message is not None]


class _CallFailed(Exception):
    """A call the loop refuses before any tool runs (the message goes to the model)."""


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError:
        raise _CallFailed(
            f"the arguments of tool {call.name!r} are not a JSON object: {call.arguments[:200]!r}"
        ) from None


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a result JSON cannot encode as its text (``str``)."""
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        data = {**data, "result": str(data.get("result"))}
    return data


def _add(total: Usage | None, step: Usage | None) -> Usage | None:
    if step is None or total is None:
        return step or total
    return Usage(
        input_tokens=total.input_tokens + step.input_tokens,
        output_tokens=total.output_tokens + step.output_tokens,
    )


def _dump(usage: Usage | None) -> dict[str, Any] | None:
    return usage.model_dump() if usage is not None else None


def _done(
    reason: str,
    usage: Usage | None,
    added: list[Message],
    pending: list[ToolCall] | None = None,
) -> WireEvent:
    """``done``; after tool steps it carries the ``messages`` they added to the conversation
    and, for ``tool_call``, the ``tool_calls`` the client is to answer."""
    event = WireEvent.done(reason, _dump(usage))
    if added or pending:
        event.data["messages"] = [
            message.model_dump(mode="json", exclude_defaults=True) for message in added
        ]
    if pending:
        event.data["tool_calls"] = [call.model_dump() for call in pending]
    return event
