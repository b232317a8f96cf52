"""`ServerConfig`: the seed's arguments mapped onto ours, unknown names refused, and the
seed's server attributes (``server.app``, ``server.providers``)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from ainative_core import EchoProvider, Plugins, hookimpl
from ainative_core._cli import cli
from ainative_server import ServerConfig, create_server
from ainative_testing import PluginSandbox

from .server_helpers import Serve


def seed_config(**values: Any) -> ServerConfig:
    """``ServerConfig(**values)`` with the seed's names (not fields, so untyped here)."""
    return ServerConfig(**values)


def test_the_seed_openai_settings_go_to_the_openai_provider() -> None:
    config = seed_config(openai_api_key="sk-1", openai_model="gpt-4o", default_provider="openai")
    assert config.provider == "openai"
    assert config.providers == {"openai": {"api_key": "sk-1", "model": "gpt-4o"}}


def test_an_openai_key_alone_makes_openai_the_default_as_in_the_seed() -> None:
    assert seed_config(openai_api_key="sk-1").provider == "openai"
    assert seed_config(openai_api_key="sk-1", default_provider="ollama").provider == "ollama"
    assert seed_config(openai_api_key="sk-1", provider="echo").provider == "echo"
    assert seed_config(openai_model="gpt-4o").provider == "echo"  # no key: nothing to serve


def test_the_seed_ollama_and_tool_settings() -> None:
    config = seed_config(
        ollama_base_url="http://127.0.0.1:11434", ollama_model="llama2", register_built_in_tools=0
    )
    assert config.providers == {"ollama": {"base_url": "http://127.0.0.1:11434", "model": "llama2"}}
    assert config.builtin_tools is False


def test_settings_in_providers_win_over_the_seed_spelling() -> None:
    config = seed_config(openai_api_key="sk-seed", providers={"openai": {"api_key": "sk-ours"}})
    assert config.providers == {"openai": {"api_key": "sk-ours"}}


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("openai_api_kee", "did you mean 'openai_api_key'?"),
        ("cors_origin", "did you mean 'cors_origins'?"),
        ("anthropic_api_key", "settings: "),
    ],
)
def test_an_unknown_setting_is_refused_by_name(name: str, hint: str) -> None:
    with pytest.raises(ValidationError) as raised:
        seed_config(**{name: "sk-secret"})
    message = str(raised.value)
    assert f"unknown setting {name!r}" in message
    assert hint in message
    assert "sk-secret" not in message  # inputs may be secrets: never in the message


def test_an_empty_fallback_action_from_the_environment_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AINATIVE_FALLBACK_ACTION", "")
    assert ServerConfig().fallback_action is None
    monkeypatch.setenv("AINATIVE_FALLBACK_ACTION", "mine")
    assert ServerConfig().fallback_action == "mine"


@pytest.mark.anyio
async def test_without_builtin_tools_only_the_servers_own_are_offered(serve: Serve) -> None:
    def setup(server: Any) -> None:
        server.register_tool(lambda: "pong", name="ping", description="Answer pong.")

    with serve(setup, builtin_tools=False) as (_, live), anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            tools = (await http.get("/ai/tools")).json()["tools"]
    assert [t["name"] for t in tools] == ["ping"]


def test_server_app_and_providers(server_plugins: PluginSandbox) -> None:
    server = create_server(
        ServerConfig(providers={"echo": {"delay": 0.5}}), plugins=server_plugins.plugins
    )
    assert server.app is server.get_app()
    providers = server.providers
    assert list(providers) == ["echo"]
    assert len(providers) == 1
    assert "echo" in providers
    assert "nope" not in providers
    echo = providers["echo"]
    assert isinstance(echo, EchoProvider)
    assert echo.delay == 0.5  # created with config.providers["echo"]
    assert providers["echo"] is echo  # one instance per name
    assert providers.get("nope") is None
    with pytest.raises(KeyError, match="unknown provider 'nope'; installed: echo"):
        providers["nope"]


class _Reads:
    """A plugin that declares the variable it reads."""

    @hookimpl
    def ainative_register_settings(self, register: Any) -> None:
        register("AINATIVE_THIRD_PARTY_TOKEN")


def test_settings_are_what_plugins_declare(server_plugins: PluginSandbox) -> None:
    server_plugins.add_plugin(_Reads(), name="third")
    settings = server_plugins.plugins.settings
    assert settings["AINATIVE_THIRD_PARTY_TOKEN"] == "third"
    assert settings["AINATIVE_RESUME_GRACE"] == "server"
    assert settings["AINATIVE_PLUGINS"] == "ainative-core"
    assert {f"AINATIVE_{name.upper()}" for name in ServerConfig.model_fields} <= set(settings)


def test_doctor_reports_unknown_ainative_variables(
    server_plugins: PluginSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AINATIVE_RESUM_GRACE", "30")
    monkeypatch.setenv("AINATIVE_PORT", "9000")
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert (
        "config: unknown AINATIVE_RESUM_GRACE: no installed plugin reads it; "
        "did you mean AINATIVE_RESUME_GRACE?"
    ) in result.output
    assert "unknown AINATIVE_PORT" not in result.output
    assert "unknown AINATIVE_DISABLE_PLUGIN_AUTOLOAD" not in result.output


def test_a_plugin_declaring_a_bad_name_is_reported_broken() -> None:
    class Bad:
        @hookimpl
        def ainative_register_settings(self, register: Any) -> None:
            register("")

    plugins = Plugins(autoload=False)
    plugins.register(Bad(), name="bad")
    assert "" not in plugins.settings
    assert [b.name for b in plugins.broken] == ["bad"]
