"""The echo provider passes the provider conformance suite (no tools, cannot fail)."""

from __future__ import annotations

import pytest

from ainative_core import EchoProvider
from ainative_testing import ProviderConformance, ProviderFactory, Scenario


class TestEchoConformance(ProviderConformance):
    supports_tools = False
    supports_errors = False

    @pytest.fixture
    def provider_factory(self) -> ProviderFactory:
        def make(scenario: Scenario) -> EchoProvider:
            delay = scenario.token_delay if scenario.name == "slow" else 0.0
            return EchoProvider(delay=delay)

        return make
