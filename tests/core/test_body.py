"""ResponseBody over httpx and httpx2 bodies streamed slowly by a real loopback server."""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import warnings
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import AsyncGeneratorType
from typing import Any, cast

import anyio
import httpx
import httpx2
import pytest

from ainative_core import (
    FakeUpstream,
    RecordedRequest,
    ResponseBody,
    UpstreamAnswer,
    aiohttp_transport,
)
from ainative_testing import LiveServer, live_server

pytestmark = pytest.mark.anyio

_HTTP_MODULES = ("httpx", "httpcore")
_AIOHTTP_TRANSPORTS = {"httpx": "httpx_aiohttp", "httpx2": "httpx_aiohttp.httpx2"}


@dataclass(frozen=True)
class Reply:
    """``pieces`` lines; the first ``burst`` at once, then one every ``delay`` seconds."""

    pieces: int = 4
    burst: int = 0
    delay: float = 0.0
    drop_after: int | None = None
    gzip: bool = False


class SlowBody(FakeUpstream[Reply]):
    """Streams ``piece N`` lines on ``POST /body``; ``burst_sent`` is set once the burst is out."""

    def __init__(self) -> None:
        super().__init__(Reply())
        self.burst_sent = threading.Event()

    def script(self, *replies: Reply) -> None:
        super().script(*replies)
        self.burst_sent.clear()

    def _accepts(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/body"

    def _client_error(self, status: int) -> dict[str, Any]:
        return {"error": status}

    def _answer(self, reply: Reply, request: RecordedRequest) -> UpstreamAnswer:
        pieces = self._pieces(reply)
        headers = {}
        if reply.gzip:
            pieces, headers = _gzipped(pieces), {"content-encoding": "gzip"}
        return UpstreamAnswer.stream(
            "text/plain", pieces, delay=reply.delay, undelayed=reply.burst, headers=headers
        )

    def _pieces(self, reply: Reply) -> Iterator[bytes | None]:
        for n in range(reply.pieces):
            if n == reply.burst:
                self.burst_sent.set()  # taken after every piece of the burst was sent
            if n == reply.drop_after:
                yield None
                return
            yield b"piece %d\n" % n


def _gzipped(pieces: Iterator[bytes | None]) -> Iterator[bytes | None]:
    """Each piece compressed as one gzip stream, flushed piece by piece."""
    packer = zlib.compressobj(wbits=31)
    for piece in pieces:
        yield None if piece is None else packer.compress(piece) + packer.flush(zlib.Z_SYNC_FLUSH)
    yield packer.flush()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[SlowBody, LiveServer]]]:
    """One fake on uvicorn (for asyncio runs), one on Hypercorn (for trio runs)."""
    uvicorn_fake, hypercorn_fake = SlowBody(), SlowBody()
    with (
        live_server(uvicorn_fake, backend="uvicorn") as on_uvicorn,
        live_server(hypercorn_fake, backend="hypercorn") as on_hypercorn,
    ):
        yield {"asyncio": (uvicorn_fake, on_uvicorn), "trio": (hypercorn_fake, on_hypercorn)}


@pytest.fixture
def upstream(
    servers: dict[str, tuple[SlowBody, LiveServer]], anyio_backend: str
) -> tuple[SlowBody, str]:
    fake, server = servers[anyio_backend]
    fake.script()
    return fake, server.base_url + "/body"


@pytest.fixture(params=["httpx", "httpx2"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """An ``httpx.AsyncClient`` or an ``httpx2.AsyncClient`` (they share the API)."""
    made: Any = httpx.AsyncClient() if request.param == "httpx" else httpx2.AsyncClient()
    async with made:
        yield made


@pytest.fixture(params=["httpx", "httpx2"])
async def aiohttp_client(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """An httpx or httpx2 client over `aiohttp_transport` (asyncio only)."""
    http: Any = httpx if request.param == "httpx" else httpx2
    library = importlib.import_module(_AIOHTTP_TRANSPORTS[request.param])
    transport = aiohttp_transport(
        library.AiohttpTransport,
        connect_timeout=http.ConnectTimeout,
        connect_error=http.ConnectError,
    )
    async with http.AsyncClient(transport=transport) as made:
        yield made


async def open_body(client: Any, url: str, reply: Reply, fake: SlowBody) -> Any:
    """A streamed response to ``reply``, its headers read and its body not yet."""
    fake.script(reply)
    response = await client.send(client.build_request("POST", url, json={}), stream=True)
    assert response.status_code == 200
    return response


@contextmanager
def started_generators() -> Iterator[list[AsyncGeneratorType[Any, Any]]]:
    """Every httpx/httpcore async generator (httpx2/httpcore2 too) first iterated meanwhile.

    The list holds them strongly, so none is left to the garbage collector before the test
    looks at it: a generator that ended has no frame (``ag_frame is None``).
    """
    previous = sys.get_asyncgen_hooks()
    started: list[AsyncGeneratorType[Any, Any]] = []

    def firstiter(generator: AsyncGenerator[Any, Any]) -> None:
        agen = cast("AsyncGeneratorType[Any, Any]", generator)
        module = str(agen.ag_frame.f_globals.get("__name__", "")) if agen.ag_frame else ""
        if module.startswith(_HTTP_MODULES):
            started.append(agen)
        if previous.firstiter is not None:
            previous.firstiter(generator)

    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=previous.finalizer)
    try:
        yield started
    finally:
        sys.set_asyncgen_hooks(*previous)


async def read_into(chunks: list[bytes], body: ResponseBody[bytes]) -> None:
    async for chunk in body:
        chunks.append(chunk)


async def read_all(response: Any) -> bytes:
    """``response``'s whole body, through `ResponseBody`."""
    async with ResponseBody(response) as body:
        return b"".join([chunk async for chunk in body])


async def cancel_after_one_chunk(response: Any) -> None:
    """Read one chunk of ``response``'s body in a task, then cancel the task."""
    got_one = anyio.Event()

    async def read() -> None:
        async with ResponseBody(response) as body:
            await anext(body)
            got_one.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await got_one.wait()
        tg.cancel_scope.cancel()


def suspended(started: list[AsyncGeneratorType[Any, Any]]) -> list[str]:
    return [agen.__qualname__ for agen in started if agen.ag_frame is not None]


async def test_a_body_read_to_its_end_ends_every_generator(
    upstream: tuple[SlowBody, str], client: Any
) -> None:
    fake, url = upstream
    with anyio.fail_after(10), started_generators() as started:
        response = await open_body(client, url, Reply(pieces=5, delay=0.01), fake)
        async with ResponseBody(response) as body:
            data = b"".join([chunk async for chunk in body])
    assert data == b"".join(b"piece %d\n" % n for n in range(5))
    assert started
    assert suspended(started) == []


async def test_leaving_early_ends_every_generator_and_the_connection(
    upstream: tuple[SlowBody, str], client: Any
) -> None:
    fake, url = upstream
    # A burst leaves several chunks buffered below the first one read: ending the chain
    # must not depend on what is buffered.
    reply = Reply(pieces=200, burst=20, delay=0.05)
    with anyio.fail_after(10), started_generators() as started:
        response = await open_body(client, url, reply, fake)
        assert await anyio.to_thread.run_sync(fake.burst_sent.wait, 5)
        async with ResponseBody(response) as body:
            async for chunk in body:
                assert chunk.startswith(b"piece 0\n")
                break
            assert suspended(started) != []  # left between two chunks
        assert suspended(started) == []
        assert response.is_closed
        assert await fake.wait_disconnect(5)
    assert fake.completed == 0


async def test_a_reader_cancelled_between_chunks_ends_every_generator(
    upstream: tuple[SlowBody, str], client: Any
) -> None:
    fake, url = upstream
    with anyio.fail_after(10), started_generators() as started:
        response = await open_body(client, url, Reply(pieces=200, delay=0.05), fake)
        await cancel_after_one_chunk(response)
        assert suspended(started) == []
        assert await fake.wait_disconnect(5)


async def test_lines_read_through_the_body_end_with_it(
    upstream: tuple[SlowBody, str], client: Any
) -> None:
    fake, url = upstream
    with anyio.fail_after(10), started_generators() as started:
        response = await open_body(client, url, Reply(pieces=200, burst=5, delay=0.05), fake)
        async with ResponseBody(response, response.aiter_lines()) as lines:
            assert await anext(lines) == "piece 0"
        assert suspended(started) == []
        assert await fake.wait_disconnect(5)


async def test_a_dropped_connection_raises_and_ends_every_generator(
    upstream: tuple[SlowBody, str], client: Any
) -> None:
    fake, url = upstream
    chunks: list[bytes] = []
    with anyio.fail_after(10), started_generators() as started:
        response = await open_body(client, url, Reply(pieces=10, drop_after=3), fake)
        async with ResponseBody(response) as body:
            with pytest.raises((httpx.HTTPError, httpx2.HTTPError)):
                await read_into(chunks, body)
        assert suspended(started) == []
    assert b"".join(chunks) == b"piece 0\npiece 1\npiece 2\n"


async def test_closing_an_unread_body_closes_the_response(
    upstream: tuple[SlowBody, str], client: Any
) -> None:
    fake, url = upstream
    with anyio.fail_after(10), started_generators() as started:
        response = await open_body(client, url, Reply(pieces=200, delay=0.05), fake)
        body = ResponseBody(response)
        await body.aclose()
        await body.aclose()
        assert response.is_closed
        with pytest.raises(StopAsyncIteration):
            await anext(body)
        assert await fake.wait_disconnect(5)
    assert suspended(started) == []


async def test_leaving_early_leaves_nothing_for_the_garbage_collector(
    upstream: tuple[SlowBody, str], client: Any
) -> None:
    fake, url = upstream

    async def read_one() -> None:
        response = await open_body(client, url, Reply(pieces=200, burst=20, delay=0.05), fake)
        assert await anyio.to_thread.run_sync(fake.burst_sent.wait, 5)
        async with ResponseBody(response) as body:
            await anext(body)

    with anyio.fail_after(10), warnings.catch_warnings(record=True) as caught:
        # trio's async-generator finalizer warns about each generator collected unfinished.
        warnings.simplefilter("always", ResourceWarning)
        await read_one()
        gc.collect()
        await anyio.lowlevel.checkpoint()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert await fake.wait_disconnect(5)


async def test_a_generator_closing_its_body_in_finally_can_still_be_stepped(
    upstream: tuple[SlowBody, str], client: Any
) -> None:
    fake, url = upstream

    async def lines() -> AsyncGenerator[bytes, None]:
        response = await open_body(client, url, Reply(pieces=200, burst=5, delay=0.05), fake)
        async with ResponseBody(response) as body:
            async for chunk in body:
                yield chunk

    with anyio.fail_after(10):
        reader = lines()
        assert (await anext(reader)).startswith(b"piece 0\n")
        await reader.aclose()
        # Not "already running": the close did not leave the generator marked as running.
        with pytest.raises(StopAsyncIteration):
            await anext(reader)
        assert await fake.wait_disconnect(5)


_PIECES = b"".join(b"piece %d\n" % n for n in range(5))
on_asyncio = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # aiohttp runs on it alone


@on_asyncio
async def test_a_body_over_aiohttp_is_read_by_its_transport_without_generators(
    upstream: tuple[SlowBody, str], aiohttp_client: Any
) -> None:
    fake, url = upstream
    with anyio.fail_after(10), started_generators() as started:
        for _ in range(2):  # the second over the connection the first gave back
            response = await open_body(aiohttp_client, url, Reply(pieces=5, delay=0.01), fake)
            assert await read_all(response) == _PIECES
            assert response.is_closed
    # No body generator (``aiter_bytes``, ``aiter_raw``, the bound stream's ``__aiter__``).
    assert [agen.__qualname__ for agen in started if "aiter" in agen.__qualname__] == []
    assert suspended(started) == []


@on_asyncio
async def test_a_gzip_body_over_aiohttp_is_still_decoded(
    upstream: tuple[SlowBody, str], aiohttp_client: Any
) -> None:
    fake, url = upstream
    with anyio.fail_after(10), started_generators() as started:
        reply = Reply(pieces=5, delay=0.01, gzip=True)
        response = await open_body(aiohttp_client, url, reply, fake)
        assert response.headers["content-encoding"] == "gzip"
        assert await read_all(response) == _PIECES
    assert "Response.aiter_bytes" in [agen.__qualname__ for agen in started]  # decoded
    assert suspended(started) == []


@on_asyncio
async def test_a_body_over_aiohttp_left_early_drops_its_connection(
    upstream: tuple[SlowBody, str], aiohttp_client: Any
) -> None:
    fake, url = upstream
    with anyio.fail_after(10):
        reply = Reply(pieces=200, burst=20, delay=0.05)
        response = await open_body(aiohttp_client, url, reply, fake)
        assert await anyio.to_thread.run_sync(fake.burst_sent.wait, 5)
        async with ResponseBody(response) as body:
            assert (await anext(body)).startswith(b"piece 0\n")
        assert response.is_closed
        assert await fake.wait_disconnect(5)  # not kept for another request
        with pytest.raises(StopAsyncIteration):
            await anext(body)
        response = await open_body(aiohttp_client, url, Reply(pieces=5), fake)
        assert await read_all(response) == _PIECES  # over a new connection


@on_asyncio
async def test_a_reader_over_aiohttp_cancelled_between_chunks_drops_its_connection(
    upstream: tuple[SlowBody, str], aiohttp_client: Any
) -> None:
    fake, url = upstream
    with anyio.fail_after(10):
        response = await open_body(aiohttp_client, url, Reply(pieces=200, delay=0.05), fake)
        await cancel_after_one_chunk(response)
        assert response.is_closed
        assert await fake.wait_disconnect(5)


@on_asyncio
async def test_a_dropped_connection_over_aiohttp_is_a_read_error(
    upstream: tuple[SlowBody, str], aiohttp_client: Any
) -> None:
    fake, url = upstream
    chunks: list[bytes] = []
    with anyio.fail_after(10):
        response = await open_body(aiohttp_client, url, Reply(pieces=10, drop_after=3), fake)
        async with ResponseBody(response) as body:
            with pytest.raises((httpx.ReadError, httpx2.ReadError)):
                await read_into(chunks, body)
    assert b"".join(chunks) == b"piece 0\npiece 1\npiece 2\n"
