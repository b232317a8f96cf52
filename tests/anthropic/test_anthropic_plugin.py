"""The plugin registers the provider lazily through the ``ainative`` entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ainative_anthropic
from ainative_anthropic import AnthropicProvider, _plugin
from ainative_core import Plugins


def test_hook_registers_provider_and_alias() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(_plugin, name="anthropic")
    assert "anthropic" in plugins.provider_names()
    info = plugins.provider_info("anthropic")
    assert info.factory == "ainative_anthropic._provider:AnthropicProvider"
    provider = plugins.get_provider("claude", api_key="k", model="claude-haiku-4-5")
    assert isinstance(provider, AnthropicProvider)
    assert provider.model == "claude-haiku-4-5"


def test_entry_point_is_installed() -> None:
    plugins = Plugins(autoload=True, allow=["anthropic"])
    assert "anthropic" in plugins.provider_names()
    assert not plugins.broken


def test_loading_the_plugin_does_not_import_the_sdk() -> None:
    code = (
        "import sys, ainative_anthropic._plugin\n"
        "assert 'anthropic' not in sys.modules, 'SDK imported at plugin load'\n"
        "from ainative_anthropic import AnthropicProvider\n"
        "assert 'anthropic' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_public_names_load_on_first_access() -> None:
    for name in ainative_anthropic.__all__:
        assert getattr(ainative_anthropic, name) is not None
    assert set(ainative_anthropic.__all__) <= set(dir(ainative_anthropic))
    with pytest.raises(AttributeError):
        _ = ainative_anthropic.nothing_here  # type: ignore[attr-defined]  # mypy sees it too
