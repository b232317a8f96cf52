"""SSE transport over a real loopback server: wire format, resume, cancel, pings, errors."""

from __future__ import annotations

import json
import random

import anyio
import httpx
import pytest

from ainative_core import ProviderAuthError, ProviderRateLimited, ProviderUnavailable
from ainative_testing import FakeProvider, PluginSandbox, TCPProxy

from .server_helpers import EventReader, Serve, parse_sse, tokens_of, wait_until

pytestmark = pytest.mark.anyio

CHAT = {"action": "chat", "params": {"message": "hello world"}}


async def test_post_stream_is_the_wire_format_byte_for_byte(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                response = await client.post("/ai/stream", json=CHAT)
    assert response.status_code == 200
    sid = response.headers["x-ainative-stream-id"]
    assert sid.startswith("s_")
    meta = f'{{"type":"metadata","data":{{"stream_id":"{sid}","provider":"echo","model":"echo"}}}}'
    usage = '{"input_tokens":2,"output_tokens":2}'
    expected = (
        "retry: 1000\n"
        f"id: 1\ndata: {meta}\n\n"
        'id: 2\ndata: {"type":"token","data":"hello"}\n\n'
        'id: 3\ndata: {"type":"token","data":" world"}\n\n'
        f'id: 4\ndata: {{"type":"done","data":{{"finish_reason":"stop","usage":{usage}}}}}\n\n'
        "data: [DONE]\n\n"
    )
    assert response.content == expected.encode()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    assert b"\r" not in response.content


@pytest.mark.parametrize(
    ("request_model", "config_model", "expected"),
    [
        (None, None, "fake-default-1"),
        (None, "from-config", "from-config"),
        ("asked", None, "asked"),
    ],
)
async def test_metadata_names_the_model_that_will_answer(
    serve: Serve,
    server_plugins: PluginSandbox,
    request_model: str | None,
    config_model: str | None,
    expected: str,
) -> None:
    provider = FakeProvider(["hi"])
    provider.model = "fake-default-1"  # type: ignore[attr-defined]  # a provider's own default
    server_plugins.add_provider("fake", provider)
    body = {**CHAT, "provider": "fake", "model": request_model}
    with serve(model=config_model) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                response = await client.post("/ai/stream", json=body)
    first = json.loads(parse_sse(response.content)[0][1])
    assert first["type"] == "metadata"
    assert first["data"]["model"] == expected
    assert provider.requests[0].model == expected


@pytest.mark.parametrize("via", ["header", "query"])
async def test_resume_after_a_dropped_connection_loses_and_repeats_nothing(
    serve: Serve, via: str
) -> None:
    expected = "".join(f"t{i}" if i == 0 else f" t{i}" for i in range(60))
    body = {**CHAT, "options": {"tokens": 60, "delay": 0.01}}
    drop_after = random.randint(1, 40)
    with serve() as (_, live):
        async with (
            TCPProxy(live.port) as proxy,
            httpx.AsyncClient(
                base_url=live.base_url, headers={"X-AINative-Resumable": "1"}
            ) as client,
        ):
            with anyio.fail_after(15):
                async with client.stream("POST", f"{proxy.url}/ai/stream", json=body) as response:
                    sid = response.headers["x-ainative-stream-id"]
                    reader = EventReader(response)
                    await reader.read(drop_after)
                    proxy.cut()
                    first = await reader.read()
                assert reader.broken is not None
                last_id = first[-1][0]
                headers = {"Last-Event-ID": last_id} if via == "header" else {}
                params = {"last_event_id": last_id} if via == "query" else {}
                resumed = await client.get(f"/ai/stream/{sid}", headers=headers, params=params)
    rest = parse_sse(resumed.content)
    ids = [int(i) for i, data in first + rest if data != "[DONE]"]
    assert ids == list(range(1, len(ids) + 1))
    assert tokens_of(first + rest) == expected
    assert rest[-1][1] == "[DONE]"
    assert json.loads(rest[-2][1])["data"]["finish_reason"] == "stop"


async def test_resume_of_a_finished_stream_replays_then_ends(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                first = await client.post("/ai/stream", json=CHAT)
                sid = first.headers["x-ainative-stream-id"]
                replay = await client.get(f"/ai/stream/{sid}", headers={"Last-Event-ID": "0"})
                tail = await client.get(f"/ai/stream/{sid}", headers={"Last-Event-ID": "4"})
    assert replay.status_code == 200
    assert replay.content == first.content
    # Resumed at its end: the final done again (a client of any transport sees the end).
    done = first.content.split(b"\n\n")[-3] + b"\n\n"
    assert done.startswith(b"id: 4\n")
    assert tail.content == b"retry: 1000\n" + done + b"data: [DONE]\n\n"


async def test_unknown_stream_is_404_for_resume_and_cancel(serve: Serve) -> None:
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                resume = await client.get("/ai/stream/s_nope")
                cancel = await client.delete("/ai/stream/s_nope")
                bad_id = await client.get("/ai/stream/s_nope", headers={"Last-Event-ID": "x"})
    for response in (resume, cancel):
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "stream_not_found"
        assert "s_nope" in error["message"]
    assert bad_id.status_code == 422
    assert "Last-Event-ID" in bad_id.json()["error"]["message"]


async def test_delete_cancels_the_provider_and_followers_see_cancelled(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"w{i} " for i in range(1000)], delay=0.02)
    server_plugins.add_provider("fake", fake)
    with serve() as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(15):
                body = {**CHAT, "provider": "fake"}
                async with client.stream("POST", "/ai/stream", json=body) as response:
                    sid = response.headers["x-ainative-stream-id"]
                    reader = EventReader(response)
                    await reader.read(3)
                    cancel = await client.delete(f"/ai/stream/{sid}")
                    events = await reader.read()
    assert cancel.status_code == 200
    assert cancel.json() == {"stream_id": sid, "cancelled": True}
    await wait_until(fake.closed.is_set)
    assert fake.cancelled.is_set()
    assert events[-1][1] == "[DONE]"
    done = json.loads(events[-2][1])
    assert done["type"] == "done"
    assert done["data"]["finish_reason"] == "cancelled"
    assert server.hub.get(sid).finish_reason == "cancelled"


async def test_idle_stream_gets_ping_comments(serve: Serve, server_plugins: PluginSandbox) -> None:
    server_plugins.add_provider("fake", FakeProvider(["a", "b"], delay=0.7))
    with serve(ping_interval=0.2) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                response = await client.post("/ai/stream", json={**CHAT, "provider": "fake"})
    assert b"\n\n: ping\n\n" in response.content
    assert tokens_of(parse_sse(response.content)) == "ab"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ProviderAuthError("bad vendor key"), 401, "provider_auth_error"),
        (ProviderRateLimited("slow down", retry_after=7), 429, "provider_rate_limited"),
        (ProviderUnavailable("upstream down"), 503, "provider_unavailable"),
    ],
)
async def test_provider_failure_before_the_first_token_is_a_real_status(
    serve: Serve, server_plugins: PluginSandbox, error: Exception, status: int, code: str
) -> None:
    server_plugins.add_provider("fake", FakeProvider(fail_before=error))
    with serve() as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                response = await client.post("/ai/stream", json={**CHAT, "provider": "fake"})
        assert not server.hub.runs  # the failed run is not kept
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"] == str(error)
    if status == 429:
        assert response.headers["retry-after"] == "7"
        assert response.json()["error"]["retryable"] is True


async def test_provider_failure_after_the_first_token_is_an_error_event(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider(
        ["one", " two"], fail_after=ProviderRateLimited("slow down"), fail_after_tokens=1
    )
    server_plugins.add_provider("fake", fake)
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                response = await client.post("/ai/stream", json={**CHAT, "provider": "fake"})
    assert response.status_code == 200
    lines = response.text.split("\n\n")
    assert lines[1] == 'id: 2\ndata: {"type":"token","data":"one"}'
    assert lines[2] == (
        'id: 3\ndata: {"type":"error","data":"slow down",'
        '"code":"provider_rate_limited","retryable":true}'
    )
    assert lines[3] == 'id: 4\ndata: {"type":"done","data":{"finish_reason":"error"}}'
    assert lines[4] == "data: [DONE]"
