"""A base for fake vendor servers: scripted replies served as a plain ASGI app.

Provider plugins ship a fake of their vendor's API so tests (theirs and their users') run
offline against a real loopback server. Everything that is not the vendor's wire format lives
here: the ASGI plumbing (lifespan, reading the body, JSON and streamed responses), the script
of replies (each request takes the next one, the last one repeats), the record of requests,
and the record of clients that left a stream before its end, which a test reads from another
thread (the server runs in its own). A subclass says which route it serves, what its error
body looks like and how one reply becomes an `UpstreamAnswer`.

It sits in the core, next to the echo provider, because the plugins' public ``testing``
modules build on it and it only needs anyio: they get it without depending on pytest or on
``ainative-testing``.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import anyio
import anyio.to_thread

__all__ = ["FakeUpstream", "RecordedRequest", "UpstreamAnswer"]

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ReplyT = TypeVar("ReplyT")


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received: its path, lower-cased headers and JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(frozen=True)
class UpstreamAnswer:
    """How a fake answers one request: a JSON body, or a streamed body.

    Build it with `UpstreamAnswer.json` or `UpstreamAnswer.stream`. A stream sends each
    piece as it comes, sleeping ``delay`` before every piece after the first ``undelayed``
    ones; a ``None`` piece cuts the connection there, as a dropped upstream does. A stream
    that runs out ends the body cleanly.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    pieces: Iterable[bytes | None] | None = None
    delay: float = 0.0
    undelayed: int = 0

    @classmethod
    def json(
        cls, status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> UpstreamAnswer:
        """A whole JSON response; ``headers`` are added to its content type and length."""
        return cls(status=status, body=body, headers=headers or {})

    @classmethod
    def stream(
        cls,
        content_type: str,
        pieces: Iterable[bytes | None],
        *,
        delay: float = 0.0,
        undelayed: int = 0,
        headers: Mapping[str, str] | None = None,
    ) -> UpstreamAnswer:
        """A 200 response streamed piece by piece (see the class docstring)."""
        all_headers = {"content-type": content_type, **(headers or {})}
        return cls(headers=all_headers, pieces=pieces, delay=delay, undelayed=undelayed)


class FakeUpstream(ABC, Generic[ReplyT]):
    """ASGI app answering one JSON ``POST`` route from a script of replies.

    ``requests`` lists what was received since the last `script`; ``disconnects`` counts
    streams the client left before their end, and ``disconnected`` is set on the first one;
    ``completed`` counts streams that ran to their end. A subclass implements `_accepts`,
    `_client_error` and `_answer`.
    """

    json_content_type: ClassVar[str] = "application/json"

    def __init__(self, default: ReplyT, replies: Sequence[ReplyT] = ()) -> None:
        self._lock = threading.Lock()
        self._default = default
        self._replies: list[ReplyT] = list(replies) or [default]
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.completed = 0
        self.disconnected = threading.Event()

    def script(self, *replies: ReplyT) -> None:
        """Answer the next requests with ``replies`` (the last repeats) and forget the past.

        Without ``replies``, the fake answers with its default reply again.
        """
        with self._lock:
            self._replies = list(replies) or [self._default]
            self.requests = []
            self.disconnects = 0
            self.completed = 0
            self.disconnected.clear()

    async def wait_disconnect(self, within: float = 5.0) -> bool:
        """Wait (in a worker thread) until a client leaves a stream early; False on timeout."""
        return await anyio.to_thread.run_sync(self.disconnected.wait, within)

    @abstractmethod
    def _accepts(self, method: str, path: str) -> bool:
        """Whether this is the route the fake serves (others are answered 404)."""

    @abstractmethod
    def _client_error(self, status: int) -> Any:
        """The vendor's error body for an unknown route (404) or a body that is not JSON (400)."""

    @abstractmethod
    def _answer(self, reply: ReplyT, request: RecordedRequest) -> UpstreamAnswer:
        """What to send for ``request``, given the scripted ``reply`` it took."""

    def _take(self, request: RecordedRequest) -> ReplyT:
        with self._lock:
            self.requests.append(request)
            return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if not self._accepts(scope["method"], scope["path"]):
            await self._send_json(send, UpstreamAnswer.json(404, self._client_error(404)))
            return
        try:
            body = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            await self._send_json(send, UpstreamAnswer.json(400, self._client_error(400)))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = RecordedRequest(scope["path"], headers, body)
        answer = self._answer(self._take(request), request)
        if answer.pieces is None:
            await self._send_json(send, answer)
        else:
            await self._stream(answer, answer.pieces, receive, send)

    async def _send_json(self, send: _Send, answer: UpstreamAnswer) -> None:
        raw = json.dumps(answer.body).encode()
        headers = {
            "content-type": self.json_content_type,
            "content-length": str(len(raw)),
            **answer.headers,
        }
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": _raw(headers)}
        )
        await send({"type": "http.response.body", "body": raw})

    async def _stream(
        self,
        answer: UpstreamAnswer,
        pieces: Iterable[bytes | None],
        receive: _Receive,
        send: _Send,
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": _raw(answer.headers),
            }
        )
        finished = False
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                if not finished:
                    with self._lock:
                        self.disconnects += 1
                    self.disconnected.set()
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            for sent, piece in enumerate(pieces):
                if answer.delay and sent >= answer.undelayed:
                    await anyio.sleep(answer.delay)
                if piece is None:
                    # Returning without finishing the body makes the server cut the
                    # connection, as a dropped upstream does.
                    finished = True
                    tg.cancel_scope.cancel()
                    return
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            finished = True
            # Counted before the body's end is sent: a client that has read it may look at
            # ``completed`` at once.
            with self._lock:
                self.completed += 1
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            tg.cancel_scope.cancel()


async def _lifespan(receive: _Receive, send: _Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _raw(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
