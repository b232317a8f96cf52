"""``ainative new-plugin NAME``: the skeleton of a third-party provider plugin distribution.

It writes ``ainative-NAME/`` with a hatchling ``pyproject.toml`` declaring the ``ainative``
entry point, ``src/ainative_NAME/`` (the hook in ``_plugin.py``; in ``_provider.py`` a
provider that streams from an HTTP backend speaking a small example wire format; in
``testing.py`` a fake of that backend), and tests that serve the fake on a loopback port and
run the provider conformance suite of ``ainative-testing`` against the provider, on asyncio
and trio. As generated, the suite passes and ruff and mypy --strict find nothing. The author
then replaces the example wire format with the backend's, in the provider and in the fake
(the places are marked ``YOUR BACKEND``).
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


# The templates name the project with @PROVIDER@ (my-llm), @DIST@ (ainative-my-llm),
# @MODULE@ (ainative_my_llm), @CLS@ (MyLlmProvider), @BASE@ (MyLlm) and @ENV@ (MY_LLM, the
# prefix of the environment variables the provider reads).

_PYPROJECT: Final = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "@DIST@"
version = "0.1.0"
description = "ainative provider plugin: @PROVIDER@"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["ainative-core>=0.1.0,<0.2", "anyio>=4.10", "httpx>=0.27"]

[project.optional-dependencies]
test = ["ainative-testing>=0.1.0,<0.2", "pytest>=8", "trio>=0.31"]

# ainative finds the plugin through this entry point group.
[project.entry-points.ainative]
@PROVIDER@ = "@MODULE@._plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/@MODULE@"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = ["--strict-markers"]
filterwarnings = ["error"]

[tool.ruff]
line-length = 100
src = ["src", "tests"]

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "SIM", "RUF", "ASYNC", "PT", "RET"]

[tool.mypy]
strict = true
files = ["src", "tests"]
mypy_path = "src"
"""

_README: Final = """\
# @DIST@

An [ainative](https://pypi.org/project/ainative/) provider plugin for `@PROVIDER@`.

```console
pip install -e ".[test]"
ainative plugins                     # lists @PROVIDER@
pytest                               # the provider conformance suite, on asyncio and trio
@ENV@_BASE_URL=http://127.0.0.1:8080 ainative generate "Hello" --provider @PROVIDER@
```

`src/@MODULE@/_provider.py` is a working provider for an example wire format: `POST
/v1/chat` with a JSON body, answered with one JSON object per line. `src/@MODULE@/testing.py`
is a fake backend that speaks it, and `tests/test_conformance.py` runs ainative's provider
conformance suite against the provider pointed at the fake, served on a loopback port.
Replace the example format with your backend's, in the provider and in the fake alike (the
places are marked `YOUR BACKEND`): the suite then tells what the provider still gets wrong.
`ruff check .`, `ruff format --check .` and `mypy` are configured in `pyproject.toml`.
"""

_INIT: Final = '''\
"""@DIST@: an ainative provider plugin for @PROVIDER@.

Names are imported on first access: loading the plugin (``@MODULE@._plugin``)
imports this package, and must not import the provider or its HTTP client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ainative_core import lazy_exports

if TYPE_CHECKING:
    from ._provider import DEFAULT_BASE_URL as DEFAULT_BASE_URL
    from ._provider import @CLS@ as @CLS@

__all__ = ["DEFAULT_BASE_URL", "@CLS@"]

if not TYPE_CHECKING:  # type checkers see the imports above
    __getattr__, __dir__ = lazy_exports(__name__)
'''

_PLUGIN: Final = '''\
"""Registers the @PROVIDER@ provider through ainative's plugin hook."""

from __future__ import annotations

from typing import Any

from ainative_core import hookimpl


@hookimpl
def ainative_register_providers(register: Any) -> None:
    # A "module:attr" string: the provider (and httpx) is imported on first use only.
    register("@PROVIDER@", "@MODULE@._provider:@CLS@", models=("@PROVIDER@-default",))
'''

_PROVIDER: Final = r'''"""The @PROVIDER@ provider: streams a chat from @PROVIDER@'s HTTP API.

It works as generated, against an example wire format that the fake in ``testing.py``
serves in the tests. Replace that format with your backend's where ``YOUR BACKEND`` says:
the request body (`_body`), the lines of the answer (`_Reader`), the route, and the errors
(`_STATUS_ERRORS`, `_map_errors`). The example format: ``POST {base_url}/v1/chat`` with a
JSON body (``model``, ``messages``, ``tools``), answered with one JSON object per line:
``{"text": ...}`` pieces, ``{"tool_call": {"id", "name", "arguments"}}`` calls, and last
``{"done": {"finish_reason", "input_tokens", "output_tokens"}}``. An error is an HTTP status
with ``{"error": message}`` (and ``retry-after`` with a 429).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import anyio
import httpx
from ainative_core import (
    AINativeError,
    BaseProvider,
    FinishReason,
    GenerateRequest,
    InvalidRequestError,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    ResponseBody,
    RetryPolicy,
    StreamEvent,
    Usage,
    get_logger,
    parse_retry_after,
    retry_stream,
)

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "@CLS@"]

DEFAULT_BASE_URL: Final = "http://127.0.0.1:8080"  # YOUR BACKEND: its address
DEFAULT_MODEL: Final = "@PROVIDER@-default"

# YOUR BACKEND: the HTTP statuses of its errors (another 4xx: bad request; 5xx: unavailable).
_STATUS_ERRORS: Final[Mapping[int, type[ProviderError]]] = {
    400: ProviderBadRequest,
    401: ProviderAuthError,
    403: ProviderAuthError,
    408: ProviderTimeout,
    429: ProviderRateLimited,
    504: ProviderTimeout,
}
_FINISH_REASONS: Final[Mapping[str, FinishReason]] = {
    "stop": "stop",
    "length": "length",
    "tool_call": "tool_call",
    "content_filter": "content_filter",
}


class @CLS@(BaseProvider):
    """Streams from @PROVIDER@. Settings come from keyword arguments or the environment.

    ``base_url`` falls back to ``@ENV@_BASE_URL``, ``api_key`` (sent as a bearer token) to
    ``@ENV@_API_KEY`` and ``model`` to ``@ENV@_MODEL``. A failure before the first event is
    retried ``max_retries`` times; after it, the stream ends with an ``error`` event. The
    HTTP client is made on first use; `aclose` closes it.
    """

    name = "@PROVIDER@"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        **_settings: Any,
    ) -> None:
        self.api_key = api_key or os.environ.get("@ENV@_API_KEY")
        self.base_url = base_url or os.environ.get("@ENV@_BASE_URL") or DEFAULT_BASE_URL
        self.model = model or os.environ.get("@ENV@_MODEL") or DEFAULT_MODEL
        self.timeout = float(timeout)
        self.retry = RetryPolicy(max_retries=int(max_retries))
        self._client: httpx.AsyncClient | None = None
        self._log = get_logger("ainative.@PROVIDER@").bind(provider=self.name)

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client, made on first use (on the running event loop)."""
        if self._client is None:
            headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client; the provider makes a new one if used again."""
        client, self._client = self._client, None
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.aclose()

    def stream(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        # The body is built here: a request that cannot be sent fails before any event.
        body = _body(request, request.model or self.model)
        return retry_stream(self.retry, lambda: self._attempt(body), self._log)

    async def _attempt(self, body: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        """One request: its events, or a `ProviderError` (retried if nothing was yielded)."""
        with _map_errors():
            request = self.client.build_request("POST", "/v1/chat", json=body)  # YOUR BACKEND
            response = await self.client.send(request, stream=True)
        # Closing the body (at the end, or when the consumer cancels or stops reading) drops
        # the connection at once, so the backend stops generating.
        async with ResponseBody(response, response.aiter_lines()) as lines:
            if response.is_error:
                with _map_errors():
                    await response.aread()
                raise _status_error(response)
            reader = _Reader()
            while not reader.finished:
                with _map_errors(streaming=True):
                    try:
                        line = await anext(lines)
                    except StopAsyncIteration:
                        break
                    events = reader.feed(json.loads(line)) if line.strip() else []
                for event in events:
                    yield event
            if not reader.finished:
                raise ProviderResponseError("the @PROVIDER@ stream ended before its done line")


class _Reader:
    """Turns the lines of one answer into events. YOUR BACKEND: the lines it sends."""

    def __init__(self) -> None:
        self.calls = 0
        self.finished = False

    def feed(self, line: dict[str, Any]) -> list[StreamEvent]:
        if "error" in line:
            raise ProviderResponseError(f"@PROVIDER@ error in the stream: {line['error']}")
        if "text" in line:
            return [StreamEvent.text_delta(str(line["text"]))]
        if "tool_call" in line:
            call, index = line["tool_call"], self.calls
            self.calls += 1
            call_id = str(call["id"])
            return [
                StreamEvent.tool_call_start(call_id, str(call["name"]), index=index),
                StreamEvent.tool_call_delta(call_id, str(call["arguments"]), index=index),
                StreamEvent.tool_call_end(call_id, index=index),
            ]
        if "done" in line:
            done = line["done"]
            usage = Usage(
                input_tokens=int(done["input_tokens"]), output_tokens=int(done["output_tokens"])
            )
            reason = _FINISH_REASONS.get(str(done["finish_reason"]), "stop")
            self.finished = True
            return [StreamEvent.usage_report(usage), StreamEvent.finish(reason, usage=usage)]
        return []  # a kind of line this version does not know


def _body(request: GenerateRequest, model: str) -> dict[str, Any]:
    """The request body. YOUR BACKEND: its format; raise here for what it cannot take."""
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            item["tool_calls"] = [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls
            ]
        if message.role == "tool":
            if not message.tool_call_id:
                raise InvalidRequestError("a tool message needs the tool_call_id it answers")
            item["tool_call_id"] = message.tool_call_id
            item["is_error"] = message.is_error
        messages.append(item)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in request.tools
        ]
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


def _status_error(response: httpx.Response) -> ProviderError:
    status = response.status_code
    cls = _STATUS_ERRORS.get(status) or (
        ProviderUnavailable if status >= 500 else ProviderBadRequest
    )
    try:
        detail = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        detail = response.reason_phrase or "error"
    message = f"@PROVIDER@ API error ({status}): {detail}"
    if cls is ProviderRateLimited:
        return ProviderRateLimited(message, retry_after=parse_retry_after(response.headers))
    return cls(message)


@contextmanager
def _map_errors(*, streaming: bool = False) -> Iterator[None]:
    """Re-raise httpx and decoding errors as ainative's. YOUR BACKEND: its client's errors.

    ``streaming``: a connection lost once the answer had started broke the stream; before,
    the backend was unreachable. Cancellation (a ``BaseException``) is never converted.
    """
    try:
        yield
    except AINativeError:
        raise
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(f"@PROVIDER@ timed out: {exc!r}") from exc
    except httpx.TransportError as exc:
        if streaming:
            raise ProviderResponseError(f"@PROVIDER@ stream broken: {exc!r}") from exc
        raise ProviderUnavailable(f"cannot reach @PROVIDER@: {exc!r}") from exc
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ProviderResponseError(f"unexpected answer from @PROVIDER@: {exc!r}") from exc
'''

_TESTING: Final = r'''"""A fake @PROVIDER@ backend for tests, speaking the provider's wire format.

It is an ASGI app. Serve it on a loopback port with ``ainative_testing.live_server``, give
the provider its URL as ``base_url``, and script its answers with `@BASE@Reply`. It records
the requests it received and the clients that left a stream before its end (the plumbing
is ``ainative_core.FakeUpstream``). YOUR BACKEND: when ``_provider.py`` speaks your backend's
format, make this fake answer as your backend documents, so the tests still run offline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, final

from ainative_core import FakeUpstream, RecordedRequest, UpstreamAnswer

__all__ = ["@BASE@Reply", "Fake@BASE@", "RecordedRequest"]


@dataclass(frozen=True)
class @BASE@Reply:
    """One scripted answer.

    ``text`` word by word, then each of ``tool_calls`` (``(name, arguments JSON)``, with ids
    ``call_0``, ``call_1``...), then the done line; ``delay`` seconds before each line. A
    ``status`` other than 200 answers ``{"error": error}`` with ``headers`` instead.
    """

    text: str = "Hello world"
    tool_calls: Sequence[tuple[str, str]] = ()
    delay: float = 0.0
    status: int = 200
    error: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def http_error(
        cls, status: int, message: str, *, retry_after: float | None = None
    ) -> @BASE@Reply:
        """An error answered before any stream: ``status``, ``{"error": message}``."""
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status=status, error=message, headers=headers)

    def lines(self, input_tokens: int) -> list[dict[str, Any]]:
        """The lines of the answer, the done line last."""
        words = [w if i == 0 else " " + w for i, w in enumerate(self.text.split(" "))]
        out: list[dict[str, Any]] = [{"text": w} for w in words if w]
        out += [
            {"tool_call": {"id": f"call_{n}", "name": name, "arguments": arguments}}
            for n, (name, arguments) in enumerate(self.tool_calls)
        ]
        reason = "tool_call" if self.tool_calls else "stop"
        done = {"finish_reason": reason, "input_tokens": input_tokens, "output_tokens": len(out)}
        return [*out, {"done": done}]


@final
class Fake@BASE@(FakeUpstream[@BASE@Reply]):
    """ASGI app answering ``POST /v1/chat`` from a script of `@BASE@Reply` (the last repeats).

    ``requests`` lists what it received since the last ``script()``; ``disconnected`` is set
    when a client leaves a stream before its end (``wait_disconnect()`` waits for it).
    """

    def __init__(self, *replies: @BASE@Reply) -> None:
        super().__init__(@BASE@Reply(), replies)

    def _accepts(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/v1/chat"

    def _client_error(self, status: int) -> dict[str, Any]:
        return {"error": "no such route" if status == 404 else "the body is not JSON"}

    def _answer(self, reply: @BASE@Reply, request: RecordedRequest) -> UpstreamAnswer:
        if reply.status != 200:
            return UpstreamAnswer.json(reply.status, {"error": reply.error}, reply.headers)
        messages = request.body.get("messages") or []
        input_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        pieces = [json.dumps(line).encode() + b"\n" for line in reply.lines(input_tokens)]
        return UpstreamAnswer.stream("application/x-ndjson", pieces, delay=reply.delay)
'''

_CONFTEST: Final = '''\
"""Fixtures: async tests run on asyncio and trio, against a fake backend on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from ainative_testing import LiveServer, live_server

from @MODULE@ import @CLS@
from @MODULE@.testing import Fake@BASE@


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[tuple[Fake@BASE@, LiveServer]]:
    fake = Fake@BASE@()
    with live_server(fake) as server:
        yield fake, server


@pytest.fixture
def fake_upstream(upstream_server: tuple[Fake@BASE@, LiveServer]) -> Fake@BASE@:
    """The fake backend, reset for the test; script it with ``fake_upstream.script(...)``."""
    fake, _ = upstream_server
    fake.script()
    return fake


@pytest.fixture
async def make_provider(
    upstream_server: tuple[Fake@BASE@, LiveServer], anyio_backend: str
) -> AsyncIterator[Callable[..., @CLS@]]:
    """``make_provider(**settings)``: a provider on the fake backend (no retries), closed after."""
    made: list[@CLS@] = []

    def make(**settings: Any) -> @CLS@:
        settings.setdefault("base_url", upstream_server[1].base_url)
        settings.setdefault("api_key", "test")
        settings.setdefault("max_retries", 0)
        provider = @CLS@(**settings)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()
'''

_TEST_CONFORMANCE: Final = '''\
"""ainative's provider conformance suite, run against @CLS@ and the fake backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ainative_testing import ProviderConformance, ProviderFactory, Scenario

from @MODULE@ import @CLS@
from @MODULE@.testing import @BASE@Reply, Fake@BASE@


def reply_for(scenario: Scenario) -> @BASE@Reply:
    """How the fake backend answers each scenario of the suite."""
    if scenario.name == "tool_call":
        return @BASE@Reply(text="", tool_calls=[(scenario.tool_name, scenario.tool_arguments)])
    if scenario.name == "parallel_tool_calls":
        calls = [(c.name, c.arguments) for c in scenario.tool_calls()]
        return @BASE@Reply(text="", tool_calls=calls)
    if scenario.name == "slow":
        # Far more tokens than the test reads: the stream is mid-way when the client leaves.
        return @BASE@Reply(text=scenario.text + " more" * 100, delay=scenario.token_delay)
    if scenario.name == "auth_error":
        return @BASE@Reply.http_error(401, "invalid api key")
    if scenario.name == "rate_limited":
        return @BASE@Reply.http_error(429, "slow down", retry_after=scenario.retry_after)
    if scenario.name == "unavailable":
        return @BASE@Reply.http_error(503, "overloaded")
    return @BASE@Reply(text=scenario.text)  # text, and the answers to tool results


class Test@CLS@Conformance(ProviderConformance):
    # Set to False what the backend cannot do; those tests are then not collected.
    supports_tools = True
    supports_usage = True
    supports_errors = True

    @pytest.fixture
    def provider_factory(
        self, fake_upstream: Fake@BASE@, make_provider: Callable[..., @CLS@]
    ) -> ProviderFactory:
        self.upstream = fake_upstream

        def make(scenario: Scenario) -> @CLS@:
            fake_upstream.script(reply_for(scenario))
            return make_provider()

        return make

    async def assert_upstream_closed(self) -> None:
        assert await self.upstream.wait_disconnect(), "the backend never saw the client go"

    def upstream_tool_results(self) -> list[tuple[str, str]]:
        # Each tool result of the last request the fake backend received, in order, as
        # (tool call id, content text). YOUR BACKEND: where its requests carry them.
        messages = self.upstream.requests[-1].body["messages"]
        return [(m["tool_call_id"], m["content"]) for m in messages if m["role"] == "tool"]
'''

_TEST_PLUGIN: Final = '''\
"""The plugin registers its provider under the ainative entry point group."""

from __future__ import annotations

import subprocess
import sys

from ainative_core import Plugins

from @MODULE@ import @CLS@, _plugin


def test_registers_the_provider() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(_plugin, name="@PROVIDER@")
    assert isinstance(plugins.get_provider("@PROVIDER@"), @CLS@)


def test_loading_the_plugin_does_not_import_the_provider() -> None:
    code = (
        "import sys, @MODULE@._plugin\\n"
        "assert '@MODULE@._provider' not in sys.modules, 'provider imported'\\n"
        "assert 'httpx' not in sys.modules, 'httpx imported'\\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
'''

_TEMPLATES: Final = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    "src/@MODULE@/__init__.py": _INIT,
    "src/@MODULE@/py.typed": "",
    "src/@MODULE@/_plugin.py": _PLUGIN,
    "src/@MODULE@/_provider.py": _PROVIDER,
    "src/@MODULE@/testing.py": _TESTING,
    "tests/conftest.py": _CONFTEST,
    "tests/test_conformance.py": _TEST_CONFORMANCE,
    "tests/test_plugin.py": _TEST_PLUGIN,
}


def _render(template: str, n: PluginNames) -> str:
    return (
        template.replace("@PROVIDER@", n.provider)
        .replace("@DIST@", n.distribution)
        .replace("@MODULE@", n.module)
        .replace("@CLS@", n.cls)
        .replace("@BASE@", n.cls.removesuffix("Provider"))
        .replace("@ENV@", n.module.upper().removeprefix("AINATIVE_"))
    )


def _files(n: PluginNames) -> dict[str, str]:
    return {_render(path, n): _render(text, n) for path, text in _TEMPLATES.items()}


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
