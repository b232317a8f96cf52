"""The conformance suite passes a conforming provider and fails those that break the contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from ainative_core import (
    BaseProvider,
    GenerateRequest,
    Provider,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderUnavailable,
    StreamEvent,
    Usage,
)
from ainative_testing import (
    FakeProvider,
    ProviderConformance,
    ProviderFactory,
    Scenario,
    ScriptedProvider,
)

pytestmark = pytest.mark.anyio

USAGE = Usage(input_tokens=3, output_tokens=2)


def text_events(scenario: Scenario) -> list[StreamEvent]:
    return [
        StreamEvent.text_delta("Hello"),
        StreamEvent.text_delta(scenario.text[len("Hello") :]),
        StreamEvent.usage_report(USAGE),
        StreamEvent.finish("stop", usage=USAGE),
    ]


def tool_events(scenario: Scenario) -> list[StreamEvent]:
    half = len(scenario.tool_arguments) // 2
    return [
        StreamEvent.tool_call_start("call_1", scenario.tool_name),
        StreamEvent.tool_call_delta("call_1", scenario.tool_arguments[:half]),
        StreamEvent.tool_call_delta("call_1", scenario.tool_arguments[half:]),
        StreamEvent.tool_call_end("call_1"),
        StreamEvent.finish("tool_call", usage=USAGE),
    ]


def conforming(scenario: Scenario) -> Provider:
    """An in-process provider that does everything the suite asks."""
    if scenario.name == "text":
        return ScriptedProvider(text_events(scenario))
    if scenario.name == "tool_call":
        return ScriptedProvider(tool_events(scenario))
    if scenario.name == "slow":
        return FakeProvider(scenario.text.split(" "), delay=scenario.token_delay)
    error = {
        "auth_error": ProviderAuthError("bad key"),
        "rate_limited": ProviderRateLimited("slow down", retry_after=scenario.retry_after),
        "unavailable": ProviderUnavailable("down"),
    }[scenario.name]
    return FakeProvider(fail_before=error)


class TestConformingProvider(ProviderConformance):
    """The whole suite, tools and errors included, against an in-process provider."""

    @pytest.fixture
    def provider_factory(self) -> ProviderFactory:
        self.made: list[FakeProvider] = []

        def make(scenario: Scenario) -> Provider:
            provider = conforming(scenario)
            if isinstance(provider, FakeProvider):
                self.made.append(provider)
            return provider

        return make

    async def assert_upstream_closed(self) -> None:
        assert self.made, "the slow scenario was not made"
        assert self.made[-1].closed.is_set()
        assert self.made[-1].cancelled.is_set()


def with_override(scenario_name: str, provider: Provider) -> ProviderFactory:
    def make(scenario: Scenario) -> Provider:
        return provider if scenario.name == scenario_name else conforming(scenario)

    return make


suite = ProviderConformance()


async def test_rejects_events_after_finish() -> None:
    scenario = Scenario("text")
    events = [*text_events(scenario), StreamEvent.text_delta("late")]
    with pytest.raises(AssertionError, match="nothing may follow finish"):
        await suite.test_text_event_order(with_override("text", ScriptedProvider(events)))


async def test_rejects_a_stream_without_finish() -> None:
    events = text_events(Scenario("text"))[:-1]
    with pytest.raises(AssertionError, match="exactly one finish"):
        await suite.test_text_event_order(with_override("text", ScriptedProvider(events)))


async def test_rejects_text_that_does_not_accumulate() -> None:
    events = text_events(Scenario("text"))[1:]
    with pytest.raises(AssertionError):
        await suite.test_text_accumulates(with_override("text", ScriptedProvider(events)))


async def test_rejects_missing_usage() -> None:
    events = [StreamEvent.text_delta(Scenario("text").text), StreamEvent.finish("stop")]
    with pytest.raises(AssertionError, match="usage must be reported"):
        await suite.test_usage_reported(with_override("text", ScriptedProvider(events)))


async def test_rejects_a_wrong_finish_reason_for_tool_calls() -> None:
    events = tool_events(Scenario("tool_call"))
    events[-1] = StreamEvent.finish("stop")
    with pytest.raises(AssertionError):
        await suite.test_tool_call_assembly(with_override("tool_call", ScriptedProvider(events)))


async def test_rejects_tool_deltas_before_start() -> None:
    events = tool_events(Scenario("tool_call"))
    events[0], events[1] = events[1], events[0]
    with pytest.raises(AssertionError):
        await suite.test_tool_call_assembly(with_override("tool_call", ScriptedProvider(events)))


async def test_rejects_arguments_that_differ() -> None:
    scenario = Scenario("tool_call")
    events = tool_events(scenario)
    events[2] = StreamEvent.tool_call_delta("call_1", ', "unit": "C"}')
    with pytest.raises(AssertionError):
        await suite.test_tool_call_assembly(with_override("tool_call", ScriptedProvider(events)))


class _Stubborn(BaseProvider):
    """Tries to keep streaming when it is closed (it yields in ``finally``)."""

    name = "stubborn"

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        return self._run()

    async def _run(self) -> AsyncIterator[StreamEvent]:
        try:
            yield StreamEvent.text_delta("one")
            await anyio.sleep(0.05)
            yield StreamEvent.text_delta(" two")
        finally:
            yield StreamEvent.finish("cancelled")


@pytest.mark.parametrize("cancel", [True, False], ids=["cancel", "early-exit"])
async def test_rejects_a_provider_that_keeps_streaming_when_closed(cancel: bool) -> None:
    check = suite.test_cancel_closes_stream if cancel else suite.test_early_exit_closes_stream
    with pytest.raises(RuntimeError, match="ignored GeneratorExit"):
        await check(with_override("slow", _Stubborn()))


async def test_assert_upstream_closed_failure_fails_the_cancel_test() -> None:
    class Strict(ProviderConformance):
        async def assert_upstream_closed(self) -> None:
            raise AssertionError("upstream still open")

    with pytest.raises(AssertionError, match="upstream still open"):
        await Strict().test_cancel_closes_stream(conforming)


async def test_rejects_errors_outside_the_tree() -> None:
    factory = with_override("auth_error", FakeProvider(fail_before=PermissionError("vendor")))
    with pytest.raises(PermissionError):
        await suite.test_errors_raise_before_first_event(factory, "auth_error")


async def test_rejects_the_wrong_error_class() -> None:
    factory = with_override("unavailable", FakeProvider(fail_before=ProviderAuthError("x")))
    with pytest.raises(AssertionError, match="must raise ProviderUnavailable"):
        await suite.test_errors_raise_before_first_event(factory, "unavailable")


async def test_rejects_errors_after_content() -> None:
    failing = FakeProvider(["Hi"], fail_after=ProviderAuthError("late"), fail_after_tokens=1)
    with pytest.raises(AssertionError):
        await suite.test_errors_raise_before_first_event(
            with_override("auth_error", failing), "auth_error"
        )


async def test_rejects_a_missing_retry_after() -> None:
    factory = with_override("rate_limited", FakeProvider(fail_before=ProviderRateLimited("x")))
    with pytest.raises(AssertionError):
        await suite.test_errors_raise_before_first_event(factory, "rate_limited")


def test_unsupported_features_are_not_collected() -> None:
    class Minimal(ProviderConformance):
        supports_tools = False
        supports_usage = False
        supports_errors = False

    for name in (
        "test_tool_call_assembly",
        "test_tool_call_complete_equals_folded_stream",
        "test_usage_reported",
        "test_errors_raise_before_first_event",
        "test_complete_raises_mapped_errors",
    ):
        assert getattr(Minimal, name) is None, name
    assert callable(Minimal.test_text_event_order)
    assert callable(ProviderConformance.test_tool_call_assembly)


def test_default_request_offers_the_tool_only_for_tool_calls() -> None:
    text = suite.make_request(Scenario("text", text="Hi there"))
    assert [m.role for m in text.messages] == ["system", "user"]
    assert text.messages[-1].content == "Hi there"
    assert text.tools == []
    tool = suite.make_request(Scenario("tool_call", tool_name="lookup"))
    assert [t.name for t in tool.tools] == ["lookup"]
