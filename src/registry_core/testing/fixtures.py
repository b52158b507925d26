"""The fixtures base a backend overrides to run the conformance suite.

A backend's test module needs only::

    from registry_core.testing import ConformanceTests

    class TestMyBackend(ConformanceTests):
        def make_repository(self, tmp_path):
            return MyRepository(tmp_path / "store")    # fresh and empty for every test

The hooks, in the order a test meets them:

- ``make_repository()`` or ``make_repository(tmp_path)`` (required): a new, empty
  repository. Declare a ``tmp_path`` parameter to be handed a new empty folder
  (a `pathlib.Path`) for each repository; the suite removes it, whatever is in it, after
  ``close_repository``. The state machine makes one repository per example, so a
  repository may be made many times in one test.
- ``close_repository(repository)`` (optional): release what ``make_repository`` took
  (connections, servers' databases, folders it made itself). Called once per repository,
  after the test or the state machine's example, even when it failed.
- ``repository_opener(repository)`` (with ``supports_processes = True``): a picklable
  callable that opens the same storage in another process.
- ``break_storage(repository)`` and ``tear_last_write(repository)`` (optional): make the
  storage fail, or leave it as a writer killed mid-write would; the tests that need them
  skip, saying so, when a backend does not define them.

Capability flags say what a backend cannot do; tests that need it skip with the reason.

The entry point a third party registers in the ``modelreg.backends`` group is not a hook
of this class but the same factory, seen from `registry_backends.open_registry`: it is
called as ``factory(url, **options)`` where ``url`` is the whole string the user gave
(scheme included: ``mystore://bucket/prefix?x=1``) and ``options`` the keyword arguments
of ``open_registry`` but ``actor``. It returns a `Repository` (the storage, not a
`Registry`: ``open_registry`` wraps it and applies the actor), and raises `InvalidInput`
for a URL it cannot use and `BackendNotInstalled` for a missing driver.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

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
    #: The tests that kill an operation after its k-th storage write (`CrashContractTests`
    #: and the killed promotion, rename and forced delete) try every k. A store where each
    #: try costs seconds may set 2: every other k, and always the kill before the last
    #: write. The kill points are the core's (`DiesAfter` cuts between `Repository`
    #: calls), so a backend that shares its repository class with a local one keeps
    #: every point covered there.
    kill_stride: ClassVar[int] = 1

    def make_repository(self, *args: Any, **kwargs: Any) -> Repository:
        """A new, empty repository for one test. Override this, taking no argument or a
        ``tmp_path`` (a new empty folder the suite removes afterwards)."""
        raise NotImplementedError("a backend's test class must override make_repository()")

    def repository_opener(self, repository: Repository) -> Callable[[], Repository]:
        """A picklable callable that opens ``repository``'s storage in another process.

        Needed only when ``supports_processes`` is True.
        """
        raise NotImplementedError("set supports_processes = False or override repository_opener")

    def close_repository(self, repository: Repository) -> None:
        """Release what make_repository took (connections, databases, folders it made
        itself); optional. Called once per repository, even after a failure."""

    def break_storage(self, repository: Repository) -> None:
        """Make ``repository``'s storage fail, as a disk gone read-only or a folder
        replaced by a file would: afterwards reading a document it held must raise
        `BackendError`. Optional; without it the test that needs it skips."""
        pytest.skip("the backend's tests define no break_storage(repository) hook")

    def tear_last_write(self, repository: Repository) -> None:
        """Leave the storage as a writer killed in the middle of one more write would:
        a torn record at the end of a log, a half-written temp file. The documents
        written before stay as they were. Optional; without it the test that needs it
        skips."""
        pytest.skip("the backend's tests define no tear_last_write(repository) hook")

    def fresh_repository(self) -> Repository:
        """A repository from ``make_repository``, given a new temp folder when it takes
        ``tmp_path``; what the suite calls (a backend overrides ``make_repository``)."""
        if "tmp_path" not in inspect.signature(self.make_repository).parameters:
            return self.make_repository()
        folder = Path(tempfile.mkdtemp(prefix="modelreg-conformance-"))
        try:
            repository = self.make_repository(tmp_path=folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.__dict__.setdefault("_folders", {})[id(repository)] = folder
        return repository

    def discard_repository(self, repository: Repository) -> None:
        """``close_repository``, then remove the temp folder ``fresh_repository`` gave."""
        try:
            self.close_repository(repository)
        finally:
            folder = self.__dict__.get("_folders", {}).pop(id(repository), None)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    @pytest.fixture
    def repo(self) -> Iterator[Repository]:
        repository = self.fresh_repository()
        try:
            yield repository
        finally:
            self.discard_repository(repository)

    @pytest.fixture
    def registry(self, repo: Repository) -> Registry:
        return Registry(repo)
