"""The echo provider passes the provider conformance suite, tools included (its scripted
calls: the ``tool_call`` setting)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ainative_core import EchoProvider
from ainative_testing import ProviderConformance, ProviderFactory, Scenario

_TOOL_SCENARIOS = ("tool_call", "parallel_tool_calls", "tool_result", "tool_error")


def _script(scenario: Scenario) -> Any:
    """The calls a tool scenario asks for, as echo's ``tool_call`` setting."""
    calls = [(scenario.tool_name, scenario.tool_arguments)]
    if scenario.name != "tool_call":
        calls.append((scenario.second_tool_name, scenario.second_tool_arguments))
    return [{"name": name, "arguments": json.loads(arguments)} for name, arguments in calls]


class TestEchoConformance(ProviderConformance):
    supports_errors = False
    has_upstream = False  # in-process: nothing to read the tool results back from

    @pytest.fixture
    def provider_factory(self) -> ProviderFactory:
        def make(scenario: Scenario) -> EchoProvider:
            delay = scenario.token_delay if scenario.name == "slow" else 0.0
            tools = scenario.name in (
                "tool_call",
                "parallel_tool_calls",
                "tool_result",
                "tool_error",
            )
            return EchoProvider(delay=delay, tool_call=_script(scenario) if tools else None)

        return make


@pytest.mark.anyio
async def test_echo_answers_the_tool_results_it_was_sent() -> None:
    """What the suite cannot read back without an upstream: echo's answer is the results."""
    scenario = Scenario("tool_error")
    request = TestEchoConformance().make_request(scenario)
    completion = await EchoProvider(tool_call=_script(scenario)).complete(request)
    assert completion.text == "\n".join(m.content for m in scenario.tool_messages())
