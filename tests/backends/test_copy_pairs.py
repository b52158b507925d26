"""``copy(src, dst)`` between every ordered pair of the backend kinds CI has.

Seven kinds: memory, a local folder, S3 (moto), GCS (fake-gcs-server), SQLite, PostgreSQL
and MariaDB; 42 ordered pairs (memory to memory tells nothing new). Each pair copies the
registry of `copy_support.populate`, compares the destination with the source through the
public API (`assert_same`: listings, manifests and bytes, metrics, aliases, runs, settings,
tokens; every ready version verifies), then copies again and checks that the second run
wrote nothing at all (every document keeps its etag, every blob its bytes).

The source of each kind is populated once per module and process, and its snapshot taken
once: a copy only reads its source, and populating over HTTP or SQL is most of a pair's
cost. Servers start only when a pair needs them; under ``CI`` a server or driver that is
missing fails the pair (tests/needs.py, `sql_support.server`).

Cost: 25 to 30 s for the 42 pairs in one process (2026-12-06), about half of it in the
seven pairs into S3, where each of the ~20 documents is a create and two index markers
over HTTP to moto. That is within the suite's budget, so every pair stays.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from copy_support import assert_same, populate, snapshot
from servers import fresh_url, gcs_options, s3_options
from sql_support import new_database

from registry_backends import open_registry
from registry_backends.copy import CopyProgress, copy
from registry_core import Registry
from registry_core.testing.access_tests import stored

KINDS = ("memory", "files", "s3", "gcs", "sqlite", "postgresql", "mysql")
PAIRS = [(a, b) for a in KINDS for b in KINDS if a != b]


class Places:
    """Opens empty registries of any kind; starts (and makes the bucket of) a server
    the first time a kind needs it, and drops what it made at `close`."""

    def __init__(self, request: pytest.FixtureRequest, folder: Path) -> None:
        self._request = request
        self._folder = folder
        self._options: dict[str, dict[str, Any]] = {}
        self._drops: list[Callable[[], None]] = []

    def open(self, kind: str) -> Registry:
        if kind == "memory":
            return open_registry("memory://")
        if kind == "files":
            return open_registry(tempfile.mkdtemp(dir=self._folder))
        if kind in ("s3", "gcs"):
            scheme = "s3" if kind == "s3" else "gs"
            return open_registry(fresh_url(scheme), **self._server(kind))
        url, drop = new_database(kind)
        self._drops.append(drop)
        return open_registry(url)

    def _server(self, kind: str) -> dict[str, Any]:
        if kind not in self._options:
            if kind == "s3":
                self._options[kind] = s3_options(self._request.getfixturevalue("s3_bucket"))
            else:
                self._options[kind] = gcs_options(self._request.getfixturevalue("gcs_bucket"))
        return self._options[kind]

    def close(self) -> None:
        for drop in self._drops:
            drop()


@pytest.fixture(scope="module")
def module_places(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Places]:
    places = Places(request, tmp_path_factory.mktemp("copy-sources"))
    yield places
    places.close()


@pytest.fixture
def places(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Places]:
    made = Places(request, tmp_path)
    yield made
    made.close()


@pytest.fixture(scope="module")
def sources(module_places: Places) -> Callable[[str], tuple[Registry, dict[Any, Any]]]:
    """A populated registry of a kind, made once per module, and its snapshot."""
    made: dict[str, tuple[Registry, dict[Any, Any]]] = {}

    def source(kind: str) -> tuple[Registry, dict[Any, Any]]:
        if kind not in made:
            registry = module_places.open(kind)
            populate(registry)
            made[kind] = registry, snapshot(registry)
        return made[kind]

    return source


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_copy_between_any_two_kinds_is_exact_and_a_second_run_writes_nothing(
    sources: Callable[[str], tuple[Registry, dict[Any, Any]]],
    places: Places,
    source: str,
    target: str,
) -> None:
    src, expected = sources(source)
    dst = places.open(target)
    seen: list[CopyProgress] = []
    report = copy(src, dst, tokens=True, progress=seen.append)
    assert not report.conflicts and not report.skipped, str(report)
    assert report.blobs_copied == 6
    assert seen[-1] == CopyProgress(3, 3, report.bytes_copied)
    assert_same(src, dst, expected)
    before = stored(dst.repository)
    again = copy(src, dst, tokens=True)
    assert again.changed_nothing and not again.conflicts, str(again)
    assert sorted(again.unchanged) == sorted(report.copied)
    assert stored(dst.repository) == before
