"""Servers under test: which app, on which server, read over which transport."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, final

from ._load import (
    OPENAI_TOKEN_MARK,
    WS_BATCH_QUERY,
    HttpConnection,
    StreamResult,
    openai_body,
    ws_stream,
)
from ._procs import ServerProcess

__all__ = [
    "ASYNCIO",
    "TRIO",
    "Servers",
    "Target",
    "ainative_available",
    "ainative_missing_reason",
    "stream_once",
]

ASYNCIO = "uvicorn"
TRIO = "hypercorn-trio"


@final
@dataclass(frozen=True)
class Target:
    """A row of a figure: ``app`` served by ``server``, read over ``transport``.

    ``openai`` is ainative's OpenAI-compatible ``POST /v1/chat/completions`` (streamed);
    ``ws-batch`` is ainative's WebSocket asking for frames of several events (``?batch=1``).
    """

    label: str
    app: str
    server: str = ASYNCIO
    transport: Literal["sse", "ws", "ws-batch", "openai"] = "sse"

    @property
    def key(self) -> tuple[str, str]:
        return self.app, self.server


def ainative_missing_reason() -> str | None:
    """None when the ainative server can be benchmarked, else why not."""
    if importlib.util.find_spec("ainative_server") is None:
        return "ainative-server is not installed"
    import ainative_server

    if not hasattr(ainative_server, "create_app"):
        return "ainative_server has no create_app yet"
    return None


def ainative_available() -> bool:
    return ainative_missing_reason() is None


@final
class Servers:
    """Server processes, started all at once and all stopped by `close` (or on exit).

    One process per (app, server), or one per target with ``separate``.
    """

    def __init__(self, *, separate: bool = False) -> None:
        self._separate = separate
        self._procs: dict[object, ServerProcess] = {}

    def _key(self, target: Target) -> object:
        return target.label if self._separate else target.key

    def start(self, targets: list[Target]) -> None:
        """Start the targets' servers that are not running yet; wait until all listen."""
        started = []
        try:
            for target in targets:
                key = self._key(target)
                if key not in self._procs:
                    proc = ServerProcess(target.app, target.server)
                    self._procs[key] = proc
                    started.append(proc.launch())
            for proc in started:
                proc.wait_ready()
        except BaseException:
            self.close()
            raise

    def get(self, target: Target) -> ServerProcess:
        if self._key(target) not in self._procs:
            self.start([target])
        return self._procs[self._key(target)]

    def close(self) -> None:
        procs, self._procs = list(self._procs.values()), {}
        for proc in procs:
            proc.stop()

    def __enter__(self) -> Servers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def stream_once(
    target: Target, port: int, body: dict[str, object], *, record_gaps: bool = False
) -> StreamResult:
    """One stream on a fresh connection, read to its end by the raw reader."""
    if target.transport == "ws":
        return await ws_stream(port, body, record_gaps=record_gaps)
    if target.transport == "ws-batch":
        return await ws_stream(port, body, path=f"/ai/ws?{WS_BATCH_QUERY}", record_gaps=record_gaps)
    async with HttpConnection(port) as conn:
        if target.transport == "openai":
            return await conn.stream(
                "POST",
                "/v1/chat/completions",
                openai_body(body),
                record_gaps=record_gaps,
                mark=OPENAI_TOKEN_MARK,
            )
        return await conn.stream("POST", "/ai/stream", body, record_gaps=record_gaps)
