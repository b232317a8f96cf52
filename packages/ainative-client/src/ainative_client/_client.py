"""Pythonic shortcuts: `AINativeClient` (async) and `Client` (blocking, for scripts).

``Client`` runs the very same `AINativeClient` code on an event loop in a worker thread
(an anyio blocking portal); tokens cross over through a small bounded buffer, so a slow
``for`` loop slows the stream rather than piling tokens up.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import aclosing
from types import TracebackType
from typing import Any, Self, final

import anyio
import anyio.abc
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from anyio.streams.memory import MemoryObjectSendStream

from ainative_core import ActionRequest, error_from_code

from ._config import StreamConfig
from ._engine import StreamingEngine, default_http_client
from ._transport import ReceivedEvent

__all__ = ["AINativeClient", "Client"]

_END: Any = object()


@final
class AINativeClient(anyio.abc.AsyncResource):
    """``async with AINativeClient(url) as client: async for token in client.stream_text(...)``.

    ``transport`` is ``"SSE"``, ``"WS"`` or ``"AUTO"``. Streams reconnect and resume as
    `StreamingEngine` does; an error event from the server is raised as the matching
    ainative error (``error_from_code``). Several streams may run at once.
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        transport: str = "SSE",
        provider: str | None = None,
        model: str | None = None,
        headers: Mapping[str, str] | None = None,
        reconnect: bool = True,
        reconnect_delay: float = 1.0,
        max_reconnect_attempts: int = 5,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.provider = provider
        self.model = model
        self.config = StreamConfig(
            url=url,
            method=transport,
            headers=dict(headers or {}),
            reconnect=reconnect,
            reconnect_delay=reconnect_delay,
            max_reconnect_attempts=max_reconnect_attempts,
        )
        self._own_http = http_client is None
        self._http = http_client if http_client is not None else default_http_client()

    def request(
        self,
        prompt: str,
        *,
        action: str = "chat",
        provider: str | None = None,
        model: str | None = None,
        tools: bool | list[str] | None = None,
        **options: Any,
    ) -> ActionRequest:
        """The `ActionRequest` `stream_text` sends: ``params={"message": prompt}``;
        ``tools``: the server tools the model may call (True: all; None: the server's
        choice)."""
        return ActionRequest(
            action=action,
            params={"message": prompt},
            provider=provider or self.provider,
            model=model or self.model,
            options=options,
            tools=tools,
        )

    async def stream_events(
        self, request: ActionRequest | Mapping[str, Any]
    ) -> AsyncGenerator[ReceivedEvent, None]:
        """Every event of one stream, ``done`` included (errors are events here, not raised)."""
        async with aclosing(self._batches(request)) as batches:
            async for batch in batches:
                for item in batch:
                    yield item

    async def stream_text(
        self,
        prompt: str,
        *,
        action: str = "chat",
        provider: str | None = None,
        model: str | None = None,
        tools: bool | list[str] | None = None,
        **options: Any,
    ) -> AsyncGenerator[str, None]:
        """Yield the reply's tokens as they arrive; ``options`` go to the provider,
        ``tools`` name the server tools the model may call (see `request`)."""
        request = self.request(
            prompt, action=action, provider=provider, model=model, tools=tools, **options
        )
        async with aclosing(self._batches(request)) as batches:
            async for batch in batches:
                for item in batch:
                    event = item.event
                    kind = event.type
                    if kind == "token":
                        data = event.data
                        yield data if type(data) is str else str(data)
                    elif kind == "error":
                        raise error_from_code(event.code, str(event.data))

    def _batches(
        self, request: ActionRequest | Mapping[str, Any]
    ) -> AsyncGenerator[list[ReceivedEvent], None]:
        # The engine's bus is private to the stream: no one can listen to its data events.
        engine = StreamingEngine(http_client=self._http, record_data=False)
        return engine.stream_batches(self.config, request)

    async def complete_text(self, prompt: str, **kwargs: Any) -> str:
        """The whole reply as one string."""
        parts: list[str] = []
        async with aclosing(self.stream_text(prompt, **kwargs)) as tokens:
            async for token in tokens:
                parts.append(token)
        return "".join(parts)

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()


@final
class Client:
    """Blocking twin of `AINativeClient`: ``for token in Client(url).stream_text("Hi")``.

    Takes the same arguments plus ``backend`` (``"asyncio"`` or ``"trio"``) for the worker
    loop. Used without ``with``, each call starts and stops its own worker thread; inside
    ``with Client(...) as client`` one worker serves every call. Leave a ``for`` loop early
    by closing the iterator (or let it be garbage-collected): the stream is cancelled.
    """

    def __init__(
        self, url: str = "http://127.0.0.1:8000", *, backend: str = "asyncio", **kwargs: Any
    ):
        self.url = url
        self.backend = backend
        self._kwargs = kwargs
        self._portal_cm: Any = None
        self._portal: BlockingPortal | None = None
        self._async: AINativeClient | None = None

    def __enter__(self) -> Self:
        self._portal_cm = start_blocking_portal(self.backend)
        self._portal = self._portal_cm.__enter__()
        self._async = self._portal.call(self._make)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._portal is not None and self._async is not None:
            self._portal.call(self._async.aclose)
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
        self._portal_cm = self._portal = self._async = None

    async def _make(self) -> AINativeClient:
        return AINativeClient(self.url, **self._kwargs)

    def stream_text(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        """Yield tokens as they arrive (see `AINativeClient.stream_text`)."""
        if self._portal is not None and self._async is not None:
            yield from self._stream(self._portal, self._async, prompt, kwargs)
            return
        with self:
            assert self._portal is not None
            assert self._async is not None
            yield from self._stream(self._portal, self._async, prompt, kwargs)

    def complete_text(self, prompt: str, **kwargs: Any) -> str:
        return "".join(self.stream_text(prompt, **kwargs))

    @staticmethod
    def _stream(
        portal: BlockingPortal, client: AINativeClient, prompt: str, kwargs: dict[str, Any]
    ) -> Iterator[str]:
        send, receive = anyio.create_memory_object_stream[Any](64)

        async def produce(out: MemoryObjectSendStream[Any]) -> None:
            # The whole async iteration runs in this one task of the portal's loop.
            with out:
                try:
                    async with aclosing(client.stream_text(prompt, **kwargs)) as tokens:
                        async for token in tokens:
                            await out.send(token)
                    item: Any = _END
                except Exception as exc:
                    item = _Failure(exc)
                except BaseException:
                    # Cancelled because the consumer left (possibly grouped by a task group):
                    # nothing to deliver, and nothing must escape into the portal's loop.
                    return
                with contextlib.suppress(anyio.BrokenResourceError):
                    await out.send(item)

        future = portal.start_task_soon(produce, send)
        try:
            with receive:
                while True:
                    item = portal.call(receive.receive)
                    if item is _END:
                        break
                    if isinstance(item, _Failure):
                        raise item.error
                    yield item
        finally:
            if not future.done():
                future.cancel()
            # Cancelled on purpose, or its error was already raised above.
            with contextlib.suppress(BaseException):
                future.result(timeout=10)


@final
class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error
