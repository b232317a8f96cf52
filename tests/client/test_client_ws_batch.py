"""WSClientTransport with array frames (``batch``, the default) and without."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

import ainative_client._ws as client_ws
from ainative_client import WSClientTransport
from ainative_core import ActionRequest, StreamInterrupted, TransportError
from ainative_testing import LiveServer, TCPProxy

pytestmark = pytest.mark.anyio

TOKENS = 300
INSTANT = ActionRequest(params={"message": "x"}, options={"tokens": TOKENS})
EXPECTED = " ".join(f"t{i}" for i in range(TOKENS))


@pytest.fixture
def frame_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many events each server frame the client read carried."""
    sizes: list[int] = []
    parse = client_ws._parse

    def counting(text: str) -> Any:
        parsed = parse(text)
        sizes.append(len(parsed))
        return parsed

    monkeypatch.setattr(client_ws, "_parse", counting)
    return sizes


async def read(events: Any) -> tuple[str, list[int]]:
    text: list[str] = []
    ids: list[int] = []
    async for item in events:
        assert item.id is not None
        ids.append(item.id)
        if item.event.type == "token":
            text.append(item.event.data)
    return "".join(text), ids


@pytest.mark.parametrize("batch", [True, False])
async def test_a_stream_arrives_whole_in_order_with_or_without_arrays(
    server: LiveServer, frame_sizes: list[int], batch: bool
) -> None:
    async with httpx.AsyncClient() as http:
        transport = WSClientTransport(http, batch=batch)
        with anyio.fail_after(10):
            async with transport.open(server.base_url, INSTANT) as events:
                text, ids = await read(events)
    assert text == EXPECTED
    assert ids == list(range(1, TOKENS + 3))
    assert sum(frame_sizes) == TOKENS + 2
    if batch:
        assert len(frame_sizes) < TOKENS // 2  # most events came several per frame
    else:
        assert set(frame_sizes) == {1}


async def test_several_streams_on_one_batched_socket(
    server: LiveServer, frame_sizes: list[int]
) -> None:
    requests = [
        ActionRequest(params={"message": "x"}, options={"tokens": TOKENS + n}) for n in range(3)
    ]
    results: dict[int, tuple[str, list[int]]] = {}
    async with httpx.AsyncClient() as http:
        transport = WSClientTransport(http)
        with anyio.fail_after(15):
            async with transport.connect(server.base_url) as connection:

                async def follow(n: int) -> None:
                    async with connection.stream(requests[n]) as events:
                        results[n] = await read(events)

                async with anyio.create_task_group() as tg:
                    for n in range(3):
                        tg.start_soon(follow, n)
    for n in range(3):
        text, ids = results[n]
        assert text == " ".join(f"t{i}" for i in range(TOKENS + n))
        assert ids == list(range(1, TOKENS + n + 3))
    assert max(frame_sizes) > 1


async def test_resume_after_a_dropped_batched_socket_loses_and_repeats_nothing(
    server: LiveServer, frame_sizes: list[int]
) -> None:
    request = ActionRequest(params={"message": "x"}, options={"tokens": 120, "delay": 0.002})
    first: list[str] = []
    last_id = 0
    stream_id = ""
    resumable = {"X-AINative-Resumable": "1"}  # the drop leaves the stream running
    async with httpx.AsyncClient() as http:
        transport = WSClientTransport(http)
        with anyio.fail_after(15):
            async with (
                transport.connect(server.base_url, headers=resumable) as connection,
                connection.stream(request) as events,
            ):
                async for item in events:
                    stream_id = item.stream_id or stream_id
                    last_id = item.id or last_id
                    if item.event.type == "token":
                        first.append(item.event.data)
                        if len(first) == 30:
                            break  # the rest of its frame is dropped with the socket
            async with (
                transport.connect(server.base_url) as connection,
                connection.resume(stream_id, last_id) as events,
            ):
                rest, ids = await read(events)
    assert ids == list(range(last_id + 1, 120 + 3))
    assert "".join(first) + rest == " ".join(f"t{i}" for i in range(120))
    assert max(frame_sizes) > 1


async def test_a_batched_socket_that_breaks_before_its_first_event_stops_asking(
    server: LiveServer, frame_sizes: list[int]
) -> None:
    async def ids_until_cut(transport: WSClientTransport, url: str, ids: list[int]) -> None:
        async with transport.open(url, INSTANT) as events:
            async for item in events:
                assert item.id is not None
                ids.append(item.id)

    first: list[int] = []
    second: list[int] = []
    # Connections cut after 1.5 kB: the instant stream's first array frame never all comes.
    async with httpx.AsyncClient() as http, TCPProxy(server.port, cut_after_bytes=1500) as proxy:
        transport = WSClientTransport(http)
        with anyio.fail_after(10):
            with pytest.raises((TransportError, StreamInterrupted)):
                await ids_until_cut(transport, proxy.url, first)
            assert frame_sizes == []
            with pytest.raises((TransportError, StreamInterrupted)):
                await ids_until_cut(transport, proxy.url, second)
    assert first == []
    # The next socket to that server asked for one event per frame: it got some before
    # its cut, one per frame.
    assert second == list(range(1, len(second) + 1))
    assert len(second) > 3
    assert set(frame_sizes) == {1}
