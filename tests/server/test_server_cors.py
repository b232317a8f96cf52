"""CORS: loopback origins on any port are allowed by default, other origins only when
listed (``cors_origins``, ``ainative serve --cors-origin``); credentials never are."""

from __future__ import annotations

import anyio
import httpx
import pytest

from ainative_server._serve import serve_command
from ainative_testing import serve_process

from .server_helpers import Serve

pytestmark = pytest.mark.anyio


async def preflight(base_url: str, origin: str) -> httpx.Response:
    """The browser's preflight for the seed client's ``fetch`` of ``/ai/stream``."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        return await http.options(
            "/ai/stream",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-ainative-resumable",
            },
        )


async def test_a_local_dev_server_is_allowed_by_default(serve: Serve) -> None:
    """The seed's browser example: Vite on localhost:5173 against the server on another port."""
    with serve() as (_, live), anyio.fail_after(10):
        allowed = await preflight(live.base_url, "http://localhost:5173")
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            streamed = await http.post(
                "/ai/stream",
                json={"action": "chat", "params": {"message": "hi"}},
                headers={"Origin": "http://localhost:5173"},
            )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "x-ainative-resumable" in allowed.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in allowed.headers
    assert streamed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "x-ainative-stream-id" in streamed.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:3000",
        "http://[::1]:8080",
        "http://localhost",
        "https://localhost:8443",
    ],
)
async def test_every_loopback_origin_is_allowed_by_default(serve: Serve, origin: str) -> None:
    with serve() as (_, live), anyio.fail_after(10):
        response = await preflight(live.base_url, origin)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost.evil.example",
        "http://127.0.0.1.evil.example:3000",
        "http://localhost:5173.evil.example",
        "null",
    ],
)
async def test_any_other_origin_is_refused_by_default(serve: Serve, origin: str) -> None:
    with serve() as (_, live), anyio.fail_after(10):
        refused = await preflight(live.base_url, origin)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_listed_origins_are_allowed_too(serve: Serve) -> None:
    with serve(cors_origins=["https://app.example.com"]) as (_, live), anyio.fail_after(10):
        listed = await preflight(live.base_url, "https://app.example.com")
        local = await preflight(live.base_url, "http://localhost:5173")
        other = await preflight(live.base_url, "https://evil.example")
    assert listed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert other.status_code == 400


async def test_a_wildcard_is_a_plain_star_without_credentials(serve: Serve) -> None:
    with serve(cors_origins=["*"]) as (_, live), anyio.fail_after(10):
        response = await preflight(live.base_url, "https://anywhere.example")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_cors_off_answers_no_cors_headers(serve: Serve) -> None:
    with serve(cors=False) as (_, live), anyio.fail_after(10):
        response = await preflight(live.base_url, "http://localhost:5173")
    assert "access-control-allow-origin" not in response.headers


def test_serve_cors_origin_flags_add_to_the_configured_origins() -> None:
    """``ainative serve --cors-origin ...`` (the command itself), with the environment's."""
    argv = ("--cors-origin", "https://b.example", "--cors-origin", "https://c.example")
    env = {"AINATIVE_CORS_ORIGINS": '["https://a.example"]'}

    def preflight_sync(url: str, origin: str) -> httpx.Response:
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
        return httpx.options(f"{url}/ai/stream", headers=headers, timeout=10)

    with serve_process(*argv, env=env) as url:
        answers = {o: preflight_sync(url, o) for o in ("https://a.example", "https://c.example")}
        local = preflight_sync(url, "http://localhost:5173")
        other = preflight_sync(url, "https://evil.example")
    for origin, answer in answers.items():
        assert answer.headers["access-control-allow-origin"] == origin
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert other.status_code == 400


def test_serve_cors_origin_option() -> None:
    context = serve_command.make_context("serve", ["--cors-origin", "https://b.example"])
    assert context.params["cors_origins"] == ("https://b.example",)
