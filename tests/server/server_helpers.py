"""Helpers shared by the server tests (types and SSE parsing)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import final

import anyio
import httpx

from ainative_core import SSEDecoder
from ainative_server import AINativeServer
from ainative_testing import LiveServer

Serve = Callable[..., AbstractContextManager[tuple[AINativeServer, LiveServer]]]


def parse_sse(raw: bytes) -> list[tuple[str, str]]:
    """``(id, data)`` of every event in a complete SSE body."""
    decoder = SSEDecoder()
    return [(event.id, event.data) for event in decoder.feed(raw)]


@final
class EventReader:
    """Reads ``(id, data)`` SSE events from a streaming response, as far as asked.

    One iterator over the body for the whole response: read until ``count`` events, then
    later on; read to the end (or until the connection breaks) so nothing is left open.
    """

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.aiter_raw()
        self._decoder = SSEDecoder()
        self.events: list[tuple[str, str]] = []
        self.broken: Exception | None = None

    async def read(self, count: int | None = None) -> list[tuple[str, str]]:
        while count is None or len(self.events) < count:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                break
            except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                self.broken = exc
                break
            self.events.extend((e.id, e.data) for e in self._decoder.feed(chunk))
        return self.events

    async def leave(self, response: httpx.Response) -> None:
        """Close the response before its end, as a client going away does.

        The body's generators are then run to their end on the closed socket, so none is
        left to the garbage collector (trio warns about those).
        """
        await response.aclose()
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            for _ in range(10_000):
                try:
                    await anext(self._chunks)
                except (StopAsyncIteration, httpx.HTTPError):
                    return


def tokens_of(events: list[tuple[str, str]]) -> str:
    """The text of the ``token`` events."""
    text = []
    for _, data in events:
        if data != "[DONE]":
            obj = json.loads(data)
            if obj["type"] == "token":
                text.append(obj["data"])
    return "".join(text)


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (state of another thread's loop), bounded by count and time."""
    with anyio.fail_after(10):
        for _ in range(2000):
            if condition():
                return
            await anyio.sleep(0.005)
    raise AssertionError("condition never held")


async def wait_for(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll the async ``check`` until it is true, bounded by count and time."""
    with anyio.fail_after(10):
        for _ in range(2000):
            if await check():
                return
            await anyio.sleep(0.005)
    raise AssertionError("condition never held")
