"""The conformance suite passes a conforming provider and fails those that break the contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

import anyio
import anyio.lowlevel
import pytest

from ainative_core import (
    BaseProvider,
    GenerateRequest,
    Message,
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
    ScenarioName,
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


def parallel_events(scenario: Scenario) -> list[StreamEvent]:
    first, second = scenario.tool_calls()
    return [
        StreamEvent.tool_call_start("call_a", first.name, index=0),
        StreamEvent.tool_call_delta("call_a", first.arguments[:5], index=0),
        StreamEvent.tool_call_start("call_b", second.name, index=1),
        StreamEvent.tool_call_delta("call_b", second.arguments, index=1),
        StreamEvent.tool_call_delta("call_a", first.arguments[5:], index=0),
        StreamEvent.tool_call_end("call_a", index=0),
        StreamEvent.tool_call_end("call_b", index=1),
        StreamEvent.finish("tool_call", usage=USAGE),
    ]


class Relay(BaseProvider):
    """An in-process provider with an upstream: ``wire`` keeps each request as it sent it.

    What it sends is each message as ``(role, tool_call_id, content)``; ``send`` can change
    that (drop or mangle tool results, as a broken provider does). It answers ``events``.
    """

    name = "relay"

    def __init__(
        self, events: Sequence[StreamEvent], *, send: Callable[[Message], Wire | None] | None = None
    ) -> None:
        self.events = list(events)
        self.send = send or _wire
        self.wire: list[list[Wire]] = []

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        sent = (self.send(m) for m in request.messages)
        self.wire.append([item for item in sent if item is not None])
        return self._run()

    async def _run(self) -> AsyncIterator[StreamEvent]:
        for event in self.events:
            await anyio.lowlevel.checkpoint()
            yield event

    def received_tool_results(self) -> list[tuple[str, str]]:
        return [(i or "", content) for role, i, content in self.wire[-1] if role == "tool"]


Wire = tuple[str, str | None, str]


def _wire(message: Message) -> Wire:
    return (message.role, message.tool_call_id, message.content)


def conforming(scenario: Scenario) -> Provider:
    """An in-process provider that does everything the suite asks."""
    if scenario.name == "text":
        return ScriptedProvider(text_events(scenario))
    if scenario.name == "tool_call":
        return ScriptedProvider(tool_events(scenario))
    if scenario.name == "parallel_tool_calls":
        return ScriptedProvider(parallel_events(scenario))
    if scenario.name in ("tool_result", "tool_error"):
        return Relay(text_events(scenario))
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
        self.made: list[Provider] = []

        def make(scenario: Scenario) -> Provider:
            provider = conforming(scenario)
            self.made.append(provider)
            return provider

        return make

    async def assert_upstream_closed(self) -> None:
        slow = [p for p in self.made if isinstance(p, FakeProvider)]
        assert slow, "the slow scenario was not made"
        assert slow[-1].closed.is_set()
        assert slow[-1].cancelled.is_set()

    def upstream_tool_results(self) -> list[tuple[str, str]]:
        return _last_relay(self.made).received_tool_results()


def _last_relay(made: Sequence[Provider]) -> Relay:
    relays = [p for p in made if isinstance(p, Relay)]
    assert relays, "no tool result scenario was made"
    return relays[-1]


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


async def test_rejects_parallel_calls_that_share_an_id() -> None:
    events = [
        e.model_copy(update={"tool_call_id": "call_a"}) if e.tool_call_id else e
        for e in parallel_events(Scenario("parallel_tool_calls"))
    ]
    factory = with_override("parallel_tool_calls", ScriptedProvider(events))
    with pytest.raises(AssertionError, match="distinct ids"):
        await suite.test_parallel_tool_calls_assembly(factory)


async def test_rejects_a_single_call_where_two_were_asked_for() -> None:
    events = tool_events(Scenario("parallel_tool_calls"))
    factory = with_override("parallel_tool_calls", ScriptedProvider(events))
    with pytest.raises(AssertionError):
        await suite.test_parallel_tool_calls_assembly(factory)
    with pytest.raises(AssertionError):
        await suite.test_parallel_tool_calls_complete_equals_folded_stream(factory)


async def test_rejects_parallel_calls_in_the_wrong_order() -> None:
    events = parallel_events(Scenario("parallel_tool_calls"))
    swapped = [
        e.model_copy(update={"tool_name": {"get_weather": "get_time"}.get(e.tool_name or "")})
        if e.type == "tool_call_start"
        else e
        for e in events
    ]
    factory = with_override("parallel_tool_calls", ScriptedProvider(swapped))
    with pytest.raises(AssertionError):
        await suite.test_parallel_tool_calls_assembly(factory)


class OnRelay(ProviderConformance):
    """The suite, with its upstream check reading what ``relay`` sent."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def factory(self) -> ProviderFactory:
        def make(scenario: Scenario) -> Provider:
            tool_results = scenario.name in ("tool_result", "tool_error")
            return self.relay if tool_results else conforming(scenario)

        return make

    def upstream_tool_results(self) -> list[tuple[str, str]]:
        return self.relay.received_tool_results()


def dropping_tool_results(message: Message) -> Wire | None:
    return None if message.role == "tool" else _wire(message)


def blanking_errors(message: Message) -> Wire:
    return (message.role, message.tool_call_id, "" if message.is_error else message.content)


def reordering(message: Message) -> Wire:
    """Sends each tool result under the other call's id."""
    swap = {"call_1": "call_2", "call_2": "call_1"}
    return (message.role, swap.get(message.tool_call_id or ""), message.content)


def relay_for(name: ScenarioName, send: Callable[[Message], Wire | None]) -> OnRelay:
    return OnRelay(Relay(text_events(Scenario(name)), send=send))


async def test_a_relay_that_sends_everything_passes() -> None:
    check = relay_for("tool_result", _wire)
    await check.test_tool_results_reach_the_upstream(check.factory())
    check = relay_for("tool_error", _wire)
    await check.test_tool_error_reaches_the_upstream(check.factory())
    assert len(check.relay.wire) == 2, "the stream and complete() both send the results"


async def test_rejects_a_provider_that_drops_tool_results() -> None:
    check = relay_for("tool_result", dropping_tool_results)
    with pytest.raises(AssertionError, match="did not receive the tool results"):
        await check.test_tool_results_reach_the_upstream(check.factory())
    check = relay_for("tool_error", dropping_tool_results)
    with pytest.raises(AssertionError):
        await check.test_tool_error_reaches_the_upstream(check.factory())


async def test_rejects_tool_results_under_the_wrong_ids() -> None:
    check = relay_for("tool_result", reordering)
    with pytest.raises(AssertionError, match="did not receive the tool results"):
        await check.test_tool_results_reach_the_upstream(check.factory())


async def test_rejects_a_provider_that_loses_the_error_message() -> None:
    check = relay_for("tool_error", blanking_errors)
    with pytest.raises(AssertionError, match="did not receive the tool error"):
        await check.test_tool_error_reaches_the_upstream(check.factory())
    # The same provider passes on plain results: only the error is lost.
    check = relay_for("tool_result", blanking_errors)
    await check.test_tool_results_reach_the_upstream(check.factory())


async def test_rejects_tool_calls_in_the_answer_to_tool_results() -> None:
    factory = with_override("tool_result", ScriptedProvider(tool_events(Scenario("tool_result"))))
    with pytest.raises(AssertionError):
        await TestConformingProvider().test_tool_results_reach_the_upstream(factory)


async def test_the_upstream_hook_must_be_implemented() -> None:
    with pytest.raises(NotImplementedError, match="must override upstream_tool_results"):
        await suite.test_tool_results_reach_the_upstream(conforming)


async def test_no_upstream_skips_only_the_upstream_check() -> None:
    class InProcess(ProviderConformance):
        has_upstream = False

    await InProcess().test_tool_results_reach_the_upstream(conforming)
    await InProcess().test_tool_error_reaches_the_upstream(conforming)
    answers_with_a_call = with_override(
        "tool_error", ScriptedProvider(tool_events(Scenario("tool_error")))
    )
    with pytest.raises(AssertionError):
        await InProcess().test_tool_error_reaches_the_upstream(answers_with_a_call)


def test_unsupported_features_are_not_collected() -> None:
    class Minimal(ProviderConformance):
        supports_tools = False
        supports_usage = False
        supports_errors = False

    for name in (
        "test_tool_call_assembly",
        "test_tool_call_complete_equals_folded_stream",
        "test_parallel_tool_calls_assembly",
        "test_parallel_tool_calls_complete_equals_folded_stream",
        "test_tool_results_reach_the_upstream",
        "test_tool_error_reaches_the_upstream",
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
    both = suite.make_request(Scenario("parallel_tool_calls"))
    assert [t.name for t in both.tools] == ["get_weather", "get_time"]
    assert [m.role for m in both.messages] == ["system", "user"]


def test_tool_result_requests_go_on_after_the_tool_turn() -> None:
    scenario = Scenario("tool_error", tool_results=("18C", "09:30"), tool_error="boom")
    request = suite.make_request(scenario)
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool", "tool"]
    assistant = request.messages[2]
    assert [(c.id, c.name, c.arguments) for c in assistant.tool_calls] == [
        ("call_1", "get_weather", '{"city": "Paris"}'),
        ("call_2", "get_time", '{"timezone": "Asia/Tokyo"}'),
    ]
    results = [(m.tool_call_id, m.content, m.is_error) for m in request.messages[3:]]
    assert results == [("call_1", "18C", False), ("call_2", "boom", True)]
    plain = suite.make_request(Scenario("tool_result", tool_results=("18C", "09:30")))
    assert [(m.content, m.is_error) for m in plain.messages[3:]] == [
        ("18C", False),
        ("09:30", False),
    ]
    assert [t.name for t in request.tools] == ["get_weather", "get_time"]
