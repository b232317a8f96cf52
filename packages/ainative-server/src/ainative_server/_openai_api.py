"""The OpenAI-compatible API: ``/v1/chat/completions`` and ``/v1/models`` on the stream hub.

A protocol plugin like any other (routes plus an `Encoding`, public API only), registered
by the ainative-server plugin as the transport ``openai`` and served unless
``ServerConfig.openai_api`` is off. A Chat Completions request is a hub run of the action
``chat.completions`` (its params are the request body), so it has the hub's bounds,
cancel and retention; ``model`` picks the provider (`ainative_core.resolve_model`).

Beyond OpenAI, invisible to clients that do not look: every streamed response names its
stream in ``X-AINative-Stream-Id`` and gives each chunk an SSE ``id:``;
``GET /v1/chat/completions/{stream_id}`` with ``Last-Event-ID`` resumes it (asking for JSON
only, it answers the whole ``chat.completion``, as the SDK's ``retrieve`` expects) and
``DELETE /v1/chat/completions/{stream_id}`` cancels its provider call. A client that goes
away cancels the provider call at once, unless it declared that it resumes
(``X-AINative-Resumable: 1``, as on every route): then the run goes on for
``resume_grace`` seconds, waiting for the client to resume.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final, final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ainative_core import (
    ActionRequest,
    AINativeError,
    StreamEvent,
    error_from_code,
    get_logger,
    model_catalogue,
    open_stream,
    resolve_model,
)

from ._encoding import Encoder, Encoding
from ._http import cancel_on_disconnect, read_json
from ._manager import StreamManager
from ._openai_encoding import (
    ANNOUNCEMENT_KEY,
    FINISH_REASONS,
    OPENAI_CHUNKS,
    announcement,
    chunk_id,
)
from ._openai_errors import openai_error_response
from ._openai_request import parse_chat_request
from ._response import StreamResponse
from ._sse import parse_last_event_id
from ._store import StoredEvent

if TYPE_CHECKING:
    from ._access import Caller
    from ._server import AINativeServer

__all__ = ["ACTION", "OpenAIAPI", "chat_completions"]

ACTION: Final = "chat.completions"
"""The action a Chat Completions request runs as (its params: the request body)."""
"""A request header: a true value keeps the run going for ``resume_grace`` after a drop."""
MEDIA_TYPE: Final = "text/event-stream; charset=utf-8"
PREFIX: Final = "/v1"

_logger = get_logger("ainative.server")

Handler = Callable[[Request], Awaitable[Response]]


async def chat_completions(stream: StreamManager, request: ActionRequest) -> None:
    """The ``chat.completions`` action: run the provider on a Chat Completions body.

    A body ainative cannot run fails before the stream starts (400, naming the field).
    Before the provider's first event the run logs its `announcement` (what the chunks
    need), so a failure of the provider before it still refuses the request.
    """
    body = parse_chat_request(request.params)
    generate = body.generate_request(stream.model)
    meta = announcement(
        created=int(time.time()),
        model=stream.model or stream.provider_name,
        include_usage=body.include_usage,
    )
    async with (
        open_stream(stream.provider, generate) as events,
        aclosing(_announced(events, meta)) as announced,
    ):
        await stream.send_events(announced)


async def _announced(
    events: AsyncIterator[StreamEvent], meta: dict[str, Any]
) -> AsyncGenerator[StreamEvent, None]:
    """``events`` with a ``metadata`` event before the first one that is not an error."""
    first = True
    async for event in events:
        if first and event.type != "error":
            first = False
            yield StreamEvent.metadata(meta)
        yield event


@final
class _Events(Encoding[StoredEvent]):
    """The logged events themselves, folded into one ``chat.completion`` in this process."""

    def __init__(self) -> None:
        super().__init__("openai-chat-completion-events")

    def encoder(self, stream_id: str) -> Encoder[StoredEvent]:
        return lambda event: event


_EVENTS: Final = _Events()


@final
class _Completion:
    """Folds a stream's events into a ``chat.completion`` object."""

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.created = int(time.time())
        self.model = ""
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[str, tuple[str, list[str]]] = {}
        self.usage: dict[str, Any] | None = None
        self.finish_reason = "stop"

    def add(self, event: StoredEvent) -> None:
        obj = json.loads(event.json)
        data = obj.get("data")
        kind = event.type
        if kind == "token":
            self.text.append(str(data))
        elif kind == "reasoning":
            self.reasoning.append(str(data))
        elif kind == "tool_call" and isinstance(data, dict):
            call_id = str(data.get("id") or "")
            _, args = self.calls.setdefault(call_id, (str(data.get("name") or ""), []))
            if data.get("phase") == "delta":
                args.append(str(data.get("args_delta") or ""))
        elif kind == "metadata" and isinstance(data, dict):
            announced = data.get(ANNOUNCEMENT_KEY)
            if isinstance(announced, dict):
                self.created = int(announced.get("created") or self.created)
                self.model = str(announced.get("model") or self.model)
            elif not self.model and "stream_id" in data:
                self.model = str(data.get("model") or data.get("provider") or "")
        elif kind == "usage" and isinstance(data, dict):
            self.usage = data
        elif kind == "error":
            code = obj.get("code")
            raise error_from_code(code if isinstance(code, str) else None, str(data))
        elif kind == "done" and isinstance(data, dict):
            reason = str(data.get("finish_reason"))
            if reason == "cancelled":
                raise error_from_code("cancelled", "the stream was cancelled")
            if reason == "error":  # an error event would have been raised before
                raise error_from_code("stream_error", "the stream ended with an error")
            self.finish_reason = FINISH_REASONS.get(reason, "stop")
            self.usage = data.get("usage") or self.usage

    def body(self) -> dict[str, Any]:
        text = "".join(self.text)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if self.calls:
            message["content"] = text or None
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": "".join(args)},
                }
                for call_id, (name, args) in self.calls.items()
            ]
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        body: dict[str, Any] = {
            "id": chunk_id(self.stream_id),
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
        }
        if self.usage is not None:
            prompt = int(self.usage.get("input_tokens", 0) or 0)
            completion = int(self.usage.get("output_tokens", 0) or 0)
            body["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return body


def _model_object(entry_id: str, owner: str) -> dict[str, Any]:
    return {"id": entry_id, "object": "model", "created": 0, "owned_by": owner}


@final
class OpenAIAPI:
    """Server half of the ``openai`` transport (registered by the ainative-server plugin)."""

    name = "openai"
    encoding = OPENAI_CHUNKS

    def routes(self, server: AINativeServer) -> list[BaseRoute]:
        if not server.config.openai_api:
            return []
        server.action(ACTION)(chat_completions)
        limit = server.config.max_body_bytes
        depth = server.config.max_json_depth
        path = f"{PREFIX}/chat/completions"

        def guard(handler: Handler) -> Handler:
            """The server's bearer auth; every failure answered in OpenAI's error shape."""

            async def guarded(request: Request) -> Response:
                try:
                    server.check_auth(request)
                    return await handler(request)
                except Exception as exc:
                    if not isinstance(exc, AINativeError):
                        _logger.error("request.failed", exc_info=exc)
                    return openai_error_response(exc)

            guarded.__name__ = handler.__name__
            guarded.__doc__ = handler.__doc__
            return guarded

        def run_of(body: Any) -> tuple[ActionRequest, bool]:
            """The run a body asks for, its model routed to a provider (404 if unknown), and
            whether it is streamed. A body that cannot run is refused here (400), before
            any run starts."""
            chat = parse_chat_request(body)
            chat.generate_request(None)
            entry = resolve_model(server.plugins, chat.model or server.config.provider)
            model = entry.model
            if model is None and chat.model:
                # The provider's own default, not the server's default model (which is
                # for the default provider).
                default = getattr(server.get_provider(entry.provider)[1], "model", None)
                model = default if isinstance(default, str) else None
            run = ActionRequest(action=ACTION, params=body, provider=entry.provider, model=model)
            return run, chat.stream is True

        async def create(request: Request) -> Response:
            """A chat completion: streamed (``stream: true``) or whole."""
            run, streamed = run_of(await read_json(request, limit, max_depth=depth))
            if streamed:  # resumable when the client declares it (`client_can_resume`)
                return StreamResponse(
                    server,
                    OPENAI_CHUNKS,
                    media_type=MEDIA_TYPE,
                    request=run,
                    refuse=openai_error_response,
                )
            return await whole(request, run)

        async def whole(
            request: Request, run: ActionRequest | None, stream_id: str | None = None
        ) -> Response:
            """The whole completion of a new run (cancelled if its client leaves first), or
            of the stream ``stream_id`` (left to its grace period then)."""
            result: Response | None = None
            async with cancel_on_disconnect(request.receive) as scope:
                result = await complete(run, stream_id, server.caller(request))
            if scope.cancelled_caught or result is None:
                return Response(status_code=499)  # the client went away
            return result

        async def complete(
            run: ActionRequest | None, stream_id: str | None, caller: Caller
        ) -> Response:
            subscribing = server.subscribe(
                _EVENTS, run, stream_id=stream_id, resumable=run is None, caller=caller
            )
            async with subscribing as subscription:
                completion = _Completion(subscription.stream_id)
                async for batch in subscription:
                    for event in batch.frames:
                        completion.add(event)
            headers = {"X-AINative-Stream-Id": completion.stream_id}
            return JSONResponse(completion.body(), headers=headers)

        async def resume(request: Request) -> Response:
            """Replay a stream's chunks after ``Last-Event-ID``, then follow it.

            A client that accepts JSON and not SSE (``client.chat.completions.retrieve``)
            gets the stream's whole ``chat.completion`` once it has ended.
            """
            raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
            accept = request.headers.get("accept", "")
            if raw is None and "application/json" in accept and "text/event-stream" not in accept:
                return await whole(request, None, request.path_params["stream_id"])
            return StreamResponse(
                server,
                OPENAI_CHUNKS,
                media_type=MEDIA_TYPE,
                stream_id=request.path_params["stream_id"],
                after=parse_last_event_id(raw),
                refuse=openai_error_response,
            )

        async def cancel(request: Request) -> Response:
            """Cancel a stream's provider call (as ``client.chat.completions.delete``)."""
            stream_id = request.path_params["stream_id"]
            was_running = await server.cancel(stream_id, caller=server.caller(request))
            return JSONResponse(
                {
                    "id": stream_id,
                    "object": "chat.completion.deleted",
                    "deleted": True,
                    "cancelled": was_running,
                }
            )

        async def list_models(request: Request) -> Response:
            """Every model name the server answers to (``ainative models`` lists the same)."""
            data = [_model_object(e.id, e.provider) for e in model_catalogue(server.plugins)]
            return JSONResponse({"object": "list", "data": data})

        async def get_model(request: Request) -> Response:
            """One model name: listed, or ``provider/model`` (404 if no provider answers)."""
            entry = resolve_model(server.plugins, request.path_params["model_id"])
            return JSONResponse(_model_object(entry.id, entry.provider))

        model = Route(f"{PREFIX}/models/{{model_id:path}}", guard(get_model), methods=["GET"])
        # A model id may hold any character: Starlette's ``path`` pattern (``.*``) stops at
        # a newline, and such an id got the framework's 404 rather than OpenAI's error.
        model.path_regex = re.compile(model.path_regex.pattern, re.DOTALL)
        return [
            Route(path, guard(create), methods=["POST"]),
            Route(f"{path}/{{stream_id}}", guard(resume), methods=["GET"]),
            Route(f"{path}/{{stream_id}}", guard(cancel), methods=["DELETE"]),
            Route(f"{PREFIX}/models", guard(list_models), methods=["GET"]),
            model,
        ]
