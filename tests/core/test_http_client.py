"""`use_aiohttp` (which HTTP client a provider streams over) and `aiohttp_transport`."""

from __future__ import annotations

import socket

import httpx
import pytest

from ainative_core import ConfigurationError, aiohttp_transport, use_aiohttp
from ainative_ollama import OllamaProvider

pytestmark = pytest.mark.anyio


async def test_auto_is_aiohttp_on_asyncio_and_httpx_on_trio(anyio_backend: str) -> None:
    assert use_aiohttp("auto", provider="p") is (anyio_backend == "asyncio")
    assert use_aiohttp("httpx", provider="p") is False
    assert use_aiohttp("auto", provider="p", module="no_such_module_here") is False


async def test_asking_for_aiohttp_where_it_cannot_run_is_a_configuration_error(
    anyio_backend: str,
) -> None:
    with pytest.raises(ConfigurationError, match="unknown http_client 'curl'"):
        use_aiohttp("curl", provider="p")
    if anyio_backend == "trio":
        with pytest.raises(ConfigurationError, match="runs on asyncio only"):
            use_aiohttp("aiohttp", provider="p")
    else:
        with pytest.raises(ConfigurationError, match="needs the no_such_module_here package"):
            use_aiohttp("aiohttp", provider="p", module="no_such_module_here")
        assert use_aiohttp("aiohttp", provider="p") is True


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_refused_connection_over_aiohttp_is_a_connect_error_not_a_timeout() -> None:
    from httpx_aiohttp import AiohttpTransport

    transport = aiohttp_transport(
        AiohttpTransport, connect_timeout=httpx.ConnectTimeout, connect_error=httpx.ConnectError
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(f"http://127.0.0.1:{_refused_port()}/")
    assert not isinstance(info.value, httpx.TimeoutException)


async def test_the_ollama_provider_streams_over_aiohttp_on_asyncio_only(anyio_backend: str) -> None:
    from httpx_aiohttp import AiohttpTransport

    provider = OllamaProvider(host="127.0.0.1:1")
    try:
        transport = provider.client._transport
        assert isinstance(transport, AiohttpTransport) is (anyio_backend == "asyncio")
    finally:
        await provider.aclose()
    plain = OllamaProvider(host="127.0.0.1:1", http_client="httpx")
    try:
        assert not isinstance(plain.client._transport, AiohttpTransport)
    finally:
        await plain.aclose()
