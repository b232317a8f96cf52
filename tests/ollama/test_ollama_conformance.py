"""The Ollama provider passes the conformance suite against the fake Ollama server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ainative_ollama import OllamaProvider
from ainative_ollama.testing import FakeOllama, OllamaReply
from ainative_testing import ProviderConformance, ProviderFactory, Scenario


def reply_for(scenario: Scenario) -> OllamaReply:
    if scenario.name == "text":
        return OllamaReply(text=scenario.text)
    if scenario.name == "tool_call":
        return OllamaReply(text="", tool_calls=[(scenario.tool_name, scenario.tool_arguments)])
    if scenario.name == "slow":
        # Far more tokens than the test reads: the stream is mid-way when the client leaves.
        return OllamaReply(text=scenario.text + " more" * 100, delay=scenario.token_delay)
    if scenario.name == "auth_error":
        return OllamaReply.http_error(401, "unauthorized")
    if scenario.name == "rate_limited":
        return OllamaReply.http_error(429, "too many requests", retry_after=scenario.retry_after)
    return OllamaReply.http_error(
        503, "server busy, please try again.  maximum pending requests exceeded"
    )


class TestOllamaConformance(ProviderConformance):
    @pytest.fixture
    def provider_factory(
        self, fake_ollama: FakeOllama, make_provider: Callable[..., OllamaProvider]
    ) -> ProviderFactory:
        self.upstream = fake_ollama

        def make(scenario: Scenario) -> OllamaProvider:
            fake_ollama.script(reply_for(scenario))
            return make_provider()

        return make

    async def assert_upstream_closed(self) -> None:
        assert await self.upstream.wait_disconnect(), "the upstream never saw the client go"
        assert self.upstream.disconnects == 1
