"""Races between processes, for backends whose storage other processes can open.

Each worker opens the storage itself through the backend's `repository_opener`, waits at
a barrier, and does its one call; the parent judges the outcome from what they report.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Callable
from typing import Any

import pytest

from registry_core.errors import AlreadyExists
from registry_core.protocol import Repository
from registry_core.registry import Registry
from registry_core.testing.fixtures import RepositoryFixtures

__all__ = ["ProcessRaceTests"]

PROCESSES = 4
#: Spawned workers import the backend's driver before the barrier; on a loaded CI machine
#: that alone can take a minute, so the race waits generously for the slowest to arrive.
START_TIMEOUT = 300
RUN_TIMEOUT = 300


def _worker(
    opener: Callable[[], Repository], job: str, args: tuple[Any, ...], barrier: Any, queue: Any
) -> None:
    try:
        registry = Registry(opener())
        barrier.wait(timeout=START_TIMEOUT)
        if job == "create":
            registry.create_version(*args)
            queue.put("won")
        elif job == "bump":
            queue.put(str(registry.create_version(args[0], bump="patch").version))
        elif job == "tags":
            model, version, worker = args
            for i in range(10):
                registry.set_tag(model, version, f"w{worker}-{i}", "x")
            queue.put("done")
    except AlreadyExists:
        queue.put("lost")
    except Exception as error:  # reported to the parent, which fails the test
        queue.put(f"error: {error!r}")


def _same_args(args: tuple[Any, ...], _worker: int) -> tuple[Any, ...]:
    return args


def _race(
    opener: Callable[[], Repository], job: str, args_of: Callable[[int], tuple[Any, ...]]
) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(opener, job, args_of(i), barrier, queue))
        for i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=START_TIMEOUT + RUN_TIMEOUT) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    return results


class ProcessRaceTests(RepositoryFixtures):
    """Writers in separate processes: one winner, nothing lost, nothing torn."""

    @pytest.fixture
    def opener(self, repo: Repository) -> Callable[[], Repository]:
        if not self.supports_processes:
            pytest.skip("this backend's storage cannot be opened by another process")
        return self.repository_opener(repo)

    def test_processes_racing_for_one_version_have_one_winner(
        self, registry: Registry, opener: Callable[[], Repository]
    ) -> None:
        registry.create_model("m")
        for round_ in range(2):
            version = f"1.0.{round_}"
            results = _race(opener, "create", functools.partial(_same_args, ("m", version)))
            assert sorted(results) == ["lost"] * (PROCESSES - 1) + ["won"], results
            assert str(registry.get_version("m", version).version) == version

    def test_processes_bumping_get_distinct_versions(
        self, registry: Registry, opener: Callable[[], Repository]
    ) -> None:
        registry.create_model("m")
        results = _race(opener, "bump", lambda _: ("m",))
        assert not [r for r in results if r.startswith("error")], results
        assert sorted(results) == [f"1.0.{i}" for i in range(PROCESSES)], results
        assert len(registry.list_versions("m").items) == PROCESSES

    def test_processes_updating_one_version_lose_no_update(
        self, registry: Registry, opener: Callable[[], Repository]
    ) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        results = _race(opener, "tags", lambda i: ("m", "1.0.0", i))
        assert results == ["done"] * PROCESSES, results
        assert len(registry.get_version("m", "1.0.0").tags) == PROCESSES * 10
