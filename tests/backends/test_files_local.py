"""The local files backend: the conformance suite, then what only a folder on disk shows."""

from __future__ import annotations

import errno
import functools
import importlib
import io
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_backends import known_schemes, open_registry
from registry_backends.files import FilesRepository, _keys, open_files
from registry_backends.files._posix import os_errors
from registry_core import Registry, Version
from registry_core.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    InvalidInput,
    InvalidPath,
    NotFound,
    SchemaError,
)
from registry_core.protocol import Repository
from registry_core.testing import ConformanceTests, run_threads


def _root(repository: Repository) -> str:
    assert isinstance(repository, FilesRepository)
    return repository.root


class TestLocalFiles(ConformanceTests):
    supports_processes = True

    def make_repository(self) -> FilesRepository:
        return open_files(tempfile.mkdtemp(prefix="modelreg-files-"))

    def repository_opener(self, repository: Repository) -> Callable[[], Repository]:
        return functools.partial(open_files, _root(repository))

    def close_repository(self, repository: Repository) -> None:
        shutil.rmtree(_root(repository), ignore_errors=True)


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "registry"


@pytest.fixture
def files(root: Path) -> FilesRepository:
    return open_files(str(root))


def _put_blob(repo: Repository, name: str, data: bytes) -> None:
    writer = repo.open_blob_writer(name)
    writer.write(data)
    writer.commit()


# -- layout -------------------------------------------------------------------------------


def test_artifacts_live_at_the_package_path_and_documents_are_readable_json(
    root: Path, files: FilesRepository
) -> None:
    registry = Registry(files)
    registry.create_model("Team/Fraud")
    registry.create_version("Team/Fraud", "1.2.0-RC.1")
    registry.upload("Team/Fraud", "1.2.0-RC.1", io.BytesIO(b"weights"), name="model/w.bin")
    assert (root / "Team/Fraud/1.2.0-RC.1/model/w.bin").read_bytes() == b"weights"
    marker = json.loads((root / ".modelreg/format.json").read_text())
    assert marker == {"format": "modelreg-files", "schema": 1}
    model = json.loads((root / ".modelreg/docs/models/team%2ffraud.json").read_text())
    assert model["data"]["name"] == "Team/Fraud" and "schema" in model["data"]
    (version_file,) = (root / ".modelreg/docs/versions/team%2ffraud").iterdir()
    assert version_file.name == Version.parse("1.2.0-RC.1").precedence_key + ".json"
    text = version_file.read_text()
    assert text.startswith('{\n "data": {') and '"schema": 1' in text


def test_a_rewrite_with_identical_data_changes_the_etag(files: FilesRepository) -> None:
    first = files.put_if_absent(("models", "m"), {"v": 1})
    second = files.compare_and_swap(("models", "m"), {"v": 1}, first)
    assert second != first
    with pytest.raises(Conflict):
        files.compare_and_swap(("models", "m"), {"v": 1}, first)


def test_deletes_remove_the_folders_they_empty(root: Path, files: FilesRepository) -> None:
    registry = Registry(files)
    registry.create_model("team/m")
    registry.create_version("team/m", "1.0.0")
    registry.upload("team/m", "1.0.0", io.BytesIO(b"x"), name="a/b/c.bin")
    registry.delete_model("team/m")
    assert sorted(p.name for p in root.iterdir()) == [".modelreg"]
    assert not (root / ".modelreg/docs/versions").exists()


def test_foreign_files_among_the_documents_are_ignored(root: Path, files: FilesRepository) -> None:
    files.put_if_absent(("models", "m"), {"v": 1})
    folder = root / ".modelreg/docs/models"
    for name in (".DS_Store", "Foo.json", "m.json.swp", "x%zz.json", "%4A.json"):
        (folder / name).write_text("{}")
    assert [segment for segment, _ in files.list_page(("models",))] == ["m"]


def test_an_empty_folder_left_where_a_blob_goes_is_replaced(
    root: Path, files: FilesRepository
) -> None:
    (root / "m/1.0.0/config").mkdir(parents=True)
    _put_blob(files, "m/1.0.0/config", b"file now")
    assert (root / "m/1.0.0/config").read_bytes() == b"file now"


# -- escaping -----------------------------------------------------------------------------

SEGMENTS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["/", "%", ".", "..", "a/b", "A", "a", "con", "NUL.txt", "x.json", "é", ""]),
    st.text(alphabet="aZ./%-_~é", min_size=190, max_size=320),
)


@given(segments=st.lists(SEGMENTS, min_size=1, max_size=6, unique=True))
def test_any_segments_round_trip_in_plain_string_order(segments: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        repo = open_files(folder)
        for i, segment in enumerate(segments):
            repo.put_if_absent(("models", segment), {"i": i})
            repo.put_if_absent(("versions", segment, "k"), {"i": i})
        listed = repo.list_page(("models",), limit=100)
        assert [segment for segment, _ in listed] == sorted(segments)
        assert [doc.data["i"] for _, doc in listed] == [segments.index(s) for s in sorted(segments)]
        for i, segment in enumerate(segments):
            assert [s for s, _ in repo.list_page(("versions", segment))] == ["k"]
            doc = repo.get(("models", segment))
            assert doc is not None and doc.data == {"i": i}
        reverse = repo.list_page(("models",), limit=2, reverse=True)
        assert [segment for segment, _ in reverse] == sorted(segments, reverse=True)[:2]
        repo.delete_tree(("versions",))
        assert repo.list_page(("versions", segments[0])) == []


@given(segment=SEGMENTS)
def test_escaped_names_are_portable(segment: str) -> None:
    parts = _keys.document_parts(("models", segment))
    for part in parts:
        assert re.fullmatch(r"[a-z0-9._%~-]+", part), part
        assert len(part.encode()) <= 205
        assert not part.startswith(".") and not part.endswith(".")
        assert part.split(".")[0] not in ("con", "prn", "aux", "nul", "com1", "lpt1")
    assert _keys.unescape(_keys.escape(segment)) == segment


def test_a_255_character_version_works_end_to_end(root: Path, files: FilesRepository) -> None:
    version = "1.0.0-" + "A" * 249
    assert len(version) == 255 and len(Version.parse(version).precedence_key) > 500
    registry = Registry(files)
    registry.create_model("m")
    registry.create_version("m", version)
    registry.create_version("m", "1.0.0-" + "A" * 248)
    registry.upload("m", version, io.BytesIO(b"w"), name="w.bin")
    registry.publish("m", version)
    assert str(registry.latest("m", include_prereleases=True).version) == version
    assert [str(v.version) for v in registry.list_versions("m").items][-1] == version
    assert (root / "m" / version / "w.bin").read_bytes() == b"w"
    with registry.open_artifact("m", version, "w.bin") as stream:
        assert stream.read() == b"w"
    registry.delete_version("m", version)
    assert [str(v.version) for v in registry.list_versions("m").items] == ["1.0.0-" + "A" * 248]


def test_latest_reads_only_the_documents_of_its_page(
    files: FilesRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(300):
        files.put_if_absent(("versions", "m", f"k{i:05d}"), {"i": i})
    reads: list[str] = []
    store = files._store
    real_read = store.read

    def counting_read(name: str) -> tuple[bytes, str] | None:
        reads.append(name)
        return real_read(name)

    monkeypatch.setattr(store, "read", counting_read)
    page = files.list_page(("versions", "m"), limit=8, reverse=True)
    assert [doc.data["i"] for _, doc in page] == list(range(299, 291, -1))
    assert len(reads) == 8


def test_writers_survive_deletes_that_prune_their_folders(files: FilesRepository) -> None:
    def churn(i: int) -> int:
        for round_ in range(30):
            files.put_if_absent(("versions", "m", f"k{i}"), {"round": round_})
            files.delete(("versions", "m", f"k{i}"))
            _put_blob(files, f"m/1.0.{i}/w.bin", b"w")
            files.delete_blobs(f"m/1.0.{i}")
        files.put_if_absent(("versions", "m", f"k{i}"), {"round": "last"})
        _put_blob(files, f"m/1.0.{i}/w.bin", b"last")
        return i

    assert run_threads(8, churn) == list(range(8))
    assert len(files.list_page(("versions", "m"))) == 8
    assert len(list(files.list_blobs("m"))) == 8


# -- blob names ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "m/../../x", "/etc/passwd", "m//x", "m/./x", "a\\b"])
def test_blob_names_that_could_escape_the_folder_are_refused(
    files: FilesRepository, name: str
) -> None:
    with pytest.raises(InvalidPath):
        files.open_blob_writer(name)
    with pytest.raises(InvalidPath):
        files.delete_blobs(name)


def test_the_registry_files_are_never_blobs(root: Path, files: FilesRepository) -> None:
    files.put_if_absent(("versions", "1.0.0", "x"), {"v": 1})
    for name in (".modelreg/docs/versions/1.0.0/x.json", ".MODELREG/Tmp/1.0.0/x", ".modelreg"):
        with pytest.raises(InvalidPath):
            files.open_blob_writer(name)
    with pytest.raises(NotFound):
        files.open_blob(".modelreg/format.json")
    _put_blob(files, ".modelreg/1.0.0/w.bin", b"a model named .modelreg")
    _put_blob(files, "m/1.0.0/w.bin", b"w")
    assert sorted(files.list_blobs("")) == [".modelreg/1.0.0/w.bin", "m/1.0.0/w.bin"]
    assert list(files.list_blobs(".modelreg")) == [".modelreg/1.0.0/w.bin"]
    files.delete_blobs(".modelreg/docs/versions/1.0.0")
    files.delete_blobs("")
    assert list(files.list_blobs("")) == []
    assert files.get(("versions", "1.0.0", "x")) is not None
    assert (root / ".modelreg/format.json").exists()


def test_a_folder_is_not_a_blob(files: FilesRepository) -> None:
    _put_blob(files, "m/1.0.0/sub/w.bin", b"w")
    for name in ("m/1.0.0/sub", "m/1.0.0/sub/w.bin/x", "m/2.0.0/w.bin"):
        with pytest.raises(NotFound):
            files.open_blob(name)


def test_upload_memory_stays_flat(files: FilesRepository) -> None:
    chunk = b"\0" * (1 << 20)
    tracemalloc.start()
    try:
        writer = files.open_blob_writer("m/1.0.0/big.bin")
        for _ in range(64):
            writer.write(chunk)
        writer.commit()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(chunk)


# -- crashes ------------------------------------------------------------------------------


def test_a_temp_file_left_by_a_crash_is_invisible_and_removable(
    root: Path, files: FilesRepository
) -> None:
    (root / ".modelreg/tmp").mkdir(exist_ok=True)
    left = root / ".modelreg/tmp/doc-123-abc.tmp"
    left.write_bytes(b'{"data": {"half": ')
    assert files.list_page(()) == [] and files.list_page(("models",)) == []
    assert list(files.list_blobs("")) == []
    assert files.temp_files(3600) == []
    assert files.temp_files(0) == [".modelreg/tmp/doc-123-abc.tmp"]
    assert files.remove_temp_files(0) == [".modelreg/tmp/doc-123-abc.tmp"]
    assert not left.exists() and files.temp_files(0) == []


_KILLED_WRITER = """
import os, sys
from registry_backends.files import open_files
writer = open_files(sys.argv[1]).open_blob_writer("m/1.0.0/w.bin")
writer.write(b"x" * (1 << 20))
os._exit(3)  # killed halfway through the upload
"""


def test_a_writer_killed_mid_upload_leaves_no_blob(root: Path, files: FilesRepository) -> None:
    _put_blob(files, "m/1.0.0/w.bin", b"old")
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(root)], check=False)
    assert done.returncode == 3
    with files.open_blob("m/1.0.0/w.bin") as stream:
        assert stream.read() == b"old"
    assert list(files.list_blobs("")) == ["m/1.0.0/w.bin"]
    (left,) = files.temp_files(0)
    assert left.startswith(".modelreg/tmp/blob-")
    files.remove_temp_files(0)
    assert files.temp_files(0) == []


_KILLED_DOCUMENT_WRITER = """
import os, sys
from registry_backends.files import open_files
repo = open_files(sys.argv[1])
setattr(os, sys.argv[2], lambda *args, **kwargs: os._exit(3))  # killed just before the move
if sys.argv[2] == "link":
    repo.put_if_absent(("models", "new"), {"v": "new"})
else:
    doc = repo.get(("models", "old"))
    repo.compare_and_swap(("models", "old"), {"v": "changed"}, doc.etag)
"""


@pytest.mark.parametrize("call", ["link", "replace"])
def test_a_writer_killed_before_its_move_leaves_documents_whole(
    root: Path, files: FilesRepository, call: str
) -> None:
    files.put_if_absent(("models", "old"), {"v": "old"})
    argv = [sys.executable, "-c", _KILLED_DOCUMENT_WRITER, str(root), call]
    assert subprocess.run(argv, check=False).returncode == 3
    assert [(s, dict(d.data)) for s, d in files.list_page(("models",))] == [("old", {"v": "old"})]
    assert len(files.temp_files(0)) == 1
    files.remove_temp_files(0)
    assert files.temp_files(0) == []


# -- opening ------------------------------------------------------------------------------


def test_open_files_creates_a_missing_folder_and_its_marker(tmp_path: Path) -> None:
    repo = open_files(str(tmp_path / "a" / "b"))
    assert repo.root == str(tmp_path / "a" / "b")
    assert repr(repo) == f"FilesRepository({str(tmp_path / 'a' / 'b')!r})"
    assert (tmp_path / "a/b/.modelreg/format.json").is_file()
    open_files(f"file://{tmp_path}/a/b").put_if_absent(("models", "m"), {})
    assert open_files(str(tmp_path / "a" / "b")).get(("models", "m")) is not None


def test_open_files_expands_home_and_resolves_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert open_files("~/reg").root == str(tmp_path / "home" / "reg")
    monkeypatch.chdir(tmp_path)
    assert open_files("rel").root == str(tmp_path / "rel")
    assert open_files("file://localhost" + str(tmp_path / "x%20y")).root == str(tmp_path / "x y")


def test_threads_opening_one_new_folder_all_get_the_registry(root: Path) -> None:
    opened = run_threads(8, lambda _: open_files(str(root)))
    assert all(isinstance(repo, FilesRepository) for repo in opened), opened


def test_open_files_refuses_a_folder_with_other_content(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInput, match=r"is not a modelreg registry .* and not empty"):
        open_files(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_open_files_refuses_a_newer_or_foreign_marker(root: Path, files: FilesRepository) -> None:
    marker = root / ".modelreg/format.json"
    marker.write_text('{"format": "modelreg-files", "schema": 2}')
    with pytest.raises(SchemaError, match="newer"):
        open_files(str(root))
    for text in ('{"format": "other", "schema": 1}', "not json", "[]"):
        marker.write_text(text)
        with pytest.raises(InvalidInput):
            open_files(str(root))


@pytest.mark.parametrize("url", ["", "file://", "file://host/x", "file:///x?y=1", "s3://b/x"])
def test_open_files_refuses_bad_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        open_files(url)


def test_open_files_refuses_a_file_and_options(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidInput, match="is a file"):
        open_files(str(tmp_path / "f"))
    with pytest.raises(InvalidInput):
        open_files(str(tmp_path / "f" / "below"))
    with pytest.raises(InvalidInput, match="no options"):
        open_files(str(tmp_path / "r"), colour="blue")


@pytest.mark.parametrize("as_url", [True, False])
def test_open_registry_opens_a_file_url_or_a_plain_path(tmp_path: Path, as_url: bool) -> None:
    assert "file" in known_schemes()
    location = f"file://{tmp_path}/reg" if as_url else str(tmp_path / "reg")
    registry = open_registry(location)
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    registry.upload("m", "1.0.0", io.BytesIO(b"w"), name="w.bin")
    registry.publish("m", "1.0.0")
    assert str(open_registry(location).latest("m").version) == "1.0.0"
    assert (tmp_path / "reg/m/1.0.0/w.bin").read_bytes() == b"w"


def test_without_fcntl_the_backend_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fcntl", None)
    with pytest.raises(BackendError, match="Windows"):
        open_files(str(tmp_path))


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file"), NotFound),
        (PermissionError(errno.EACCES, "Permission denied"), BackendError),
        (OSError(errno.ENOSPC, "No space left on device"), BackendError),
        (OSError(errno.EIO, "Input/output error"), BackendError),
    ],
)
def test_os_errors_map_to_the_error_tree_with_the_path(
    raised: OSError, expected: type[Exception]
) -> None:
    with pytest.raises(expected, match="/reg/x") as caught, os_errors("/reg/x"):
        raise raised
    assert caught.value.__cause__ is raised


# -- processes ----------------------------------------------------------------------------

PROCESSES = 8
ROUNDS = 50


def _create_rounds(root: str, worker: int, barrier: Any, queue: Any) -> None:
    repo = open_files(root)
    wins = []
    for round_ in range(ROUNDS):
        barrier.wait(timeout=60)
        try:
            repo.put_if_absent(("race", f"r{round_:03d}"), {"by": worker})
            wins.append(round_)
        except AlreadyExists:
            pass
    queue.put(wins)


def test_processes_creating_one_key_have_exactly_one_winner_each_round(
    files: FilesRepository,
) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [
        ctx.Process(target=_create_rounds, args=(files.root, i, barrier, queue))
        for i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    wins = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(r for won in wins for r in won) == list(range(ROUNDS))
    assert len(files.list_page(("race",), limit=1000)) == ROUNDS


# -- hygiene ------------------------------------------------------------------------------


def test_a_files_repository_is_a_repository(files: FilesRepository) -> None:
    assert isinstance(files, Repository)


@pytest.mark.parametrize("module", ["__init__", "_keys", "_posix", "_store", "local", "repository"])
def test_every_name_in_all_exists(module: str) -> None:
    name = "registry_backends.files" + ("" if module == "__init__" else f".{module}")
    imported = importlib.import_module(name)
    for public in imported.__all__:
        assert hasattr(imported, public), f"{name}.__all__ lists {public!r}, which is missing"
