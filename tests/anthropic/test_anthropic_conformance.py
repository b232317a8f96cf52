"""The Anthropic provider passes the conformance suite against the fake Messages API."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ainative_anthropic import AnthropicProvider
from ainative_anthropic.testing import AnthropicReply, FakeAnthropic
from ainative_testing import ProviderConformance, ProviderFactory, Scenario


def reply_for(scenario: Scenario) -> AnthropicReply:
    if scenario.name == "text":
        return AnthropicReply(text=scenario.text)
    if scenario.name == "tool_call":
        return AnthropicReply(text="", tool_calls=[(scenario.tool_name, scenario.tool_arguments)])
    if scenario.name == "parallel_tool_calls":
        return AnthropicReply(
            text="", tool_calls=[(c.name, c.arguments) for c in scenario.tool_calls()]
        )
    if scenario.name in ("tool_result", "tool_error"):
        return AnthropicReply(text=scenario.text)
    if scenario.name == "slow":
        # Far more tokens than the test reads: the stream is mid-way when the client leaves.
        return AnthropicReply(text=scenario.text + " more" * 100, delay=scenario.token_delay)
    if scenario.name == "auth_error":
        return AnthropicReply.http_error(401, "authentication_error", "invalid x-api-key")
    if scenario.name == "rate_limited":
        return AnthropicReply.http_error(
            429, "rate_limit_error", "Number of requests exceeded", retry_after=scenario.retry_after
        )
    return AnthropicReply.http_error(529, "overloaded_error", "Overloaded")


class TestAnthropicConformance(ProviderConformance):
    @pytest.fixture
    def provider_factory(
        self, fake_anthropic: FakeAnthropic, make_provider: Callable[..., AnthropicProvider]
    ) -> ProviderFactory:
        self.upstream = fake_anthropic

        def make(scenario: Scenario) -> AnthropicProvider:
            fake_anthropic.script(reply_for(scenario))
            return make_provider()

        return make

    async def assert_upstream_closed(self) -> None:
        assert await self.upstream.wait_disconnect(), "the upstream never saw the client go"
        assert self.upstream.disconnects == 1

    def upstream_tool_results(self) -> list[tuple[str, str]]:
        """The ``tool_result`` blocks of the user messages sent (their text content)."""
        return [
            (block["tool_use_id"], block["content"])
            for message in self.upstream.requests[-1].body["messages"]
            if message["role"] == "user" and isinstance(message["content"], list)
            for block in message["content"]
            if block["type"] == "tool_result"
        ]
