"""ainative-testing: fixtures and fakes for testing ainative applications and plugins."""

from __future__ import annotations

from ._collector import StreamCollector as StreamCollector
from ._conformance import ProviderConformance as ProviderConformance
from ._conformance import ProviderFactory as ProviderFactory
from ._conformance import Scenario as Scenario
from ._conformance import ScenarioName as ScenarioName
from ._fakes import FakeProvider as FakeProvider
from ._fakes import ScriptedProvider as ScriptedProvider
from ._live_server import LiveServer as LiveServer
from ._live_server import ServerBackend as ServerBackend
from ._live_server import live_server as live_server
from ._proxy import TCPProxy as TCPProxy
from ._redis_server import RedisServer as RedisServer
from ._redis_server import redis_server as redis_server
from ._registry import PluginSandbox as PluginSandbox
from ._registry import plugin_sandbox as plugin_sandbox
from ._serve_process import serve_process as serve_process

__all__ = [
    "FakeProvider",
    "LiveServer",
    "PluginSandbox",
    "ProviderConformance",
    "ProviderFactory",
    "RedisServer",
    "Scenario",
    "ScenarioName",
    "ScriptedProvider",
    "ServerBackend",
    "StreamCollector",
    "TCPProxy",
    "live_server",
    "plugin_sandbox",
    "redis_server",
    "serve_process",
]
