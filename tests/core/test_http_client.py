"""`use_aiohttp` (which HTTP client a provider streams over), `aiohttp_transport`, and
`rehearsal_server` (what a provider's ``warm()`` rehearses a request against)."""

from __future__ import annotations

import socket

import anyio
import httpx
import pytest
from structlog.testing import capture_logs

from ainative_core import ConfigurationError, aiohttp_transport, rehearsal_server, use_aiohttp
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


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_transports_share_one_verifying_ssl_context() -> None:
    import ssl

    from httpx_aiohttp import AiohttpTransport

    made = [
        aiohttp_transport(
            AiohttpTransport, connect_timeout=httpx.ConnectTimeout, connect_error=httpx.ConnectError
        )
        for _ in range(2)
    ]
    first, second = (transport.ssl_context for transport in made)
    assert first is second  # the CA bundle is loaded once per process
    assert first.verify_mode == ssl.CERT_REQUIRED
    assert first.check_hostname


async def test_the_rehearsal_server_answers_each_request_then_closes_and_stops_with_its_block(
    anyio_backend: str,
) -> None:
    with anyio.fail_after(10):
        async with rehearsal_server(b"data: ok\n\n", "text/event-stream") as url:
            assert url.startswith("http://127.0.0.1:")
            async with httpx.AsyncClient(base_url=url) as client:
                for _ in range(2):
                    response = await client.post("/v1/chat", json={"x": "y" * 70_000})
                    assert response.status_code == 200
                    assert response.headers["content-type"] == "text/event-stream"
                    assert response.headers["connection"] == "close"
                    assert response.content == b"data: ok\n\n"
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as client:
                await client.get(url)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_warming_the_ollama_provider_over_aiohttp_makes_its_session_on_this_loop() -> None:
    from aiohttp import ClientSession

    provider = OllamaProvider(host=f"127.0.0.1:{_refused_port()}")  # nothing listens there
    try:
        with anyio.fail_after(10), capture_logs() as logs:
            await provider.warm()
        assert not [log for log in logs if log["event"] == "provider.warm_failed"]
        session = provider.client._transport.client  # type: ignore[attr-defined]
        assert isinstance(session, ClientSession)
        assert not session.closed
    finally:
        await provider.aclose()
    assert session.closed
