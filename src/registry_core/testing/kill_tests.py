"""A real crash: a writer process killed with ``SIGKILL`` in the middle of its work.

`DiesAfter` (in `registry_core.testing.crash_tests`) stops a writer between two storage
calls. A killed process can also stop inside one: half a file written, a socket closed
mid-request, a database transaction open. Here a spawned process opens the storage
through the backend's ``repository_opener`` and keeps creating, filling, publishing and
deleting versions; the parent kills it at a varying moment, then opens the storage anew
and checks that ``fsck(repair=True)`` leaves a clean store, that every listed version
reads back whole (a ready one verifies against its sealed checksums), and that writing
goes on. POSIX only (``SIGKILL``).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from registry_core.lifecycle import VersionState
from registry_core.protocol import Repository
from registry_core.registry import Registry
from registry_core.testing.fixtures import RepositoryFixtures

__all__ = ["KilledWriterTests"]

MODEL = "churn"
#: Kill points: after this many finished steps, plus a delay in seconds, so that deaths
#: land in different parts of a step (the step count itself is a lower bound).
KILLS = ((2, 0.0), (4, 0.013), (6, 0.041))
START_TIMEOUT = 300  # a spawned child imports the backend's driver first; CI can be slow


def _churn(opener: Callable[[], Repository], steps: Any) -> None:
    """Create, fill, publish and delete versions until killed; count finished steps."""
    registry = Registry(opener())
    existing = {str(v.version) for v in registry.list_versions(MODEL, page_size=1000).items}
    i = 0
    while True:
        i += 1
        version = f"{os.getpid()}.{i}.0"
        if version in existing:
            continue
        registry.create_version(MODEL, version)
        registry.upload(MODEL, version, io.BytesIO(os.urandom(200_000)), name="model/weights.bin")
        registry.upload(MODEL, version, io.BytesIO(b"flavors: {}\n"), name="MLmodel")
        if i % 3:
            registry.publish(MODEL, version)
        if i % 4 == 0:
            registry.delete_version(MODEL, version)
        with steps.get_lock():
            steps.value += 1


def _at(when: dt.datetime) -> dt.datetime:
    return when


class KilledWriterTests(RepositoryFixtures):
    """A writer process killed with SIGKILL, then the storage opened again."""

    @pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
    def test_a_writer_killed_with_sigkill_leaves_a_store_that_fsck_repairs(
        self, repo: Repository
    ) -> None:
        if not self.supports_processes:
            pytest.skip("this backend's storage cannot be opened by another process")
        opener = self.repository_opener(repo)
        Registry(repo).create_model(MODEL)
        ctx = multiprocessing.get_context("spawn")
        for after_steps, delay in KILLS:
            steps = ctx.Value("i", 0)
            child = ctx.Process(target=_churn, args=(opener, steps), daemon=True)
            child.start()
            deadline = time.monotonic() + START_TIMEOUT
            while steps.value < after_steps:
                assert child.is_alive(), f"the writer died by itself (exit {child.exitcode})"
                assert time.monotonic() < deadline, "the writer made no progress"
                time.sleep(0.005)
            time.sleep(delay)
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=60)
            assert child.exitcode == -signal.SIGKILL
            self._check_after_the_kill(opener())

    def _check_after_the_kill(self, reopened: Repository) -> None:
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
        registry = Registry(reopened, clock=functools.partial(_at, later))  # holds lapsed
        registry.fsck(repair=True)
        report = registry.fsck()
        assert report.ok, report
        versions = registry.list_versions(MODEL, page_size=1000).items
        assert versions, "nothing the writer finished survived"
        for version in versions:
            for artifact in registry.list_artifacts(MODEL, version.version):
                with registry.open_artifact(MODEL, version.version, artifact.path) as stream:
                    assert len(stream.read()) == artifact.size
            if version.state is VersionState.READY:
                assert registry.verify(MODEL, version.version).ok
        last = registry.create_version(MODEL, bump="major")
        registry.upload(MODEL, last.version, io.BytesIO(b"after"), name="f")
        assert registry.publish(MODEL, last.version).state is VersionState.READY
