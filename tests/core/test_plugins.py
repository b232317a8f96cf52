"""The plugin manager: hooks, isolation of broken plugins, allow-list, helpful lookup errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import click
import pytest
from uv import find_uv_bin

from ainative_core import (
    BrokenPlugin,
    EchoProvider,
    PluginError,
    Plugins,
    UnknownProviderError,
    UnknownTransportError,
    hookimpl,
)


class GoodPlugin:
    @hookimpl
    def ainative_register_providers(self, register: Any) -> None:
        register("good", EchoProvider, aliases=("g",), models=("g-1",))

    @hookimpl
    def ainative_register_transports(self, register: Any) -> None:
        register("carrier", client="ainative_core._echo:EchoProvider")


class HalfBrokenPlugin:
    """Registers a provider, then raises: nothing it registered in that call may survive."""

    @hookimpl
    def ainative_register_providers(self, register: Any) -> None:
        register("half", EchoProvider)
        raise RuntimeError("plugin bug")


def test_registered_providers_and_aliases_resolve() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(GoodPlugin(), name="good-plugin")
    assert plugins.provider_names() == ["good"]
    assert isinstance(plugins.get_provider("g", delay=0.5), EchoProvider)
    assert plugins.provider_info("good").models == ("g-1",)
    info = plugins.plugin_infos()[0]
    assert (info.name, info.providers, info.transports) == ("good-plugin", ["good"], ["carrier"])


def test_a_plugin_raising_in_a_hook_is_isolated_and_reported() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(HalfBrokenPlugin(), name="half-broken")
    plugins.register(GoodPlugin(), name="good-plugin")
    assert plugins.provider_names() == ["good"]
    [broken] = plugins.broken
    assert broken.name == "half-broken"
    assert "RuntimeError in ainative_register_providers: plugin bug" in broken.error


def test_a_plugin_raising_in_the_commands_hook_loses_the_commands_it_added() -> None:
    class AddsCommands:
        def __init__(self, *names: str, fail: bool = False) -> None:
            self.names, self.fail = names, fail

        @hookimpl
        def ainative_register_commands(self, cli: Any) -> None:
            for name in self.names:
                cli.add_command(click.Command(name))
            if self.fail:
                raise RuntimeError("commands bug")

    group = click.Group("ainative", commands=[click.Command("generate", help="core")])
    plugins = Plugins(autoload=False)
    plugins.register(AddsCommands("kept"), name="good")
    plugins.register(AddsCommands("dropped", "kept", "generate", fail=True), name="bad")
    plugins.add_commands(group)
    assert sorted(group.commands) == ["generate", "kept"]
    assert group.commands["generate"].help == "core"
    [broken] = plugins.broken
    assert broken == BrokenPlugin("bad", "RuntimeError in ainative_register_commands: commands bug")
    assert [(i.name, i.commands) for i in plugins.plugin_infos()] == [("good", ["kept"])]
    assert plugins.clashes == []


def test_unknown_provider_lists_installed_and_suggests() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(GoodPlugin(), name="good-plugin")
    with pytest.raises(UnknownProviderError) as info:
        plugins.get_provider("goood")
    message = str(info.value)
    assert "unknown provider 'goood'; installed: good" in message
    assert "did you mean 'good'?" in message
    assert "pip install --no-index --find-links " in message
    assert '"ainative[openai]" for openai' in message
    assert info.value.status == 404


def test_unknown_transport_side_lists_what_has_that_side() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(GoodPlugin(), name="good-plugin")
    assert plugins.get_transport("carrier", "client") is EchoProvider
    expected = "unknown server transport 'carrier'; installed: none"
    with pytest.raises(UnknownTransportError, match=expected):
        plugins.get_transport("carrier", "server")


def test_factory_that_fails_to_import_is_a_plugin_error() -> None:
    class Bad:
        @hookimpl
        def ainative_register_providers(self, register: Any) -> None:
            register("ghost", "no_such_module_xyz:Provider")

    plugins = Plugins(autoload=False)
    plugins.register(Bad(), name="bad")
    with pytest.raises(PluginError, match="provider 'ghost' from plugin 'bad' failed to import"):
        plugins.get_provider("ghost")


def test_autoload_finds_echo_through_its_entry_point() -> None:
    plugins = Plugins(autoload=True, allow=["echo"])
    assert plugins.provider_names() == ["echo"]
    [info] = plugins.plugin_infos()
    assert info.distribution == "ainative-core"


def test_allow_list_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AINATIVE_PLUGINS", "nothing-like-this")
    assert Plugins(autoload=True).provider_names() == []


def test_autoload_disabled_loads_nothing() -> None:
    assert Plugins(autoload=False).provider_names() == []


# The server, client and SDK stacks that loading plugins (and calling their hooks) must not
# import: the CLI lists its commands without them.
HEAVY = ("fastapi", "starlette", "httpx", "httpx_ws", "uvicorn", "hypercorn", "openai", "anthropic")


def test_loading_every_installed_plugin_imports_no_server_client_or_sdk_stack() -> None:
    code = textwrap.dedent(
        f"""
        import sys

        from ainative_core import Plugins
        from ainative_core._cli import cli

        plugins = Plugins(autoload=True)
        _ = plugins.providers, plugins.transports, plugins.tools
        plugins.add_commands(cli)
        loaded = {{info.name for info in plugins.plugin_infos()}}
        assert {{"echo", "client", "server", "openai", "anthropic", "ollama"}} <= loaded, loaded
        assert not plugins.broken, plugins.broken
        assert {{"serve", "chat"}} <= set(cli.commands), sorted(cli.commands)
        assert "get_time" in plugins.tools
        imported = [name for name in {HEAVY!r} if name in sys.modules]
        assert not imported, f"imported while loading plugins: {{imported}}"

        plugins.get_transport("sse", "server")
        assert "starlette" in sys.modules
        plugins.get_transport("sse", "client")
        assert "httpx" in sys.modules
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


# -- a real installed distribution whose entry point raises on import ----------------------


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and install (``uv pip install --target``) a distribution with a broken plugin."""
    src = tmp_path_factory.mktemp("broken-src")
    (src / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "ainative-broken-example"
            version = "1.2.3"

            [project.entry-points.ainative]
            broken = "ainative_broken_example"
            broken-commands = "ainative_broken_commands"

            [tool.hatch.build.targets.wheel]
            packages = ["ainative_broken_example", "ainative_broken_commands"]
            """
        )
    )
    pkg = src / "ainative_broken_example"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('raise ImportError("this plugin is broken on purpose")\n')
    commands = src / "ainative_broken_commands"
    commands.mkdir()
    (commands / "__init__.py").write_text(
        textwrap.dedent(
            """
            import click

            from ainative_core import hookimpl


            @hookimpl
            def ainative_register_commands(cli):
                cli.add_command(click.Command("leftover", help="Must not survive."))
                raise RuntimeError("commands hook broken on purpose")
            """
        )
    )
    target = tmp_path_factory.mktemp("broken-site")
    subprocess.run(
        [
            find_uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            "--python",
            sys.executable,
            str(src),
        ],
        check=True,
        timeout=240,
    )
    return target


def run_cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AINATIVE_")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-c", "from ainative_core._cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_broken_distribution_is_listed_with_its_error_and_the_rest_works(
    broken_site: Path,
) -> None:
    listing = run_cli(broken_site, "plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    report = json.loads(listing.stdout)
    broken = {b["name"]: b for b in report["broken"]}
    assert broken["broken"]["distribution"] == "ainative-broken-example"
    assert broken["broken"]["version"] == "1.2.3"
    assert "ImportError: this plugin is broken on purpose" in broken["broken"]["error"]
    echo = next(p for p in report["plugins"] if p["name"] == "echo")
    assert echo["distribution"] == "ainative-core"
    assert echo["providers"] == ["echo"]

    text = run_cli(broken_site, "plugins")
    assert "BROKEN broken [ainative-broken-example 1.2.3]" in text.stdout
    assert "echo  [ainative-core" in text.stdout

    generated = run_cli(broken_site, "generate", "still works")
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.strip() == "still works"


def test_a_distribution_failing_in_the_commands_hook_keeps_its_name_and_version(
    broken_site: Path,
) -> None:
    listing = run_cli(broken_site, "plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    broken = {b["name"]: b for b in json.loads(listing.stdout)["broken"]}
    assert broken["broken-commands"] == {
        "name": "broken-commands",
        "error": "RuntimeError in ainative_register_commands: commands hook broken on purpose",
        "distribution": "ainative-broken-example",
        "version": "1.2.3",
    }
    text = run_cli(broken_site, "plugins")
    assert "BROKEN broken-commands [ainative-broken-example 1.2.3]: RuntimeError" in text.stdout
    helped = run_cli(broken_site, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "generate" in helped.stdout
    assert "leftover" not in helped.stdout
