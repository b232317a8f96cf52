"""``ainative new-plugin NAME``: the skeleton of a third-party provider plugin distribution.

It writes ``ainative-NAME/`` with a hatchling ``pyproject.toml`` declaring the ``ainative``
entry point, ``src/ainative_NAME/`` (the hook in ``_plugin.py``, a provider in
``_provider.py`` that raises `NotImplementedError` until it is written), and tests that run
the provider conformance suite of ``ainative-testing`` on asyncio and trio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

from ._exceptions import ConfigurationError

__all__ = ["PluginNames", "plugin_names", "scaffold_plugin"]

_NAME: Final = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


@final
@dataclass(frozen=True, slots=True)
class PluginNames:
    """The names derived from ``NAME``: provider ``my-llm`` lives in ``ainative_my_llm``."""

    provider: str  # my-llm: the name users pass to --provider
    distribution: str  # ainative-my-llm
    module: str  # ainative_my_llm
    cls: str  # MyLlmProvider


def plugin_names(name: str) -> PluginNames:
    """Validate ``name`` (lower case letters, digits, ``-``/``_``) and derive the others."""
    raw = name.strip().lower()
    if raw.startswith(("ainative-", "ainative_")):
        raw = raw[len("ainative-") :]
    if not _NAME.match(raw):
        raise ConfigurationError(
            f"invalid plugin name {name!r}: use lower case letters, digits and '-', "
            "starting with a letter (e.g. 'my-llm')"
        )
    provider = raw.replace("_", "-")
    words = provider.split("-")
    return PluginNames(
        provider=provider,
        distribution=f"ainative-{provider}",
        module="ainative_" + "_".join(words),
        cls="".join(w.capitalize() for w in words) + "Provider",
    )


def _files(n: PluginNames) -> dict[str, str]:
    return {
        "pyproject.toml": f'''[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "{n.distribution}"
version = "0.1.0"
description = "ainative provider plugin: {n.provider}"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["ainative-core>=0.1.0,<0.2"]

[project.optional-dependencies]
test = ["ainative-testing>=0.1.0,<0.2", "pytest>=8", "anyio>=4.10", "trio>=0.31"]

# ainative finds the plugin through this entry point group.
[project.entry-points.ainative]
{n.provider} = "{n.module}._plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/{n.module}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = ["--strict-markers"]
filterwarnings = ["error"]
''',
        "README.md": f"""# {n.distribution}

An [ainative](https://pypi.org/project/ainative/) provider plugin for `{n.provider}`.

```console
pip install -e ".[test]"
ainative plugins                     # lists {n.provider}
ainative generate "Hello" --provider {n.provider}
pytest                               # the provider conformance suite, on asyncio and trio
```

Write the provider in `src/{n.module}/_provider.py`: it raises `NotImplementedError` until
you do. The tests in `tests/test_conformance.py` run ainative's provider conformance suite
against it; point `provider_factory` at a fake of your backend (a small loopback server
that answers as the backend documents) so the tests run offline.
""",
        f"src/{n.module}/__init__.py": f'''\
"""{n.distribution}: an ainative provider plugin for {n.provider}.

Names are imported on first access: loading the plugin (``{n.module}._plugin``)
imports this package, and must not import the provider or its SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainative_core import lazy_exports

if TYPE_CHECKING:
    from ._provider import {n.cls} as {n.cls}

__all__ = ["{n.cls}"]

if not TYPE_CHECKING:  # type checkers see the import above
    __getattr__, __dir__ = lazy_exports(__name__)
''',
        f"src/{n.module}/py.typed": "",
        f"src/{n.module}/_plugin.py": f'''\
"""Registers the {n.provider} provider through ainative's plugin hook."""

from __future__ import annotations

from typing import Any

from ainative_core import hookimpl


@hookimpl
def ainative_register_providers(register: Any) -> None:
    # A "module:attr" string: the provider (and its SDK) is imported on first use only.
    register("{n.provider}", "{n.module}._provider:{n.cls}", models=("{n.provider}-default",))
''',
        f"src/{n.module}/_provider.py": f'''\
"""The {n.provider} provider."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from ainative_core import BaseProvider, GenerateRequest, StreamEvent


class {n.cls}(BaseProvider):
    """Streams from {n.provider}. Settings come from keyword arguments or the environment."""

    name = "{n.provider}"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        **_settings: Any,
    ) -> None:
        self.api_key = api_key or os.environ.get("{n.module.upper()[len("AINATIVE_") :]}_API_KEY")
        self.base_url = base_url
        self.model = model or "{n.provider}-default"

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        # Check the request here (raise before the first event); then stream.
        return self._run(request)

    async def _run(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        # 1. Open the upstream stream; close it in a `finally` (the consumer may cancel).
        # 2. Map vendor errors to ainative's (ProviderAuthError, ProviderRateLimited, ...):
        #    raise them before the first event; after it, yield StreamEvent.error(...) and
        #    StreamEvent.finish("error").
        # 3. Yield StreamEvent.text_delta(...), tool_call_start/delta/end, usage_report(...),
        #    and last StreamEvent.finish(reason, usage=...).
        raise NotImplementedError("{n.cls}.stream is not written yet")
        yield StreamEvent.finish("stop")  # unreachable: makes this an async generator
''',
        "tests/conftest.py": '''\
"""Every async test runs on asyncio and on trio."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
''',
        "tests/test_conformance.py": f'''\
"""ainative's provider conformance suite, run against {n.cls}."""

from __future__ import annotations

import pytest

from ainative_testing import ProviderConformance, ProviderFactory, Scenario
from {n.module} import {n.cls}


class Test{n.cls}Conformance(ProviderConformance):
    # Set to False what the backend cannot do; those tests are then not collected.
    supports_tools = True
    supports_usage = True
    supports_errors = True

    @pytest.fixture
    def provider_factory(self) -> ProviderFactory:
        def make(scenario: Scenario) -> {n.cls}:
            # Return a provider that behaves as `scenario` says: usually one pointed at a
            # fake upstream (a loopback server) scripted for scenario.name. The tool result
            # scenarios send the results of two calls and expect scenario.text back.
            return {n.cls}(api_key="test", base_url=None)

        return make

    def upstream_tool_results(self) -> list[tuple[str, str]]:
        # Each tool result of the last request your fake upstream received, in order, as
        # (tool call id, content text), read from its record of requests. A provider with
        # no upstream sets `has_upstream = False` on the class instead.
        return super().upstream_tool_results()
''',
        "tests/test_plugin.py": f'''\
"""The plugin registers its provider under the ainative entry point group."""

from __future__ import annotations

import subprocess
import sys

from ainative_core import Plugins
from {n.module} import {n.cls}, _plugin


def test_registers_the_provider() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(_plugin, name="{n.provider}")
    assert isinstance(plugins.get_provider("{n.provider}"), {n.cls})


def test_loading_the_plugin_does_not_import_the_provider() -> None:
    code = (
        "import sys, {n.module}._plugin\\n"
        "assert '{n.module}._provider' not in sys.modules, 'provider imported'\\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
''',
    }


def scaffold_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write the plugin project into ``directory/ainative-NAME`` and return its path.

    Refuses to write into an existing, non-empty directory.
    """
    names = plugin_names(name)
    root = Path(directory) / names.distribution
    if root.exists() and any(root.iterdir()):
        raise ConfigurationError(f"{root} already exists and is not empty")
    for relative, text in _files(names).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
