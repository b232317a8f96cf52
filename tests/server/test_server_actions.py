"""Actions: ``chat`` (``params.message`` or ``params.prompt``) and the fallback action that
answers any other name, as the seed's servers do."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from ainative_core import ActionRequest, InvalidRequestError, Message
from ainative_server import AINativeServer, StreamManager
from ainative_server._actions import action_prompt, generate_request_for
from ainative_testing import FakeProvider, PluginSandbox

from .server_helpers import Serve, parse_sse, tokens_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake(server_plugins: PluginSandbox) -> FakeProvider:
    provider = FakeProvider(["ok"])
    server_plugins.add_provider("fake", provider)
    return provider


async def post(base_url: str, body: dict[str, Any], path: str = "/ai/stream") -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as http:
        with anyio.fail_after(10):
            return await http.post(path, json=body)


def test_the_prompt_carries_the_action_its_params_and_its_context() -> None:
    request = ActionRequest(
        action="summarize",
        params={"text": "ünïcode", "n": 3},
        context={"userId": "123", "messages": [{"role": "user", "content": "before"}]},
        options={"temperature": 0.5},
    )
    generate = action_prompt(request, model="m")
    assert [m.role for m in generate.messages] == ["user", "user"]
    assert generate.messages[0].content == "before"
    assert generate.messages[-1].content == (
        'Action: summarize\nParameters: {"text": "ünïcode", "n": 3}\nContext: {"userId": "123"}'
    )
    assert generate.model == "m"
    assert generate.temperature == 0.5


def test_the_prompt_refuses_what_chat_refuses() -> None:
    with pytest.raises(InvalidRequestError, match=r"context\.messages"):
        action_prompt(ActionRequest(action="x", context={"messages": "no"}), model=None)
    with pytest.raises(InvalidRequestError, match=r"options\.prompt"):
        action_prompt(ActionRequest(action="x", options={"prompt": "p"}), model=None)


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"message": "from message"}, "from message"),
        ({"prompt": "from prompt"}, "from prompt"),
        ({"message": "message wins", "prompt": "not this"}, "message wins"),
    ],
)
def test_chat_takes_params_message_or_params_prompt(params: dict[str, str], text: str) -> None:
    generate = generate_request_for(ActionRequest(params=params), model=None, require_message=True)
    assert generate is not None
    assert generate.messages[-1] == Message(role="user", content=text)


def test_chat_without_either_names_params_message() -> None:
    with pytest.raises(InvalidRequestError, match=r"params\.message: Field required"):
        generate_request_for(ActionRequest(params={}), model=None, require_message=True)
    assert generate_request_for(ActionRequest(params={}), model=None, require_message=False) is None
    prompt_only = generate_request_for(
        ActionRequest(params={"prompt": "p"}), model=None, require_message=False
    )
    assert prompt_only is not None


async def test_an_unregistered_action_is_answered_by_the_fallback(
    serve: Serve, fake: FakeProvider
) -> None:
    body = {"action": "summarize", "params": {"text": "t"}, "context": {"k": 1}, "provider": "fake"}
    with serve() as (server, live):
        streamed = await post(live.base_url, body)
        whole = await post(live.base_url, body, "/ai/action")
    assert streamed.status_code == 200
    assert tokens_of(parse_sse(streamed.content)) == "ok"
    assert whole.json()["messages"] == [{"role": "assistant", "content": "ok"}]
    prompts = [r.messages[-1].content for r in fake.requests]
    expected = 'Action: summarize\nParameters: {"text": "t"}\nContext: {"k": 1}'
    assert prompts == [expected, expected]
    assert {run.action for run in server.hub.runs.values()} == {"summarize"}


async def test_registered_actions_win_over_the_fallback(serve: Serve) -> None:
    def setup(server: AINativeServer) -> None:
        @server.action("summarize")
        async def summarize(stream: StreamManager, request: ActionRequest) -> None:
            await stream.send_token("registered")

    with serve(setup) as (_, live):
        response = await post(live.base_url, {"action": "summarize", "params": {}})
    assert tokens_of(parse_sse(response.content)) == "registered"


async def test_the_fallback_can_be_another_action_or_none(serve: Serve) -> None:
    def setup(server: AINativeServer) -> None:
        @server.action("anything")
        async def anything(stream: StreamManager, request: ActionRequest) -> None:
            await stream.send_token(f"you asked for {request.action}")

    with serve(setup, fallback_action="anything") as (_, live):
        chosen = await post(live.base_url, {"action": "translate"})
    with serve(fallback_action=None) as (_, live):
        off = await post(live.base_url, {"action": "translate"})
    with serve(fallback_action="missing") as (_, live):
        misconfigured = await post(live.base_url, {"action": "translate"})
    assert tokens_of(parse_sse(chosen.content)) == "you asked for translate"
    assert off.status_code == 404
    assert json.loads(off.content)["error"]["code"] == "unknown_action"
    assert misconfigured.status_code == 404
    message = json.loads(misconfigured.content)["error"]["message"]
    assert "fallback action 'missing' is not registered" in message


async def test_chat_streams_params_prompt(serve: Serve, fake: FakeProvider) -> None:
    with serve() as (_, live):
        response = await post(
            live.base_url, {"action": "chat", "params": {"prompt": "hello"}, "provider": "fake"}
        )
    assert tokens_of(parse_sse(response.content)) == "ok"
    assert fake.requests[0].messages[-1].content == "hello"
