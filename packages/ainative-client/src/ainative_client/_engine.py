"""`StreamingEngine`: runs one stream at a time, reports it on an `EventBus`, and resumes it.

Bus events (``payload`` keys):

- ``stream-start``: ``url``, ``method``, ``action``.
- ``stream-data``: ``type`` (the wire type), ``id`` (event id) and one key named after the
  type holding its data: ``token`` (str), ``metadata`` (dict, includes ``stream_id``),
  ``reasoning`` (str), ``tool_call`` (dict with ``phase`` start/delta/end, ``id``, ``name``,
  ``args_delta``, ``index``), ``tool_result`` (dict), ``usage`` (dict), or any other type.
- ``tool``: ``type`` (``tool_call`` or ``tool_result``), ``data``, ``id``: each tool event
  again, after its ``stream-data``, for listeners that only care about tools.
- ``stream-reconnect``: ``attempt``, ``delay``, ``error``, ``last_event_id``.
- ``stream-error``: ``error`` (message), ``code``, ``retryable``: an error event from the
  server, or the transport error that ended the stream.
- ``stream-end``: ``reason`` (``complete | aborted | error``), ``finish_reason``,
  ``stream_id``, ``usage`` (the ``done`` event's token counts, when the server sent them),
  ``tool_calls`` (the client's tools the model called, for ``finish_reason`` ``tool_call``):
  exactly once per stream, whatever happened.

An engine made with ``record_data=False`` builds ``stream-data`` and ``tool`` events only
while something would receive them (a listener for the type, a wildcard listener or a
subscriber, see `EventBus.has_listeners`), so the bus's history holds them only then; the
other events are always emitted. Events are read a network read at a time: the bus events
of one read's events are emitted before the first of them is handed on.
"""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from typing import Any, Final, final

import anyio
import httpx

from ainative_core import (
    RESUMABLE_HEADER,
    ActionRequest,
    AINativeError,
    ConnectError,
    EventBus,
    HTTPStatusError,
    Plugins,
    StreamingError,
    StreamInterrupted,
    TransportError,
    get_logger,
    get_plugins,
)

from ._config import EndReason, StreamConfig, StreamResult
from ._transport import BatchedEvents, ClientTransport, ReceivedEvent, base_url

__all__ = ["StreamingEngine"]

_log = get_logger("ainative.client")

# Statuses that mean "this transport is not served here": AUTO tries the next one.
_FALLBACK_STATUSES: Final = frozenset({403, 404, 405, 426, 501})
_TOOL_EVENTS: Final = frozenset({"tool_call", "tool_result"})
# Base URL -> the transport AUTO last connected with (process-wide, small).
_auto_choice: dict[str, str] = {}


def default_http_client() -> httpx.AsyncClient:
    """The client an engine uses when given none: no read timeout shorter than the pings."""
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=60.0))


def _backoff(config: StreamConfig, attempt: int) -> float:
    delay = min(config.max_reconnect_delay, config.reconnect_delay * 2 ** (attempt - 1))
    jittered: float = delay * random.uniform(0.5, 1.0)
    return jittered


def _stream_headers(config: StreamConfig) -> Mapping[str, str]:
    """The config's headers, plus ``X-AINative-Resumable: 1`` when the engine reconnects.

    The declaration keeps the stream running on the server for its ``resume_grace`` after
    a drop; without it (``reconnect=False``) a dropped connection cancels it there at once.
    """
    if not config.reconnect:
        return config.headers
    return {**config.headers, RESUMABLE_HEADER: "1"}


def _can_fall_back(exc: AINativeError) -> bool:
    if isinstance(exc, HTTPStatusError):
        # A status with an ainative error body is the server's answer, not a missing route.
        return exc.status_code in _FALLBACK_STATUSES and exc.server_code is None
    return isinstance(exc, ConnectError)


def _can_retry(exc: AINativeError) -> bool:
    return isinstance(exc, (StreamInterrupted, ConnectError)) or (
        isinstance(exc, TransportError) and exc.retryable
    )


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (none for anything else)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@final
class _Run:
    """The state of the stream in progress (for `stop` and the result)."""

    __slots__ = (
        "config",
        "finish_reason",
        "last_event_id",
        "messages",
        "reconnects",
        "saw_error",
        "stream_id",
        "tool_calls",
        "transport",
        "transport_name",
        "usage",
    )

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.transport: ClientTransport | None = None
        self.transport_name: str | None = None
        self.stream_id: str | None = None
        self.last_event_id: int | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.messages: list[dict[str, Any]] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.saw_error = False
        self.reconnects = 0


@final
class StreamingEngine:
    """Streams an action from an ainative server and reports it on ``event_bus``.

    `start` returns when the stream has ended (a `StreamResult`; errors are also on the
    bus); `stream` is the same run as an async iterator, for consumers that pace it.
    One stream at a time: starting while one is active raises `StreamingError`.
    ``http_client`` is shared when given; otherwise each stream opens and closes its own.
    """

    def __init__(
        self,
        event_bus: EventBus | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        plugins: Plugins | None = None,
        record_data: bool = True,
    ) -> None:
        self.event_bus = event_bus if event_bus is not None else EventBus()
        self._record_data = record_data
        self._http = http_client
        self._plugins = plugins
        self._run: _Run | None = None
        self._scope: anyio.CancelScope | None = None
        self._stop_requested = False

    @property
    def is_active(self) -> bool:
        return self._run is not None

    @property
    def stream_id(self) -> str | None:
        """The server's id of the stream in progress (once known)."""
        return self._run.stream_id if self._run is not None else None

    # -- running ---------------------------------------------------------------------------

    async def start(
        self, config: StreamConfig, data: ActionRequest | Mapping[str, Any]
    ) -> StreamResult:
        """Run a stream to its end, emitting bus events; `stop` (or cancelling) aborts it."""
        if self._run is not None:
            raise StreamingError("a stream is already active; stop() it before starting another")
        result: list[StreamResult] = []
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                async with aclosing(self._stream(config, data, result)) as batches:
                    async for _ in batches:
                        pass
        except AINativeError:
            if not result:  # refused before the run began (another start won the race)
                raise
            # otherwise reported on the bus and in the result
        finally:
            self._scope = None
        return result[0]

    def stream(
        self, config: StreamConfig, data: ActionRequest | Mapping[str, Any]
    ) -> AsyncGenerator[ReceivedEvent, None]:
        """The run as an async iterator of events (bus events are emitted as well).

        It reads from the network only as fast as it is consumed. A transport failure that
        reconnecting cannot cure is raised (an ainative error) after ``stream-end``. Close it
        (``contextlib.aclosing``) when leaving early.
        """
        if self._run is not None:
            raise StreamingError("a stream is already active; stop() it before starting another")
        return _one_by_one(self._stream(config, data, []))

    def stream_batches(
        self, config: StreamConfig, data: ActionRequest | Mapping[str, Any]
    ) -> AsyncGenerator[list[ReceivedEvent], None]:
        """Like `stream`, but a list at a time: the (non-empty) events of one network read."""
        if self._run is not None:
            raise StreamingError("a stream is already active; stop() it before starting another")
        return self._stream(config, data, [])

    async def stop(self) -> None:
        """Abort the stream: cancel it on the server (DELETE / WS cancel), then locally."""
        run = self._run
        if run is None:
            return
        self._stop_requested = True
        await self._cancel_remote(run)
        if self._scope is not None:
            self._scope.cancel()

    async def _cancel_remote(self, run: _Run) -> None:
        if run.transport is None or run.stream_id is None or run.finish_reason is not None:
            return
        with anyio.move_on_after(run.config.cancel_timeout):
            try:
                await run.transport.cancel(
                    run.config.url, run.stream_id, headers=run.config.headers
                )
            except AINativeError as exc:
                _log.warning("cancel on server failed", stream_id=run.stream_id, error=str(exc))

    # -- the run ---------------------------------------------------------------------------

    async def _stream(
        self,
        config: StreamConfig,
        data: ActionRequest | Mapping[str, Any],
        result: list[StreamResult],
    ) -> AsyncGenerator[list[ReceivedEvent], None]:
        if self._run is not None:
            raise StreamingError("a stream is already active; stop() it before starting another")
        request = data if isinstance(data, ActionRequest) else ActionRequest.model_validate(data)
        run = _Run(config)
        self._run = run
        self._stop_requested = False
        bus = self.event_bus
        bus.emit(
            "stream-start", {"url": config.url, "method": config.method, "action": request.action}
        )
        reason: EndReason = "error"
        error: AINativeError | None = None
        try:
            async with self._http_client() as http:
                transports = _Transports(http, self._plugins)
                try:
                    async with aclosing(self._batches(run, transports, request)) as batches:
                        async for batch in batches:
                            self._dispatch(run, batch)
                            yield batch
                except BaseException as exc:
                    # Cancelled or abandoned (not stopped, not failed): stop the server's work.
                    if not isinstance(exc, AINativeError) and not self._stop_requested:
                        with anyio.CancelScope(shield=True):
                            await self._cancel_remote(run)
                    raise
            if self._stop_requested or run.finish_reason == "cancelled":
                reason = "aborted"
            elif run.saw_error or run.finish_reason == "error":
                reason = "error"
            else:
                reason = "complete"
        except AINativeError as exc:
            error = exc
            reason = "aborted" if self._stop_requested else "error"
            if reason == "error":
                server_code = exc.server_code if isinstance(exc, HTTPStatusError) else None
                code = server_code or exc.code
                bus.emit(
                    "stream-error", {"error": str(exc), "code": code, "retryable": exc.retryable}
                )
            if reason == "error":
                raise
        except BaseException:
            reason = "aborted"
            raise
        finally:
            self._run = None
            result.append(
                StreamResult(
                    reason,
                    run.finish_reason,
                    error,
                    run.stream_id,
                    run.transport_name,
                    run.reconnects,
                    run.usage,
                    run.messages,
                    run.tool_calls,
                )
            )
            bus.emit(
                "stream-end",
                {
                    "reason": reason,
                    "finish_reason": run.finish_reason,
                    "stream_id": run.stream_id,
                    "usage": run.usage,
                    "tool_calls": run.tool_calls,
                },
            )

    @asynccontextmanager
    async def _http_client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._http is not None:
            yield self._http
            return
        async with default_http_client() as client:
            yield client

    def _dispatch(self, run: _Run, batch: list[ReceivedEvent]) -> None:
        bus = self.event_bus
        heard = self._record_data or bus.has_listeners("stream-data")
        for item in batch:
            event = item.event
            kind = event.type
            if kind == "token":
                if heard:
                    bus.emit("stream-data", {"type": kind, kind: event.data, "id": item.id})
            elif kind == "done":
                data = event.data if isinstance(event.data, dict) else {}
                reason = data.get("finish_reason")
                run.finish_reason = reason if isinstance(reason, str) else "stop"
                usage = data.get("usage")
                run.usage = usage if isinstance(usage, dict) else None
                run.messages = _dicts(data.get("messages"))
                run.tool_calls = _dicts(data.get("tool_calls"))
            elif kind == "error":
                run.saw_error = True
                bus.emit(
                    "stream-error",
                    {
                        "error": event.data if isinstance(event.data, str) else str(event.data),
                        "code": event.code,
                        "retryable": bool(event.retryable),
                        "id": item.id,
                    },
                )
            else:
                if heard:
                    bus.emit("stream-data", {"type": kind, kind: event.data, "id": item.id})
                if kind in _TOOL_EVENTS and (self._record_data or bus.has_listeners("tool")):
                    bus.emit("tool", {"type": kind, "data": event.data, "id": item.id})

    async def _batches(
        self, run: _Run, transports: _Transports, request: ActionRequest
    ) -> AsyncGenerator[list[ReceivedEvent], None]:
        """Open, read, and resume after drops: each event once, in order, ending at ``done``."""
        config = run.config
        failures = 0
        while True:
            try:
                async with AsyncExitStack() as stack:
                    if run.transport is None or run.stream_id is None:
                        events = await self._open(stack, run, transports, request)
                    else:
                        events = await stack.enter_async_context(
                            run.transport.resume(
                                config.url,
                                run.stream_id,
                                run.last_event_id,
                                headers=_stream_headers(config),
                            )
                        )
                    source = (
                        events.batches
                        if isinstance(events, BatchedEvents)
                        else _in_batches_of_one(events)
                    )
                    # Only a reconnect can repeat events: drop what this connection sends
                    # at or below the id we resumed from. Within one connection an event
                    # without its own `id:` inherits the previous one (SSE), and is new.
                    floor = run.last_event_id
                    async with aclosing(source):
                        async for batch in source:
                            fresh: list[ReceivedEvent] = []
                            done = False
                            for item in batch:
                                if item.stream_id is not None:
                                    run.stream_id = item.stream_id
                                if item.id is not None:
                                    if floor is not None and item.id <= floor:
                                        continue  # already delivered before the reconnect
                                    run.last_event_id = item.id
                                fresh.append(item)
                                if item.event.type == "done":
                                    done = True
                                    break
                            if fresh:
                                failures = 0
                                yield fresh
                            if done:
                                return
                raise StreamInterrupted("the connection ended before the stream's done event")
            except AINativeError as exc:
                if self._stop_requested or not config.reconnect or not _can_retry(exc):
                    raise
                if failures >= config.max_reconnect_attempts:
                    # Never connected: the server is unreachable. Connected once: interrupted.
                    never = run.last_event_id is None and isinstance(exc, ConnectError)
                    kind = ConnectError if never else StreamInterrupted
                    raise kind(f"gave up after {failures} reconnect attempts: {exc}") from exc
                failures += 1
                run.reconnects += 1
                delay = _backoff(config, failures)
                _log.info(
                    "reconnecting",
                    attempt=failures,
                    delay=round(delay, 3),
                    stream_id=run.stream_id,
                    last_event_id=run.last_event_id,
                    error=str(exc),
                )
                self.event_bus.emit(
                    "stream-reconnect",
                    {
                        "attempt": failures,
                        "delay": delay,
                        "error": str(exc),
                        "last_event_id": run.last_event_id,
                    },
                )
                await anyio.sleep(delay)

    async def _open(
        self,
        stack: AsyncExitStack,
        run: _Run,
        transports: _Transports,
        request: ActionRequest,
    ) -> AsyncIterator[ReceivedEvent]:
        config = run.config
        method = config.method.lower()
        key = base_url(config.url)
        if method == "auto":
            order = list(config.auto_order)
            remembered = _auto_choice.get(key)
            if remembered in order:
                order.remove(remembered)
                order.insert(0, remembered)
        else:
            order = [method]
        first_error: AINativeError | None = None
        for index, name in enumerate(order):
            transport = transports.get(name)
            try:
                events = await stack.enter_async_context(
                    transport.open(config.url, request, headers=_stream_headers(config))
                )
            except AINativeError as exc:
                if index + 1 < len(order) and _can_fall_back(exc):
                    _log.info("transport unavailable, falling back", transport=name, error=str(exc))
                    first_error = first_error or exc
                    continue
                if first_error is not None and not _can_fall_back(exc):
                    raise
                raise first_error or exc from None
            run.transport = transport
            run.transport_name = name
            if method == "auto":
                _auto_choice[key] = name
            return events
        raise AssertionError("unreachable: the loop returns or raises")


async def _in_batches_of_one(
    events: AsyncIterator[ReceivedEvent],
) -> AsyncGenerator[list[ReceivedEvent], None]:
    async for item in events:
        yield [item]


async def _one_by_one(
    batches: AsyncGenerator[list[ReceivedEvent], None],
) -> AsyncGenerator[ReceivedEvent, None]:
    async with aclosing(batches):
        async for batch in batches:
            for item in batch:
                yield item


@final
class _Transports:
    """Client transports by name, created on first use from the plugin registry."""

    def __init__(self, http: httpx.AsyncClient, plugins: Plugins | None) -> None:
        self._http = http
        self._plugins = plugins
        self._made: dict[str, ClientTransport] = {}

    def get(self, name: str) -> ClientTransport:
        transport = self._made.get(name)
        if transport is None:
            plugins = self._plugins if self._plugins is not None else get_plugins()
            factory = plugins.get_transport(name, "client")
            transport = factory(self._http)
            self._made[name] = transport
        return transport
