"""``copy_blob``, the optional repository copy of `registry_core.protocol`, on every backend:
memory, a local folder, S3 (moto), GCS (fake-gcs-server), SQLite, PostgreSQL, MariaDB, and
PostgreSQL with its artifacts in S3 or GCS. Then what only one store shows: the local
folder's hard link (one inode, two names), its fsyncs and its fallback to a copy; S3's
multipart copy of a large object; retries of a copy request that failed or lost its answer.

A missing server package or database skips its tests, and fails them under ``CI``
(`servers.require`, `sql_support.server`), as in the other backend tests.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from servers import BUCKET, S3_CREDENTIALS, Proxy, gcs_options, require, s3_options
from sql_support import fresh_repository, server

from registry_backends.files import FilesRepository, open_files
from registry_core import MemoryRepository
from registry_core.errors import InvalidPath, NotFound
from registry_core.protocol import Repository

MiB = 2**20


class Copying(Repository, Protocol):
    def copy_blob(self, source: str, target: str) -> None: ...


# -- the servers' buckets ---------------------------------------------------------------------


def _url(scheme: str) -> str:
    return f"{scheme}://{BUCKET}/{uuid.uuid4().hex[:12]}"


# -- one repository of each kind ----------------------------------------------------------------


@contextlib.contextmanager
def _sql_with_artifacts(kind: str, artifacts: str, **options: Any) -> Iterator[Repository]:
    """A new PostgreSQL schema whose artifacts are in ``artifacts``; dropped afterwards."""
    require("sqlalchemy", "psycopg", extra="postgres")
    from registry_backends.sql import open_sql

    where = server(kind)
    url, name = where.create()
    try:
        repository = open_sql(url, artifacts=artifacts, **options)
        try:
            yield repository
        finally:
            repository.close()
    finally:
        where.drop(name)


@contextlib.contextmanager
def _sqlite_in_memory_fs(tmp_path: Path) -> Iterator[Repository]:
    """SQLite with its artifacts in fsspec's ``memory://`` (`FsspecBlobStore`)."""
    import fsspec

    from registry_backends.sql import open_sql

    root = f"memory://copy-{uuid.uuid4().hex[:12]}"
    repository = open_sql(f"sqlite:///{tmp_path}/registry.db", artifacts=root)
    try:
        yield repository
    finally:
        repository.close()
        fs = fsspec.filesystem("memory")
        with contextlib.suppress(FileNotFoundError):
            fs.rm(root.removeprefix("memory://"), recursive=True)


@contextlib.contextmanager
def _open(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    if kind == "memory":
        yield MemoryRepository()
    elif kind == "files":
        yield open_files(str(tmp_path / "registry"))
    elif kind == "files-s3":
        from registry_backends.files.s3 import open_s3

        yield open_s3(_url("s3"), **s3_options(request.getfixturevalue("s3_bucket")))
    elif kind == "files-gcs":
        from registry_backends.files.gcs import open_gcs

        yield open_gcs(_url("gs"), **gcs_options(request.getfixturevalue("gcs_bucket")))
    elif kind in ("sqlite", "postgresql", "mysql"):
        with fresh_repository(kind) as (repository, _):
            yield repository
    elif kind == "sqlite-fsspec":
        with _sqlite_in_memory_fs(tmp_path) as repository:
            yield repository
    elif kind == "postgresql-s3":
        options = s3_options(request.getfixturevalue("s3_bucket"))
        with _sql_with_artifacts("postgresql", _url("s3"), **options) as repository:
            yield repository
    elif kind == "postgresql-gcs":
        options = gcs_options(request.getfixturevalue("gcs_bucket"))
        with _sql_with_artifacts("postgresql", _url("gs"), **options) as repository:
            yield repository
    else:
        raise AssertionError(kind)


STORES = ["files", "files-s3", "files-gcs", "sqlite", "sqlite-fsspec", "postgresql", "mysql"]
STORES += ["postgresql-s3", "postgresql-gcs"]


@pytest.fixture(params=["memory", *STORES])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Copying]:
    """Every backend that has ``copy_blob``."""
    with _open(request.param, request, tmp_path) as repository:
        yield repository  # type: ignore[misc]


@pytest.fixture(params=STORES)
def files_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Copying]:
    """The backends whose blobs share a root with their own files (the files backend's
    blob methods, also under SQL): they have reserved names."""
    with _open(request.param, request, tmp_path) as repository:
        yield repository  # type: ignore[misc]


def _write(repo: Repository, name: str, data: bytes) -> None:
    writer = repo.open_blob_writer(name)
    writer.write(data)
    writer.commit()


def _read(repo: Repository, name: str) -> bytes:
    with repo.open_blob(name) as stream:
        return stream.read()


SOURCE = "m/1.0.0/weights.bin"
TARGET = "n/2.0.0/model/weights.bin"


# -- every backend ----------------------------------------------------------------------------


def test_a_copy_holds_the_bytes_and_the_source_stays(repo: Copying) -> None:
    data = os.urandom(MiB + 17)
    _write(repo, SOURCE, data)
    repo.copy_blob(SOURCE, TARGET)
    assert _read(repo, TARGET) == data
    assert _read(repo, SOURCE) == data


def test_a_copy_replaces_the_blob_at_the_target(repo: Copying) -> None:
    _write(repo, SOURCE, b"new bytes")
    _write(repo, TARGET, b"old bytes, longer than the new ones")
    repo.copy_blob(SOURCE, TARGET)
    assert _read(repo, TARGET) == b"new bytes"


def test_copying_a_missing_blob_is_not_found_and_leaves_the_target(repo: Copying) -> None:
    _write(repo, TARGET, b"kept")
    with pytest.raises(NotFound):
        repo.copy_blob("m/1.0.0/absent.bin", TARGET)
    assert _read(repo, TARGET) == b"kept"
    assert sorted(repo.list_blobs("")) == [TARGET]


def test_a_folder_is_not_a_blob_to_copy(repo: Copying) -> None:
    _write(repo, SOURCE, b"x")
    with pytest.raises(NotFound):
        repo.copy_blob("m/1.0.0", TARGET)
    assert sorted(repo.list_blobs("")) == [SOURCE]


def test_the_copy_is_listed(repo: Copying) -> None:
    _write(repo, SOURCE, b"x")
    repo.copy_blob(SOURCE, TARGET)
    assert sorted(repo.list_blobs("n")) == [TARGET]
    assert sorted(repo.list_blobs("n/2.0.0")) == [TARGET]
    assert sorted(repo.list_blobs("")) == [SOURCE, TARGET]


def test_deleting_the_source_leaves_the_copy_readable(repo: Copying) -> None:
    data = os.urandom(4096)
    _write(repo, SOURCE, data)
    repo.copy_blob(SOURCE, TARGET)
    repo.delete_blobs("m")
    assert sorted(repo.list_blobs("")) == [TARGET]
    assert _read(repo, TARGET) == data
    with pytest.raises(NotFound):
        _read(repo, SOURCE)


def test_deleting_the_copy_leaves_the_source_readable(repo: Copying) -> None:
    _write(repo, SOURCE, b"source")
    repo.copy_blob(SOURCE, TARGET)
    repo.delete_blobs("n/2.0.0")
    assert _read(repo, SOURCE) == b"source"


def test_replacing_the_source_later_leaves_the_copy_as_it_was(repo: Copying) -> None:
    _write(repo, SOURCE, b"first")
    repo.copy_blob(SOURCE, TARGET)
    _write(repo, SOURCE, b"second")
    assert _read(repo, TARGET) == b"first"
    assert _read(repo, SOURCE) == b"second"


def test_a_copy_onto_itself_keeps_the_blob(repo: Copying) -> None:
    _write(repo, SOURCE, b"same")
    repo.copy_blob(SOURCE, SOURCE)
    assert _read(repo, SOURCE) == b"same"
    assert sorted(repo.list_blobs("")) == [SOURCE]
    with pytest.raises(NotFound):
        repo.copy_blob(TARGET, TARGET)


def test_an_empty_blob_copies(repo: Copying) -> None:
    _write(repo, SOURCE, b"")
    repo.copy_blob(SOURCE, TARGET)
    assert _read(repo, TARGET) == b""


# -- the files backend's names (also under SQL) -------------------------------------------------


@pytest.mark.parametrize("reserved", [".modelreg/docs/x.json", ".MODELREG/tmp/t", ".modelreg"])
def test_a_copy_into_the_backends_own_files_is_refused(files_repo: Copying, reserved: str) -> None:
    _write(files_repo, SOURCE, b"x")
    with pytest.raises(InvalidPath):
        files_repo.copy_blob(SOURCE, reserved)
    assert sorted(files_repo.list_blobs("")) == [SOURCE]


def test_the_backends_own_files_are_no_source(files_repo: Copying) -> None:
    files_repo.put_if_absent(("models", "m"), {"name": "m"})  # a file in .modelreg/docs
    for reserved in (".modelreg/docs/models/m.json", ".modelreg/format.json", ".modelreg"):
        with pytest.raises(NotFound):
            files_repo.copy_blob(reserved, TARGET)
    assert list(files_repo.list_blobs("")) == []


@pytest.mark.parametrize("unsafe", ["../outside", "m//x", "m/./x", "/abs"])
def test_an_unsafe_name_is_refused(files_repo: Copying, unsafe: str) -> None:
    _write(files_repo, SOURCE, b"x")
    with pytest.raises(InvalidPath):
        files_repo.copy_blob(SOURCE, unsafe)
    with pytest.raises(InvalidPath):
        files_repo.copy_blob(unsafe, TARGET)


# -- a local folder: one inode, two names ------------------------------------------------------


@pytest.fixture(params=["files", "sqlite"])
def local(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Copying, Path]]:
    """A repository whose blobs are in a local folder, and that folder."""
    if request.param == "files":
        yield open_files(str(tmp_path)), tmp_path  # type: ignore[misc]
        return
    from registry_backends.sql import open_sql

    repository = open_sql(f"sqlite:///{tmp_path}/registry.db", artifacts=str(tmp_path / "blobs"))
    try:
        yield repository, tmp_path / "blobs"  # type: ignore[misc]
    finally:
        repository.close()


def test_a_local_copy_is_a_hard_link(local: tuple[Copying, Path]) -> None:
    repo, root = local
    _write(repo, SOURCE, b"shared bytes")
    repo.copy_blob(SOURCE, TARGET)
    source, target = os.stat(root / SOURCE), os.stat(root / TARGET)
    assert (source.st_dev, source.st_ino) == (target.st_dev, target.st_ino)
    assert source.st_nlink == target.st_nlink == 2
    assert repo.temp_files(0) == []  # type: ignore[attr-defined]


def test_a_local_copy_replacing_a_blob_unlinks_the_old_one(local: tuple[Copying, Path]) -> None:
    repo, root = local
    _write(repo, SOURCE, b"source")
    _write(repo, TARGET, b"old")
    old = os.stat(root / TARGET)
    repo.copy_blob(SOURCE, TARGET)
    assert os.stat(root / TARGET).st_ino != old.st_ino
    assert os.stat(root / SOURCE).st_nlink == 2


def test_a_local_copy_onto_itself_leaves_one_link(local: tuple[Copying, Path]) -> None:
    repo, root = local
    _write(repo, SOURCE, b"same")
    repo.copy_blob(SOURCE, SOURCE)
    assert os.stat(root / SOURCE).st_nlink == 1
    assert repo.temp_files(0) == []  # type: ignore[attr-defined]


def test_a_local_copy_takes_the_place_of_an_empty_folder(local: tuple[Copying, Path]) -> None:
    repo, root = local
    _write(repo, SOURCE, b"bytes")
    (root / TARGET).mkdir(parents=True)  # left by deleted artifacts under that path
    repo.copy_blob(SOURCE, TARGET)
    assert _read(repo, TARGET) == b"bytes"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to name fds")
def test_a_local_copy_is_durable_before_it_returns(
    local: tuple[Copying, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a blob commit: the file is fsynced under its temp name, then renamed into
    place, then its new folder is fsynced (the store is durable by default)."""
    repo, root = local
    _write(repo, SOURCE, b"bytes")
    synced: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    repo.copy_blob(SOURCE, TARGET)
    monkeypatch.undo()
    temp = next(i for i, path in enumerate(synced) if "/.modelreg/tmp/copy-" in path)
    folder = os.path.realpath(root / "n" / "2.0.0" / "model")
    assert folder in synced[temp + 1 :], synced


@pytest.mark.parametrize("code", [errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP])
def test_where_links_fail_a_local_copy_copies_the_bytes(
    local: tuple[Copying, Path], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    repo, root = local
    data = os.urandom(3 * MiB + 5)
    _write(repo, SOURCE, data)

    def no_link(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", no_link)
    repo.copy_blob(SOURCE, TARGET)
    with pytest.raises(NotFound):
        repo.copy_blob("m/1.0.0/absent.bin", TARGET)
    with pytest.raises(NotFound):
        repo.copy_blob("m/1.0.0", TARGET)  # a folder: no link, then not a file to copy
    monkeypatch.undo()
    assert _read(repo, TARGET) == data
    assert _read(repo, SOURCE) == data
    assert os.stat(root / SOURCE).st_ino != os.stat(root / TARGET).st_ino
    assert os.stat(root / SOURCE).st_nlink == 1
    assert repo.temp_files(0) == []  # type: ignore[attr-defined]


def test_a_failed_local_copy_leaves_no_temp_file(
    local: tuple[Copying, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, root = local
    _write(repo, SOURCE, b"bytes")
    _write(repo, TARGET, b"kept")
    real = os.replace

    def failing(source: str, target: str) -> None:
        if "/.modelreg/tmp/copy-" in str(source):
            raise OSError(errno.EIO, "injected")
        real(source, target)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(Exception, match="EIO"):
        repo.copy_blob(SOURCE, TARGET)
    monkeypatch.undo()
    assert _read(repo, TARGET) == b"kept"
    assert os.stat(root / SOURCE).st_nlink == 1
    assert repo.temp_files(0) == []  # type: ignore[attr-defined]


# -- S3 and GCS: server-side copies -------------------------------------------------------------


def test_s3_copies_a_large_object_in_parts(s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the CopyObject limit (made small here), UploadPartCopy parts completed as one
    multipart upload, which leaves no unfinished upload behind."""
    import boto3

    from registry_backends.files import s3
    from registry_backends.files.s3 import open_s3

    monkeypatch.setattr(s3, "COPY_LIMIT", 5 * MiB)
    monkeypatch.setattr(s3, "COPY_PART", 5 * MiB)  # S3's smallest part
    url = _url("s3")
    repo = open_s3(url, **s3_options(s3_bucket))
    data = os.urandom(12 * MiB + 123)
    _write(repo, SOURCE, data)
    repo.copy_blob(SOURCE, TARGET)
    assert _read(repo, TARGET) == data
    client = boto3.client(
        "s3",
        endpoint_url=s3_bucket,
        aws_access_key_id=S3_CREDENTIALS["key"],
        aws_secret_access_key=S3_CREDENTIALS["secret"],
        region_name="us-east-1",
    )
    prefix = url.removeprefix(f"s3://{BUCKET}/")
    head = client.head_object(Bucket=BUCKET, Key=f"{prefix}/{TARGET}")
    assert head["ETag"].endswith('-3"'), head["ETag"]  # three parts: 5 + 5 + 2 MiB
    assert client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", []) == []


def test_s3_copy_of_a_missing_large_object_is_not_found(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_backends.files import s3
    from registry_backends.files.s3 import open_s3

    monkeypatch.setattr(s3, "COPY_LIMIT", 0)
    repo = open_s3(_url("s3"), **s3_options(s3_bucket))
    with pytest.raises(NotFound):
        repo.copy_blob(SOURCE, TARGET)


def _remote(scheme: str, endpoint: str) -> FilesRepository:
    if scheme == "s3":
        from registry_backends.files.s3 import open_s3

        return open_s3(_url("s3"), **s3_options(endpoint))
    from registry_backends.files.gcs import open_gcs

    return open_gcs(_url("gs"), **gcs_options(endpoint))


def _is_copy(scheme: str) -> Callable[[str, str], bool]:
    """Which proxied request is the copy: S3's PUT with a copy source at the target,
    GCS's POST to ``rewriteTo``."""
    if scheme == "s3":
        return lambda method, path: method == "PUT" and path.endswith("model/weights.bin")
    return lambda method, path: method == "POST" and "/rewriteTo/" in path


@pytest.mark.parametrize("fault", ["503", "drop-before", "drop-after"])
@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_copy_request_that_fails_or_loses_its_answer_is_retried(
    request: pytest.FixtureRequest, scheme: str, fault: str
) -> None:
    """Sent again, a copy gives the same object: a lost answer does no harm."""
    endpoint = request.getfixturevalue("s3_bucket" if scheme == "s3" else "gcs_bucket")
    with Proxy(endpoint) as proxy:
        repo = _remote(scheme, proxy.url)
        _write(repo, SOURCE, b"copied once or twice")
        proxy.fail_next(_is_copy(scheme), fault)
        repo.copy_blob(SOURCE, TARGET)
        assert proxy.faults_done == [fault]
        assert sum(1 for m, p in proxy.requests if _is_copy(scheme)(m, p)) == 2
        assert _read(repo, TARGET) == b"copied once or twice"
        assert sorted(repo.list_blobs("")) == [SOURCE, TARGET]


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_remote_copy_sends_no_bytes_through_the_client(
    request: pytest.FixtureRequest, scheme: str
) -> None:
    """Server-side: no GET of the object and no upload, one copy request (S3 first asks
    for the size, with a HEAD)."""
    endpoint = request.getfixturevalue("s3_bucket" if scheme == "s3" else "gcs_bucket")
    with Proxy(endpoint) as proxy:
        repo = _remote(scheme, proxy.url)
        _write(repo, SOURCE, os.urandom(MiB))
        proxy.reset()
        repo.copy_blob(SOURCE, TARGET)
        methods = sorted(method for method, _ in proxy.requests)
    assert methods == (["HEAD", "PUT"] if scheme == "s3" else ["POST"]), proxy.requests
