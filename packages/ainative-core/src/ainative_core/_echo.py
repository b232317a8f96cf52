"""The echo provider: the embedded default. No key, no network.

It echoes the last user message token by token (each word with the whitespace before it, so
the tokens join back to the message exactly), or, with ``tokens=N``, produces N tokens
``t0 t1 ...``. ``delay=S`` waits S seconds between tokens. Every token passes an anyio
checkpoint, so a stream is cancellable at any await even with no delay.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from typing import Any, final

import anyio
import anyio.lowlevel

from ._exceptions import InvalidRequestError
from ._models import GenerateRequest, StreamEvent, Usage
from ._provider import BaseProvider

__all__ = ["EchoProvider", "echo_tokens"]

_TOKEN = re.compile(r"\s*\S+|\s+")


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


@final
class EchoProvider(BaseProvider):
    """Echoes the conversation back. ``delay`` (seconds per token) is the default pacing."""

    name = "echo"

    def __init__(self, *, delay: float = 0.0, **_settings: Any) -> None:
        self.delay = float(delay)

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        # Options are checked here, before the first event, so bad ones fail the request.
        delay = _option(request.extra, "delay", float, self.delay)
        count = _option(request.extra, "tokens", int, None)
        return self._run(request, delay, count)

    async def _run(
        self, request: GenerateRequest, delay: float, count: int | None
    ) -> AsyncIterator[StreamEvent]:
        prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        tokens: list[str] | range = echo_tokens(prompt) if count is None else range(count)
        limit = request.max_tokens
        sent = 0
        finish: Any = "stop"
        for item in tokens:
            if limit is not None and sent >= limit:
                finish = "length"
                break
            if delay:
                await anyio.sleep(delay)
            else:
                await anyio.lowlevel.checkpoint()
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
