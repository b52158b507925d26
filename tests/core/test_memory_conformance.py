"""The in-memory reference runs the whole conformance suite (bar process races)."""

from __future__ import annotations

import pytest

from registry_core import MemoryRepository
from registry_core.testing import ConformanceTests, rebind


class TestMemoryRepository(ConformanceTests):
    supports_processes = False

    def make_repository(self) -> MemoryRepository:
        return MemoryRepository()


class TestRebindLeavesTheBaseAlone(ConformanceTests):
    """One backend's opt-out must not reach the shared base class (or other backends)."""

    def make_repository(self) -> MemoryRepository:
        return MemoryRepository()

    test_an_empty_blob_round_trips = rebind(
        ConformanceTests.test_an_empty_blob_round_trips,
        pytest.mark.skip(reason="exercising rebind"),
    )


def test_a_rebound_mark_stays_on_the_copy() -> None:
    base = ConformanceTests.test_an_empty_blob_round_trips
    assert not getattr(base, "pytestmark", [])
    copy = TestRebindLeavesTheBaseAlone.test_an_empty_blob_round_trips
    assert [m.name for m in copy.pytestmark] == ["skip"]
