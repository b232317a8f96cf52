"""Arbitrary JSON bodies never get a 5xx and never leave a run behind."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ainative_server import AINativeServer

from .conftest import Serve

pytestmark = pytest.mark.anyio

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_bodies = _values | st.fixed_dictionaries(
    {},
    optional={
        "action": _values,
        "params": _values,
        "options": _values,
        "model": _values,
        "tool": st.sampled_from(["calculate", "get_time"]) | _values,
        "args": _values,
    },
)


def _check(server: AINativeServer, base_url: str, body: object) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for path in ("/ai/stream", "/ai/tool", "/ai/action"):
            response = client.post(path, json=body)
            assert response.status_code < 500, (path, body, response.text)
        assert client.get("/health").json()["active_streams"] == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
def test_fuzzed_bodies_never_get_a_5xx(serve: Serve) -> None:
    with serve() as (server, live):

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(_bodies)
        def run(body: object) -> None:
            _check(server, live.base_url, body)

        run()
