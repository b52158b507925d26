"""A copy killed with SIGKILL at random moments, then run again: it finishes, exactly.

A child process (``python -c``) copies a local folder registry into SQLite, another
folder or S3 (moto) and prints its progress; the parent kills it with ``SIGKILL`` once the
progress passes a seeded random point (plus a random few milliseconds, so that deaths land
inside a write: a blob half streamed, a SQLite transaction open, an object's index markers
not yet put).
What the killed copy left must show nothing that points at what is not there: a listed
model shows all its versions. Then the copy runs again here and must leave a destination
equal to the source (`assert_same`) that ``fsck`` finds clean, without copying again a
blob the killed run had committed; a third run writes nothing. POSIX only (``SIGKILL``).

The source is `copy_support.populate`'s registry, plus a version with a 4 MiB blob and
`SMALL` small versions (two files and a metric each), so that a copy takes long enough to
be killed in its middle.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from copy_support import MODEL, assert_same, populate, snapshot
from servers import fresh_url, s3_options
from sql_support import new_database

from registry_backends import open_registry
from registry_backends.copy import copy
from registry_core import BackendError, Registry
from registry_core.testing.access_tests import stored

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

SEED = 20261206
SMALL = 30  # small versions of "other"
BIG = 4 * 2**20
START_TIMEOUT = 120  # the child imports the drivers first; CI can be slow

#: Copies ``argv[1]`` into ``argv[2]`` (opened with the options in ``argv[3]``); prints
#: ``reached`` once the copy has done ``argv[4]`` versions and streamed ``argv[5]`` bytes
#: (one line, read at once: a line per progress call would leave the reader behind).
CHILD = """
import json, sys
from registry_backends import open_registry
from registry_backends.copy import copy
versions, size = int(sys.argv[4]), int(sys.argv[5])
def progress(p):
    global versions
    if versions is not None and p.versions_done >= versions and p.bytes_done >= size:
        versions = None
        print("reached", flush=True)
copy(open_registry(sys.argv[1]), open_registry(sys.argv[2], **json.loads(sys.argv[3])),
     tokens=True, progress=progress)
print("done", flush=True)
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Registry, dict[Any, Any]]:
    """The source's URL (a local folder), the registry, and its snapshot."""
    url = str(tmp_path_factory.mktemp("copy-kill-source"))
    registry = open_registry(url)
    populate(registry)
    registry.create_version(MODEL, "1.2.0", description="big")
    big = random.Random(SEED).randbytes(BIG)
    registry.upload(MODEL, "1.2.0", io.BytesIO(big), name="weights.bin")
    registry.publish(MODEL, "1.2.0")
    for i in range(SMALL):
        version = f"2.0.{i}"
        registry.create_version("other", version, params={"i": i, "lr": 0.01})
        registry.upload("other", version, io.BytesIO(b"x" * 300 + bytes([i])), name="model.pkl")
        registry.upload("other", version, io.BytesIO(b"{}" * 100), name="conf.json")
        registry.log_metric("other", version, "auc", i / SMALL, step=1)
        registry.publish("other", version)
    return url, registry, snapshot(registry)


def _destination(kind: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, Any]]]:
    """Fresh destinations of ``kind``: each a URL and the options to open it with."""
    if kind == "sqlite":
        while True:
            url, drop = new_database("sqlite")
            request.addfinalizer(drop)
            yield url, {}
    if kind == "files":
        folder = request.getfixturevalue("tmp_path")
        for i in itertools.count():
            yield str(folder / f"registry-{i}"), {}
    options = s3_options(request.getfixturevalue("s3_bucket"))
    while True:
        yield fresh_url("s3"), options


def _kill_copy(
    src: str, dst: str, options: dict[str, Any], after: tuple[int, int], wait: float
) -> None:
    """Run the copy in a child; kill it ``wait`` seconds after it has done ``after[0]``
    versions and streamed ``after[1]`` bytes."""
    argv = [sys.executable, "-c", CHILD, src, dst, json.dumps(options), *map(str, after)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        ready, _, _ = select.select([child.stdout], [], [], START_TIMEOUT)
        assert ready, f"the copy did not reach {after} in {START_TIMEOUT} s"
        line = child.stdout.readline()
        assert line == "reached\n", f"the copy ended before {after}: {line!r}"
        time.sleep(wait)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(60) == -signal.SIGKILL, "the copy finished before it was killed"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()


def _kill_points(
    rng: random.Random, total_versions: int, count: int
) -> list[tuple[int, int, float]]:
    """``count`` moments (versions done, bytes done, seconds after): the second inside
    the big blob, the others among the small versions."""

    def among_small() -> tuple[int, int, float]:
        return rng.randrange(4, total_versions - 12), 0, rng.uniform(0, 0.005)

    points = [among_small()]
    if count > 1:
        points.append((0, rng.randrange(2**20, BIG), rng.uniform(0, 0.005)))
    points.extend(among_small() for _ in range(count - 2))
    return points


@pytest.mark.parametrize(
    ("kind", "kills"),
    [
        ("sqlite", 3),
        ("files", 2),
        ("s3", 1),  # ~8 s a kill
    ],
)
def test_a_copy_killed_with_sigkill_finishes_when_run_again_without_copying_twice(
    source: tuple[str, Registry, dict[Any, Any]],
    request: pytest.FixtureRequest,
    kind: str,
    kills: int,
) -> None:
    src_url, src, expected = source
    full = copy(src, open_registry("memory://"), tokens=True)
    total_versions = sum(len(expected[m.name, "versions"]) for m in expected["models"])
    rng = random.Random(f"{SEED}-{kind}")
    destinations = _destination(kind, request)
    committed_before_resume = []
    for versions, size, wait in _kill_points(rng, total_versions, kills):
        url, options = next(destinations)
        _kill_copy(src_url, url, options, (versions, size), wait)
        dst = open_registry(url, **options)
        for model in dst.list_models().items:  # listed only once all its versions are there
            assert dst.list_versions(model.name).items == expected[model.name, "versions"]
        committed = len(list(dst.repository.list_blobs("")))
        committed_before_resume.append(committed)

        resumed = copy(src, dst, tokens=True)
        assert not resumed.conflicts and not resumed.skipped, str(resumed)
        assert resumed.blobs_copied == full.blobs_copied - committed, (committed, str(resumed))
        assert_same(src, dst, expected)
        report = dst.fsck()
        assert report.ok, report.problems
        before = stored(dst.repository)
        third = copy(src, dst, tokens=True)
        assert third.changed_nothing and not third.conflicts, str(third)
        assert stored(dst.repository) == before
    assert max(committed_before_resume) > 0, "no killed copy had committed a blob"


def test_a_copy_that_died_between_a_document_and_its_index_markers_finishes(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The moment a SIGKILL only sometimes hits, every time: on S3 the files backend puts
    a document, then its index markers; the copy dies in between, for a version. Run
    again, the copy must write that document again (which puts its markers back) rather
    than take it for there because a read by key finds it."""
    src = open_registry("memory://")
    populate(src)
    dst = open_registry(fresh_url("s3"), **s3_options(request.getfixturevalue("s3_bucket")))
    store: Any = dst.repository._store  # type: ignore[attr-defined]
    real = store._write_markers

    def dies_before_the_markers_of_a_version(name: str) -> None:
        if "/versions/" in name:
            raise BackendError("the process died")
        real(name)

    monkeypatch.setattr(store, "_write_markers", dies_before_the_markers_of_a_version)
    with pytest.raises(BackendError):
        copy(src, dst, tokens=True)
    monkeypatch.undo()
    resumed = copy(src, dst, tokens=True)
    assert not resumed.conflicts, str(resumed)
    assert_same(src, dst)
    report = dst.fsck()
    assert report.ok, report.problems
