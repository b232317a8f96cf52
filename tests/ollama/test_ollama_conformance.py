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
    if scenario.name == "parallel_tool_calls":
        return OllamaReply(
            text="", tool_calls=[(c.name, c.arguments) for c in scenario.tool_calls()]
        )
    if scenario.name in ("tool_result", "tool_error"):
        return OllamaReply(text=scenario.text)
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
            self.scenario = scenario
            fake_ollama.script(reply_for(scenario))
            return make_provider()

        return make

    async def assert_upstream_closed(self) -> None:
        assert await self.upstream.wait_disconnect(), "the upstream never saw the client go"
        assert self.upstream.disconnects == 1

    def upstream_tool_results(self) -> list[tuple[str, str]]:
        """The ``tool`` messages sent, each under the id of the call its ``tool_name`` names.

        Ollama's messages carry no call ids: a result is tied to its call by the tool's
        name, so a result under the wrong name is a result for the wrong call.
        """
        unanswered = [(c.id, c.name) for c in self.scenario.tool_calls()]
        results: list[tuple[str, str]] = []
        for message in self.upstream.requests[-1].body["messages"]:
            if message["role"] != "tool":
                continue
            call = next((c for c in unanswered if c[1] == message.get("tool_name")), None)
            assert call is not None, f"a tool result names no call of the turn: {message}"
            unanswered.remove(call)
            results.append((call[0], message["content"]))
        return results
