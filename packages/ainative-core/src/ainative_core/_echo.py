"""The echo provider: the embedded default. No key, no network.

It echoes the last user message token by token (each word with the whitespace before it, so
the tokens join back to the message exactly), or, with ``tokens=N``, produces N tokens
``t0 t1 ...``. ``delay=S`` waits S seconds between tokens. Every token passes a
checkpoint, so a stream is cancellable at any await even with no delay.

Scripted tool calls make a tool loop run offline: with ``tool_call=NAME`` (arguments from
``tool_args``, an object or its JSON text; default ``{}``), ``tool_call={"name": ...,
"arguments": {...}}`` or a list of those (parallel calls), a conversation that ends with a
user message is answered with those calls (their arguments streamed in pieces, finish
reason ``tool_call``); one that ends with tool results is answered with the results' text,
one line each. ``EchoProvider(tool_call=...)`` scripts every request that does not say.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, final

import anyio
import anyio.lowlevel

from ._exceptions import InvalidRequestError
from ._models import GenerateRequest, Message, StreamEvent, ToolCall, Usage
from ._provider import BaseProvider

__all__ = ["EchoProvider", "echo_tokens"]

_TOKEN = re.compile(r"\s*\S+|\s+")


def _pause(delay: float) -> Callable[[], Awaitable[None]]:
    """What a stream awaits before each token: ``delay`` seconds, or a checkpoint.

    On asyncio it is asyncio's own sleep (what anyio's calls): each anyio call first finds
    the running backend through sniffio, about a microsecond per token.
    """
    if asyncio._get_running_loop() is not None:
        return lambda: asyncio.sleep(delay)
    if delay:
        return lambda: anyio.sleep(delay)
    return anyio.lowlevel.checkpoint


def echo_tokens(text: str) -> list[str]:
    """Split text into tokens that join back to it exactly (``"a b"`` -> ``["a", " b"]``)."""
    return _TOKEN.findall(text)


def _option(extra: dict[str, Any], key: str, kind: type[int] | type[float], default: Any) -> Any:
    value = extra.get(key, default)
    if value is None:
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidRequestError(f"echo option {key!r} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InvalidRequestError(f"echo option {key!r} must be a finite number, got {value!r}")
    if number < 0:
        raise InvalidRequestError(f"echo option {key!r} must not be negative, got {value!r}")
    return number


def _scripted_calls(extra: dict[str, Any]) -> list[tuple[str, str]]:
    """``(name, arguments JSON)`` of each scripted call (see the module); [] for none."""
    script = extra.get("tool_call")
    if script is None:
        return []
    if isinstance(script, str):
        script = {"name": script, "arguments": extra.get("tool_args", {})}
    items = script if isinstance(script, list) else [script]
    calls = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise InvalidRequestError(
                "echo option 'tool_call' must be a tool name, an object with a 'name' "
                f"and 'arguments', or a list of those; got {script!r}"
            )
        arguments = item.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                arguments = None
        if not isinstance(arguments, dict):
            raise InvalidRequestError(
                f"echo tool call {item['name']!r}: arguments must be a JSON object"
            )
        calls.append((item["name"], json.dumps(arguments, ensure_ascii=False)))
    return calls


def _trailing_results(messages: list[Message]) -> list[Message]:
    """The tool messages that end the conversation (in order)."""
    results: list[Message] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        results.append(message)
    return results[::-1]


@final
class EchoProvider(BaseProvider):
    """Echoes the conversation back. ``delay`` (seconds per token) is the default pacing;
    ``tool_call`` the default scripted calls (see the module)."""

    name = "echo"

    def __init__(self, *, delay: float = 0.0, tool_call: Any = None, **_settings: Any) -> None:
        self.delay = float(delay)
        self.tool_call = tool_call
        _scripted_calls({"tool_call": tool_call})  # a bad script fails here, at start-up

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        # Options are checked here, before the first event, so bad ones fail the request.
        delay = _option(request.extra, "delay", float, self.delay)
        count = _option(request.extra, "tokens", int, None)
        calls = _scripted_calls({"tool_call": self.tool_call, **request.extra})
        results = _trailing_results(request.messages)
        if calls and not results:
            return self._call_tools(request, calls, delay)
        return self._run(request, delay, count, "\n".join(m.content for m in results))

    async def _call_tools(
        self, request: GenerateRequest, calls: list[tuple[str, str]], delay: float
    ) -> AsyncIterator[StreamEvent]:
        turn = sum(1 for m in request.messages if m.tool_calls)
        pause = _pause(delay)
        pieces = 0
        for index, (name, arguments) in enumerate(calls):
            call = ToolCall(id=f"call_{turn}_{index}", name=name, arguments=arguments)
            yield StreamEvent.tool_call_start(call.id, call.name, index=index)
            step = max(len(arguments) // 3, 1)
            for start in range(0, len(arguments), step):
                await pause()
                yield StreamEvent.tool_call_delta(
                    call.id, arguments[start : start + step], index=index
                )
                pieces += 1
            yield StreamEvent.tool_call_end(call.id, index=index)
        usage = Usage(
            input_tokens=sum(len(echo_tokens(m.content)) for m in request.messages),
            output_tokens=pieces,
        )
        yield StreamEvent(type="usage", usage=usage)
        yield StreamEvent(type="finish", finish_reason="tool_call", usage=usage)

    async def _run(
        self, request: GenerateRequest, delay: float, count: int | None, results: str = ""
    ) -> AsyncIterator[StreamEvent]:
        prompt = results or next(
            (m.content for m in reversed(request.messages) if m.role == "user"), ""
        )
        tokens: list[str] | range = echo_tokens(prompt) if count is None else range(count)
        limit = request.max_tokens
        pause = _pause(delay)
        sent = 0
        finish: Any = "stop"
        for item in tokens:
            if limit is not None and sent >= limit:
                finish = "length"
                break
            await pause()
            text = item if isinstance(item, str) else (f"t{item}" if item == 0 else f" t{item}")
            # Validated construction: with pydantic-core it is cheaper than model_construct.
            yield StreamEvent(type="text", text=text)
            sent += 1
        usage = Usage(
            input_tokens=sum(len(echo_tokens(m.content)) for m in request.messages),
            output_tokens=sent,
        )
        yield StreamEvent(type="usage", usage=usage)
        yield StreamEvent(type="finish", finish_reason=finish, usage=usage)
