"""End-to-end tests need a container engine; without one they skip, saying why."""

from __future__ import annotations

import pytest

from tests.e2e.container_engine import unavailable_reason


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    reason = unavailable_reason() if e2e else None
    if reason is not None:
        for item in e2e:
            item.add_marker(pytest.mark.skip(reason=reason))
