"""Serve one benchmark target in this process: ``python -m benchmarks._serve TARGET PORT SERVER``.

``SERVER`` is ``uvicorn`` (asyncio, uvicorn's defaults: uvloop and httptools when installed) or
``hypercorn-trio``. The runner starts one of these per server under test and stops it by pid.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import sys
from typing import Any

import structlog

__all__ = ["GC_TUNED", "TARGETS", "load_app", "main"]

TARGETS: dict[str, str] = {
    "naive": "benchmarks.peers.naive:app",
    "sse-starlette": "benchmarks.peers.ssestarlette:app",
    "raw1": "benchmarks.peers.raw:one",
    "raw-batched": "benchmarks.peers.raw:batched",
    "ainative": "benchmarks.peers.ainative_app:app",
    "naive-openai": "benchmarks.peers.naive_openai:app",
    "naive-anthropic": "benchmarks.peers.naive_anthropic:app",
    "naive-ollama": "benchmarks.peers.naive_ollama:app",
}


GC_TUNED: frozenset[str] = frozenset({"ainative"})
"""Targets served with `ainative serve`'s garbage-collector settings (`tune_gc`); the peers
keep Python's, as their users run them."""


def load_app(target: str) -> Any:
    module, _, attr = TARGETS[target].partition(":")
    return getattr(importlib.import_module(module), attr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("port", type=int)
    parser.add_argument("server", choices=["uvicorn", "hypercorn-trio"])
    args = parser.parse_args(argv)
    # Like a deployment would, keep log output to warnings (uvicorn's is set the same below).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    app = load_app(args.target)
    if args.target in GC_TUNED:
        from ainative_server import tune_gc

        tune_gc()  # as `ainative serve` does once its app is built
    if args.server == "uvicorn":
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    else:
        import trio
        from hypercorn.config import Config
        from hypercorn.trio import serve

        config = Config()
        config.bind = [f"127.0.0.1:{args.port}"]
        config.accesslog = None
        config.loglevel = "WARNING"
        config.backlog = 2048
        trio.run(functools.partial(serve, app, config))
    sys.exit(0)


if __name__ == "__main__":
    main()
