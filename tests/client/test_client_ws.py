"""WSClientTransport / WSConnection details: resume on a multiplexed socket, direct mode."""

from __future__ import annotations

import anyio
import httpx
import pytest

from ainative_client import WSClientTransport
from ainative_core import ActionRequest, HTTPStatusError, StreamingError
from ainative_testing import LiveServer

pytestmark = pytest.mark.anyio

REQUEST = ActionRequest(params={"message": "x"}, options={"tokens": 40})
EXPECTED = "t0" + "".join(f" t{i}" for i in range(1, 40))


async def test_resume_on_another_socket_continues_after_the_last_id(server: LiveServer) -> None:
    first: list[str] = []
    rest: list[str] = []
    last_id = 0
    stream_id = ""
    async with httpx.AsyncClient() as http:
        transport = WSClientTransport(http)
        with anyio.fail_after(10):
            async with (
                transport.connect(server.ws_url) as connection,
                connection.stream(REQUEST) as events,
            ):
                async for item in events:
                    stream_id = item.stream_id or stream_id
                    if item.event.type == "token":
                        first.append(item.event.data)
                        last_id = item.id or last_id
                        if len(first) == 10:
                            break
            async with (
                transport.connect(server.base_url) as connection,
                connection.resume(stream_id, last_id) as events,
            ):
                async for item in events:
                    assert item.id is not None
                    assert item.id > last_id
                    if item.event.type == "token":
                        rest.append(item.event.data)
    assert "".join(first + rest) == EXPECTED


async def test_resuming_an_unknown_stream_is_refused(server: LiveServer) -> None:
    async with httpx.AsyncClient() as http:
        transport = WSClientTransport(http)
        with anyio.fail_after(10):
            async with transport.connect(server.base_url) as connection:

                async def follow() -> None:
                    async with connection.resume("s_nope", 0) as events:
                        async for _ in events:
                            pass

                with pytest.raises(HTTPStatusError) as info:
                    await follow()
    assert info.value.status_code == 404


async def test_a_socket_without_multiplexing_takes_one_stream_at_a_time(
    server: LiveServer,
) -> None:
    async with httpx.AsyncClient() as http:
        transport = WSClientTransport(http)
        with anyio.fail_after(10):
            async with transport.connect(server.base_url, multiplex=False) as connection:
                async with connection.stream(REQUEST) as events:
                    with pytest.raises(StreamingError, match="one stream at a time"):
                        async with connection.stream(REQUEST):
                            pass
                    text = "".join([i.event.data async for i in events if i.event.type == "token"])
                assert text == EXPECTED
                # once the first is over, the socket takes the next one
                async with connection.stream(REQUEST) as events:
                    assert [i.event.type async for i in events][-1] == "done"
