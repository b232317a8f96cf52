"""AIApp against a real loopback server: the seed's sendMessage, stop, actions, errors."""

from __future__ import annotations

import copy
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, final

import anyio
import pytest
from pydantic import ValidationError

from ainative_client import AIApp, AppConfig, AppState
from ainative_core import BaseProvider, BusEvent, GenerateRequest, StreamEvent, StreamingError
from ainative_server import ServerConfig, create_app
from ainative_testing import FakeProvider, LiveServer, PluginSandbox

pytestmark = pytest.mark.anyio

Serve = Callable[[Any], AbstractContextManager[LiveServer]]
WaitUntil = Callable[[Callable[[], bool]], Awaitable[None]]


@final
class SteppedProvider(BaseProvider):
    """Streams ``count`` tokens (``"t0 t1 ..."``) in ``steps`` chunks.

    Each chunk but the first waits until the client's state shows the one before
    (``shown``, which a state listener sets), so a reply takes at least ``steps`` state
    changes however fast the machine is.
    """

    name = "stepped"

    def __init__(self, count: int = 200, steps: int = 4) -> None:
        self.count = count
        self.steps = steps
        self.shown = 0

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        return self._run()

    async def _run(self) -> AsyncIterator[StreamEvent]:
        size = self.count // self.steps
        for i in range(self.count):
            if i and i % size == 0:
                for _ in range(1000):  # at most ~5 s; the test's assertions tell if it ran out
                    if self.shown >= i:
                        break
                    await anyio.sleep(0.005)
            yield StreamEvent.text_delta(f" t{i}" if i else "t0")
        yield StreamEvent.finish("stop")

    def watch(self, state: AppState) -> None:
        """A state listener: tells the provider how many tokens the client shows."""
        if state.messages and state.messages[-1].role == "assistant":
            self.shown = len(state.messages[-1].content.split())


@pytest.fixture
def stepped(client_plugins: PluginSandbox, serve: Serve) -> Iterator[tuple[SteppedProvider, str]]:
    """A `SteppedProvider` and the URL of a live server that uses it."""
    provider = SteppedProvider()
    client_plugins.add_provider("stepped", provider)
    app = create_app(ServerConfig(provider="stepped"), plugins=client_plugins.plugins)
    with serve(app) as srv:
        yield provider, srv.base_url


@contextmanager
def counting(owner: Any, name: str) -> Iterator[list[int]]:
    """Count the calls of ``owner.name`` made from this thread (the server has its own)."""
    calls = [0]
    original = getattr(owner, name)
    thread = threading.get_ident()

    def spy(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == thread:
            calls[0] += 1
        return original(*args, **kwargs)

    setattr(owner, name, spy)
    try:
        yield calls
    finally:
        setattr(owner, name, original)


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
        assert app.state_manager.undo()  # the reply, as one step
        assert [(m.role, m.content) for m in app.state.messages] == [("user", "hi")]
        assert app.state.streaming is False
        assert app.state_manager.undo()  # the user's message
        assert app.state.messages == []
        assert app.state.context == {"k": 1}
        assert app.state.model_extra == {"theme": "dark"}
        assert not app.state_manager.undo()


async def test_a_streamed_reply_is_one_undo_step(
    stepped: tuple[SteppedProvider, str], method: str
) -> None:
    provider, url = stepped
    seen: list[AppState] = []
    async with AIApp(AppConfig(api_url=url, stream_method=method)) as app:
        app.on_state_change(provider.watch)
        app.on_state_change(seen.append)
        with anyio.fail_after(20):
            final = await app.send_message("go")
        assert final.messages[-1].content.split() == [f"t{i}" for i in range(200)]
        after_user_message = seen[0]
        assert len(seen) >= 1 + provider.steps  # many state changes during the reply...
        manager = app.state_manager
        assert manager.undo()  # ...and one undo step for all of them
        assert app.state == after_user_message
        assert [(m.role, m.content) for m in app.state.messages] == [("user", "go")]
        assert app.state.streaming is False
        assert app.state.metadata == {}
        assert manager.undo()  # the user's message was a step of its own
        assert app.state.messages == []
        assert not manager.undo()
        assert manager.redo()
        assert app.state == after_user_message
        assert manager.redo()
        assert app.state == final
        assert not manager.can_redo
        # The next reply is a step of its own again.
        with anyio.fail_after(20):
            await app.send_message("again")
        assert manager.undo()
        assert app.state.messages[-1].content == "again"
        assert manager.undo()
        assert app.state == final


async def test_full_state_copies_and_validations_do_not_grow_with_tokens(
    stepped: tuple[SteppedProvider, str],
) -> None:
    provider, url = stepped
    history = [{"role": "user", "content": f"earlier {i}"} for i in range(50)]
    costs: dict[int, tuple[int, int, int]] = {}
    async with AIApp(AppConfig(api_url=url, initial_state={"messages": history})) as app:
        app.on_state_change(provider.watch)
        for count, steps in [(200, 4), (2000, 20)]:
            provider.count, provider.steps = count, steps
            version = app.state_manager.version
            with (
                counting(AppState, "model_validate") as validations,
                counting(copy, "deepcopy") as deep_copies,
                anyio.fail_after(30),
            ):
                state = await app.send_message("go")
            assert len(state.messages[-1].content.split()) == count
            costs[count] = (app.state_manager.version - version, validations[0], deep_copies[0])
    commits_200, validations_200, copies_200 = costs[200]
    commits_2000, validations_2000, copies_2000 = costs[2000]
    assert commits_200 >= 4  # many commits per reply...
    assert commits_2000 >= 20  # ...more for more tokens...
    assert validations_2000 == validations_200 <= 1  # ...but not more full-state work
    assert copies_2000 == copies_200 <= 1


async def test_listeners_see_the_text_grow_and_cannot_change_the_state(
    stepped: tuple[SteppedProvider, str],
) -> None:
    provider, url = stepped
    contents: list[str] = []
    refused: list[str] = []

    def meddle(state: AppState) -> None:
        if state.messages[-1].role == "assistant":
            contents.append(state.messages[-1].content)
        attempts: list[Callable[[], object]] = [
            lambda: state.messages.append(state.messages[0]),
            lambda: state.messages.pop(),
            lambda: state.context.update(injected=True),
            lambda: state.context["nested"]["list"].append(4),
            lambda: state.metadata.setdefault("injected", True),
            lambda: state.model_extra and state.model_extra.update(theme="light"),
            lambda: setattr(state.messages[0], "content", "rewritten"),
            lambda: setattr(state, "streaming", None),
        ]
        for attempt in attempts:
            try:
                attempt()
            except (TypeError, ValidationError):
                refused.append("refused")
            else:
                refused.append("accepted")
        mine = dict(state.context)  # a copy is the listener's own to change
        mine["injected"] = True

    def meddle_on_the_bus(event: BusEvent) -> None:
        meddle(event.payload["state"])

    config = AppConfig(
        api_url=url, initial_state={"context": {"nested": {"list": [1, 2, 3]}}, "theme": "dark"}
    )
    async with AIApp(config) as app:
        app.on_state_change(provider.watch)
        app.on_state_change(meddle)
        app.event_bus.on("state-change", meddle_on_the_bus)
        with anyio.fail_after(20):
            state = await app.send_message("go")
        reply = state.messages[-1].content
        assert reply.split() == [f"t{i}" for i in range(200)]
        grown = [c for c in contents if c]
        assert len(set(grown)) >= provider.steps  # the text grew in several steps...
        assert all(reply.startswith(c) for c in grown)  # ...each a prefix of the reply
        assert [len(c) for c in grown] == sorted(len(c) for c in grown)
        assert len(refused) >= 8 * provider.steps
        assert set(refused) == {"refused"}
        assert app.state is state
        assert [(m.role, m.content) for m in app.state.messages] == [
            ("user", "go"),
            ("assistant", reply),
        ]
        assert app.state.context == {"nested": {"list": [1, 2, 3]}}
        assert app.state.metadata.keys() == {"stream_id", "provider", "model"}
        assert app.state.model_extra == {"theme": "dark"}
        assert app.state_manager.get_state()["context"] == {"nested": {"list": [1, 2, 3]}}


async def test_undo_while_a_reply_streams_takes_it_back(
    stepped: tuple[SteppedProvider, str], wait_until: WaitUntil
) -> None:
    provider, url = stepped
    async with AIApp(AppConfig(api_url=url)) as app:
        app.on_state_change(provider.watch)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(app.send_message, "go")
                await wait_until(lambda: provider.shown >= 50)
                assert app.state_manager.undo()
                provider.shown = provider.count  # nothing shows the rest: let it come
        assert [(m.role, m.content) for m in app.state.messages] == [("user", "go")]
        assert app.state.streaming is False
        ends = [e.payload["reason"] for e in app.event_bus.history if e.type == "stream-end"]
        assert ends == ["complete"]
