"""The model catalogue: the names a client may give as ``model``, and what each reaches."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from ainative_core import (
    ModelEntry,
    UnknownModelError,
    hookimpl,
    model_catalogue,
    resolve_model,
)
from ainative_core._cli import cli
from ainative_testing import FakeProvider, PluginSandbox


class _Vendor:
    """A plugin registering one provider with aliases and models."""

    def __init__(self, name: str, aliases: tuple[str, ...], models: tuple[str, ...]) -> None:
        self.name, self.aliases, self.models = name, aliases, models

    @hookimpl
    def ainative_register_providers(self, register: Any) -> None:
        register(self.name, FakeProvider, aliases=self.aliases, models=self.models)


@pytest.fixture
def plugins(ainative_plugins: PluginSandbox) -> PluginSandbox:
    """echo, and two vendors that both register ``shared-1``."""
    ainative_plugins.add_plugin(_Vendor("zeta", ("z",), ("shared-1", "zeta-big")), name="zeta-pl")
    ainative_plugins.add_plugin(_Vendor("alpha", ("a", "z"), ("shared-1",)), name="alpha-pl")
    return ainative_plugins


def test_names_then_aliases_then_models_with_clashes_qualified(plugins: PluginSandbox) -> None:
    entries = model_catalogue(plugins.plugins)
    assert [(e.id, e.provider, e.model, e.kind) for e in entries] == [
        ("alpha", "alpha", None, "provider"),
        ("echo", "echo", None, "provider"),
        ("zeta", "zeta", None, "provider"),
        ("a", "alpha", None, "alias"),
        ("z", "alpha", None, "alias"),  # alpha-pl was registered last: it wins the alias
        ("shared-1", "alpha", "shared-1", "model"),  # providers in name order
        ("zeta/shared-1", "zeta", "shared-1", "model"),
        ("zeta-big", "zeta", "zeta-big", "model"),
    ]
    assert {e.id: e.plugin for e in entries}["zeta-big"] == "zeta-pl"


def test_a_provider_registering_its_own_name_as_a_model_is_listed_once(
    ainative_plugins: PluginSandbox,
) -> None:
    assert [e.id for e in model_catalogue(ainative_plugins.plugins)] == ["echo"]


def test_every_listed_name_resolves_to_its_entry(plugins: PluginSandbox) -> None:
    for entry in model_catalogue(plugins.plugins):
        assert resolve_model(plugins.plugins, entry.id) == entry


def test_provider_slash_model_reaches_any_model(plugins: PluginSandbox) -> None:
    assert resolve_model(plugins.plugins, "zeta/unlisted:7b") == ModelEntry(
        "zeta/unlisted:7b", "zeta", "unlisted:7b", "model", "zeta-pl"
    )
    assert resolve_model(plugins.plugins, "a/org/model").model == "org/model"  # by alias


def test_an_unknown_model_lists_what_is_installed(plugins: PluginSandbox) -> None:
    with pytest.raises(UnknownModelError) as raised:
        resolve_model(plugins.plugins, "zeta-bgi")
    message = raised.value.message
    assert message.startswith("unknown model 'zeta-bgi'; installed: alpha, echo, zeta, a, z,")
    assert "did you mean 'zeta-big'?" in message
    assert raised.value.status == 404
    with pytest.raises(UnknownModelError):
        resolve_model(plugins.plugins, "nobody/x")


def test_the_models_command_lists_the_catalogue(plugins: PluginSandbox) -> None:
    text = CliRunner().invoke(cli, ["models"])  # the alias clash is logged on stderr
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["alpha", "provider", "alpha", "(its", "default", "model)"]
    assert lines[-1].split() == ["zeta-big", "model", "zeta", "/", "zeta-big"]
    report = json.loads(CliRunner().invoke(cli, ["models", "--json"]).stdout)
    assert [m["id"] for m in report] == [e.id for e in model_catalogue(plugins.plugins)]


def test_the_plugins_command_shows_each_plugins_models(plugins: PluginSandbox) -> None:
    output = CliRunner().invoke(cli, ["plugins"]).stdout
    assert "  models: zeta, zeta/shared-1, zeta-big\n" in output
    assert "  models: alpha, a, z, shared-1\n" in output
    report = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).stdout)
    assert [m["id"] for m in report["models"]] == [e.id for e in model_catalogue(plugins.plugins)]
