"""AIApp against a real loopback server: the seed's sendMessage, stop, actions, errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

import anyio
import pytest

from ainative_client import AIApp, AppConfig, AppState
from ainative_core import StreamingError
from ainative_server import ServerConfig, create_app
from ainative_testing import FakeProvider, LiveServer, PluginSandbox

pytestmark = pytest.mark.anyio

Serve = Callable[[Any], AbstractContextManager[LiveServer]]
WaitUntil = Callable[[Callable[[], bool]], Awaitable[None]]


async def test_send_message_streams_into_state(server: LiveServer, method: str) -> None:
    seen: list[AppState] = []
    async with AIApp(AppConfig(api_url=server.base_url, stream_method=method)) as app:
        app.on_state_change(seen.append)
        with anyio.fail_after(10):
            state = await app.send_message("Hello there", stream=True)
    assert [(m.role, m.content) for m in state.messages] == [
        ("user", "Hello there"),
        ("assistant", "Hello there"),
    ]
    assert state.streaming is False
    assert state.error is None
    assert state.metadata["provider"] == "echo"
    assert state.metadata["stream_id"].startswith("s_")
    # streaming was true while the reply arrived, false once it was complete
    during = [s for s in seen if s.streaming]
    assert during
    assert all(s.messages[-1].role == "assistant" for s in during)
    assert during[0].messages[-1].content == ""  # streaming is set before the first token
    assert seen[-1].streaming is False
    assert seen[-1].messages[-1].content == "Hello there"


async def test_batching_coalesces_token_updates(server: LiveServer, method: str) -> None:
    seen: list[AppState] = []
    config = AppConfig(
        api_url=server.base_url, stream_method=method, options={"tokens": 2000}, batch_delay=0.05
    )
    async with AIApp(config) as app:
        app.on_state_change(seen.append)
        with anyio.fail_after(10):
            state = await app.send_message("x")
    reply = state.messages[-1].content
    assert reply.split() == [f"t{i}" for i in range(2000)]
    contents = [s.messages[-1].content for s in seen if s.messages[-1].role == "assistant"]
    assert len(contents) < 2000  # far fewer state changes than tokens
    assert all(reply.startswith(c) for c in contents)  # each a prefix: updates only grow


async def test_conversation_history_goes_to_the_server(server: LiveServer, method: str) -> None:
    async with AIApp(AppConfig(api_url=server.base_url, stream_method=method)) as app:
        with anyio.fail_after(10):
            await app.send_message("first")
            state = await app.send_message("second")
    assert [m.content for m in state.messages] == ["first", "first", "second", "second"]
    assert "messages" not in state.context


async def test_stop_streaming_cancels_the_provider_on_the_server(
    client_plugins: PluginSandbox, method: str, serve: Serve, wait_until: WaitUntil
) -> None:
    fake = FakeProvider([f" w{i}" for i in range(500)], delay=0.02)
    client_plugins.add_provider("fake", fake)
    app_server = create_app(
        ServerConfig(provider="fake", resume_grace=60), plugins=client_plugins.plugins
    )
    states: list[AppState] = []
    with serve(app_server) as srv, anyio.fail_after(15):
        async with AIApp(AppConfig(api_url=srv.base_url, stream_method=method)) as app:
            app.on_state_change(states.append)
            async with anyio.create_task_group() as tg:
                tg.start_soon(app.send_message, "go")
                await wait_until(
                    lambda: (
                        len(app.state.messages) == 2
                        and app.state.messages[-1].content.count("w") >= 3
                    )
                )
                assert app.state.streaming
                with pytest.raises(StreamingError):
                    await app.send_message("not now")
                await app.stop_streaming()
            final = app.state
        await wait_until(fake.closed.is_set)
    assert fake.cancelled.is_set()
    assert final.streaming is False
    assert 3 <= final.messages[-1].content.count("w") < 500  # what arrived is kept
    ends = [e for e in app.event_bus.history if e.type == "stream-end"]
    assert [e.payload["reason"] for e in ends] == ["aborted"]


async def test_action_without_streaming(server: LiveServer) -> None:
    async with AIApp(AppConfig(api_url=server.base_url)) as app:
        with anyio.fail_after(10):
            state = await app.action(
                "chat", {"message": "plain reply"}, stream=False, context={"user": "ada"}
            )
    assert [(m.role, m.content) for m in state.messages] == [("assistant", "plain reply")]
    assert state.context == {"user": "ada"}
    assert state.streaming is False
    assert [e.type for e in app.event_bus.history if e.type == "stream-start"] == []


async def test_errors_land_in_state(server: LiveServer, method: str) -> None:
    config = AppConfig(api_url=server.base_url, stream_method=method, provider="nope")
    async with AIApp(config) as app:
        with anyio.fail_after(10):
            state = await app.send_message("x")
        assert state.streaming is False
        assert state.error is not None
        assert "nope" in state.error
        with anyio.fail_after(10):
            state = await app.action("chat", {"message": "y"}, stream=False)
        assert state.error is not None
        assert "nope" in state.error


async def test_initial_state_and_undo(server: LiveServer) -> None:
    config = AppConfig(
        api_url=server.base_url, initial_state={"context": {"k": 1}, "theme": "dark"}
    )
    async with AIApp(config) as app:
        assert app.state.context == {"k": 1}
        assert app.state.model_extra == {"theme": "dark"}
        with anyio.fail_after(10):
            await app.send_message("hi")
        assert app.state_manager.undo()
        assert app.state.streaming is True  # one step back: the reply was still streaming
