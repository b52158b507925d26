"""The files backend reuses a folder's sorted listing only while the folder is unchanged."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from registry_backends.files import open_files
from registry_backends.files.repository import FilesRepository

PREFIX = ("versions", "m")


def _settle(folder: Path, seconds_ago: float) -> None:
    """Make the folder look untouched for a while (as a quiet, serving registry is)."""
    past = time.time_ns() - int(seconds_ago * 1e9)
    os.utime(folder, ns=(past, past))


@pytest.fixture
def repo(tmp_path: Path) -> FilesRepository:
    return open_files(str(tmp_path / "reg"))


def _folder(tmp_path: Path) -> Path:
    return tmp_path / "reg" / ".modelreg" / "docs" / "versions" / "m"


def _count_listings(repo: FilesRepository, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    store = repo._store
    original = store.list_names

    def counting(folder: str) -> list[str]:
        calls.append(folder)
        return original(folder)

    monkeypatch.setattr(repo._listings, "_list_names", counting)
    return calls


def test_a_settled_folder_is_listed_once(
    repo: FilesRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(20):
        repo.put_if_absent((*PREFIX, f"k{i:02d}"), {"i": i})
    _settle(_folder(tmp_path), 60)
    calls = _count_listings(repo, monkeypatch)
    for _ in range(5):
        page = repo.list_page(PREFIX, limit=3, reverse=True)
        assert [s for s, _ in page] == ["k19", "k18", "k17"]
    assert len(calls) == 1


def test_a_change_after_caching_is_always_seen(
    repo: FilesRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        repo.put_if_absent((*PREFIX, f"k{i}"), {"i": i})
    _settle(_folder(tmp_path), 60)
    assert repo.list_page(PREFIX, limit=1, reverse=True)[0][0] == "k4"
    repo.put_if_absent((*PREFIX, "k9"), {"i": 9})  # the folder's mtime moves to now
    assert repo.list_page(PREFIX, limit=1, reverse=True)[0][0] == "k9"
    repo.delete((*PREFIX, "k9"))
    _settle(_folder(tmp_path), 30)  # settled again, at another time: a new stamp
    assert repo.list_page(PREFIX, limit=1, reverse=True)[0][0] == "k4"


def test_a_recently_changed_folder_is_listed_every_time(
    repo: FilesRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        repo.put_if_absent((*PREFIX, f"k{i}"), {"i": i})
    calls = _count_listings(repo, monkeypatch)
    for _ in range(3):
        repo.list_page(PREFIX, limit=1)
    assert len(calls) == 3


def test_bounds_and_prefixes_work_on_a_kept_listing(repo: FilesRepository, tmp_path: Path) -> None:
    for name in ("a1", "a2", "b1", "b2", "c1"):
        repo.put_if_absent((*PREFIX, name), {})
    _settle(_folder(tmp_path), 60)
    repo.list_page(PREFIX)  # keep it
    segments = lambda **kw: [s for s, _ in repo.list_page(PREFIX, **kw)]  # noqa: E731
    assert segments(after="a2", before="c1") == ["b1", "b2"]
    assert segments(starts_with="b") == ["b1", "b2"]
    assert segments(starts_with="b", reverse=True) == ["b2", "b1"]
    assert segments(after="a1", reverse=True, limit=2) == ["c1", "b2"]
