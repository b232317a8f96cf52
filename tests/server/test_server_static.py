"""The browser client at /ai/client.js, the chat page at /, and /ai/providers."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import anyio
import httpx
import pytest

from ainative_server import ServerConfig

from .server_helpers import Serve

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "packages" / "ainative-server" / "src" / "ainative_server" / "static"


async def test_client_is_served_with_revalidating_cache_headers(serve: Serve) -> None:
    with serve(api_keys=["secret"]) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                first = await client.get("/ai/client.js")  # no key: a page imports it
                again = await client.get(
                    "/ai/client.js", headers={"If-None-Match": first.headers["etag"]}
                )
                types = await client.get("/ai/client.d.ts")
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.content == (STATIC / "client.js").read_bytes()
    assert "export {" in first.text
    assert "StreamingEngine," in first.text
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert types.status_code == 200
    assert "export declare class StreamingEngine" in types.text


async def test_client_follows_the_prefix(serve: Serve) -> None:
    with serve(prefix="/api/ai") as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                moved = await client.get("/api/ai/client.js")
                old = await client.get("/ai/client.js")
    assert moved.status_code == 200
    assert old.status_code == 404


async def test_chat_page_is_off_unless_asked(serve: Serve) -> None:
    assert ServerConfig().chat_page is False
    with serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                response = await client.get("/")
    assert response.status_code == 404


async def test_chat_page_imports_the_client_under_the_prefix(serve: Serve) -> None:
    with serve(chat_page=True, prefix="/api/ai", api_keys=["secret"]) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                page = await client.get("/")
                cached = await client.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert 'from "/api/ai/client.js"' in page.text
    assert "{{prefix}}" not in page.text
    assert cached.status_code == 304


async def test_providers_lists_names_models_and_the_default(serve: Serve) -> None:
    with serve(api_keys=["secret"], model="echo") as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            with anyio.fail_after(10):
                refused = await client.get("/ai/providers")
                listing = await client.get(
                    "/ai/providers", headers={"Authorization": "Bearer secret"}
                )
    assert refused.status_code == 401
    assert listing.json() == {
        "default": "echo",
        "model": "echo",
        "providers": [{"name": "echo", "aliases": [], "models": ["echo"]}],
    }


def test_wheel_ships_the_client_and_the_page(tmp_path: Path) -> None:
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [str(uv), "build", "--wheel", "--out-dir", str(tmp_path), "packages/ainative-server"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("ainative_server-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in ("client.js", "client.d.ts", "chat.html"):
            assert archive.read(f"ainative_server/static/{name}") == (STATIC / name).read_bytes()
