"""Two plugins registering one name: a fixed winner, a warning, and ``ainative plugins`` says so."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import types
from collections.abc import Iterator
from typing import Any

import click
import pytest
import structlog
from click.testing import CliRunner

from ainative_core import (
    NameClash,
    Plugins,
    UnknownProviderError,
    _echo_plugin,
    hookimpl,
    set_plugins,
)
from ainative_core._cli import cli


class Provides:
    """A plugin registering provider ``name`` (with ``aliases``) whose factory is ``label``."""

    def __init__(self, name: str, label: str, aliases: tuple[str, ...] = ()) -> None:
        self.name, self.label, self.aliases = name, label, aliases

    @hookimpl
    def ainative_register_providers(self, register: Any) -> None:
        register(self.name, f"factory-of-{self.label}", aliases=self.aliases)


class Transports:
    def __init__(self, name: str, **halves: str) -> None:
        self.name, self.halves = name, halves

    @hookimpl
    def ainative_register_transports(self, register: Any) -> None:
        register(self.name, **self.halves)


class Tools:
    def __init__(self, *tools: Any) -> None:
        self.tools = tools

    @hookimpl
    def ainative_register_tools(self, register: Any) -> None:
        for tool in self.tools:
            register(tool)


class Commands:
    def __init__(self, *commands: click.Command) -> None:
        self.commands = commands

    @hookimpl
    def ainative_register_commands(self, cli: Any) -> None:
        for command in self.commands:
            cli.add_command(command)


def named(name: str, label: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(name=name, label=label)


def command(name: str, label: str) -> click.Command:
    return click.Command(name, help=label, callback=lambda: click.echo(label))


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Entry points of the ``ainative`` group, found in the order they are added here."""
    plugins: dict[str, object] = {}

    def fake(*, group: str) -> list[importlib.metadata.EntryPoint]:
        assert group == "ainative"
        found = []
        for name, plugin in plugins.items():
            module = f"ainative_clash_test_{name}"
            monkeypatch.setitem(sys.modules, module, plugin)
            found.append(importlib.metadata.EntryPoint(name, module, group))
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    return plugins


def module_with(*hooks: object) -> types.ModuleType:
    """A plugin module (what an entry point names) whose hooks are those of ``hooks``."""
    module = types.ModuleType("plugin")
    for plugin in hooks:
        for attr in dir(type(plugin)):
            if attr.startswith("ainative_register_"):
                setattr(module, attr, getattr(plugin, attr))
    return module


@pytest.mark.parametrize("found", [["alpha", "zeta"], ["zeta", "alpha"]])
def test_entry_points_clash_by_sorted_name_whatever_the_order_found(
    entry_points: dict[str, object], found: list[str]
) -> None:
    for name in found:
        entry_points[name] = module_with(Provides("shared", name), Tools(named("t", name)))
    plugins = Plugins(autoload=True)
    assert plugins.provider_info("shared").factory == "factory-of-alpha"
    assert plugins.provider_info("shared").plugin == "alpha"
    assert plugins.tools["t"].label == "alpha"
    assert plugins.clashes == [
        NameClash("provider", "shared", winner="alpha", loser="zeta"),
        NameClash("tool", "t", winner="alpha", loser="zeta"),
    ]
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert (infos["alpha"].providers, infos["zeta"].providers) == (["shared"], [])
    assert (infos["alpha"].tools, infos["zeta"].tools) == (["t"], [])


def test_a_plugin_registered_by_hand_wins_over_entry_points(
    entry_points: dict[str, object],
) -> None:
    entry_points["alpha"] = module_with(Provides("shared", "alpha"))
    plugins = Plugins(autoload=True)
    plugins.register(Provides("shared", "app"), name="zz-app")
    assert plugins.provider_info("shared").factory == "factory-of-app"
    assert plugins.clashes == [NameClash("provider", "shared", winner="zz-app", loser="alpha")]


def test_among_plugins_registered_by_hand_the_latest_wins() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(Provides("shared", "first"), name="b-first")
    plugins.register(Provides("shared", "second"), name="a-second")
    plugins.register(Provides("other", "third"), name="c-third")
    assert plugins.provider_info("shared").factory == "factory-of-second"
    assert plugins.clashes == [
        NameClash("provider", "shared", winner="a-second", loser="b-first"),
    ]
    plugins.unregister("a-second")
    assert plugins.provider_info("shared").factory == "factory-of-first"
    assert plugins.clashes == []


def test_a_losing_provider_takes_its_aliases_with_it() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(Provides("shared", "old", aliases=("old-alias",)), name="old")
    plugins.register(Provides("shared", "new"), name="new")
    assert plugins.provider_info("shared").factory == "factory-of-new"
    with pytest.raises(UnknownProviderError, match="unknown provider 'old-alias'"):
        plugins.provider_info("old-alias")


def test_aliases_clash_with_aliases_and_a_name_wins_over_an_alias() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(Provides("mine", "new", aliases=("m", "taken")), name="new")
    plugins.register(Provides("yours", "newest", aliases=("m",)), name="newest")
    plugins.register(Provides("taken", "name"), name="a-name")
    assert plugins.provider_info("m").name == "yours"
    assert plugins.provider_info("taken").factory == "factory-of-name"
    assert plugins.clashes == [
        NameClash("provider alias", "m", winner="newest", loser="new"),
        NameClash("provider alias", "taken", winner="a-name", loser="new"),
    ]


def test_transport_halves_from_two_plugins_merge_and_only_one_half_clashes() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(Transports("sse", client="c-old"), name="clients")
    plugins.register(Transports("sse", server="s-app"), name="servers")
    assert plugins.clashes == []
    info = plugins.transports["sse"]
    assert (info.client, info.server, info.plugin) == ("c-old", "s-app", "servers, clients")

    plugins.register(Transports("sse", client="c-new", server="s-new"), name="both")
    info = plugins.transports["sse"]
    assert (info.client, info.server) == ("c-new", "s-new")
    assert plugins.clashes == [
        NameClash("client transport", "sse", winner="both", loser="clients"),
        NameClash("server transport", "sse", winner="both", loser="servers"),
    ]
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["both"].transports == ["sse"]
    assert infos["clients"].transports == infos["servers"].transports == []


def test_a_clash_keeps_the_rest_of_the_losers_registrations() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(Tools(named("t", "first"), named("only-first", "first")), name="first")
    plugins.register(Tools(named("t", "second")), name="second")
    assert plugins.tools["t"].label == "second"
    assert plugins.tools["only-first"].label == "first"
    assert [i.tools for i in plugins.plugin_infos()] == [["only-first"], ["t"]]


def test_a_clash_is_logged_once_as_a_warning() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(Provides("shared", "first"), name="first")
    with structlog.testing.capture_logs() as logs:
        plugins.register(Provides("shared", "second"), name="second")
        assert plugins.provider_names() == ["shared"]
        plugins.register(Provides("other", "third"), name="third")  # registries rebuilt
        assert plugins.provider_names() == ["other", "shared"]
        assert len(plugins.clashes) == 1
    assert logs == [
        {
            "event": "plugin.name_clash",
            "log_level": "warning",
            "name": "shared",
            "kind": "provider",
            "winner": "second",
            "loser": "first",
        }
    ]


def test_a_plugin_command_never_replaces_the_clis_or_a_winners_command() -> None:
    group = click.Group("ainative", commands=[command("generate", "core")])
    plugins = Plugins(autoload=False)
    plugins.register(Commands(command("generate", "a"), command("run", "a")), name="a")
    plugins.register(Commands(command("run", "b")), name="b")
    plugins.add_commands(group)
    assert sorted(group.commands) == ["generate", "run"]
    assert group.commands["generate"].help == "core"
    assert group.commands["run"].help == "b"
    assert plugins.clashes == [
        NameClash("command", "generate", winner="ainative", loser="a"),
        NameClash("command", "run", winner="b", loser="a"),
    ]
    assert [(i.name, i.commands) for i in plugins.plugin_infos()] == [("a", []), ("b", ["run"])]


@pytest.fixture
def clashing() -> Iterator[Plugins]:
    """The built-in echo plugin, registered after another plugin's ``echo``: it wins."""
    plugins = Plugins(autoload=False)
    plugins.register(Provides("echo", "first"), name="first")
    plugins.register(_echo_plugin, name="echo")
    previous = set_plugins(plugins)
    yield plugins
    set_plugins(previous)


def test_plugins_and_doctor_show_clashes_as_text_and_json(clashing: Plugins) -> None:
    text = CliRunner().invoke(cli, ["plugins"])
    assert text.exit_code == 0, text.output
    assert "CLASH provider 'echo': echo wins, first's registration ignored" in text.stdout
    assert "providers: echo" in text.stdout

    listing = CliRunner().invoke(cli, ["plugins", "--json"])
    assert listing.exit_code == 0, listing.output
    report = json.loads(listing.stdout)
    assert report["clashes"] == [
        {"kind": "provider", "name": "echo", "winner": "echo", "loser": "first"}
    ]
    assert [p["providers"] for p in report["plugins"]] == [["echo"], []]
    generated = CliRunner().invoke(cli, ["generate", "the winner answers"])
    assert generated.stdout == "the winner answers\n"
    doctor = CliRunner().invoke(cli, ["doctor"])
    assert "plugin first: CLASH provider 'echo': echo wins" in doctor.stdout
