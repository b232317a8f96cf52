"""The OpenAI API's extensions: resume after a cut connection, cancel, and what a drop does.

A stream is cut by a loopback proxy mid-way and resumed with ``Last-Event-ID``: the chunks of
both responses are every chunk once. A plain OpenAI client's disconnect cancels the provider
call at once; one that sent ``X-AINative-Resumable: true`` gets ``resume_grace`` to come back.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import openai
import pytest

from ainative_testing import FakeProvider, PluginSandbox, TCPProxy

from .server_helpers import EventReader, Serve, parse_sse, wait_until

pytestmark = pytest.mark.anyio

TOKENS = [f"t{i} " for i in range(40)]


def body(model: str = "fake", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "go"}],
        "stream": True,
        **extra,
    }


def chunks_of(events: list[tuple[str, str]]) -> list[tuple[int, dict[str, Any]]]:
    """``(event id, chunk)`` of every JSON chunk (``[DONE]`` left out)."""
    return [(int(i), json.loads(data)) for i, data in events if data != "[DONE]"]


def content_of(chunks: list[tuple[int, dict[str, Any]]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for _, c in chunks if c.get("choices")
    )


@pytest.mark.parametrize("via", ["header", "query"])
async def test_a_stream_cut_mid_way_resumes_with_nothing_lost_or_repeated(
    serve: Serve, server_plugins: PluginSandbox, via: str
) -> None:
    server_plugins.add_provider("fake", FakeProvider(TOKENS, delay=0.01))
    headers = {"X-AINative-Resumable": "true"}
    with serve() as (server, live):
        async with (
            TCPProxy(live.port) as proxy,
            httpx.AsyncClient(base_url=live.base_url, timeout=10) as client,
        ):
            with anyio.fail_after(20):
                request = client.stream(
                    "POST",
                    f"{proxy.url}/v1/chat/completions",
                    json=body(stream_options={"include_usage": True}),
                    headers=headers,
                )
                async with request as response:
                    stream_id = response.headers["x-ainative-stream-id"]
                    reader = EventReader(response)
                    await reader.read(6)
                    proxy.cut()
                    first = await reader.read()
                assert reader.broken is not None
                assert not server.hub.get(stream_id).done  # kept for a resume
                last = first[-1][0]
                resumed = await client.get(
                    f"/v1/chat/completions/{stream_id}",
                    headers={"Last-Event-ID": last} if via == "header" else {},
                    params={"last_event_id": last} if via == "query" else {},
                )
    assert resumed.status_code == 200
    assert resumed.headers["x-ainative-stream-id"] == stream_id
    rest = parse_sse(resumed.content)
    assert rest[-1][1] == "[DONE]"
    before, after = chunks_of(first), chunks_of(rest)
    assert before
    assert after
    assert max(i for i, _ in before) < min(i for i, _ in after)  # nothing repeated
    assert content_of(before + after) == "".join(TOKENS)  # nothing lost
    whole = [c for _, c in before + after]
    assert [c["choices"][0]["delta"].get("role") for c in whole[:1]] == ["assistant"]
    assert whole[-2]["choices"][0]["finish_reason"] == "stop"
    assert whole[-1]["usage"]["completion_tokens"] == len(TOKENS)
    assert {c["id"] for c in whole} == {f"chatcmpl-{stream_id}"}
    assert len({c["created"] for c in whole}) == 1


async def test_a_finished_stream_replays_from_any_chunk(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    with serve() as (_, live), anyio.fail_after(20):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            first = await client.post("/v1/chat/completions", json=body("echo"))
            stream_id = first.headers["x-ainative-stream-id"]
            whole = chunks_of(parse_sse(first.content))
            last = whole[-1][0]
            for event_id in range(last + 2):
                again = await client.get(
                    f"/v1/chat/completions/{stream_id}", headers={"Last-Event-ID": str(event_id)}
                )
                replayed = chunks_of(parse_sse(again.content))
                # At (or past) the end, the last event again: a client sees the end.
                expected = [c for i, c in whole if i > event_id] or [
                    c for i, c in whole if i == last
                ]
                assert [c for _, c in replayed] == expected, event_id
    assert [i for i, _ in whole] == [2, 3, 4]  # role, "go", finish; the run metadata (1): none


@pytest.mark.parametrize("how", ["close", "cut"])
async def test_a_plain_client_leaving_cancels_the_provider_at_once(
    serve: Serve, server_plugins: PluginSandbox, how: str
) -> None:
    """The client closes its response, or the proxy between them drops the connection."""
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    server_plugins.add_provider("fake", fake)
    with serve(resume_grace=60) as (server, live), anyio.fail_after(20):
        async with (
            TCPProxy(live.port) as proxy,
            httpx.AsyncClient(base_url=proxy.url, timeout=10) as client,
            client.stream("POST", "/v1/chat/completions", json=body()) as response,
        ):
            stream_id = response.headers["x-ainative-stream-id"]
            reader = EventReader(response)
            await reader.read(3)
            if how == "cut":
                proxy.cut()
                await reader.read()
            await reader.leave(response)
        await wait_until(fake.cancelled.is_set)
        run = server.hub.get(stream_id)
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"
    assert run.tokens < 100


async def test_a_resumable_client_leaving_keeps_the_run_for_the_grace_period(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    server_plugins.add_provider("fake", fake)
    headers = {"X-AINative-Resumable": "1"}
    with serve(resume_grace=0.5) as (server, live), anyio.fail_after(20):
        async with (
            httpx.AsyncClient(base_url=live.base_url, timeout=10) as client,
            client.stream("POST", "/v1/chat/completions", json=body(), headers=headers) as response,
        ):
            stream_id = response.headers["x-ainative-stream-id"]
            reader = EventReader(response)
            await reader.read(3)
            await reader.leave(response)
        run = server.hub.get(stream_id)
        await wait_until(lambda: run.followers == 0)
        assert not run.done  # still producing: the client may resume
        await wait_until(lambda: run.done)
    assert run.finish_reason == "cancelled"
    assert fake.cancelled.is_set()


async def test_a_whole_completion_is_cancelled_when_its_client_leaves(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    server_plugins.add_provider("fake", fake)
    with serve(resume_grace=60) as (server, live), anyio.fail_after(20):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            with anyio.move_on_after(0.3):
                await client.post("/v1/chat/completions", json=body(stream=False))
        await wait_until(fake.cancelled.is_set)
        await wait_until(lambda: all(run.done for run in server.hub.runs.values()))
    assert [run.finish_reason for run in server.hub.runs.values()] == ["cancelled"]


async def test_delete_cancels_the_provider_and_the_stream_ends_with_an_error_chunk(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(500)], delay=0.02)
    server_plugins.add_provider("fake", fake)
    with serve() as (server, live), anyio.fail_after(20):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            async with client.stream("POST", "/v1/chat/completions", json=body()) as response:
                stream_id = response.headers["x-ainative-stream-id"]
                reader = EventReader(response)
                await reader.read(3)
                async with openai.AsyncOpenAI(
                    base_url=f"{live.base_url}/v1", api_key="x", max_retries=0
                ) as sdk:
                    deleted = await sdk.chat.completions.delete(stream_id)
                events = await reader.read()
            await wait_until(fake.cancelled.is_set)
            assert server.hub.get(stream_id).finish_reason == "cancelled"
            again = await client.delete(f"/v1/chat/completions/{stream_id}")
            missing = await client.delete("/v1/chat/completions/s_nope")
    assert (deleted.id, deleted.deleted, deleted.object) == (
        stream_id,
        True,
        "chat.completion.deleted",
    )
    assert again.json()["cancelled"] is False  # it had already stopped
    assert missing.status_code == 404
    assert events[-1][1] == "[DONE]"
    error = json.loads(events[-2][1])["error"]
    assert (error["code"], error["type"]) == ("cancelled", "cancelled")
    assert len(events) < 100


async def test_resuming_an_unknown_stream_is_404_in_openai_shape(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    with serve() as (_, live), anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            response = await client.get(
                "/v1/chat/completions/s_nope", headers={"Last-Event-ID": "3"}
            )
            bad_id = await client.get("/v1/chat/completions/s_nope", headers={"Last-Event-ID": "x"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "stream_not_found"
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert bad_id.status_code == 400


async def test_an_idle_stream_gets_pings_the_sdk_ignores(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    server_plugins.add_provider("fake", FakeProvider(["a", "b"], delay=0.5))
    with serve(ping_interval=0.1) as (_, live), anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            response = await client.post("/v1/chat/completions", json=body())
    assert response.text.count(": ping\n\n") >= 2
    assert content_of(chunks_of(parse_sse(response.content))) == "ab"


async def test_a_stream_over_its_bound_ends_with_an_error_chunk_then_done(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    with serve(max_events=20) as (_, live), anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
            response = await client.post(
                "/v1/chat/completions", json=body("echo", options={"tokens": 1000})
            )
    events = parse_sse(response.content)
    assert events[-1][1] == "[DONE]"
    error = json.loads(events[-2][1])["error"]
    assert (error["code"], error["type"]) == ("stream_limit_exceeded", "server_error")
    assert 0 < len(content_of(chunks_of(events[:-2]))) < 200


async def test_the_sdks_retrieve_gets_a_streams_whole_completion(
    serve: Serve, server_plugins: PluginSandbox
) -> None:
    fake = FakeProvider(["a", "b", "c"], delay=0.05)
    server_plugins.add_provider("fake", fake)
    with serve() as (_, live), anyio.fail_after(20):
        async with (
            httpx.AsyncClient(base_url=live.base_url, timeout=10) as client,
            client.stream("POST", "/v1/chat/completions", json=body()) as response,
            openai.AsyncOpenAI(base_url=f"{live.base_url}/v1", api_key="x", max_retries=0) as sdk,
        ):
            stream_id = response.headers["x-ainative-stream-id"]
            reader = EventReader(response)
            await reader.read(2)
            completion = await sdk.chat.completions.retrieve(stream_id)  # while it runs
            streamed = await reader.read()
            with pytest.raises(openai.NotFoundError):
                await sdk.chat.completions.retrieve("s_nope")
    assert completion.id == f"chatcmpl-{stream_id}"
    assert completion.choices[0].message.content == "abc"
    assert completion.choices[0].finish_reason == "stop"
    assert content_of(chunks_of(streamed)) == "abc"
