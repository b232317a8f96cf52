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
    ToolSpec,
    accumulate,
    open_stream,
)

from ._collector import StreamCollector

__all__ = ["ProviderConformance", "ProviderFactory", "Scenario", "ScenarioName"]

ScenarioName: TypeAlias = Literal[
    "text", "tool_call", "slow", "auth_error", "rate_limited", "unavailable"
]

_CONTENT = frozenset({"text", "reasoning", "tool_call_start", "tool_call_delta", "tool_call_end"})
_TOOL_TESTS = ("test_tool_call_assembly", "test_tool_call_complete_equals_folded_stream")
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
    token_delay: float = 0.05
    retry_after: float = 2.0


ProviderFactory: TypeAlias = Callable[[Scenario], Provider]


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


class ProviderConformance:
    """Base class of a provider's conformance tests; see the module docstring for the contract.

    Override ``provider_factory``; override ``make_request`` if the provider needs another
    request shape (a model name, say) and ``assert_upstream_closed`` to check, for a network
    provider, that cancelling closed the upstream connection.
    """

    supports_tools: ClassVar[bool] = True
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
        """A system message and ``scenario.text`` as the user message (+ a tool for tool_call)."""
        tools: list[ToolSpec] = []
        if scenario.name == "tool_call":
            tools.append(
                ToolSpec(
                    name=scenario.tool_name,
                    description="Get the current weather in a city.",
                    parameters={
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                )
            )
        return GenerateRequest(
            messages=[
                Message(role="system", content="You are a conformance test."),
                Message(role="user", content=scenario.text),
            ],
            tools=tools,
        )

    async def assert_upstream_closed(self) -> None:
        """Called after a stream was cancelled: assert the upstream connection is closed.

        The default does nothing (right for in-process providers). A network provider's test
        asserts here that its fake upstream saw the client go away; the fixture can keep the
        fake upstream on ``self`` (fixtures of the class run on the test's own instance).
        """

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
