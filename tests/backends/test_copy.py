"""``registry_backends.copy.copy`` between real backends, checked through the public API.

Each test builds a small registry (two models, three versions, files, metrics, an alias,
an experiment with runs, a promoted run, a member and a token), copies it, and compares
both registries call by call; every ready version of the destination must verify.
PostgreSQL runs when ``MODELREG_TEST_POSTGRES_URL`` names a server (`sql_support.server`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from copy_support import MODEL, WEIGHTS, assert_same, populate
from sql_support import new_database

from registry_backends import open_registry
from registry_backends.copy import CopyProgress, CopyReport, copy
from registry_core import IntegrityError, Registry, Version
from registry_core.testing import DiesAfter
from registry_core.testing.access_tests import stored

# -- backends ----------------------------------------------------------------------------

Opener = Callable[[str], tuple[str, Registry]]


@pytest.fixture
def opener(tmp_path: Path) -> Iterator[Opener]:
    """Opens an empty registry of a kind: its URL (None for memory) and a Registry."""
    drops: list[Callable[[], None]] = []

    def make(kind: str) -> tuple[str, Registry]:
        if kind == "memory":
            return "", open_registry("memory://")
        if kind == "files":
            url = tempfile.mkdtemp(dir=tmp_path)
        elif kind == "sqlite":
            url = f"sqlite:///{tempfile.mkdtemp(dir=tmp_path)}/registry.db"
        else:
            url, drop = new_database(kind)
            drops.append(drop)
        return url, open_registry(url)

    yield make
    for drop in drops:
        drop()


def filled(make: Opener, kind: str) -> Registry:
    reg = make(kind)[1]
    populate(reg)
    return reg


PAIRS = [
    ("memory", "files"),
    ("files", "sqlite"),
    ("sqlite", "files"),
    ("files", "postgresql"),
]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_copy_gives_an_equal_registry_and_a_second_run_changes_nothing(
    opener: Opener, source: str, target: str
) -> None:
    src = filled(opener, source)
    url, dst = opener(target)
    seen: list[CopyProgress] = []
    report = copy(src, url, tokens=True, progress=seen.append)  # the destination by URL
    assert not report.conflicts and not report.skipped
    assert report.blobs_copied == 6
    assert "version fraud/Detector@1.0.0" in report.copied
    assert seen[-1] == CopyProgress(3, 3, report.bytes_copied)
    assert_same(src, dst)
    before = stored(dst.repository)
    again = copy(src, dst, tokens=True)
    assert again.changed_nothing and not again.conflicts
    assert len(again.unchanged) == len(report.copied)
    assert "nothing to copy" in str(again)
    assert stored(dst.repository) == before  # etags too: nothing was rewritten


def test_tokens_stay_behind_unless_asked(opener: Opener) -> None:
    src = filled(opener, "memory")
    dst = opener("memory")[1]
    copy(src, dst)
    assert dst.list_tokens() == []
    assert dst.get_settings() == src.get_settings()


def test_a_conflicting_version_stops_its_model_and_never_overwrites(opener: Opener) -> None:
    src = filled(opener, "memory")
    dst = opener("files")[1]
    copy(src, dst)
    dst.update_version(MODEL, "1.0.0", description="edited in the destination")
    dst.delete_model("other")
    src.log_metric(MODEL, "1.0.0", "auc", 0.95, step=3)  # would be copied, but for the clash
    mine = {k: v for k, v in stored(dst.repository).items() if "fraud" in str(k)}
    report = copy(src, dst)
    assert [c.split(":")[0] for c in report.conflicts] == [f"model {MODEL}"]
    assert "differs in the destination" in str(report)
    assert {k: v for k, v in stored(dst.repository).items() if "fraud" in str(k)} == mine
    assert dst.get_version("other", "1.0.0") == src.get_version("other", "1.0.0")
    assert "model other" in report.copied


def test_a_corrupted_source_blob_is_refused_and_its_version_never_lands(opener: Opener) -> None:
    src = filled(opener, "files")
    dst = opener("sqlite")[1]
    writer = src.repository.open_blob_writer(f"{MODEL}/1.0.0/conf/config.json")
    writer.write(b"[]")  # same size, other bytes, behind the registry's back
    writer.commit()
    with pytest.raises(IntegrityError, match=r"conf/config\.json"):
        copy(src, dst)
    key = ("versions", MODEL.lower(), Version.parse("1.0.0").precedence_key)
    assert dst.repository.get(key) is None
    assert not list(dst.repository.list_blobs(f"{MODEL}/1.0.0/conf"))


def test_a_copy_killed_after_any_write_finishes_when_run_again(opener: Opener) -> None:
    src = filled(opener, "memory")
    for k in range(200):
        dst = opener("files")[1]
        dying = DiesAfter(dst.repository, k)
        try:
            copy(src, dying, tokens=True)
        except Exception:
            assert dying.dead
        else:
            break
        dst.fsck(repair=True)  # may drop the blobs of a model whose document is not there yet
        resumed = copy(src, dst, tokens=True)
        assert not resumed.conflicts, (k, str(resumed))
        assert_same(src, dst)
    else:
        pytest.fail("the copy never finished")
    assert k > 20  # it really died at every write of a sizeable copy


def test_dry_run_writes_nothing_and_lists_what_it_would_copy(opener: Opener) -> None:
    src = filled(opener, "memory")
    dst = opener("sqlite")[1]
    before = stored(dst.repository)
    report = copy(src, dst, dry_run=True, tokens=True)
    assert stored(dst.repository) == before
    assert isinstance(report, CopyReport) and report.dry_run
    assert "would copy: model other" in str(report)
    assert report.bytes_copied == len(WEIGHTS) + 2 + 8 + 11 + 9 + 11
    assert report == copy(src, dst, dry_run=True, tokens=True)


def test_models_prefix_copies_only_those_models(opener: Opener) -> None:
    src = filled(opener, "memory")
    dst = opener("memory")[1]
    report = copy(src, dst, models="FRAUD/")
    assert [m.name.value for m in dst.list_models().items] == [MODEL]
    assert "settings" not in report.copied
    assert report.blobs_copied == 4


def test_a_document_in_flight_is_skipped(opener: Opener) -> None:
    src = filled(opener, "memory")
    key = ("versions", "other", Version.parse("1.0.0").precedence_key)
    doc = src.repository.get(key)
    assert doc is not None
    src.repository.compare_and_swap(key, {**doc.data, "deleting": True}, doc.etag)
    dst = opener("memory")[1]
    report = copy(src, dst)
    assert report.skipped == ("version other@1.0.0 (deleting)",)
    assert dst.list_versions("other").items == ()
