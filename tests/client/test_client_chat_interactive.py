"""``ainative chat`` without a message, in a terminal: a conversation, through a real
pseudo-terminal against a live server."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final, final

import anyio
import pytest

import ainative_server._plugin
from ainative_core import BaseProvider, GenerateRequest, StreamEvent
from ainative_server import AINativeServer, ServerConfig, create_server
from ainative_testing import LiveServer, PluginSandbox, live_server

AINATIVE = str(Path(sys.executable).with_name("ainative"))
# Run in a new session, the pseudo-terminal as its controlling terminal (opening it does
# that), so that Ctrl-C there is a SIGINT to it, as in a shell.
_LAUNCH: Final = (
    "import os, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
_CONTROL: Final = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@final
class Roles(BaseProvider):
    """Answers with the roles of the conversation it got and its last message; a last
    message ``slow`` gets ``tick`` tokens slowly, and its cancellation is recorded."""

    name = "roles"

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        return self._run(request)

    async def _run(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        roles = ",".join(m.role for m in request.messages)
        last = request.messages[-1].content
        if last != "slow":
            yield StreamEvent.text_delta(f"[{roles}] {last}")
            yield StreamEvent.finish("stop")
            return
        try:
            for _ in range(1000):
                await anyio.sleep(0.05)
                yield StreamEvent.text_delta(" tick")
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
            raise
        yield StreamEvent.finish("stop")


@pytest.fixture(scope="module")
def roles_server() -> Iterator[tuple[AINativeServer, Roles, LiveServer]]:
    sandbox = PluginSandbox()
    sandbox.add_plugin(ainative_server._plugin, "server")
    provider = Roles()
    sandbox.add_provider("roles", provider)
    server = create_server(ServerConfig(provider="roles"), plugins=sandbox.plugins)
    with live_server(server.get_app()) as live:
        yield server, provider, live


@final
class Terminal:
    """``ainative chat ...`` on a pseudo-terminal: what it wrote, and keys to type."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "AINATIVE_DISABLE_PLUGIN_AUTOLOAD"}
        env.update(AINATIVE_PLUGINS="client", TERM="dumb")
        self.fd, child = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, AINATIVE, "chat", *args],
            stdin=child,
            stdout=child,
            stderr=child,
            env=env,
            start_new_session=True,
        )
        os.close(child)
        self.output = ""
        self.seen = 0

    def read(self, timeout: float) -> bool:
        """Read what is there within ``timeout`` s; False at the end of the output."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the terminal's other side closed
            return False
        self.output += _CONTROL.sub("", data.decode(errors="replace"))
        return bool(data)

    def expect(self, text: str, timeout: float = 20) -> str:
        """What was written up to ``text`` (and after what earlier calls returned)."""
        deadline = time.monotonic() + timeout
        for _ in range(100_000):
            at = self.output.find(text, self.seen)
            if at >= 0:
                before = self.output[self.seen : at + len(text)]
                self.seen = at + len(text)
                return before
            if time.monotonic() > deadline or not self.read(0.1):
                break
        raise AssertionError(f"{text!r} never came; the terminal shows:\n{self.output}")

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def exit_code(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while self.read(0.1) and time.monotonic() < deadline:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running; the terminal shows:\n{self.output}") from None

    def interrupt(self) -> int:
        """Ctrl-C at the prompt, and the exit code it leaves with.

        Sent again while the program has not left: a SIGINT that lands between readline
        showing the prompt and its wait for a key is handled only at the next key.
        """
        for _ in range(20):
            self.type("\x03")
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:
                if not self.read(0.1):  # the terminal's other side closed: it is leaving
                    return self.proc.wait(10)
            if self.proc.poll() is not None:
                return self.proc.wait()
        raise AssertionError(f"still running; the terminal shows:\n{self.output}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.fd)


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.close()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_conversation_keeps_its_history_and_ctrl_c_stops_a_reply(
    roles_server: tuple[AINativeServer, Roles, LiveServer],
    terminal: list[Terminal],
    backend: str,
) -> None:
    server, provider, live = roles_server
    provider.cancelled.clear()
    term = Terminal("--url", live.base_url, "--system", "Be brief.", "--backend", backend)
    terminal.append(term)
    term.expect("you> ")
    term.type("hello\n")
    assert term.expect("you> ").endswith("[system,user] hello\nyou> ")
    term.type("again\n")
    # The second turn carried the first (and the system message is kept).
    assert "[system,user,assistant,user] again\n" in term.expect("you> ")
    term.type("slow\n")
    term.expect(" tick tick")
    term.type("\x03")  # Ctrl-C during the reply
    shown = term.expect("you> ")
    assert "[stopped]" in shown
    assert provider.cancelled.wait(10)  # the provider's call was cancelled on the server
    runs = [run for run in server.hub.runs.values() if run.tokens > 1]
    deadline = time.monotonic() + 10
    while not all(run.done for run in runs) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runs
    assert runs[-1].finish_reason == "cancelled"
    # The stopped turn is in the history, as far as it was shown.
    term.type("after\n")
    assert "[system,user,assistant,user,assistant,user,assistant,user] after\n" in (
        term.expect("you> ")
    )
    term.type("\x04")  # Ctrl-D: EOF at an empty prompt
    assert term.exit_code() == 0


def test_reset_forgets_the_conversation_and_ctrl_c_at_an_empty_prompt_leaves(
    roles_server: tuple[AINativeServer, Roles, LiveServer], terminal: list[Terminal]
) -> None:
    _, _, live = roles_server
    term = Terminal("--url", live.base_url)
    terminal.append(term)
    term.expect("you> ")
    term.type("one\n")
    shown = term.expect("you> ")
    # The status line (stderr is the terminal) until the reply, which writes over it.
    assert shown.index("waiting for the reply") < shown.index("[user] one\n")
    term.type("/reset\n")
    term.expect("you> ")
    term.type("two\n")
    assert "[user] two\n" in term.expect("you> ")
    assert term.interrupt() == 0
    term = Terminal("--url", live.base_url)
    terminal.append(term)
    term.expect("you> ")
    term.type("/exit\n")
    assert term.exit_code() == 0


def test_without_a_message_or_a_terminal_it_asks_for_one(
    roles_server: tuple[AINativeServer, Roles, LiveServer],
) -> None:
    _, _, live = roles_server
    env = {k: v for k, v in os.environ.items() if k != "AINATIVE_DISABLE_PLUGIN_AUTOLOAD"}
    env["AINATIVE_PLUGINS"] = "client"
    done = subprocess.run(
        [AINATIVE, "chat", "--url", live.base_url],
        input="piped",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "Missing argument 'MESSAGE'" in done.stderr
    assert done.stdout == ""
