"""The seed's TypeScript client against our server, through `SeedStreamingEngine` (its port).

WebSocket at the seed's URL (``ws://HOST/ai/stream``), a refused request that still ends
with ``done`` (so the next ``start`` is not ``Stream already active``), a stop that stops
the provider (the seed never sends ``DELETE``), and AIApp's calls: any action name,
``params.prompt``, ``/ai/action``.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from ainative import ServerConfig, create_server
from ainative_testing import FakeProvider, PluginSandbox

from .conftest import Serve
from .seed_client import SeedStreamingEngine

pytestmark = pytest.mark.anyio


def hello(message: str = "Hello world", **extra: Any) -> dict[str, Any]:
    """What the seed's ``AIApp.sendMessage`` sends: ``action``, ``params``, ``context``."""
    return {"action": "chat", "params": {"message": message}, "context": {}, **extra}


async def wait_until(condition: Any) -> None:
    with anyio.fail_after(10):
        for _ in range(2000):
            if condition():
                return
            await anyio.sleep(0.005)
    raise AssertionError("condition never held")


async def test_the_seed_websocket_client_streams_at_the_stream_url(serve: Serve) -> None:
    with serve(create_server().get_app()) as live, anyio.fail_after(10):
        async with httpx.AsyncClient() as http:
            engine = SeedStreamingEngine(http)
            await engine.start({"url": f"{live.base_url}/ai/stream", "method": "WS"}, hello())
    assert engine.ws_url == f"ws://127.0.0.1:{live.port}/ai/stream"
    assert "".join(engine.tokens()) == "Hello world"
    assert engine.kinds() == [
        "stream-start",
        "stream-data",  # metadata
        "stream-data",
        "stream-data",
        "stream-end",  # the done frame, through handleStreamMessage
        "stream-end",  # and again as the engine settles
    ]
    assert engine.is_streaming is False


async def test_a_refused_websocket_request_ends_with_done_and_the_next_stream_starts(
    serve: Serve,
) -> None:
    with serve(create_server().get_app()) as live, anyio.fail_after(10):
        config = {"url": f"{live.base_url}/ai/stream", "method": "WS"}
        async with httpx.AsyncClient() as http:
            engine = SeedStreamingEngine(http)
            await engine.start(config, hello(provider="nope"))  # settles: it got a done
            refused = list(engine.events)
            assert engine.is_streaming is False
            engine.events.clear()
            await engine.start(config, hello("second stream"))  # a new socket
    errors = [p["error"] for kind, p in refused if kind == "stream-error"]
    assert len(errors) == 1
    assert "unknown provider 'nope'" in errors[0]
    assert [kind for kind, _ in refused][-2:] == ["stream-end", "stream-end"]
    assert "".join(engine.tokens()) == "second stream"


async def test_a_seed_websocket_stop_cancels_the_provider_at_once(
    serve: Serve, seed_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    seed_plugins.add_provider("fake", fake)
    # A grace period longer than the test may take: only an immediate cancel passes.
    server = create_server(ServerConfig(resume_grace=60))
    with serve(server.get_app()) as live, anyio.fail_after(10):
        async with httpx.AsyncClient() as http:
            engine = SeedStreamingEngine(http)

            def stop_after_three(token: str) -> None:
                if len(engine.tokens()) == 3:
                    engine.stop()

            engine.on_token = stop_after_three
            config = {"url": f"{live.base_url}/ai/stream", "method": "WS"}
            await engine.start(config, hello(provider="fake"))
        (run,) = server.hub.runs.values()
        await wait_until(lambda: run.done)
        await wait_until(fake.cancelled.is_set)
    assert run.finish_reason == "cancelled"
    assert run.tokens < 1000
    assert engine.kinds()[-1] == "stream-end"


async def test_a_seed_sse_stop_cancels_the_provider_at_once(
    serve: Serve, seed_plugins: PluginSandbox
) -> None:
    fake = FakeProvider([f"t{i} " for i in range(1000)], delay=0.02)
    seed_plugins.add_provider("fake", fake)
    server = create_server(ServerConfig(resume_grace=60))
    with serve(server.get_app()) as live, anyio.fail_after(10):
        async with httpx.AsyncClient() as http:
            engine = SeedStreamingEngine(http)

            def stop_after_three(token: str) -> None:
                if len(engine.tokens()) == 3:
                    engine.stop()

            engine.on_token = stop_after_three
            await engine.start({"url": f"{live.base_url}/ai/stream"}, hello(provider="fake"))
        (run,) = server.hub.runs.values()
        await wait_until(lambda: run.done)
        await wait_until(fake.cancelled.is_set)
    assert run.finish_reason == "cancelled"
    assert run.tokens < 1000
    assert engine.tokens() == ["t0 ", "t1 ", "t2 "]


@pytest.mark.parametrize("method", ["SSE", "WS"])
async def test_any_action_name_is_answered_with_a_prompt_about_it(
    serve: Serve, method: str
) -> None:
    """``app.action("summarize", params, {stream: true})`` with the seed's AIApp."""
    data = {
        "action": "summarize",
        "params": {"text": "a long text"},
        "context": {"userId": "123", "messages": [{"role": "user", "content": "earlier"}]},
    }
    with serve(create_server().get_app()) as live, anyio.fail_after(10):
        async with httpx.AsyncClient() as http:
            engine = SeedStreamingEngine(http)
            await engine.start({"url": f"{live.base_url}/ai/stream", "method": method}, data)
    # echo answers with the prompt it was given: the action, its params and its context
    # (the history is sent as the conversation, not repeated in the prompt).
    assert "".join(engine.tokens()) == (
        'Action: summarize\nParameters: {"text": "a long text"}\nContext: {"userId": "123"}'
    )


async def test_the_seed_app_non_streaming_action_and_params_prompt(serve: Serve) -> None:
    """AIApp's ``executeAction`` posts to ``/ai/action``; the Node server's ``params.prompt``."""
    with serve(create_server().get_app()) as live, anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            action = await http.post(
                "/ai/action",
                json={"action": "translate", "params": {"to": "fr"}, "context": {"lang": "en"}},
            )
            prompt = await http.post(
                "/ai/action", json={"action": "chat", "params": {"prompt": "Hi there"}}
            )
            engine = SeedStreamingEngine(http)
            await engine.start(
                {"url": f"{live.base_url}/ai/stream"},
                {"action": "chat", "params": {"prompt": "streamed prompt"}},
            )
    assert action.status_code == 200
    assert action.json()["messages"] == [
        {
            "role": "assistant",
            "content": 'Action: translate\nParameters: {"to": "fr"}\nContext: {"lang": "en"}',
        }
    ]
    assert action.json()["context"] == {"lang": "en"}
    assert prompt.json()["messages"][0]["content"] == "Hi there"
    assert "".join(engine.tokens()) == "streamed prompt"
