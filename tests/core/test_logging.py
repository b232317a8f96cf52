"""The library logs through stdlib ``logging`` under ``ainative`` and writes nothing itself."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from ainative_core import ROOT_LOGGER, get_logger
from ainative_core._cli import configure_cli_logging

_LIBRARY_USE = """
import anyio
from ainative_client import AINativeClient
from ainative_core import ProviderUnavailable
from ainative_server import ServerConfig, create_server
from ainative_testing import FakeProvider, live_server, plugin_sandbox
import ainative_server._plugin, ainative_client._plugin


async def main() -> None:
    with plugin_sandbox() as sandbox:
        sandbox.add_plugin(ainative_server._plugin, "server")
        sandbox.add_plugin(ainative_client._plugin, "client")
        failing = FakeProvider(["a"], fail_after=ProviderUnavailable("down"))
        sandbox.add_provider("failing", failing)
        await run(create_server(ServerConfig(), plugins=sandbox.plugins))


async def run(server) -> None:
    with live_server(server.get_app()) as live:
        async with AINativeClient(live.base_url, reconnect=False) as client:
            assert "".join([t async for t in client.stream_text("a b")]) == "a b"
            events = [e async for e in client.stream_events({"params": {"message": "x"},
                                                              "provider": "failing"})]
            assert events[-1].event.type == "done"
    print("done")  # both streams log their end (info): nothing may show


anyio.run(main)
"""


def test_a_program_that_configured_no_logging_sees_no_output() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LIBRARY_USE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    assert done.stderr == ""


def test_stdlib_logging_receives_the_events_with_their_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = get_logger("ainative.test", stream_id="s_1")
    with caplog.at_level(logging.INFO, logger=ROOT_LOGGER):
        log.debug("not at this level")
        log.info("stream.end", tokens=3)
        log.info("clash", name="a tool", args=[1])  # LogRecord's own attribute names
    first, second = caplog.records
    assert (first.name, first.levelno, first.getMessage()) == (
        "ainative.test",
        logging.INFO,
        "stream.end stream_id='s_1' tokens=3",
    )
    assert (first.stream_id, first.tokens) == ("s_1", 3)  # type: ignore[attr-defined]
    assert second.getMessage() == "clash stream_id='s_1' name='a tool' args=[1]"
    assert second.name == "ainative.test"
    # The application silences the library through its root logger.
    caplog.clear()
    logging.getLogger(ROOT_LOGGER).setLevel(logging.ERROR)
    try:
        with caplog.at_level(logging.INFO):
            log.warning("dropped")
    finally:
        logging.getLogger(ROOT_LOGGER).setLevel(logging.NOTSET)
    assert caplog.records == []


@pytest.fixture
def cli_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what `configure_cli_logging` sets up (structlog, a handler, the env)."""
    monkeypatch.delenv("AINATIVE_LOG_LEVEL", raising=False)
    monkeypatch.delenv("AINATIVE_LOG_FORMAT", raising=False)
    root = logging.getLogger(ROOT_LOGGER)
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_cli_logs_json_lines_to_stderr_at_its_level(
    cli_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_cli_logging("info", "json")
    log = get_logger("ainative.test")
    log.debug("hidden")
    log.info("stream.end", tokens=3)
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    entry = json.loads(line)
    assert (entry["event"], entry["level"], entry["tokens"]) == ("stream.end", "info", 3)


def test_the_cli_does_not_render_an_event_below_its_level(
    cli_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered: list[str] = []

    class Field:
        def __repr__(self) -> str:
            rendered.append("field")
            return "field"

    configure_cli_logging("warning", "console")
    log = get_logger("ainative.test")
    log.debug("stream.start", field=Field())
    log.info("request", field=Field())
    assert rendered == []  # neither stamped nor rendered, only to be dropped
    log.warning("provider.warm_failed", field=Field())
    assert rendered == ["field"]
    (line,) = capsys.readouterr().err.splitlines()
    assert "provider.warm_failed" in line
    assert "field=field" in line


def test_capture_logs_sees_the_library_events() -> None:
    with structlog.testing.capture_logs() as logs:
        get_logger("ainative.test").info("hello", n=1)
    assert logs == [{"event": "hello", "n": 1, "log_level": "info"}]


def test_a_logger_follows_the_level_set_after_its_first_use(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = get_logger("ainative.test.level")
    log.debug("before")  # below the default level: dropped before any processor
    with caplog.at_level(logging.DEBUG, logger=ROOT_LOGGER):
        log.debug("after", n=1)
    log.debug("after the level is back")
    assert [r.getMessage() for r in caplog.records] == ["after n=1"]


def test_a_filtering_chain_drops_a_low_event_before_any_processor_runs() -> None:
    seen: list[str] = []

    def record(logger: Any, method: str, event: Any) -> Any:
        seen.append(event["event"])
        raise structlog.DropEvent

    structlog.configure(processors=[structlog.stdlib.filter_by_level, record])
    try:
        log = get_logger("ainative.test.chain")
        log.debug("hidden")
        log.warning("shown")
        with structlog.testing.capture_logs() as logs:
            log.debug("captured")  # capture_logs filters nothing: every event reaches it
    finally:
        structlog.reset_defaults()
    assert seen == ["shown"]
    assert [e["event"] for e in logs] == ["captured"]
