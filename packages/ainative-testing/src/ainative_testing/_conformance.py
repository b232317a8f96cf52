"""The provider conformance suite: a base test class a plugin author points at a provider.

Subclass it in a test module and override the ``provider_factory`` fixture::

    from ainative_testing import ProviderConformance, Scenario

    class TestMyProvider(ProviderConformance):
        @pytest.fixture
        def provider_factory(self):
            def make(scenario: Scenario) -> MyProvider:
                ...  # a provider (or the local fake upstream it talks to) set up for `scenario`
            return make

Every test runs on asyncio and on trio (the class parametrizes ``anyio_backend`` itself).
The contract checked, per scenario:

- ``text``: text events, then one ``finish`` with reason ``stop`` as the last event; the text
  joins to ``scenario.text``; ``usage`` (with ``output_tokens > 0``) before or with ``finish``.
- ``tool_call``: ``tool_call_start`` → ``tool_call_delta``... → ``tool_call_end`` for one call
  named ``scenario.tool_name`` whose arguments parse to ``scenario.tool_arguments``; finish
  reason ``tool_call``.
- ``parallel_tool_calls``: two calls in one turn, ``scenario.tool_name`` with
  ``scenario.tool_arguments`` then ``scenario.second_tool_name`` with
  ``scenario.second_tool_arguments``: for each call (events of one ``index``), start →
  delta... → end; distinct ids and indexes; finish reason ``tool_call``; ``complete()`` folds
  to the same two calls, in that order.
- ``tool_result``: the request (`make_request`) continues a conversation after such a turn:
  the assistant message calling both tools (ids ``call_1``, ``call_2``), then one tool message
  per call with ``scenario.tool_results``. The upstream answers ``scenario.text``: a good
  text stream as for ``text``, and `upstream_tool_results` (what the upstream received)
  equals the results sent, as ``(tool call id, content)`` in order.
- ``tool_error``: the same, but the second result has ``is_error`` and
  ``scenario.tool_error`` as its content; what the upstream received for it contains that
  message (a vendor with no error flag gets it as the result's text).
- ``slow``: tokens ``token_delay`` apart; a consumer that cancels (or stops) after the first
  token closes the stream at once: the generator is finished and `assert_upstream_closed`
  passes.
- ``auth_error`` / ``rate_limited`` / ``unavailable``: the stream *raises* the matching
  `ProviderError` (`ProviderAuthError`, `ProviderRateLimited` with ``retry_after``,
  `ProviderUnavailable`) before it yields any event. Errors after the first token are events
  (``error``, then ``finish`` with reason ``error``), but no scenario asks for those.

``complete()`` must equal the folded stream. A factory may be called more than once in a
test; each provider it returns behaves as the scenario says for every request. For the error
scenarios, set the provider up not to retry (or the test waits for its backoff).
Tests of features a provider lacks (``supports_tools = False`` ...) are not collected.

A network provider implements `ProviderConformance.upstream_tool_results`: from the last
request its fake upstream received, each tool result in order, as ``(tool call id, content
text)``. A provider with no upstream (in-process, like ``echo``) sets ``has_upstream =
False``, which skips that check; its answer to the results may then be any text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

import anyio
import pytest

from ainative_core import (
    Completion,
    GenerateRequest,
    Message,
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
    StreamEvent,
    ToolCall,
    ToolSpec,
    accumulate,
    open_stream,
)

from ._collector import StreamCollector

__all__ = ["ProviderConformance", "ProviderFactory", "Scenario", "ScenarioName"]

ScenarioName: TypeAlias = Literal[
    "text",
    "tool_call",
    "parallel_tool_calls",
    "tool_result",
    "tool_error",
    "slow",
    "auth_error",
    "rate_limited",
    "unavailable",
]

_CONTENT = frozenset({"text", "reasoning", "tool_call_start", "tool_call_delta", "tool_call_end"})
_TOOL_TESTS = (
    "test_tool_call_assembly",
    "test_tool_call_complete_equals_folded_stream",
    "test_parallel_tool_calls_assembly",
    "test_parallel_tool_calls_complete_equals_folded_stream",
    "test_tool_results_reach_the_upstream",
    "test_tool_error_reaches_the_upstream",
)
_USAGE_TESTS = ("test_usage_reported",)
_ERROR_TESTS = ("test_errors_raise_before_first_event", "test_complete_raises_mapped_errors")
_ERRORS: dict[str, type[ProviderError]] = {
    "auth_error": ProviderAuthError,
    "rate_limited": ProviderRateLimited,
    "unavailable": ProviderUnavailable,
}


@dataclass(frozen=True)
class Scenario:
    """What the provider under test is asked to do; the factory sets it (or its upstream) up."""

    name: ScenarioName
    text: str = "Hello world, this is a conformance test."
    tool_name: str = "get_weather"
    tool_arguments: str = '{"city": "Paris"}'
    second_tool_name: str = "get_time"
    second_tool_arguments: str = '{"timezone": "Asia/Tokyo"}'
    tool_results: tuple[str, str] = ('{"temperature_c": 18}', '{"time": "09:30"}')
    tool_error: str = "get_time failed: the time service is unreachable"
    token_delay: float = 0.05
    retry_after: float = 2.0

    def tool_calls(self) -> list[ToolCall]:
        """The calls of a tool turn: ``tool_name`` (``call_1``), then ``second_tool_name``."""
        return [
            ToolCall(id="call_1", name=self.tool_name, arguments=self.tool_arguments),
            ToolCall(id="call_2", name=self.second_tool_name, arguments=self.second_tool_arguments),
        ]

    def tool_messages(self) -> list[Message]:
        """The tool messages answering `tool_calls` (the second an error for ``tool_error``)."""
        first, second = self.tool_calls()
        failed = self.name == "tool_error"
        return [
            Message(role="tool", tool_call_id=first.id, content=self.tool_results[0]),
            Message(
                role="tool",
                tool_call_id=second.id,
                content=self.tool_error if failed else self.tool_results[1],
                is_error=failed,
            ),
        ]


ProviderFactory: TypeAlias = Callable[[Scenario], Provider]

_TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "weather": ("Get the current weather in a city.", {"city": {"type": "string"}}),
    "time": ("Get the current time in a time zone.", {"timezone": {"type": "string"}}),
}


def _tool(name: str, kind: str) -> ToolSpec:
    description, properties = _TOOLS[kind]
    return ToolSpec(
        name=name,
        description=description,
        parameters={"type": "object", "properties": properties, "required": list(properties)},
    )


def _check_order(events: list[StreamEvent]) -> StreamEvent:
    """One ``finish``, last; no ``error`` in a good stream. Returns the finish event."""
    kinds = [e.type for e in events]
    assert kinds.count("finish") == 1, f"expected exactly one finish event, got {kinds}"
    assert kinds[-1] == "finish", f"nothing may follow finish, got {kinds}"
    assert "error" not in kinds, f"unexpected error event in {events}"
    return events[-1]


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise AssertionError(f"{what} are not valid JSON: {text!r}") from None


def _comparable(completion: Completion) -> dict[str, Any]:
    return {
        "text": completion.text,
        "finish_reason": completion.finish_reason,
        "tool_calls": [
            (c.name, _json(c.arguments, "tool arguments")) for c in completion.tool_calls
        ],
        "error": completion.error,
    }


def _calls(completion: Completion) -> list[tuple[str, Any]]:
    return [(c.name, _json(c.arguments, "tool arguments")) for c in completion.tool_calls]


def _calls_of(scenario: Scenario) -> list[tuple[str, Any]]:
    return [(c.name, json.loads(c.arguments)) for c in scenario.tool_calls()]


class ProviderConformance:
    """Base class of a provider's conformance tests; see the module docstring for the contract.

    Override ``provider_factory``; override ``make_request`` if the provider needs another
    request shape (a model name, say), ``assert_upstream_closed`` to check, for a network
    provider, that cancelling closed the upstream connection, and `upstream_tool_results`
    (or set ``has_upstream = False``) for the tool result scenarios.
    """

    supports_tools: ClassVar[bool] = True
    #: False for a provider with no upstream: `upstream_tool_results` is then not called.
    has_upstream: ClassVar[bool] = True
    supports_usage: ClassVar[bool] = True
    supports_errors: ClassVar[bool] = True
    #: Upper bound, in seconds, for one stream in any test (a hang fails instead of blocking).
    stream_timeout: ClassVar[float] = 15.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Features a provider does not have are not tested: their tests are not collected.
        for flag, names in (
            ("supports_tools", _TOOL_TESTS),
            ("supports_usage", _USAGE_TESTS),
            ("supports_errors", _ERROR_TESTS),
        ):
            if not getattr(cls, flag):
                for name in names:
                    setattr(cls, name, None)

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        """Every conformance test runs on asyncio and on trio."""
        return str(request.param)

    @pytest.fixture
    def provider_factory(self) -> ProviderFactory:
        """Return a callable ``Scenario -> Provider``. Must be overridden."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the provider_factory fixture"
        )

    def make_request(self, scenario: Scenario) -> GenerateRequest:
        """A system message and ``scenario.text`` as the user message, and what a scenario adds.

        ``tool_call`` offers ``scenario.tool_name``; the other tool scenarios offer both
        tools, and ``tool_result`` / ``tool_error`` go on with the assistant turn that called
        them (`Scenario.tool_calls`) and its results (`Scenario.tool_messages`).
        """
        messages = [
            Message(role="system", content="You are a conformance test."),
            Message(role="user", content=scenario.text),
        ]
        tools: list[ToolSpec] = []
        if scenario.name in ("tool_call", "parallel_tool_calls", "tool_result", "tool_error"):
            tools.append(_tool(scenario.tool_name, "weather"))
        if scenario.name in ("parallel_tool_calls", "tool_result", "tool_error"):
            tools.append(_tool(scenario.second_tool_name, "time"))
        if scenario.name in ("tool_result", "tool_error"):
            messages.append(Message(role="assistant", tool_calls=scenario.tool_calls()))
            messages.extend(scenario.tool_messages())
        return GenerateRequest(messages=messages, tools=tools)

    async def assert_upstream_closed(self) -> None:
        """Called after a stream was cancelled: assert the upstream connection is closed.

        The default does nothing (right for in-process providers). A network provider's test
        asserts here that its fake upstream saw the client go away; the fixture can keep the
        fake upstream on ``self`` (fixtures of the class run on the test's own instance).
        """

    def upstream_tool_results(self) -> list[tuple[str, str]]:
        """The tool results of the last request the upstream received: ``(call id, content)``.

        In the order they were sent, read from the request as the vendor received it (the
        fake upstream's record, say), so that a result the provider dropped or mangled
        fails the test. Must be overridden by a provider with an upstream; one without sets
        ``has_upstream = False``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must override upstream_tool_results(): return each tool "
            "result of the last request its upstream received, as (tool call id, content "
            "text), in order; or set has_upstream = False if the provider has no upstream"
        )

    # -- helpers ---------------------------------------------------------------------------

    async def _events(self, factory: ProviderFactory, scenario: Scenario) -> list[StreamEvent]:
        return await StreamCollector().collect(
            factory(scenario), self.make_request(scenario), within=self.stream_timeout
        )

    # -- text ------------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_text_event_order(self, provider_factory: ProviderFactory) -> None:
        events = await self._events(provider_factory, Scenario("text"))
        _check_order(events)
        texts = [e for e in events if e.type == "text"]
        assert texts, "a text scenario must stream at least one text event"
        assert all(e.text is not None for e in texts)
        tool_events = [e for e in events if e.type.startswith("tool_call")]
        assert not tool_events, f"no tool was asked for, got {tool_events}"

    @pytest.mark.anyio
    async def test_text_accumulates(self, provider_factory: ProviderFactory) -> None:
        scenario = Scenario("text")
        events = await self._events(provider_factory, scenario)
        assert "".join(e.text or "" for e in events if e.type == "text") == scenario.text

    @pytest.mark.anyio
    async def test_text_finish_reason_stop(self, provider_factory: ProviderFactory) -> None:
        events = await self._events(provider_factory, Scenario("text"))
        assert _check_order(events).finish_reason == "stop"

    @pytest.mark.anyio
    async def test_usage_reported(self, provider_factory: ProviderFactory) -> None:
        events = await self._events(provider_factory, Scenario("text"))
        finish = _check_order(events)
        usages = [e.usage for e in events if e.type == "usage" and e.usage is not None]
        if finish.usage is not None:
            usages.append(finish.usage)
        assert usages, "usage must be reported in a usage event before finish, or on finish"
        assert usages[-1].output_tokens > 0
        assert usages[-1].input_tokens >= 0

    @pytest.mark.anyio
    async def test_complete_equals_folded_stream(self, provider_factory: ProviderFactory) -> None:
        scenario = Scenario("text")
        folded = accumulate(await self._events(provider_factory, scenario))
        with anyio.fail_after(self.stream_timeout):
            completion = await provider_factory(scenario).complete(self.make_request(scenario))
        assert _comparable(completion) == _comparable(folded)
        assert completion.text == scenario.text
        if self.supports_usage:
            assert completion.usage is not None
            assert completion.usage.output_tokens > 0

    # -- tools -----------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_tool_call_assembly(self, provider_factory: ProviderFactory) -> None:
        scenario = Scenario("tool_call")
        events = await self._events(provider_factory, scenario)
        finish = _check_order(events)
        assert finish.finish_reason == "tool_call"
        tool_events = [e for e in events if e.type.startswith("tool_call")]
        kinds = [e.type for e in tool_events]
        assert kinds, "a tool_call scenario must stream tool_call_* events"
        assert kinds[0] == "tool_call_start", kinds
        assert kinds[-1] == "tool_call_end", kinds
        assert kinds.count("tool_call_start") == 1, kinds
        assert kinds.count("tool_call_end") == 1, kinds
        assert set(kinds[1:-1]) <= {"tool_call_delta"}, kinds
        start = tool_events[0]
        assert start.tool_name == scenario.tool_name
        assert start.tool_call_id, "tool_call_start must carry the call's id"
        for event in tool_events:
            assert event.index == start.index
            assert event.tool_call_id in (None, start.tool_call_id)
        arguments = "".join(e.args_delta or "" for e in tool_events if e.type == "tool_call_delta")
        expected = json.loads(scenario.tool_arguments)
        assert _json(arguments, "the streamed tool arguments") == expected
        completion = accumulate(events)
        assert len(completion.tool_calls) == 1
        call = completion.tool_calls[0]
        assert call.name == scenario.tool_name
        assert _json(call.arguments, "the folded tool arguments") == expected

    @pytest.mark.anyio
    async def test_tool_call_complete_equals_folded_stream(
        self, provider_factory: ProviderFactory
    ) -> None:
        scenario = Scenario("tool_call")
        folded = accumulate(await self._events(provider_factory, scenario))
        with anyio.fail_after(self.stream_timeout):
            completion = await provider_factory(scenario).complete(self.make_request(scenario))
        assert _comparable(completion) == _comparable(folded)
        assert completion.finish_reason == "tool_call"
        assert [c.name for c in completion.tool_calls] == [scenario.tool_name]

    @pytest.mark.anyio
    async def test_parallel_tool_calls_assembly(self, provider_factory: ProviderFactory) -> None:
        scenario = Scenario("parallel_tool_calls")
        events = await self._events(provider_factory, scenario)
        assert _check_order(events).finish_reason == "tool_call"
        tool_events = [e for e in events if e.type.startswith("tool_call")]
        starts = [e for e in tool_events if e.type == "tool_call_start"]
        assert [e.tool_name for e in starts] == [scenario.tool_name, scenario.second_tool_name]
        ids = [e.tool_call_id for e in starts]
        assert all(ids), "tool_call_start must carry the call's id"
        assert len(set(ids)) == 2, f"the two calls need distinct ids, got {ids}"
        assert len({e.index for e in starts}) == 2, "the two calls need distinct indexes"
        for start, expected in zip(starts, scenario.tool_calls(), strict=True):
            own = [e for e in tool_events if e.index == start.index]
            kinds = [e.type for e in own]
            assert kinds[0] == "tool_call_start", kinds
            assert kinds[-1] == "tool_call_end", kinds
            assert set(kinds[1:-1]) <= {"tool_call_delta"}, kinds
            assert all(e.tool_call_id in (None, start.tool_call_id) for e in own), own
            arguments = "".join(e.args_delta or "" for e in own if e.type == "tool_call_delta")
            assert _json(arguments, "the streamed tool arguments") == json.loads(expected.arguments)
        assert _calls(accumulate(events)) == _calls_of(scenario)

    @pytest.mark.anyio
    async def test_parallel_tool_calls_complete_equals_folded_stream(
        self, provider_factory: ProviderFactory
    ) -> None:
        scenario = Scenario("parallel_tool_calls")
        folded = accumulate(await self._events(provider_factory, scenario))
        with anyio.fail_after(self.stream_timeout):
            completion = await provider_factory(scenario).complete(self.make_request(scenario))
        assert _comparable(completion) == _comparable(folded)
        assert completion.finish_reason == "tool_call"
        assert _calls(completion) == _calls_of(scenario)
        assert len({c.id for c in completion.tool_calls}) == 2

    async def _answer_to_tool_results(
        self, factory: ProviderFactory, scenario: Scenario
    ) -> list[list[tuple[str, str]]]:
        """Stream, then complete, the answer to ``scenario``'s results; what reached the upstream.

        Both are checked as good text answers: ``scenario.text``, which the upstream was set
        up to answer; without an upstream, any text, the same both ways. The list holds, per
        call, what `upstream_tool_results` read (empty when ``has_upstream`` is False).
        """
        received: list[list[tuple[str, str]]] = []
        events = await self._events(factory, scenario)
        assert _check_order(events).finish_reason == "stop"
        text = accumulate(events).text
        assert text == scenario.text if self.has_upstream else text, text
        assert not [e for e in events if e.type.startswith("tool_call")], events
        if self.has_upstream:
            received.append(self.upstream_tool_results())
        with anyio.fail_after(self.stream_timeout):
            completion = await factory(scenario).complete(self.make_request(scenario))
        assert completion.text == (scenario.text if self.has_upstream else text)
        assert completion.finish_reason == "stop"
        if self.has_upstream:
            received.append(self.upstream_tool_results())
        return received

    @pytest.mark.anyio
    async def test_tool_results_reach_the_upstream(self, provider_factory: ProviderFactory) -> None:
        scenario = Scenario("tool_result")
        sent = [(m.tool_call_id, m.content) for m in scenario.tool_messages()]
        for received in await self._answer_to_tool_results(provider_factory, scenario):
            assert received == sent, "the upstream did not receive the tool results sent"

    @pytest.mark.anyio
    async def test_tool_error_reaches_the_upstream(self, provider_factory: ProviderFactory) -> None:
        scenario = Scenario("tool_error")
        ok, failed = scenario.tool_messages()
        for received in await self._answer_to_tool_results(provider_factory, scenario):
            ids = [call_id for call_id, _ in received]
            assert ids == [ok.tool_call_id, failed.tool_call_id], received
            assert received[0][1] == ok.content, received
            assert scenario.tool_error in received[1][1], (
                f"the upstream did not receive the tool error {scenario.tool_error!r}: "
                f"{received[1][1]!r}"
            )

    # -- cancellation ----------------------------------------------------------------------

    async def _first_token_then(
        self, provider_factory: ProviderFactory, *, cancel: bool
    ) -> AsyncIterator[StreamEvent]:
        """Consume a slow stream up to its first text event, then cancel or stop reading."""
        scenario = Scenario("slow")
        provider = provider_factory(scenario)
        seen: list[StreamEvent] = []
        stream: AsyncIterator[StreamEvent] | None = None
        with anyio.fail_after(self.stream_timeout):
            with anyio.CancelScope() as scope:
                async with open_stream(provider, self.make_request(scenario)) as stream:
                    async for event in stream:
                        seen.append(event)
                        if event.type == "text":
                            if cancel:
                                scope.cancel()
                                await anyio.sleep(scenario.token_delay * 4)
                            break
            if cancel:
                assert scope.cancelled_caught, "the provider swallowed the cancellation"
        assert [e.type for e in seen].count("text") == 1
        assert "finish" not in [e.type for e in seen]
        assert stream is not None
        return stream

    async def _assert_finished(self, stream: AsyncIterator[StreamEvent]) -> None:
        with anyio.fail_after(self.stream_timeout):
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()
            await self.assert_upstream_closed()

    @pytest.mark.anyio
    async def test_cancel_closes_stream(self, provider_factory: ProviderFactory) -> None:
        stream = await self._first_token_then(provider_factory, cancel=True)
        await self._assert_finished(stream)

    @pytest.mark.anyio
    async def test_early_exit_closes_stream(self, provider_factory: ProviderFactory) -> None:
        stream = await self._first_token_then(provider_factory, cancel=False)
        await self._assert_finished(stream)

    # -- errors ----------------------------------------------------------------------------

    @pytest.mark.anyio
    @pytest.mark.parametrize("name", list(_ERRORS))
    async def test_errors_raise_before_first_event(
        self, provider_factory: ProviderFactory, name: ScenarioName
    ) -> None:
        scenario = Scenario(name)
        events: list[StreamEvent] = []

        async def consume() -> None:
            async with open_stream(provider_factory(scenario), self.make_request(scenario)) as s:
                async for event in s:
                    events.append(event)

        with anyio.fail_after(self.stream_timeout), pytest.raises(ProviderError) as info:
            await consume()
        assert isinstance(info.value, _ERRORS[name]), (
            f"{name} must raise {_ERRORS[name].__name__}, got {info.value!r}"
        )
        assert not [e for e in events if e.type in _CONTENT], events
        if name == "rate_limited":
            assert isinstance(info.value, ProviderRateLimited)
            assert info.value.retry_after == pytest.approx(scenario.retry_after)

    @pytest.mark.anyio
    @pytest.mark.parametrize("name", list(_ERRORS))
    async def test_complete_raises_mapped_errors(
        self, provider_factory: ProviderFactory, name: ScenarioName
    ) -> None:
        scenario = Scenario(name)
        with anyio.fail_after(self.stream_timeout), pytest.raises(_ERRORS[name]):
            await provider_factory(scenario).complete(self.make_request(scenario))
