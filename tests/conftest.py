"""Shared test configuration: every async test runs on asyncio and on trio."""

from __future__ import annotations

import os

import pytest

# Tests never load installed plugins implicitly; they build what they need in fixtures
# (see ainative_testing's `ainative_plugins`), or ask for autoload explicitly.
os.environ["AINATIVE_DISABLE_PLUGIN_AUTOLOAD"] = "1"


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
