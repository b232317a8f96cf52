"""A real loopback HTTP server for tests: uvicorn on asyncio or Hypercorn on trio, in a thread.

Streaming has to be tested over a socket: ``httpx.ASGITransport`` buffers whole bodies, so it
cannot show tokens arriving, keep-alive pings or a client going away. The server runs its own
event loop in its own thread, so a test may use it from sync code or from an async test on
either anyio backend.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Final, Literal, TypeAlias, final

__all__ = ["LiveServer", "ServerBackend", "live_server"]

ServerBackend: TypeAlias = Literal["uvicorn", "hypercorn"]

_HOST: Final = "127.0.0.1"
_START_TIMEOUT: Final = 10.0
_GRACEFUL: Final = 1.0


@final
class LiveServer:
    """A server started by `live_server`: ``base_url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, app: Any, backend: ServerBackend) -> None:
        if backend not in ("uvicorn", "hypercorn"):
            raise ValueError(f"unknown server backend {backend!r}; use 'uvicorn' or 'hypercorn'")
        self.app = app
        self.backend: ServerBackend = backend
        self.host = _HOST
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"live-server-{backend}", daemon=True
        )
        self._uvicorn: Any = None
        self._trio_token: Any = None
        self._trio_stop: Any = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<LiveServer {self.backend} {self.base_url}>"

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread and return once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._ready.wait(0.005):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                break
            # uvicorn has no start-up callback: poll its flag from this thread.
            server = self._uvicorn
            if server is not None and server.started:
                self.port = server.servers[0].sockets[0].getsockname()[1]
                self._ready.set()
        if self._error is not None:
            self._thread.join(_START_TIMEOUT)
            raise RuntimeError(f"{self.backend} failed to start: {self._error!r}") from self._error
        if not self._ready.is_set():
            alive = self._thread.is_alive()
            self.stop()
            if not alive:
                raise RuntimeError(f"{self.backend} exited during startup (see its log)")
            raise RuntimeError(f"{self.backend} did not start within {_START_TIMEOUT} s")

    def stop(self) -> None:
        """Ask the server to shut down (lifespan shutdown included) and join its thread."""
        if self.backend == "uvicorn":
            if self._uvicorn is not None:
                self._uvicorn.should_exit = True
        elif self._trio_token is not None:
            import trio

            # run_sync_soon is thread-safe and, unlike trio.from_thread, may be called from
            # inside another trio run (an async test on trio).
            with contextlib.suppress(trio.RunFinishedError):
                self._trio_token.run_sync_soon(self._trio_stop.set)
        self._thread.join(_GRACEFUL + 3.0)
        if self._thread.is_alive() and self._uvicorn is not None:
            self._uvicorn.force_exit = True
        # A loaded machine (two cores shared with other work) can slow a graceful shutdown.
        self._thread.join(10.0)
        if self._thread.is_alive():
            raise RuntimeError(f"{self!r} did not stop")
        if self._error is not None:
            raise RuntimeError(f"{self!r} failed while serving: {self._error!r}") from self._error

    def _run(self) -> None:
        try:
            if self.backend == "uvicorn":
                self._run_uvicorn()
            else:
                self._run_hypercorn()
        except BaseException as exc:  # reported to the starting thread
            self._error = exc

    def _run_uvicorn(self) -> None:
        import uvicorn

        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=0,
            loop="asyncio",
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(_GRACEFUL),
        )
        server = uvicorn.Server(config)
        self._uvicorn = server

        server.run()

    def _run_hypercorn(self) -> None:
        import trio
        from hypercorn.config import Config
        from hypercorn.trio import serve

        config = Config()
        config.bind = [f"{self.host}:0"]
        config.graceful_timeout = _GRACEFUL
        config.accesslog = None

        async def main() -> None:
            self._trio_stop = trio.Event()
            self._trio_token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(
                    partial(serve, self.app, config, shutdown_trigger=self._trio_stop.wait)
                )
                self.port = int(binds[0].rsplit(":", 1)[1])
                self._ready.set()

        trio.run(main)


@contextmanager
def live_server(app: Any, *, backend: ServerBackend = "uvicorn") -> Iterator[LiveServer]:
    """Serve ``app`` on 127.0.0.1 on a free port in a background thread.

    uvicorn runs it on asyncio, Hypercorn on trio. Returns once the server accepts
    connections; on exit the server shuts down (lifespan shutdown included) and the thread
    is joined.
    """
    server = LiveServer(app, backend)
    server.start()
    try:
        yield server
    finally:
        server.stop()
