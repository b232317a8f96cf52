"""Public names: ``ainative_server.__all__`` and the seed's import paths in the facade."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ainative
import ainative.streaming
import ainative_server


def test_all_is_sorted_and_importable() -> None:
    assert ainative_server.__all__ == sorted(ainative_server.__all__)
    for name in ainative_server.__all__:
        assert getattr(ainative_server, name) is not None


def test_the_seed_import_paths_work() -> None:
    from ainative import ServerConfig, Tool, ToolRegistry, create_server
    from ainative.streaming import stream_tokens

    assert create_server is ainative_server.create_server
    assert (ServerConfig, Tool, ToolRegistry) == (
        ainative_server.ServerConfig,
        ainative_server.Tool,
        ainative_server.ToolRegistry,
    )
    assert stream_tokens is ainative_server.stream_tokens
    for name in ("create_app", "create_router", "StreamManager", "tool"):
        assert name in ainative.__all__
    assert ainative.streaming.StreamManager is ainative_server.StreamManager


def test_importing_the_facade_imports_the_server_and_client_on_first_use() -> None:
    code = (
        "import sys, ainative\n"
        "heavy = ('fastapi', 'starlette', 'httpx', 'httpx_ws')\n"
        "assert not [m for m in heavy if m in sys.modules], 'imported by import ainative'\n"
        "assert {'create_app', 'AIApp'} <= set(dir(ainative))\n"
        "from ainative import AIApp, create_app\n"
        "assert all(m in sys.modules for m in heavy)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_unknown_names_are_attribute_errors() -> None:
    for module in (ainative, ainative_server):
        with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
            _ = module.nothing_here


def test_config_reads_ainative_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AINATIVE_PROVIDER", "openai")
    monkeypatch.setenv("AINATIVE_API_KEYS", '["a", "b"]')
    monkeypatch.setenv("AINATIVE_RESUME_GRACE", "2.5")
    monkeypatch.setenv("AINATIVE_PROVIDERS", '{"openai": {"api_key": "k"}}')
    config = ainative_server.ServerConfig()
    assert config.provider == "openai"
    assert config.api_keys == ["a", "b"]
    assert config.resume_grace == 2.5
    assert config.providers == {"openai": {"api_key": "k"}}
    assert (config.retention, config.ping_interval, config.coalesce) == (300.0, 15.0, True)
