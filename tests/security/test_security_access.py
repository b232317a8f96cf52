"""Who may use a server: keys own their streams, WebSocket tickets and Origin, Host,
Content-Type, and what the API docs and ``/health`` show without a key."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketUpgradeError, aconnect_ws

from .conftest import Serve

pytestmark = pytest.mark.anyio

LONG = {"action": "chat", "params": {"message": "x"}, "options": {"tokens": 2000, "delay": 0.02}}
UI_MESSAGE = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
CHAT = {"action": "chat", "params": {"message": "hello world"}}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def start_stream(http: httpx.AsyncClient, key: str) -> str:
    """Start a long stream as ``key`` and leave it running (the client says it resumes)."""
    headers = {**bearer(key), "X-AINative-Resumable": "1"}
    async with http.stream("POST", "/ai/stream", json=LONG, headers=headers) as response:
        assert response.status_code == 200
        return response.headers["X-AINative-Stream-Id"]


async def ws_frames_until_done(ws: AsyncWebSocketSession) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    for _ in range(10_000):
        frames.append(json.loads(await ws.receive_text()))
        if frames[-1]["type"] == "done":
            break
    return frames


def upgrade_status(exc: pytest.ExceptionInfo[WebSocketUpgradeError]) -> tuple[int, str]:
    response = exc.value.response
    return response.status_code, response.headers.get("X-AINative-Error-Code", "")


async def test_streams_belong_to_the_key_that_started_them(secure_serve: Serve) -> None:
    with secure_serve(api_keys=["alice", "bob"]) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            with anyio.fail_after(20):
                sid = await start_stream(http, "alice")
                other = bearer("bob")
                resume = await http.get(f"/ai/stream/{sid}", headers=other)
                cancel = await http.delete(f"/ai/stream/{sid}", headers=other)
                openai = await http.get(
                    f"/v1/chat/completions/{sid}",
                    headers={**other, "Accept": "text/event-stream"},
                )
                openai_delete = await http.delete(f"/v1/chat/completions/{sid}", headers=other)
                aisdk = await http.get(f"/ai/ui/chat/{sid}/stream", headers=other)
                async with aconnect_ws(
                    f"{live.base_url}/ai/ws",
                    http,
                    session_class=AsyncWebSocketSession,
                    headers=other,
                ) as ws:
                    await ws.send_text(json.dumps({"type": "resume", "stream_id": sid}))
                    ws_resume = await ws_frames_until_done(ws)
                    await ws.send_text(json.dumps({"type": "cancel", "stream_id": sid}))
                    ws_cancel = await ws_frames_until_done(ws)
                mine = await http.delete(f"/ai/stream/{sid}", headers=bearer("alice"))
    for response in (resume, cancel, aisdk):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "stream_not_found"
    for response in (openai, openai_delete):
        assert response.status_code == 404
    assert ws_resume[0]["code"] == "stream_not_found"
    assert ws_cancel[0]["code"] == "stream_not_found"
    assert mine.json() == {"stream_id": sid, "cancelled": True}


async def test_websocket_keys_come_as_single_use_tickets_not_query_tokens(
    secure_serve: Serve,
) -> None:
    with secure_serve(api_keys=["alice"]) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            with anyio.fail_after(20):
                with pytest.raises(WebSocketUpgradeError) as token:
                    async with aconnect_ws(f"{live.base_url}/ai/ws?access_token=alice", http):
                        pass
                refused = await http.post("/ai/ws-ticket")
                issued = await http.post("/ai/ws-ticket", headers=bearer("alice"))
                ticket = issued.json()["ticket"]
                url = f"{live.base_url}/ai/ws?ticket={ticket}"
                async with aconnect_ws(url, http, session_class=AsyncWebSocketSession) as ws:
                    await ws.send_text(json.dumps(CHAT))
                    frames = await ws_frames_until_done(ws)
                with pytest.raises(WebSocketUpgradeError) as reused:
                    async with aconnect_ws(url, http):
                        pass
    assert upgrade_status(token) == (401, "unauthorized")
    assert refused.status_code == 401
    assert issued.json()["expires_in"] == 30
    assert "".join(f["data"] for f in frames if f["type"] == "token") == "hello world"
    assert upgrade_status(reused) == (401, "unauthorized")


async def test_websockets_from_other_origins_are_refused(secure_serve: Serve) -> None:
    with secure_serve() as (_, live):
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(20):
                with pytest.raises(WebSocketUpgradeError) as evil:
                    async with aconnect_ws(
                        f"{live.base_url}/ai/ws", http, headers={"Origin": "https://evil.example"}
                    ):
                        pass
                for headers in ({"Origin": "http://localhost:5173"}, {}):
                    async with aconnect_ws(
                        f"{live.base_url}/ai/ws",
                        http,
                        session_class=AsyncWebSocketSession,
                        headers=headers,
                    ) as ws:
                        await ws.send_text(json.dumps(CHAT))
                        assert (await ws_frames_until_done(ws))[-1]["type"] == "done"
    assert upgrade_status(evil) == (403, "forbidden")


async def test_requests_naming_another_host_are_refused(secure_serve: Serve) -> None:
    with secure_serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            with anyio.fail_after(20):
                rebound = await http.get("/health", headers={"Host": "evil.example:8000"})
                local = await http.get("/health", headers={"Host": "localhost:1234"})
                with pytest.raises(WebSocketUpgradeError) as ws_rebound:
                    async with aconnect_ws(
                        f"{live.base_url}/ai/ws", http, headers={"Host": "evil.example"}
                    ):
                        pass
    with secure_serve(allowed_hosts=["evil.example"]) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            with anyio.fail_after(20):
                allowed = await http.get("/health", headers={"Host": "evil.example:8000"})
    assert rebound.status_code == 400
    assert rebound.json()["error"]["code"] == "host_not_allowed"
    assert local.status_code == 200
    assert upgrade_status(ws_rebound) == (400, "host_not_allowed")
    assert allowed.status_code == 200


async def test_bodies_must_be_declared_as_json(secure_serve: Serve) -> None:
    body = json.dumps(CHAT).encode()
    with secure_serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            with anyio.fail_after(20):
                statuses: dict[str, int] = {}
                for kind in (
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x",
                    "application/json; charset=utf-8",
                    "application/merge-patch+json",
                ):
                    response = await http.post(
                        "/ai/action", content=body, headers={"Content-Type": kind}
                    )
                    statuses[kind] = response.status_code
                tool = await http.post(
                    "/ai/tool",
                    content=b'{"tool": "calculate", "arguments": {"expression": "1+1"}}',
                    headers={"Content-Type": "text/plain"},
                )
                openai = await http.post(
                    "/v1/chat/completions",
                    content=b'{"model": "echo", "messages": [{"role": "user", "content": "x"}]}',
                )
    assert statuses == {
        "text/plain": 415,
        "application/x-www-form-urlencoded": 415,
        "multipart/form-data; boundary=x": 415,
        "application/json; charset=utf-8": 200,
        "application/merge-patch+json": 200,
    }
    assert tool.status_code == 415
    assert tool.json()["error"]["code"] == "unsupported_media_type"
    assert openai.status_code == 415


async def test_the_ai_sdk_route_reads_plain_text_json_only_from_allowed_origins(
    secure_serve: Serve,
) -> None:
    # The AI SDK's WorkflowChatTransport posts its JSON untyped (fetch: text/plain).
    body = json.dumps({"id": "c1", "messages": [UI_MESSAGE]}).encode()
    plain = {"Content-Type": "text/plain;charset=UTF-8"}
    with secure_serve() as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            with anyio.fail_after(20):
                statuses = {}
                for origin in (None, "http://localhost:3000", "https://evil.example"):
                    headers = dict(plain, **({"Origin": origin} if origin else {}))
                    response = await http.post("/ai/ui/chat", content=body, headers=headers)
                    statuses[origin] = response.status_code
    assert statuses == {None: 200, "http://localhost:3000": 200, "https://evil.example": 415}


async def test_with_keys_the_docs_need_one_and_health_tells_only_status(
    secure_serve: Serve,
) -> None:
    with secure_serve(api_keys=["alice"]) as (_, live):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            with anyio.fail_after(20):
                anonymous = [await http.get(path) for path in ("/docs", "/openapi.json")]
                keyed = [
                    await http.get(path, headers=bearer("alice"))
                    for path in ("/docs", "/openapi.json")
                ]
                health = await http.get("/health")
                keyed_health = await http.get("/health", headers=bearer("alice"))
    assert [r.status_code for r in anonymous] == [401, 401]
    assert anonymous[0].json()["error"]["code"] == "unauthorized"
    assert [r.status_code for r in keyed] == [200, 200]
    assert health.json() == {"status": "ok"}
    assert "version" in keyed_health.json()
    assert "active_streams" in keyed_health.json()
