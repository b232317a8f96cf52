"""Schemathesis against ``/openapi.json`` on a live server: generated requests to every
documented operation never get a 5xx, and every response matches the schema it declares."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from .conftest import Serve

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
def test_the_documented_routes_keep_to_their_schema(serve: Serve) -> None:
    with serve() as (_, live):
        schema = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json")
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result  # every operation's schema is valid
            operations.append(result.ok())
        assert operations
        for operation in operations:

            @settings(
                max_examples=8,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def run(case: Case[Any]) -> None:
                response = case.call(base_url=live.base_url, timeout=10)
                case.validate_response(
                    response, checks=[not_a_server_error, response_schema_conformance]
                )

            run()
