"""ainative-openai registers its provider through the ainative hook, lazily."""

from __future__ import annotations

import subprocess
import sys

from ainative_core import Plugins
from ainative_openai import OpenAIProvider, _plugin


def test_registers_openai_and_its_alias() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(_plugin, name="openai")
    info = plugins.provider_info("openai")
    assert info.factory == "ainative_openai._provider:OpenAIProvider"
    assert "openai-compatible" in info.aliases
    provider = plugins.get_provider("openai", api_key="k", base_url="http://127.0.0.1:1/v1")
    assert isinstance(provider, OpenAIProvider)
    assert (provider.api_key, provider.base_url) == ("k", "http://127.0.0.1:1/v1")
    assert isinstance(plugins.get_provider("openai-compatible", api_key="k"), OpenAIProvider)


def test_loading_the_plugin_does_not_import_the_sdk() -> None:
    code = (
        "import sys, ainative_openai._plugin\n"
        "assert 'openai' not in sys.modules, 'openai imported'\n"
        "assert 'httpx2' not in sys.modules, 'httpx2 imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
