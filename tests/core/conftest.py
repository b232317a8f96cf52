"""Fixtures for the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """Undo the CLI's process-wide structlog setup (level WARNING) after each test.

    Tests that invoke the ``ainative`` group in-process would otherwise silence the info
    logs that later tests (in any directory) capture with ``structlog.testing.capture_logs``.
    """
    config = structlog.get_config()
    yield
    structlog.configure(**config)
