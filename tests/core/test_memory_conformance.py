"""The in-memory reference runs the whole conformance suite (bar process races)."""

from __future__ import annotations

from registry_core import MemoryRepository
from registry_core.testing import ConformanceTests


class TestMemoryRepository(ConformanceTests):
    supports_processes = False

    def make_repository(self) -> MemoryRepository:
        return MemoryRepository()
