"""`ResponseBody`: a streamed HTTP response body that leaves nothing suspended when closed.

httpx and httpx2 read a body through a chain of nested async generators
(``Response.aiter_raw`` → the client's bound stream → the transport's response stream →
httpcore's pool stream → the connection's stream → ``_receive_response_body``), and an SDK
may stack its own on top (a line splitter, an SSE decoder, an event parser). Many of them
iterate the next one with a bare ``async for``, which never closes it. A reader that stops
between two chunks (it leaves at ``done``, is cancelled while it is not reading, or closes
the response) leaves every generator of the chain suspended at a ``yield``: closing the
outer one throws ``GeneratorExit`` into that one alone, and closing the response closes the
connection but no generator. The garbage collector then gives each to the event loop's
async-generator finalizer; trio's (``trio/_core/_asyncgens.py``) warns, ``ResourceWarning:
Async generator ... was garbage collected before it had been exhausted``, then closes it
later in a task of its own. (An exception raised inside the chain, a cancellation during a
read for instance, ends every generator it passes through: only a chain stopped at a
``yield`` is left behind.)

`ResponseBody.aclose` ends the whole chain at once, before it returns:

1. ``response.aclose()``, shielded from cancellation, closes the transport's stream. httpcore
   then drops a connection whose body was not read to its end; only a connection whose
   body ended goes back to the pool, and then the generators below the body had already
   ended with it, so none of them can touch a connection that serves another request.
2. The iterator is stepped again inside a cancel scope that is already cancelled, until it
   ends. Chunks the stack had already buffered come through and are dropped; the first step
   that would wait (a read on the closed connection, whatever the iterator is) raises
   ``Cancelled`` (or the closed connection's error) at the innermost generator, and that
   exception unwinds every generator of the chain, each of which ends. Nothing more is read
   from the network and no step can wait, so the close is deterministic: no time bound, no
   "drive it once more": a second drive alone may just return one more buffered chunk and
   stop at a ``yield`` again.

The steps of 2. run in a child task. On asyncio a cancellation reaches a task as an
exception thrown into its coroutine, through every ``aclose()`` it is awaiting; CPython
before 3.13 leaves an async generator whose ``aclose()`` such a throw passed through marked
as running for good (``ag_running``), so that the caller's own generators, often the ones
whose ``finally`` closes the body, could never be stepped or closed again. The child task
keeps that throw away from them.

The alternatives were rejected: iterating the transport's innermost stream
(``_httpcore_stream``, a private attribute that differs between httpx and httpx2) still
leaves httpcore's own nested generators, which httpcore 1.x iterates with bare ``async
for`` too; and finding each generator to ``aclose()`` it innermost-first would mean walking
interpreter frames (``gc.get_referents``). Stepping the iterator needs only public API and
duck typing, so it works for httpx and httpx2 responses (ainative-core depends on neither)
and for any iterator built on the body: ``aiter_raw()``, ``aiter_lines()`` or an SDK's
event stream over the response.

A response whose transport offers its body as an iterator object (the ``DIRECT_BODY``
extension, which `aiohttp_transport` sets) and that has no ``Content-Encoding`` is read
through that object, not ``aiter_bytes()``: the same bytes, five generators fewer per read
(under the paced pipeline load they cost about 6 % of the server's CPU). Its close is still
``response.aclose()``, and the steps of 2. end it just the same. httpx does not then count
the bytes (``num_bytes_downloaded``) nor mark the stream consumed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Final, Generic, Protocol, Self, TypeVar, cast, final, overload

import anyio

__all__ = ["DIRECT_BODY", "ResponseBody", "StreamedResponse"]

T = TypeVar("T")

DIRECT_BODY: Final = "ainative.direct_body"
"""The key of a response extension that holds its raw body as an object whose ``__aiter__``
gives an iterator object (no generator); `ResponseBody` reads it when nothing is to decode."""
_IDENTITY: Final = ("", "identity")


class StreamedResponse(Protocol):
    """What `ResponseBody` needs of a response: ``httpx.Response`` and ``httpx2.Response`` fit."""

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@final
class ResponseBody(Generic[T]):
    """Iterates a streamed response's body; ``aclose()`` ends everything that reads it.

    ``items`` is what to iterate: an iterator that reads ``response``'s body, such as
    ``response.aiter_raw()``, ``response.aiter_lines()`` or an SDK's stream over the
    response; by default ``response.aiter_bytes()`` (decoded as its ``Content-Encoding``
    says; read directly when the transport offers it and nothing is to decode). Use it as
    ``async with ResponseBody(response) as body: async for chunk in body`` (``aclose()``
    also closes the response), from one task at a time. ``aclose()`` is
    shielded from cancellation, never waits on the network, and may be called any number of
    times; once closed, the body ends (`StopAsyncIteration`). See the module docstring for
    how the close works.
    """

    __slots__ = ("_closed", "_ended", "_items", "_response", "_started")

    @overload
    def __init__(self: ResponseBody[bytes], response: StreamedResponse) -> None: ...

    @overload
    def __init__(self, response: StreamedResponse, items: AsyncIterator[T]) -> None: ...

    def __init__(self, response: StreamedResponse, items: AsyncIterator[T] | None = None) -> None:
        self._response = response
        if items is None:
            items = cast("AsyncIterator[T]", _direct_body(response) or response.aiter_bytes())
        self._items = items
        self._started = False
        self._ended = False
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._ended or self._closed:
            raise StopAsyncIteration
        self._started = True
        try:
            return await self._items.__anext__()
        except BaseException:
            # An exception out of the iterator (its end included) ended each generator it
            # came through.
            self._ended = True
            raise

    async def aclose(self) -> None:
        """Close the response, then end the iterator without reading more of the body."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._response.aclose()
            if self._started and not self._ended:
                await self._unwind()

    async def _unwind(self) -> None:
        self._ended = True
        async with anyio.create_task_group() as tg:
            tg.start_soon(_step_to_the_end, self._items)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _direct_body(response: object) -> AsyncIterator[bytes] | None:
    """The transport's own reader of ``response``'s body, if it has one and no decoding."""
    extensions = getattr(response, "extensions", None)
    body = extensions.get(DIRECT_BODY) if isinstance(extensions, dict) else None
    if body is None:
        return None
    encoding = response.headers.get("content-encoding", "")  # type: ignore[attr-defined]
    if encoding.strip().lower() not in _IDENTITY:
        return None
    return cast("AsyncIterator[bytes]", body.__aiter__())


async def _step_to_the_end(items: AsyncIterator[object]) -> None:
    """Step ``items`` until it ends, in a cancelled scope: no step can wait."""
    with anyio.CancelScope() as scope:
        scope.cancel()
        with contextlib.suppress(Exception):
            while True:
                await items.__anext__()
