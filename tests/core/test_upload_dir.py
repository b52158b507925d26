"""`upload_dir`: a folder goes in all or nothing, in writes that do not grow with its size.

The conformance suite (`RegistryContractTests`, `CrashContractTests`) checks on every
backend that a folder upload which fails or dies part-way leaves the draft as it was. Here,
on the in-memory store: how many document writes a folder costs, what is refused before
any write, and that the holds cover every path of the folder from the start.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from registry_core import MemoryRepository, Registry
from registry_core._artifacts import UPLOAD_LEASE
from registry_core.errors import BackendError, Conflict, IllegalTransition, InvalidPath
from registry_core.testing.crash_tests import WRITES, DiesAfter


class CountingRepository:
    """Delegates to a `MemoryRepository`, counting its document and blob-tree writes
    (blob commits are not counted: a folder of N files makes N of those)."""

    def __init__(self) -> None:
        self.inner = MemoryRepository()
        self.writes: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name in WRITES:
            self.writes[name] += 1
        return found


def _folder(root: Path, count: int) -> Path:
    for i in range(count):
        path = root / f"shard-{i % 3}" / f"part-{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%d" % i)
    return root


@pytest.fixture
def counted() -> tuple[Registry, CountingRepository]:
    repository = CountingRepository()
    registry = Registry(repository)  # type: ignore[arg-type]  # a Repository by delegation
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    return registry, repository


@pytest.mark.parametrize("files", [3, 60])
def test_a_folder_costs_two_document_writes_however_many_files_it_holds(
    counted: tuple[Registry, CountingRepository], tmp_path: Path, files: int
) -> None:
    registry, repository = counted
    repository.writes.clear()
    made = registry.upload_dir("m", "1.0.0", _folder(tmp_path / "src", files))
    assert len(made) == files
    assert len(registry.list_artifacts("m", "1.0.0")) == files
    assert repository.writes == {"compare_and_swap": 2}  # hold every path; add every file


def test_a_file_and_a_folder_of_one_name_are_refused_before_any_write(
    counted: tuple[Registry, CountingRepository], tmp_path: Path
) -> None:
    registry, repository = counted
    src = tmp_path / "src"
    (src / "model").mkdir(parents=True)
    (src / "MODEL").write_bytes(b"a file")
    (src / "model" / "weights.bin").write_bytes(b"a file in a folder")
    repository.writes.clear()
    with pytest.raises(InvalidPath, match=r"a file and a folder .*nothing was uploaded"):
        registry.upload_dir("m", "1.0.0", src)
    assert not repository.writes
    assert list(repository.inner.list_blobs("")) == []


def test_an_empty_folder_adds_nothing_to_a_draft_and_is_refused_by_a_sealed_version(
    counted: tuple[Registry, CountingRepository], tmp_path: Path
) -> None:
    registry, repository = counted
    (tmp_path / "empty").mkdir()
    repository.writes.clear()
    assert registry.upload_dir("m", "1.0.0", tmp_path / "empty") == []
    assert not repository.writes
    registry.publish("m", "1.0.0")
    with pytest.raises(IllegalTransition, match="sealed"):
        registry.upload_dir("m", "1.0.0", tmp_path / "empty")


def test_a_folder_upload_holds_all_its_paths_from_its_first_write(
    counted: tuple[Registry, CountingRepository], tmp_path: Path
) -> None:
    """While the first file streams, another writer cannot take the path of the last."""
    registry, _ = counted
    src = _folder(tmp_path / "src", 4)
    last = "shard-0/part-0003.bin"
    refused: list[str] = []

    def meanwhile(moved: int) -> None:
        if refused:
            return
        with pytest.raises(Conflict, match="is being uploaded") as caught:
            registry.upload("m", "1.0.0", io.BytesIO(b"other bytes"), name=last)
        refused.append(str(caught.value))

    registry.upload_dir("m", "1.0.0", src, progress=meanwhile)
    assert refused
    assert registry.open_artifact("m", "1.0.0", last).read() == b"3"


def test_fsck_reports_and_drops_the_holds_of_a_dead_folder_upload_as_one(tmp_path: Path) -> None:
    repository = MemoryRepository()
    Registry(repository).create_model("m")
    Registry(repository).create_version("m", "1.0.0")
    src = _folder(tmp_path / "src", 4)
    dying = DiesAfter(repository, 1)  # the holds are written, then the process dies
    with pytest.raises(BackendError):
        Registry(dying).upload_dir("m", "1.0.0", src)  # type: ignore[arg-type]
    later = dt.datetime.now(dt.timezone.utc) + UPLOAD_LEASE + dt.timedelta(minutes=1)
    after = Registry(repository, clock=lambda: later)
    report = after.fsck()
    assert report.problems == (
        "an upload of 'm/1.0.0/shard-0/part-0000.bin' and 3 more files died and left its hold",
    )
    after.fsck(repair=True)
    assert after.fsck().ok
    assert len(after.upload_dir("m", "1.0.0", src)) == 4
