"""The fixtures base a backend overrides to run the conformance suite.

A backend's test module needs only::

    from registry_core.testing import ConformanceTests

    class TestMyBackend(ConformanceTests):
        def make_repository(self):
            return MyRepository(...)           # fresh and empty for every test

Capability flags say what a backend cannot do; tests that need it skip with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest

from registry_core.protocol import Repository
from registry_core.registry import Registry

__all__ = ["RepositoryFixtures"]


class RepositoryFixtures:
    """Hooks and fixtures shared by every class of the suite."""

    #: Other processes can open the same storage (see `repository_opener`).
    supports_processes: ClassVar[bool] = False
    #: Racing threads in this process are part of the contract (every backend: True).
    supports_threads: ClassVar[bool] = True

    def make_repository(self) -> Repository:
        """A new, empty repository for one test. Override this."""
        raise NotImplementedError("a backend's test class must override make_repository()")

    def repository_opener(self, repository: Repository) -> Callable[[], Repository]:
        """A picklable callable that opens ``repository``'s storage in another process.

        Needed only when ``supports_processes`` is True.
        """
        raise NotImplementedError("set supports_processes = False or override repository_opener")

    def close_repository(self, repository: Repository) -> None:
        """Release what make_repository took (connections, temp folders); optional."""

    @pytest.fixture
    def repo(self) -> Iterator[Repository]:
        repository = self.make_repository()
        try:
            yield repository
        finally:
            self.close_repository(repository)

    @pytest.fixture
    def registry(self, repo: Repository) -> Registry:
        return Registry(repo)
