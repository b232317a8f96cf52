"""The OpenAI provider passes the conformance suite against the fake OpenAI upstream."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.openai.fake_openai import (
    FakeOpenAI,
    Reply,
    error_reply,
    text_reply,
    tool_calls_reply,
    tool_reply,
)

from ainative_core import echo_tokens
from ainative_openai import OpenAIProvider
from ainative_testing import ProviderConformance, ProviderFactory, Scenario


def reply_for(scenario: Scenario) -> Reply:
    if scenario.name == "text":
        return text_reply(scenario.text)
    if scenario.name == "tool_call":
        return tool_reply(scenario.tool_name, scenario.tool_arguments)
    if scenario.name == "parallel_tool_calls":
        calls = [(f"call_{n}", c.name, c.arguments) for n, c in enumerate(scenario.tool_calls())]
        return tool_calls_reply(calls)
    if scenario.name in ("tool_result", "tool_error"):
        return text_reply(scenario.text)
    if scenario.name == "slow":
        # The scenario's text, then many more tokens: the stream is far from done when the
        # consumer cancels, so the upstream sees the disconnect mid-stream.
        filler = " more" * 100
        return text_reply(scenario.text + filler, delay=scenario.token_delay)
    if scenario.name == "auth_error":
        return error_reply(401, "Incorrect API key provided")
    if scenario.name == "rate_limited":
        return error_reply(
            429, "Rate limit reached", headers={"retry-after": str(scenario.retry_after)}
        )
    return error_reply(503, "The server is overloaded")


class TestOpenAIConformance(ProviderConformance):
    @pytest.fixture
    def provider_factory(
        self, upstream: FakeOpenAI, make_provider: Callable[..., OpenAIProvider]
    ) -> ProviderFactory:
        self.upstream = upstream

        def make(scenario: Scenario) -> OpenAIProvider:
            upstream.script(reply_for(scenario))
            return make_provider()

        return make

    async def assert_upstream_closed(self) -> None:
        assert await self.upstream.wait_disconnect(), "the upstream never saw the client go"
        assert self.upstream.completed == 0

    def upstream_tool_results(self) -> list[tuple[str, str]]:
        messages = self.upstream.requests[-1].body["messages"]
        return [(m["tool_call_id"], m["content"]) for m in messages if m["role"] == "tool"]


def test_slow_reply_is_longer_than_the_scenario() -> None:
    reply = reply_for(Scenario("slow"))
    assert len(reply.chunks) > len(echo_tokens(Scenario("slow").text)) + 50
