"""The Vercel AI SDK's UI message stream (v1): ``useChat`` against an ainative server.

Routes (under the server's prefix, ``/ai`` by default):

- ``POST /ai/ui/chat``: ``useChat``'s request body (``{id, messages, trigger, messageId}``,
  plus optional ``provider``, ``model``, ``options`` and ``tools`` — the server tools the
  model may call — from the hook's ``body``) starts a run of the ``respond`` action on the
  conversation; a tool loop's steps become ``start-step``/``finish-step`` pairs. The
  answer is the UI message stream: SSE ``data:`` parts with the
  ``x-vercel-ai-ui-message-stream: v1`` header, ending with ``data: [DONE]``; each part's
  ``id:`` is its ordinal (see `PartsEncoding`). Headers ``X-AINative-Stream-Id`` and
  ``x-workflow-run-id`` both carry the stream id.
- ``GET /ai/ui/chat/{id}/stream``: resume. ``id`` is a chat id (``useChat({resume: true})``:
  the chat's latest run while it is running, from its first part; 204 when there is none)
  or a stream id (the workflow transport: any retained stream, running or finished).
  ``?startIndex=N`` gives the parts after the first N; a negative N the last -N parts, with
  ``x-workflow-stream-tail-index`` (the index of the last part so far). ``Last-Event-ID: N``
  means the same as ``startIndex=N``.
- ``DELETE /ai/ui/chat/{id}/stream``: stop the run (a chat's latest, or a stream): the
  provider call is cancelled and followers end with ``abort`` then ``finish``. The AI SDK's
  ``stop()`` only closes the connection: that cancels the run too, unless the client
  declared it resumes (``X-AINative-Resumable: 1``), whose run survives a dropped
  connection for ``resume_grace``.

Parts carry only the keys of the AI SDK's chunk schemas; our ids travel in ``id:`` lines and
headers.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, Literal, final

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ainative_core import ActionRequest, InvalidRequestError, StreamNotFoundError, WireEvent

from ._aliases import StreamAliases
from ._conversation import RESPOND, conversation_request
from ._http import read_json, validate
from ._parts import Parts, PartsEncoding, PartsResponse, count_parts, token_json
from ._sse import parse_last_event_id
from ._store import StoredEvent

if TYPE_CHECKING:
    from ._server import AINativeServer

__all__ = [
    "UI_MESSAGE_STREAM",
    "UIMessageStreamEncoding",
    "UIMessageStreamTransport",
    "chat_request",
    "messages_from_ui",
    "stream_of",
]

STREAM_HEADER: Final = {"x-vercel-ai-ui-message-stream": "v1"}
RUN_ID_HEADER: Final = "x-workflow-run-id"
TAIL_INDEX_HEADER: Final = "x-workflow-stream-tail-index"

_quote = json.encoder.encode_basestring
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_FINISH_REASONS: Final = {
    "stop": "stop",
    "length": "length",
    "tool_call": "tool-calls",
    "content_filter": "content-filter",
    "error": "error",
}
_START_STEP: Final = '{"type":"start-step"}'
_FINISH_STEP: Final = '{"type":"finish-step"}'


@final
class _UIParts:
    """The UI message parts of one stream's events: one assistant message, one step per
    provider call (a tool loop's results close a step; what the model says next opens one)."""

    __slots__ = (
        "after_results",
        "blocks",
        "calls",
        "delta",
        "finished",
        "reasoning",
        "started",
        "stream_id",
        "text",
    )

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.started = False
        self.finished = False
        self.text: str | None = None
        """The id of the open text part."""
        self.delta = ""
        """The open text part's ``text-delta`` JSON up to its delta."""
        self.reasoning: str | None = None
        """The id of the open reasoning part."""
        self.blocks = 0
        self.calls: dict[str, tuple[str, list[str]]] = {}
        """Tool call id -> (tool name, argument deltas so far)."""
        self.after_results = False
        """Tool results closed the step: the model's next event opens a new one."""

    def __call__(self, event: StoredEvent) -> list[str]:
        if self.finished:
            return []
        out: list[str] = []
        if not self.started:
            self.started = True
            out += [_dumps({"type": "start", "messageId": self.stream_id}), _START_STEP]
        kind = event.type
        if self.after_results and kind in ("token", "reasoning", "tool_call"):
            self.after_results = False
            out += [_FINISH_STEP, _START_STEP]
        if kind == "token":
            self._close_reasoning(out)
            if self.text is None:
                self.text = self._block("text")
                out.append('{"type":"text-start","id":' + _quote(self.text) + "}")
                self.delta = '{"type":"text-delta","id":' + _quote(self.text) + ',"delta":'
            out.append(self.delta + token_json(event) + "}")
            return out
        wire = WireEvent.from_json(event.json)
        if kind == "reasoning":
            self._close_text(out)
            if self.reasoning is None:
                self.reasoning = self._block("reasoning")
                out.append(_dumps({"type": "reasoning-start", "id": self.reasoning}))
            out.append(
                _dumps({"type": "reasoning-delta", "id": self.reasoning, "delta": str(wire.data)})
            )
        elif kind == "tool_call" and isinstance(wire.data, dict):
            self._tool_call(wire.data, out)
        elif kind == "tool_result" and isinstance(wire.data, dict):
            self._tool_result(wire.data, out)
        elif kind == "error":
            out.append(_dumps({"type": "error", "errorText": str(wire.data or "error")}))
        elif kind == "done":
            self.finished = True
            self._close_text(out)
            self._close_reasoning(out)
            data = wire.data if isinstance(wire.data, dict) else {}
            reason = str(data.get("finish_reason") or "stop")
            out.append(_FINISH_STEP)
            if reason == "cancelled":
                out.append('{"type":"abort","reason":"cancelled"}')
            finish = _FINISH_REASONS.get(reason, "other")
            out.append(_dumps({"type": "finish", "finishReason": finish}))
        return out

    def _block(self, kind: str) -> str:
        self.blocks += 1
        return f"{kind}-{self.blocks}"

    def _close_text(self, out: list[str]) -> None:
        if self.text is not None:
            out.append(_dumps({"type": "text-end", "id": self.text}))
            self.text = None

    def _close_reasoning(self, out: list[str]) -> None:
        if self.reasoning is not None:
            out.append(_dumps({"type": "reasoning-end", "id": self.reasoning}))
            self.reasoning = None

    def _tool_call(self, data: dict[str, Any], out: list[str]) -> None:
        call_id = str(data.get("id") or f"call-{data.get('index', 0)}")
        phase = data.get("phase")
        if phase == "start":
            self._close_text(out)
            self._close_reasoning(out)
            name = str(data.get("name") or "tool")
            self.calls[call_id] = (name, [])
            out.append(
                _dumps({"type": "tool-input-start", "toolCallId": call_id, "toolName": name})
            )
            return
        call = self.calls.get(call_id)
        if call is None:
            return  # a delta or end of a call that never started: nothing to attach it to
        if phase == "delta":
            delta = str(data.get("args_delta") or "")
            if delta:
                call[1].append(delta)
                out.append(
                    _dumps(
                        {"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": delta}
                    )
                )
        elif phase == "end":
            text = "".join(call[1])
            try:
                arguments = json.loads(text) if text.strip() else {}
            except ValueError:
                out.append(
                    _dumps(
                        {
                            "type": "tool-input-error",
                            "toolCallId": call_id,
                            "toolName": call[0],
                            "input": text,
                            "errorText": "the tool call's arguments are not valid JSON",
                        }
                    )
                )
                return
            out.append(
                _dumps(
                    {
                        "type": "tool-input-available",
                        "toolCallId": call_id,
                        "toolName": call[0],
                        "input": arguments,
                    }
                )
            )

    def _tool_result(self, data: dict[str, Any], out: list[str]) -> None:
        call_id = str(data.get("id") or "")
        if not call_id:
            return
        self.after_results = True
        if call_id not in self.calls:
            # A result of a call the server made itself: the call part comes first.
            name = str(data.get("name") or "tool")
            self.calls[call_id] = (name, [])
            self._close_text(out)
            self._close_reasoning(out)
            arguments = data.get("arguments")
            out.append(
                _dumps(
                    {
                        "type": "tool-input-available",
                        "toolCallId": call_id,
                        "toolName": name,
                        "input": arguments if arguments is not None else {},
                    }
                )
            )
        error = data.get("error")
        if error is not None:
            out.append(
                _dumps(
                    {"type": "tool-output-error", "toolCallId": call_id, "errorText": str(error)}
                )
            )
        else:
            out.append(
                _dumps(
                    {
                        "type": "tool-output-available",
                        "toolCallId": call_id,
                        "output": data.get("result"),
                    }
                )
            )


@final
class UIMessageStreamEncoding(PartsEncoding):
    """The AI SDK's UI message stream: one assistant message per stream.

    ``start`` (``messageId``: the stream id) and ``start-step`` open it; tokens are
    ``text-*`` parts, reasoning ``reasoning-*``, tool calls ``tool-input-*``, tool results
    ``tool-output-available``/``tool-output-error``, an error ``error``; ``done`` closes
    the open parts, then ``finish-step``, ``abort`` (when cancelled) and ``finish`` with
    the finish reason. ``data: [DONE]`` ends the response.
    """

    def __init__(self) -> None:
        super().__init__("ai-sdk-ui", epilogue=b"data: [DONE]\n\n")

    def parts(self, stream_id: str) -> Parts:
        return _UIParts(stream_id)


UI_MESSAGE_STREAM: Final = UIMessageStreamEncoding()

# -- the request ---------------------------------------------------------------------------


class _UIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = ""
    role: Literal["system", "user", "assistant"]
    parts: list[dict[str, Any]] = Field(default_factory=list)


class _ChatBody(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str | None = None
    messages: list[_UIMessage] = Field(min_length=1)
    trigger: str | None = None
    message_id: str | None = Field(default=None, alias="messageId")
    provider: str | None = None
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    tools: bool | list[str] | None = None


def _text_of(parts: list[dict[str, Any]], kind: str = "text") -> str:
    return "".join(str(part.get("text") or "") for part in parts if part.get("type") == kind)


def _tool_name(part: dict[str, Any]) -> str:
    kind = str(part.get("type"))
    return str(part.get("toolName") or "") if kind == "dynamic-tool" else kind[len("tool-") :]


def _content_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def messages_from_ui(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our messages (`Message` objects as dicts) from ``useChat``'s ``UIMessage`` list.

    System and user messages keep their text parts; an assistant message becomes, per step
    (``step-start`` parts divide them), an assistant message with its text and the tool
    calls that have an output, followed by one ``tool`` message per output (the error text
    for ``output-error``). Reasoning, files, sources and data parts are left out: models
    take none of them back as input through our `Message`.
    """
    out: list[dict[str, Any]] = []
    for item in messages:
        message = validate(_UIMessage, item, "messages")
        if message.role != "assistant":
            out.append({"role": message.role, "content": _text_of(message.parts)})
            continue
        step: list[dict[str, Any]] = []
        for part in [*message.parts, {"type": "step-start"}]:
            if part.get("type") == "step-start":
                out += _assistant_step(step)
                step = []
            else:
                step.append(part)
    return out


def _assistant_step(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    text = _text_of(parts)
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for part in parts:
        kind = str(part.get("type"))
        if not (kind.startswith("tool-") or kind == "dynamic-tool"):
            continue
        state = part.get("state")
        call_id = str(part.get("toolCallId") or "")
        if state not in ("output-available", "output-error") or not call_id:
            continue  # a call without an answer: nothing the model can continue from
        arguments = part.get("input")
        calls.append(
            {"id": call_id, "name": _tool_name(part), "arguments": _content_of(arguments or {})}
        )
        answer = part.get("output") if state == "output-available" else part.get("errorText")
        results.append({"role": "tool", "tool_call_id": call_id, "content": _content_of(answer)})
    if not text and not calls:
        return []
    return [{"role": "assistant", "content": text, "tool_calls": calls}, *results]


def chat_request(data: Any, prefix: str = "") -> tuple[ActionRequest, str | None]:
    """The ``respond`` request of a ``useChat`` body (``id``, ``messages``, and optional
    ``provider``, ``model``, ``options``, ``tools``), and its chat id; `InvalidRequestError` names
    what is wrong (after ``prefix``)."""
    body = validate(_ChatBody, data, prefix)
    messages = messages_from_ui([m.model_dump() for m in body.messages])
    if not messages:
        raise InvalidRequestError(f"{prefix}messages: nothing to answer (no text or tool output)")
    action = conversation_request(
        messages,
        provider=body.provider,
        model=body.model,
        options=body.options,
        tools=body.tools,
    )
    return action, body.id


def _start_index(request: Request) -> int:
    raw = request.query_params.get("startIndex")
    if raw is None:
        return parse_last_event_id(request.headers.get("last-event-id"))
    text = raw.strip()
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        raise InvalidRequestError(f"startIndex: expected an integer, got {raw[:40]!r}")
    return int(text)


# -- the routes ----------------------------------------------------------------------------


@final
class UIMessageStreamTransport:
    """The AI SDK UI message stream protocol (registered by the ainative-server plugin)."""

    name = "ai-sdk"
    encoding = UI_MESSAGE_STREAM

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        path = f"{server.config.prefix}/ui/chat"
        limit = server.config.max_body_bytes
        depth = server.config.max_json_depth
        chats = StreamAliases(server.hub)
        encoding = self.encoding
        server.actions.setdefault(RESPOND.name, RESPOND)

        async def start(request: Request) -> Response:
            """Start a run on useChat's conversation; stream its UI message parts."""
            action, chat_id = chat_request(
                await read_json(request, limit, max_depth=depth, plain_text=server.config)
            )

            def started(stream_id: str) -> dict[str, str]:
                if chat_id:
                    chats.set(chat_id, stream_id)
                return {RUN_ID_HEADER: stream_id}

            return PartsResponse(
                server, encoding, request=action, headers=STREAM_HEADER, on_start=started
            )

        async def resume(request: Request) -> Response:
            """The parts after ``startIndex`` of a stream, or of a chat's running stream."""
            name = request.path_params["id"]
            index = _start_index(request)
            stream_id = await stream_of(server, chats, name, running_only=True)
            if stream_id is None:
                return Response(status_code=204)
            headers = dict(STREAM_HEADER)
            if index < 0:
                total = await count_parts(server, encoding, stream_id, server.caller(request))
                headers[TAIL_INDEX_HEADER] = str(total - 1)
                index = max(0, total + index)
            return PartsResponse(
                server, encoding, stream_id=stream_id, after=index, headers=headers
            )

        async def stop(request: Request) -> Response:
            """Stop a chat's latest run (or a stream): its provider call is cancelled."""
            name = request.path_params["id"]
            stream_id = await stream_of(server, chats, name, running_only=False)
            if stream_id is None:
                raise StreamNotFoundError(f"no stream for {name!r}")
            was_running = await server.cancel(stream_id, caller=server.caller(request))
            return JSONResponse({"stream_id": stream_id, "cancelled": was_running})

        return [
            Route(path, server.endpoint(start), methods=["POST"]),
            Route(f"{path}/{{id}}/stream", server.endpoint(resume), methods=["GET"]),
            Route(f"{path}/{{id}}/stream", server.endpoint(stop), methods=["DELETE"]),
        ]


async def stream_of(
    server: AINativeServer, aliases: StreamAliases, name: str, *, running_only: bool
) -> str | None:
    """The stream ``name`` stands for: a retained stream of that id, else the latest stream
    of that alias (only while it runs, with ``running_only``)."""
    try:
        await server.hub.store.stats(name)
    except StreamNotFoundError:
        run = aliases.run(name)
        if run is None or (running_only and run.done):
            return None
        return run.stream_id
    return name
