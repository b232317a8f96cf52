"""The plugin registers the provider lazily; ``OLLAMA_HOST`` forms; the error table."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

import ainative_ollama
from ainative_core import (
    AINativeError,
    InvalidRequestError,
    Plugins,
    ProviderError,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
)
from ainative_ollama import OllamaProvider, _plugin, map_ollama_errors, parse_host
from ainative_ollama._errors import OllamaStreamError


def test_hook_registers_provider() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(_plugin, name="ollama")
    assert "ollama" in plugins.provider_names()
    assert plugins.provider_info("ollama").factory == "ainative_ollama._provider:OllamaProvider"
    provider = plugins.get_provider("ollama", host="example.test:8080", model="qwen3")
    assert isinstance(provider, OllamaProvider)
    assert provider.base_url == "http://example.test:8080"
    assert provider.model == "qwen3"


def test_entry_point_is_installed() -> None:
    plugins = Plugins(autoload=True, allow=["ollama"])
    assert "ollama" in plugins.provider_names()
    assert not plugins.broken


def test_loading_the_plugin_does_not_import_httpx() -> None:
    code = (
        "import sys, ainative_ollama._plugin\n"
        "assert 'httpx' not in sys.modules, 'httpx imported at plugin load'\n"
        "from ainative_ollama import OllamaProvider\n"
        "assert 'httpx' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_public_names_load_on_first_access() -> None:
    for name in ainative_ollama.__all__:
        assert getattr(ainative_ollama, name) is not None
    assert set(ainative_ollama.__all__) <= set(dir(ainative_ollama))
    with pytest.raises(AttributeError):
        _ = ainative_ollama.nothing_here  # type: ignore[attr-defined]  # mypy sees it too


@pytest.mark.parametrize(
    ("value", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://0.0.0.0:11434"),
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("ollama.internal", "http://ollama.internal:11434"),
        ("http://gpu-box:9999/", "http://gpu-box:9999"),
        ("https://ollama.example.com", "https://ollama.example.com"),
        ("https://proxy.example.com/ollama", "https://proxy.example.com/ollama"),
        ("[::1]:11435", "http://[::1]:11435"),
    ],
)
def test_parse_host(value: str | None, url: str) -> None:
    assert parse_host(value) == url


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.ConnectTimeout("slow"), ProviderTimeout),
        (httpx.ConnectError("refused"), ProviderUnavailable),
        (httpx.RemoteProtocolError("no response"), ProviderUnavailable),
        (httpx.ReadError("reset"), ProviderUnavailable),
        (OllamaStreamError("model crashed"), ProviderResponseError),
        (ValueError("Expecting value"), ProviderResponseError),
        (KeyError("function"), ProviderResponseError),
    ],
)
def test_error_table(exc: Exception, expected: type[ProviderError]) -> None:
    with pytest.raises(ProviderError) as info, map_ollama_errors():
        raise exc
    assert type(info.value) is expected
    assert info.value.__cause__ is exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.RemoteProtocolError("peer closed"), ProviderResponseError),
        (httpx.ReadError("reset"), ProviderResponseError),
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (ValueError("Expecting value"), ProviderResponseError),
    ],
)
def test_a_broken_stream_is_a_response_error(exc: Exception, expected: type[ProviderError]) -> None:
    with pytest.raises(ProviderError) as info, map_ollama_errors(streaming=True):
        raise exc
    assert type(info.value) is expected
    assert info.value.__cause__ is exc


def test_ainative_errors_pass_through() -> None:
    original = InvalidRequestError("bad")
    with pytest.raises(AINativeError) as info, map_ollama_errors():
        raise original
    assert info.value is original


def test_status_error_without_json_body() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/api/chat")
    response = httpx.Response(502, text="<html>bad gateway</html>", request=request)
    with pytest.raises(ProviderUnavailable, match="502"), map_ollama_errors():
        response.raise_for_status()
