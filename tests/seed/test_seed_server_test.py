"""The seed's own server test (``packages/server-python/tests/test_server.py``), unchanged,
and the same check against a live server, with the seed's ``timestamp``."""

from __future__ import annotations

from datetime import datetime

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from ainative.server import create_app

from .conftest import Serve


def test_healthcheck_endpoint() -> None:
    client = TestClient(create_app())
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.anyio
async def test_healthcheck_on_a_live_server_has_the_seed_timestamp(serve: Serve) -> None:
    with serve(create_app()) as live, anyio.fail_after(10):
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            response = await http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    stamp = datetime.fromisoformat(body["timestamp"])
    offset = stamp.utcoffset()
    assert offset is not None  # an aware time, in UTC, as the seed's
    assert offset.total_seconds() == 0
