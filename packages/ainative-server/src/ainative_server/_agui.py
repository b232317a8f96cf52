"""AG-UI: the agent-user interaction protocol, over SSE, with ids and lossless resume.

Routes (under the server's prefix, ``/ai`` by default):

- ``POST /ai/agui``: a ``RunAgentInput`` (``threadId``, ``runId``, ``messages``, ``tools``,
  ``context``, ``state``, ``forwardedProps``) starts a run of the ``respond`` action on the
  conversation, with the input's tools offered to the model and its context as a system
  message. ``forwardedProps`` may name ``provider``, ``model``, ``options`` and ``tools``
  (the server tools the model may call). The answer is AG-UI events over SSE:
  ``RUN_STARTED``, ``TEXT_MESSAGE_START/CONTENT/END``,
  ``REASONING_START``/``REASONING_MESSAGE_START/CONTENT/END``/``REASONING_END``,
  ``TOOL_CALL_START/ARGS/END``, ``TOOL_CALL_RESULT``, then ``RUN_FINISHED`` (outcome
  ``cancelled`` for a stopped run; token usage) or ``RUN_ERROR``.
- What AG-UI itself lacks: every event has an SSE ``id:`` (its ordinal in the stream), and
  ``GET /ai/agui/{id}`` with ``Last-Event-ID: N`` (or ``?last_event_id=N``) resumes with
  exactly the events after N; ``id`` is the stream id (``X-AINative-Stream-Id``) or the
  input's ``runId``. ``DELETE /ai/agui/{id}`` cancels the run: the provider call is
  cancelled and the stream ends with ``RUN_FINISHED`` (outcome ``cancelled``). A dropped
  connection cancels the run as well, unless the client declared it resumes
  (``X-AINative-Resumable: 1``): then the run goes on for ``resume_grace``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ainative_core import InvalidRequestError, StreamNotFoundError, WireEvent

from ._aliases import StreamAliases
from ._conversation import RESPOND, conversation_request
from ._http import read_json, validate
from ._parts import Parts, PartsEncoding, PartsResponse, token_json
from ._sse import parse_last_event_id
from ._store import StoredEvent

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = ["AGUIEncoding", "AGUITransport", "RunAgentInput", "messages_from_agui"]

METADATA_KEY: Final = "agui"
"""The key of the ``metadata`` event that logs a run's AG-UI thread and run ids."""

_quote = json.encoder.encode_basestring
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@final
class _AGUIEvents:
    """The AG-UI events of one stream's log."""

    __slots__ = (
        "blocks",
        "calls",
        "delta",
        "finished",
        "model",
        "parent",
        "provider",
        "reasoning",
        "run_id",
        "started",
        "stream_id",
        "text",
        "thread_id",
    )

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.thread_id = stream_id
        self.run_id = stream_id
        self.provider: str | None = None
        self.model: str | None = None
        self.started = False
        self.finished = False
        self.text: str | None = None
        self.delta = ""
        """The open text message's ``TEXT_MESSAGE_CONTENT`` JSON up to its delta."""
        self.reasoning: str | None = None
        self.parent: str | None = None
        """The id of the last text message (the parent of the tool calls after it)."""
        self.blocks = 0
        self.calls: dict[str, bool] = {}
        """Tool call id -> whether it has ended."""

    def __call__(self, event: StoredEvent) -> list[str]:
        if self.finished:
            return []
        kind = event.type
        out: list[str] = []
        if kind == "token":
            self._start(out)
            self._close_reasoning(out)
            if self.text is None:
                self.text = self.parent = self._block()
                quoted = _quote(self.text)
                out.append(
                    '{"type":"TEXT_MESSAGE_START","messageId":' + quoted + ',"role":"assistant"}'
                )
                self.delta = '{"type":"TEXT_MESSAGE_CONTENT","messageId":' + quoted + ',"delta":'
            out.append(self.delta + token_json(event) + "}")
            return out
        wire = WireEvent.from_json(event.json)
        data = wire.data
        if kind == "metadata":
            if isinstance(data, dict):
                self._metadata(data, out)
            return out
        self._start(out)
        if kind == "reasoning":
            self._close_text(out)
            if self.reasoning is None:
                self.reasoning = self._block()
                out.append(_dumps({"type": "REASONING_START", "messageId": self.reasoning}))
                out.append(
                    _dumps(
                        {
                            "type": "REASONING_MESSAGE_START",
                            "messageId": self.reasoning,
                            "role": "reasoning",
                        }
                    )
                )
            out.append(
                _dumps(
                    {
                        "type": "REASONING_MESSAGE_CONTENT",
                        "messageId": self.reasoning,
                        "delta": str(data),
                    }
                )
            )
        elif kind == "tool_call" and isinstance(data, dict):
            self._tool_call(data, out)
        elif kind == "tool_result" and isinstance(data, dict):
            self._tool_result(data, out)
        elif kind == "error":
            self._close_all(out)
            self.finished = True
            error: dict[str, Any] = {"type": "RUN_ERROR", "message": str(data or "error")}
            if wire.code:
                error["code"] = wire.code
            out.append(_dumps(error))
        elif kind == "done":
            self._close_all(out)
            self.finished = True
            done = data if isinstance(data, dict) else {}
            finished: dict[str, Any] = {
                "type": "RUN_FINISHED",
                "threadId": self.thread_id,
                "runId": self.run_id,
            }
            if done.get("finish_reason") == "cancelled":
                finished["outcome"] = {"type": "cancelled"}
            usage = self._usage(done.get("usage"))
            if usage is not None:
                finished["usage"] = [usage]
            out.append(_dumps(finished))
        return out

    def _metadata(self, data: dict[str, Any], out: list[str]) -> None:
        if "stream_id" in data and self.provider is None:
            self.provider = str(data.get("provider") or "") or None
            self.model = str(data.get("model") or "") or None
        ids = data.get(METADATA_KEY)
        if isinstance(ids, dict) and not self.started:
            self.thread_id = str(ids.get("threadId") or self.thread_id)
            self.run_id = str(ids.get("runId") or self.run_id)
            self._start(out)

    def _start(self, out: list[str]) -> None:
        if not self.started:
            self.started = True
            out.append(
                _dumps({"type": "RUN_STARTED", "threadId": self.thread_id, "runId": self.run_id})
            )

    def _block(self) -> str:
        self.blocks += 1
        return f"{self.stream_id}-{self.blocks}"

    def _close_text(self, out: list[str]) -> None:
        if self.text is not None:
            out.append(_dumps({"type": "TEXT_MESSAGE_END", "messageId": self.text}))
            self.text = None

    def _close_reasoning(self, out: list[str]) -> None:
        if self.reasoning is not None:
            out.append(_dumps({"type": "REASONING_MESSAGE_END", "messageId": self.reasoning}))
            out.append(_dumps({"type": "REASONING_END", "messageId": self.reasoning}))
            self.reasoning = None

    def _close_all(self, out: list[str]) -> None:
        self._close_text(out)
        self._close_reasoning(out)
        for call_id, ended in self.calls.items():
            if not ended:
                self.calls[call_id] = True
                out.append(_dumps({"type": "TOOL_CALL_END", "toolCallId": call_id}))

    def _tool_call(self, data: dict[str, Any], out: list[str]) -> None:
        call_id = str(data.get("id") or f"call-{data.get('index', 0)}")
        phase = data.get("phase")
        if phase == "start":
            self._close_text(out)
            self._close_reasoning(out)
            self.calls[call_id] = False
            start: dict[str, Any] = {
                "type": "TOOL_CALL_START",
                "toolCallId": call_id,
                "toolCallName": str(data.get("name") or "tool"),
            }
            if self.parent is not None:
                start["parentMessageId"] = self.parent
            out.append(_dumps(start))
        elif self.calls.get(call_id) is False:
            if phase == "delta":
                delta = str(data.get("args_delta") or "")
                if delta:
                    out.append(
                        _dumps({"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": delta})
                    )
            elif phase == "end":
                self.calls[call_id] = True
                out.append(_dumps({"type": "TOOL_CALL_END", "toolCallId": call_id}))

    def _tool_result(self, data: dict[str, Any], out: list[str]) -> None:
        call_id = str(data.get("id") or "")
        if not call_id:
            return
        self._close_text(out)
        self._close_reasoning(out)
        if call_id not in self.calls:
            # A result of a call the server made itself: the call comes first.
            self.calls[call_id] = True
            name = str(data.get("name") or "tool")
            out.append(
                _dumps({"type": "TOOL_CALL_START", "toolCallId": call_id, "toolCallName": name})
            )
            arguments = data.get("arguments")
            if arguments is not None:
                delta = arguments if isinstance(arguments, str) else _dumps(arguments)
                out.append(
                    _dumps({"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": delta})
                )
            out.append(_dumps({"type": "TOOL_CALL_END", "toolCallId": call_id}))
        error = data.get("error")
        result = data.get("result")
        if error is not None:
            content = str(error)
        else:
            content = result if isinstance(result, str) else _dumps(result)
        out.append(
            _dumps(
                {
                    "type": "TOOL_CALL_RESULT",
                    "messageId": self._block(),
                    "toolCallId": call_id,
                    "content": content,
                    "role": "tool",
                }
            )
        )

    def _usage(self, usage: Any) -> dict[str, Any] | None:
        if not isinstance(usage, dict):
            return None
        out: dict[str, Any] = {}
        if self.provider:
            out["provider"] = self.provider
        if self.model:
            out["model"] = self.model
        counts = {
            "inputTokens": usage.get("input_tokens"),
            "outputTokens": usage.get("output_tokens"),
        }
        for key, value in counts.items():
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                out[key] = value
        if "inputTokens" in out and "outputTokens" in out:
            out["totalTokens"] = out["inputTokens"] + out["outputTokens"]
        return out


@final
class AGUIEncoding(PartsEncoding):
    """AG-UI events over SSE, each with its ordinal as ``id:``; nothing after the last.

    The run's thread and run ids come from the log (the ``agui`` metadata the ``respond``
    action writes); a stream started otherwise uses its stream id for both.
    """

    def __init__(self) -> None:
        super().__init__("ag-ui")

    def parts(self, stream_id: str) -> Parts:
        return _AGUIEvents(stream_id)


AGUI: Final = AGUIEncoding()

# -- the request ---------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)


class _Tool(_Model):
    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] | None = None


class _Context(_Model):
    description: str = ""
    value: str = ""


class RunAgentInput(_Model):
    """AG-UI's run request, as far as a run needs it (other fields are accepted and kept)."""

    thread_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    parent_run_id: str | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    tools: list[_Tool] = Field(default_factory=list)
    context: list[_Context] = Field(default_factory=list)
    state: Any = None
    forwarded_props: Any = None


def _text(content: Any) -> str:
    """An AG-UI message content as text: a string, or the text of its ``text`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def messages_from_agui(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our messages (`Message` objects as dicts) from AG-UI messages.

    ``developer`` becomes ``system``; an assistant's ``toolCalls`` become its tool calls;
    a ``tool`` message its result (its ``error`` when it has no content). ``reasoning`` and
    ``activity`` messages are left out.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer", "user"):
            out.append(
                {
                    "role": "user" if role == "user" else "system",
                    "content": _text(message.get("content")),
                }
            )
        elif role == "assistant":
            calls = []
            for call in message.get("toolCalls") or []:
                if not isinstance(call, dict):
                    continue
                function = call.get("function")
                if not isinstance(function, dict):
                    function = {}
                calls.append(
                    {
                        "id": str(call.get("id") or ""),
                        "name": str(function.get("name") or ""),
                        "arguments": str(function.get("arguments") or "{}"),
                    }
                )
            content = _text(message.get("content"))
            if content or calls:
                out.append({"role": "assistant", "content": content, "tool_calls": calls})
        elif role == "tool":
            content = _text(message.get("content")) or str(message.get("error") or "")
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": str(message.get("toolCallId") or ""),
                    "content": content,
                }
            )
    return out


def _forwarded(props: Any, key: str, kind: type) -> Any:
    value = props.get(key) if isinstance(props, dict) else None
    return value if isinstance(value, kind) else None


def _server_tools(props: Any) -> bool | list[str] | None:
    """``forwardedProps.tools``: the server tools the model may call (True, or names)."""
    value = props.get("tools") if isinstance(props, dict) else None
    if isinstance(value, bool) or (
        isinstance(value, list) and all(isinstance(name, str) for name in value)
    ):
        return value
    if value is not None:
        raise InvalidRequestError("forwardedProps.tools: true, false or a list of tool names")
    return None


# -- the routes ----------------------------------------------------------------------------


@final
class AGUITransport:
    """The AG-UI protocol (registered by the ainative-server plugin)."""

    name = "ag-ui"
    encoding = AGUI

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        path = f"{server.config.prefix}/agui"
        limit = server.config.max_body_bytes
        depth = server.config.max_json_depth
        runs = StreamAliases(server.hub)
        encoding = self.encoding
        server.actions.setdefault(RESPOND.name, RESPOND)

        async def start(request: Request) -> Response:
            """Run the agent on a RunAgentInput; stream its AG-UI events."""
            body = validate(RunAgentInput, await read_json(request, limit, max_depth=depth))
            messages = messages_from_agui(body.messages)
            if body.context:
                lines = [f"- {c.description}: {c.value}" for c in body.context]
                messages.insert(0, {"role": "system", "content": "Context:\n" + "\n".join(lines)})
            if not messages:
                raise InvalidRequestError("messages: nothing to answer")
            props = body.forwarded_props
            options: dict[str, Any] = dict(_forwarded(props, "options", dict) or {})
            if body.tools:
                options["tools"] = [
                    tool.model_dump(
                        include={"name", "description", "parameters"}, exclude_none=True
                    )
                    for tool in body.tools
                ]
            action = conversation_request(
                messages,
                provider=_forwarded(props, "provider", str),
                model=_forwarded(props, "model", str),
                options=options,
                metadata={METADATA_KEY: {"threadId": body.thread_id, "runId": body.run_id}},
                tools=_server_tools(props),
            )
            run_id = body.run_id

            def started(stream_id: str) -> dict[str, str]:
                runs.set(run_id, stream_id)
                return {}

            return PartsResponse(server, encoding, request=action, on_start=started)

        async def resume(request: Request) -> Response:
            """The events after ``Last-Event-ID`` of a stream (or of the run of a runId)."""
            raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
            after = parse_last_event_id(raw)
            stream_id = await _stream_of(server, runs, request.path_params["id"])
            return PartsResponse(server, encoding, stream_id=stream_id, after=after)

        async def cancel(request: Request) -> Response:
            """Cancel the run; its provider call is cancelled, its stream ends cancelled."""
            stream_id = await _stream_of(server, runs, request.path_params["id"])
            was_running = await server.cancel(stream_id, caller=server.caller(request))
            return JSONResponse({"stream_id": stream_id, "cancelled": was_running})

        return [
            Route(path, server.endpoint(start), methods=["POST"]),
            Route(f"{path}/{{id}}", server.endpoint(resume), methods=["GET"]),
            Route(f"{path}/{{id}}", server.endpoint(cancel), methods=["DELETE"]),
        ]


async def _stream_of(server: AINativeServer, runs: StreamAliases, name: str) -> str:
    """The stream id ``name`` stands for (a stream id or a runId); 404 if neither."""
    run = runs.run(name)
    if run is not None:
        return run.stream_id
    try:
        await server.hub.store.stats(name)
    except StreamNotFoundError:
        raise StreamNotFoundError(f"unknown or expired stream or run {name!r}") from None
    return name
