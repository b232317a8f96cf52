"""Fixtures of the front-end protocol tests: the real JS clients, installed from the lock file.

``node_modules`` here is installed by ``npm ci`` from ``package-lock.json`` the first time a
test needs it (and again when the lock file is newer than the installed tree), so a fresh
checkout, CI included, gets exactly the locked versions. Node scripts in this folder drive a
live server with the AI SDK's and AG-UI's own client code and print what they saw as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import anyio
import pytest

import ainative_server._plugin
from ainative_core import Provider
from ainative_server import AINativeServer, ServerConfig, create_server
from ainative_testing import LiveServer, PluginSandbox, live_server

HERE: Final = Path(__file__).parent

# The fake OpenAI upstream is imported as ``tests.openai.fake_openai`` (as tests/openai does).
_ROOT = str(HERE.resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
NPM_TIMEOUT: Final = 600.0
NODE_TIMEOUT: Final = 60.0


def _installed() -> bool:
    marker = HERE / "node_modules" / ".package-lock.json"
    lock = HERE / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


@pytest.fixture(scope="session")
def frontend_modules() -> Path:
    """``tests/frontends/node_modules``, installed with ``npm ci`` when missing or stale."""
    if not _installed():
        npm = shutil.which("npm")
        assert npm is not None, "npm is needed for the front-end tests (Node 20 or later)"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            check=True,
            timeout=NPM_TIMEOUT,
            stdout=subprocess.DEVNULL,
        )
    return HERE / "node_modules"


Node = Callable[..., Any]


@pytest.fixture
def node(frontend_modules: Path) -> Node:
    """``await node("ui_chat.mjs", {...})``: run a script of this folder; its JSON output."""
    executable = shutil.which("node")
    assert executable is not None, "node is needed for the front-end tests (Node 20 or later)"

    async def run(script: str, payload: dict[str, Any]) -> Any:
        with anyio.fail_after(NODE_TIMEOUT):
            result = await anyio.run_process(
                [executable, str(HERE / script), json.dumps(payload)], cwd=HERE, check=False
            )
        stderr = result.stderr.decode(errors="replace")
        assert result.returncode == 0, f"{script} failed:\n{stderr}"
        return json.loads(result.stdout)

    return run


@pytest.fixture
def frontend_plugins(ainative_plugins: PluginSandbox) -> PluginSandbox:
    """echo and the server plugin (SSE, WS, the AI SDK and AG-UI protocols)."""
    ainative_plugins.add_plugin(ainative_server._plugin, name="server")
    return ainative_plugins


@pytest.fixture(params=["uvicorn", "hypercorn"])
def server_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


Serve = Callable[..., Any]


@pytest.fixture
def serve(frontend_plugins: PluginSandbox, server_backend: str) -> Serve:
    """``with serve(provider, **settings) as (server, live):`` a live server whose default
    provider is ``provider`` (registered as ``test``), or echo when it is None."""

    @contextmanager
    def start(
        provider: Provider | None = None, **settings: Any
    ) -> Iterator[tuple[AINativeServer, LiveServer]]:
        if provider is not None:
            frontend_plugins.add_provider("test", provider)
            settings.setdefault("provider", "test")
        server = create_server(ServerConfig(**settings), plugins=frontend_plugins.plugins)
        with live_server(server.get_app(), backend=server_backend) as live:  # type: ignore[arg-type]
            yield server, live

    return start
