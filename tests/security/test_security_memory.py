"""The logs a server keeps stay under ``max_retained_bytes``: oldest finished first out,
then new runs refused while running ones fill it."""

from __future__ import annotations

import anyio
import httpx
import pytest

from .conftest import Serve

pytestmark = pytest.mark.anyio

CAP = 4096
WORDS = " ".join(f"w{i:08}" for i in range(28))  # a run of about 1,200 bytes
LONG = {"action": "chat", "params": {"message": "x"}, "options": {"tokens": 5000, "delay": 0.01}}
RESUMABLE = {"X-AINative-Resumable": "1"}


async def finished_run(http: httpx.AsyncClient) -> str:
    response = await http.post("/ai/stream", json={"action": "chat", "params": {"message": WORDS}})
    assert response.status_code == 200
    return response.headers["X-AINative-Stream-Id"]


async def test_finished_logs_are_dropped_oldest_first_then_new_runs_are_503(
    secure_serve: Serve,
) -> None:
    with secure_serve(max_retained_bytes=CAP) as (server, live):
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
            with anyio.fail_after(30):
                runs = [await finished_run(http) for _ in range(3)]
                size = server.hub.runs[runs[0]].bytes
                assert 3 * size <= CAP < 4 * size  # three fit, not four
                runs.append(await finished_run(http))
                after_four = [(await http.get(f"/ai/stream/{sid}")).status_code for sid in runs]
                running = []
                for _ in range(2):  # running streams that outgrow the cap together
                    async with http.stream(
                        "POST", "/ai/stream", json=LONG, headers=RESUMABLE
                    ) as response:
                        running.append(response.headers["X-AINative-Stream-Id"])
                for _ in range(300):
                    refused = await http.post("/ai/stream", json={**LONG, "options": {}})
                    if refused.status_code == 503:
                        break
                    await anyio.sleep(0.05)
                left = [(await http.get(f"/ai/stream/{sid}")).status_code for sid in runs]
                for sid in running:
                    await http.delete(f"/ai/stream/{sid}")
                for _ in range(200):  # the cancelled runs end
                    if (await http.get("/health")).json()["active_streams"] == 0:
                        break
                    await anyio.sleep(0.02)
                again = await http.post("/ai/stream", json={**LONG, "options": {}})
                retained = server.hub.retained_bytes
    assert after_four == [404, 200, 200, 200]  # the oldest went
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == "server_busy"
    assert "max_retained_bytes" in error["message"]
    assert refused.headers["Retry-After"] == "1"
    assert left == [404, 404, 404, 404]  # every finished log went before refusing
    assert again.status_code == 200  # the ended runs made room
    assert retained <= CAP
