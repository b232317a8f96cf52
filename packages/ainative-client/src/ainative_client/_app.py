"""`AIApp`: a chat application's state driven by an ainative server (the seed's AIApp)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, final

import anyio
import anyio.abc
import httpx

from ainative_core import (
    ActionRequest,
    AINativeError,
    BusEvent,
    EventBus,
    InvalidRequestError,
    Message,
    StreamingError,
    get_logger,
)

from ._config import StreamConfig, StreamResult
from ._engine import StreamingEngine, default_http_client
from ._errors import map_transport_errors, status_error
from ._reconciler import AIReconciler, Patch
from ._state import AIStateManager, AppState, StateListener
from ._transport import endpoint

__all__ = ["AIApp", "AppConfig"]

_log = get_logger("ainative.client.app")


@final
@dataclass(frozen=True, slots=True)
class AppConfig:
    """Where the server is and how to talk to it.

    ``stream_method`` is ``"SSE"``, ``"WS"`` or ``"AUTO"``; ``provider``/``model``/``options``
    and ``tools`` (the server tools the model may call, `ActionRequest.tools`) go into every
    `ActionRequest`; ``batch_delay`` paces state updates while streaming; ``debug`` logs
    every bus event.
    """

    api_url: str = "http://127.0.0.1:8000"
    stream_method: str = "SSE"
    initial_state: Mapping[str, Any] = field(default_factory=dict)
    reconnect: bool = True
    debug: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    provider: str | None = None
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    batch_delay: float = 0.016
    reconnect_delay: float = 1.0
    max_reconnect_attempts: int = 5
    tools: bool | list[str] | None = None


@final
class _Turn:
    """The assistant message a stream writes to now, and its text so far."""

    __slots__ = ("after_results", "calls", "index", "parts", "shown")

    def __init__(self, index: int) -> None:
        self.after_results = False
        self.next(index)

    def next(self, index: int) -> None:
        self.index = index
        self.parts: list[str] = []
        self.shown = 0  # how many parts the state's content holds
        self.calls: list[dict[str, str]] = []


def _tool_message(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The ``tool`` message of a ``tool_result`` event."""
    data = payload["tool_result"]
    message: dict[str, Any] = {"role": "tool", "tool_call_id": str(data.get("id"))}
    if data.get("name"):
        message["name"] = str(data["name"])
    if "error" in data:
        message.update(content=str(data["error"]), is_error=True)
    else:
        result = data.get("result")
        message["content"] = result if isinstance(result, str) else json.dumps(result)
    return message


@final
class AIApp(anyio.abc.AsyncResource):
    """State (`messages`, `context`, `streaming`, `error`, `metadata`) plus the actions.

    While a reply streams, tokens are appended to the last assistant message through the
    reconciler in batches (one state change per ``batch_delay``), ``state.streaming`` is
    True, and ``state.error`` holds the last error message. A tool loop shows as it runs:
    each tool call joins the assistant message's ``tool_calls``, each result is a ``tool``
    message after it, and what the model says next is a new assistant message. A stream
    ended by calls to the client's own tools leaves them in `pending_tool_calls`; answer
    them with `submit_tool_results`. An action's whole run is one
    undo step: ``state_manager.undo()`` after a reply goes back to just before it (the
    user's message that `send_message` adds first is a step of its own); during a reply it
    takes the reply back, and the rest streams unseen unless `redo` brings it back. Use
    ``async with`` or `aclose`.
    """

    def __init__(
        self,
        config: AppConfig | None = None,
        *,
        event_bus: EventBus | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config if config is not None else AppConfig()
        self.event_bus = event_bus if event_bus is not None else EventBus()
        self.state_manager = AIStateManager(self.config.initial_state, event_bus=self.event_bus)
        self.reconciler = AIReconciler(
            self.state_manager, self.event_bus, batch_delay=self.config.batch_delay
        )
        self._own_http = http_client is None
        self._http = http_client if http_client is not None else default_http_client()
        self.engine = StreamingEngine(self.event_bus, http_client=self._http)
        self._unsubscribe_debug = (
            self.event_bus.on_all(self._log_event) if self.config.debug else None
        )
        self.pending_tool_calls: list[dict[str, Any]] = []
        """The client's tools the last stream's model called (``id``, ``name``,
        ``arguments``): answer them with `submit_tool_results`."""

    # -- state -----------------------------------------------------------------------------

    @property
    def state(self) -> AppState:
        return self.state_manager.state

    def on_state_change(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(state)`` after every change; returns a function that unsubscribes."""
        return self.state_manager.subscribe(listener)

    # -- actions ---------------------------------------------------------------------------

    async def send_message(self, content: str, *, stream: bool = True) -> AppState:
        """Append the user's message and run the ``chat`` action; returns the final state.

        The conversation so far goes along as ``context.messages`` (the server's chat
        action reads its history there).
        """
        if self.engine.is_active:
            raise StreamingError("a stream is already active; stop_streaming() first")
        history = [m.model_dump(exclude_defaults=True) for m in self.state.messages]
        self.reconciler.apply_patch(
            Patch("add", ("messages", "-"), {"role": "user", "content": content}), batching=False
        )
        return await self._run("chat", {"message": content}, stream, {"messages": history})

    async def submit_tool_results(
        self,
        outputs: Mapping[str, Any],
        *,
        errors: Mapping[str, str] | None = None,
        stream: bool = True,
    ) -> AppState:
        """Answer `pending_tool_calls` (``outputs[id]``, or ``errors[id]`` that the model
        reads as the call's error) and let the model go on; returns the final state."""
        if self.engine.is_active:
            raise StreamingError("a stream is already active; stop_streaming() first")
        pending, errors = self.pending_tool_calls, errors or {}
        missing = [c.get("id") for c in pending if c.get("id") not in {*outputs, *errors}]
        if missing or not pending:
            why = f"no output for tool call {missing[0]!r}" if missing else "no pending calls"
            raise InvalidRequestError(f"cannot submit tool results: {why}")
        patches = []
        for call in pending:
            call_id = str(call.get("id"))
            answer: dict[str, Any] = {"role": "tool", "tool_call_id": call_id}
            if call.get("name"):
                answer["name"] = call["name"]
            if call_id in outputs:
                value = outputs[call_id]
                answer["content"] = value if isinstance(value, str) else json.dumps(value)
            else:
                answer.update(content=errors[call_id], is_error=True)
            patches.append(Patch("add", ("messages", "-"), answer))
        self.reconciler.apply_patches(patches, batching=False)
        self.pending_tool_calls = []
        history = [m.model_dump(exclude_defaults=True) for m in self.state.messages]
        return await self._run("chat", {}, stream, {"messages": history})

    async def action(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        stream: bool = True,
        context: Mapping[str, Any] | None = None,
    ) -> AppState:
        """Run server action ``name``; its reply becomes an assistant message.

        ``context`` is merged into ``state.context`` and sent along. Errors end up in
        ``state.error`` (and on the bus); starting while streaming raises `StreamingError`.
        """
        if self.engine.is_active:
            raise StreamingError("a stream is already active; stop_streaming() first")
        if context:
            self.reconciler.apply_patch(Patch("merge", ("context",), dict(context)), batching=False)
        return await self._run(name, params, stream, {})

    async def _run(
        self,
        name: str,
        params: Mapping[str, Any] | None,
        stream: bool,
        extra_context: Mapping[str, Any],
    ) -> AppState:
        with self.state_manager.one_undo_step():
            self.state_manager.set_state({"error": None})
            self.event_bus.emit("action", {"action": name, "params": dict(params or {})})
            request = ActionRequest(
                action=name,
                params=dict(params or {}),
                context={**self.state.context, **extra_context},
                provider=self.config.provider,
                model=self.config.model,
                options=dict(self.config.options),
                tools=self.config.tools,
            )
            if stream:
                await self._stream(request)
            else:
                await self._call(request, set(extra_context))
        return self.state

    async def stop_streaming(self) -> None:
        """Stop the reply in progress, on the server too; what arrived so far is kept."""
        await self.engine.stop()

    async def _stream(self, request: ActionRequest) -> StreamResult:
        reconciler = self.reconciler
        reconciler.flush()
        reconciler.apply_patch(
            Patch("add", ("messages", "-"), {"role": "assistant", "content": ""}), batching=False
        )
        self.state_manager.set_state({"streaming": True})
        first = len(self.state.messages) - 1
        turn = _Turn(first)

        def show_text() -> None:
            # Joining costs O(length): done once per batch, not once per token. Called right
            # before a flush, so the reply's message is still there when the patch applies;
            # while it is not (an undo took it back), there is nothing to show the text in.
            messages = self.state.messages
            index = turn.index
            if turn.shown == len(turn.parts) or index >= len(messages):
                return
            if messages[index].role == "assistant":
                turn.shown = len(turn.parts)
                reconciler.apply_patch(
                    Patch("replace", ("messages", index, "content"), "".join(turn.parts))
                )

        def on_data(event: BusEvent) -> None:
            payload = event.payload
            kind = payload.get("type")
            if kind == "token":
                if turn.after_results:  # the model speaks again after tool results
                    turn.after_results = False
                    reconciler.apply_patch(
                        Patch("add", ("messages", "-"), {"role": "assistant", "content": ""}),
                        batching=False,  # applied now (pending ones first): its index is known
                    )
                    turn.next(len(self.state.messages) - 1)
                turn.parts.append(str(payload["token"]))
            elif kind == "metadata" and isinstance(payload["metadata"], dict):
                reconciler.apply_patch(Patch("merge", ("metadata",), payload["metadata"]))
            elif kind == "tool_call" and isinstance(payload["tool_call"], dict):
                call = payload["tool_call"]
                if call.get("phase") == "end" and turn.index < len(self.state.messages):
                    show_text()
                    entry = {
                        "id": str(call.get("id")),
                        "name": str(call.get("name") or ""),
                        "arguments": str(call.get("arguments") or ""),
                    }
                    turn.calls.append(entry)
                    reconciler.apply_patch(
                        Patch("replace", ("messages", turn.index, "tool_calls"), list(turn.calls))
                    )
            elif kind == "tool_result" and isinstance(payload["tool_result"], dict):
                show_text()
                reconciler.apply_patch(Patch("add", ("messages", "-"), _tool_message(payload)))
                turn.after_results = True

        def on_error(event: BusEvent) -> None:
            reconciler.apply_patch(Patch("replace", ("error",), event.payload.get("error")))

        async def pace() -> None:
            while True:
                await anyio.sleep(reconciler.batch_delay)
                show_text()
                reconciler.flush()

        config = StreamConfig(
            url=self.config.api_url,
            method=self.config.stream_method,
            headers=self.config.headers,
            reconnect=self.config.reconnect,
            reconnect_delay=self.config.reconnect_delay,
            max_reconnect_attempts=self.config.max_reconnect_attempts,
        )
        off_data = self.event_bus.on("stream-data", on_data)
        off_error = self.event_bus.on("stream-error", on_error)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(pace)
                result = await self.engine.start(config, request)
                tg.cancel_scope.cancel()
        finally:
            off_data()
            off_error()
            show_text()
            reconciler.flush()
            self.state_manager.set_state({"streaming": False})
        self.pending_tool_calls = list(result.tool_calls)
        self._exact_transcript(first, result.messages)
        return result

    def _exact_transcript(self, first: int, transcript: list[dict[str, Any]]) -> None:
        """Put the server's own record of the tool steps (what providers attached to them
        included) in place of the messages built while they streamed."""
        shown = self.state.messages[first : first + len(transcript)]
        if not transcript or [m.role for m in shown] != [m.get("role") for m in transcript]:
            return
        exact = [Message.model_validate(m).model_dump(exclude_defaults=True) for m in transcript]
        patches = [Patch("replace", ("messages", first + i), m) for i, m in enumerate(exact)]
        self.reconciler.apply_patches(patches, batching=False)

    async def _call(self, request: ActionRequest, sent_only: set[str]) -> None:
        self.state_manager.set_state({"streaming": False})
        try:
            with map_transport_errors():
                response = await self._http.post(
                    endpoint(self.config.api_url, "/ai/action"),
                    json=request.model_dump(mode="json"),
                    headers=dict(self.config.headers),
                )
            if response.status_code >= 400:
                raise status_error(
                    response.status_code, response.reason_phrase, response.content, response.headers
                )
            body = response.json()
        except (AINativeError, ValueError) as exc:
            self.state_manager.set_state({"error": str(exc)})
            self.event_bus.emit("error", {"error": str(exc)})
            return
        patches = [
            Patch(
                "add",
                ("messages", "-"),
                Message.model_validate(raw).model_dump(exclude_defaults=True),
            )
            for raw in (body.get("messages", []) if isinstance(body, dict) else [])
        ]
        returned: dict[str, Any] = {}
        if isinstance(body, dict) and isinstance(body.get("context"), dict):
            returned = {k: v for k, v in body["context"].items() if k not in sent_only}
        self.reconciler.apply_patches(
            [*patches, Patch("merge", ("context",), returned)], batching=False
        )

    # -- life cycle ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop any stream and close the connections this app opened."""
        await self.engine.stop()
        if self._unsubscribe_debug is not None:
            self._unsubscribe_debug()
        if self._own_http:
            await self._http.aclose()

    def _log_event(self, event: BusEvent) -> None:
        if event.type != "state-change":
            _log.debug("event", type=event.type, payload=event.payload)
