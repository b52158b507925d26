"""A SQL registry whose artifacts live in an object store: PostgreSQL with
``?artifacts=s3://...`` on moto's S3 and ``?artifacts=gs://...`` on fake-gcs-server.

Such a store is the files backend's `S3Store` / `GCSStore`: a blob streams to its final
name as a multipart (S3) or resumable (GCS) upload that ``commit`` completes. The tests
show the round trip, that no temp object is written and nothing is copied (the requests
through a counting proxy, and the bucket listed in the middle of an upload), that an
aborted or killed upload leaves no visible blob, and that blobs written the old way
(`FsspecBlobStore`: a temp object moved into place) are found by the new stores.

PostgreSQL comes from ``$MODELREG_TEST_POSTGRES_URL`` (a schema per test); without it the
tests skip, and under ``CI`` they fail, as the other SQL server tests do. A missing driver
package skips the tests of its store, and fails them under ``CI`` (`require`).
"""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from servers import BUCKET, S3_CREDENTIALS, Proxy, require
from sql_support import SqlConformance, server, server_machine_settings

require("sqlalchemy", "psycopg", extra="postgres")

import sqlalchemy as sa  # noqa: E402

from registry_backends import open_registry  # noqa: E402
from registry_backends._install import install_command  # noqa: E402
from registry_backends.files import FilesRepository  # noqa: E402
from registry_backends.sql import SqlRepository, open_sql  # noqa: E402
from registry_backends.sql._blobs import FsspecBlobStore, open_blob_store  # noqa: E402
from registry_backends.sql._engine import make_engine, parse_url  # noqa: E402
from registry_backends.sql._migrate import prepare  # noqa: E402
from registry_core import Registry  # noqa: E402
from registry_core.errors import BackendNotInstalled, InvalidInput  # noqa: E402
from registry_core.protocol import Repository  # noqa: E402
from registry_core.testing import ACCESS_SAMPLE  # noqa: E402

MiB = 2**20


# -- the two object stores ------------------------------------------------------------------


class ObjectStore:
    """One test server's bucket: the options that reach it, and a raw view of its objects
    that bypasses modelreg (what another client of the bucket would see)."""

    scheme: ClassVar[str]
    part_size: ClassVar[int]  # small parts, so that a few MiB make a multipart upload

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def url(self) -> str:
        return f"{self.scheme}://{BUCKET}/{uuid.uuid4().hex[:12]}"

    def options(self, endpoint: str | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def keys(self, url: str) -> dict[str, int]:
        """Every object under the URL's prefix (name relative to it -> size)."""
        raise NotImplementedError

    def uploads(self, url: str) -> list[str]:
        """Unfinished uploads under the prefix (S3 lists them; GCS cannot)."""
        return []

    def env(self) -> dict[str, str]:
        """Environment variables that point the driver at this server, with no options."""
        raise NotImplementedError


class S3(ObjectStore):
    scheme = "s3"
    part_size = 5 * MiB  # S3's smallest part

    def __init__(self, endpoint: str) -> None:
        import boto3

        super().__init__(endpoint)
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=S3_CREDENTIALS["key"],
            aws_secret_access_key=S3_CREDENTIALS["secret"],
            region_name="us-east-1",
        )

    def options(self, endpoint: str | None = None) -> dict[str, Any]:
        return {"endpoint_url": endpoint or self.endpoint, **S3_CREDENTIALS}

    def keys(self, url: str) -> dict[str, int]:
        prefix = _prefix(url) + "/"
        found = self.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return {o["Key"][len(prefix) :]: o["Size"] for o in found.get("Contents", [])}

    def uploads(self, url: str) -> list[str]:
        prefix = _prefix(url) + "/"
        found = self.client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
        return sorted(u["Key"][len(prefix) :] for u in found.get("Uploads", []))

    def parts(self, url: str) -> int:
        """Parts stored so far by the unfinished uploads under the prefix."""
        prefix = _prefix(url) + "/"
        found = self.client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
        stored = 0
        for upload in found.get("Uploads", []):
            listed = self.client.list_parts(
                Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
            )
            stored += len(listed.get("Parts", []))
        return stored

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": S3_CREDENTIALS["key"],
            "AWS_SECRET_ACCESS_KEY": S3_CREDENTIALS["secret"],
        }


class GCS(ObjectStore):
    scheme = "gs"
    part_size = MiB  # a multiple of 256 KiB

    def options(self, endpoint: str | None = None) -> dict[str, Any]:
        return {"endpoint_url": endpoint or self.endpoint, "token": "anon", "project": "test"}

    def keys(self, url: str) -> dict[str, int]:
        import requests

        prefix = _prefix(url) + "/"
        answer = requests.get(f"{self.endpoint}/storage/v1/b/{BUCKET}/o", params={"prefix": prefix})
        answer.raise_for_status()
        items = answer.json().get("items", [])
        return {item["name"][len(prefix) :]: int(item["size"]) for item in items}

    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint}


def _prefix(url: str) -> str:
    return url.partition(f"{BUCKET}/")[2]


@pytest.fixture(scope="session")
def s3_store(request: pytest.FixtureRequest) -> S3:
    """moto's S3 with the test bucket (skipped without its packages; failed under CI)."""
    require("boto3", extra="s3")
    return S3(request.getfixturevalue("s3_bucket"))


@pytest.fixture(scope="session")
def gcs_store(request: pytest.FixtureRequest) -> GCS:
    """fake-gcs-server with the test bucket (skipped without its packages; failed under CI)."""
    return GCS(request.getfixturevalue("gcs_bucket"))


@pytest.fixture(params=["s3", "gs"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    found: ObjectStore = request.getfixturevalue(
        "s3_store" if request.param == "s3" else "gcs_store"
    )
    return found


@pytest.fixture
def database() -> Iterator[str]:
    """The URL (no ``artifacts``) of a new, empty PostgreSQL schema; dropped afterwards."""
    where = server("postgresql")
    url, name = where.create()
    try:
        yield url
    finally:
        where.drop(name)


def _with_artifacts(database: str, artifacts: str) -> str:
    return (
        sa.make_url(database)
        .update_query_dict({"artifacts": artifacts})
        .render_as_string(hide_password=False)
    )


@pytest.fixture
def artifacts(store: ObjectStore) -> str:
    return store.url()


@pytest.fixture
def repo(database: str, store: ObjectStore, artifacts: str) -> Iterator[SqlRepository]:
    opened = open_sql(
        _with_artifacts(database, artifacts), **store.options(), part_size=store.part_size
    )
    try:
        yield opened
    finally:
        opened.close()


# -- the round trip -------------------------------------------------------------------------


def test_upload_publish_download_and_verify_round_trip(
    repo: SqlRepository, store: ObjectStore, artifacts: str, tmp_path: Path
) -> None:
    weights = os.urandom(2 * store.part_size + 12345)  # a multipart / resumable upload
    (tmp_path / "weights.bin").write_bytes(weights)
    registry = Registry(repo)
    registry.create_model("team/fraud")
    registry.create_version("team/fraud", "1.0.0")
    registry.upload("team/fraud", "1.0.0", tmp_path / "weights.bin", subfolder="model")
    registry.upload("team/fraud", "1.0.0", io.BytesIO(b'{"k": 1}'), name="config.json")
    registry.publish("team/fraud", "1.0.0")

    assert store.keys(artifacts) == {
        "team/fraud/1.0.0/model/weights.bin": len(weights),
        "team/fraud/1.0.0/config.json": 8,
    }  # nothing else: no temp object, no files-registry marker
    assert store.uploads(artifacts) == []
    written = registry.download("team/fraud", "1.0.0", tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "config.json",
        "model/weights.bin",
    ]
    assert (tmp_path / "out/model/weights.bin").read_bytes() == weights
    assert registry.verify("team/fraud", "1.0.0").ok
    assert f"artifacts={artifacts!r}" in repr(repo)

    registry.delete_version("team/fraud", "1.0.0")
    assert store.keys(artifacts) == {}


def test_the_environment_alone_reaches_the_store(
    database: str, store: ObjectStore, artifacts: str, tmp_path: Path
) -> None:
    """No options: the drivers read AWS_ENDPOINT_URL / STORAGE_EMULATOR_HOST and the
    credentials themselves, as for a files registry (in a child: drivers cache clients)."""
    source = tmp_path / "w.bin"
    source.write_bytes(os.urandom(3 * MiB))
    child = """
import sys
from registry_backends import open_registry
registry = open_registry(sys.argv[1])
registry.create_model("m")
registry.create_version("m", "1.0.0")
registry.upload("m", "1.0.0", sys.argv[2])
registry.publish("m", "1.0.0")
print(registry.verify("m", "1.0.0").ok)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STORAGE_"))}
    env.update(store.env())
    url = _with_artifacts(database, artifacts)
    done = subprocess.run(
        [sys.executable, "-c", child, url, str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert store.keys(artifacts) == {"m/1.0.0/w.bin": 3 * MiB}


# -- straight to the final name ---------------------------------------------------------------


def _target(path: str) -> tuple[str, dict[str, list[str]]]:
    """The decoded path and the query of a request's target."""
    parts = urlsplit(path)
    return unquote(parts.path), parse_qs(parts.query, keep_blank_values=True)


def test_an_upload_writes_only_its_final_name_and_copies_nothing(
    database: str, store: ObjectStore, artifacts: str, tmp_path: Path
) -> None:
    """Every request of an upload through the counting proxy names the blob's final key:
    no temp object, no copy (CopyObject / rewriteTo), no delete. The old `FsspecBlobStore`
    path, through the same proxy, shows them: the check sees what it looks for."""
    (tmp_path / "w.bin").write_bytes(os.urandom(2 * store.part_size + 1))
    final = f"{_prefix(artifacts)}/m/1.0.0/w.bin"
    with Proxy(store.endpoint) as proxy:
        options = {**store.options(proxy.url), "part_size": store.part_size}
        repo = open_sql(_with_artifacts(database, artifacts), **options)
        try:
            registry = Registry(repo)
            registry.create_model("m")
            registry.create_version("m", "1.0.0")
            proxy.reset()
            registry.upload("m", "1.0.0", tmp_path / "w.bin")
            requests = list(proxy.requests)
        finally:
            repo.close()
        old = _old_store(store, artifacts, proxy.url)
        proxy.reset()
        writer = old.open_blob_writer("m/1.0.1/w.bin")
        writer.write((tmp_path / "w.bin").read_bytes())
        writer.commit()
        old_requests = list(proxy.requests)

    assert requests, "the upload went around the proxy"
    assert not any(_copies_or_temp(store, m, p, final) for m, p in requests), requests
    assert store.keys(artifacts) == {
        "m/1.0.0/w.bin": 2 * store.part_size + 1,
        "m/1.0.1/w.bin": 2 * store.part_size + 1,
    }
    shapes = [(m, *_target(p)) for m, p in requests]
    if store.scheme == "s3":  # 3 parts: create, 3 x UploadPart, complete; nothing else
        assert [(m, sorted(q)) for m, _, q in shapes] == [
            ("POST", ["uploads"]),
            *[("PUT", ["partNumber", "uploadId"])] * 3,
            ("POST", ["uploadId"]),
        ]
        assert {path for _, path, _ in shapes} == {f"/{BUCKET}/{final}"}
    else:  # a resumable session for the final name, and its 3 chunks
        assert [m for m, _, _ in shapes] == ["POST", "PUT", "PUT", "PUT"]
        assert {path for _, path, _ in shapes} == {f"/upload/storage/v1/b/{BUCKET}/o"}
        assert {q["name"][0] for _, _, q in shapes} == {final}
    assert any(_copies_or_temp(store, m, p, final) for m, p in old_requests), old_requests


def _copies_or_temp(store: ObjectStore, method: str, path: str, final: str) -> bool:
    """Whether a request touches a temp object, copies or deletes anything."""
    key, query = _target(path)
    if ".modelreg/tmp" in unquote(path) or method == "DELETE":
        return True
    if store.scheme == "gs":
        return any(verb in key for verb in ("/rewriteTo/", "/copyTo/", "/moveTo/"))
    # S3: DeleteObjects is a POST ?delete; CopyObject a PUT with no query (its source in a
    # header), where a blob's own PUTs are parts or, under one part, a PutObject of itself
    return "delete" in query or (method == "PUT" and not query and key != f"/{BUCKET}/{final}")


def test_the_blob_appears_whole_at_commit_and_not_before(
    repo: SqlRepository, store: ObjectStore, artifacts: str
) -> None:
    data = os.urandom(2 * store.part_size + 777)
    writer = repo.open_blob_writer("m/1.0.0/w.bin")
    writer.write(data[: 2 * store.part_size + 1])  # two parts sent (or on their way)
    _wait_for_parts(store, artifacts, 1)
    assert store.keys(artifacts) == {}  # neither the blob nor any temp object
    if store.scheme == "s3":  # the parts belong to an upload of the final name itself
        assert store.uploads(artifacts) == ["m/1.0.0/w.bin"]
    writer.write(data[2 * store.part_size + 1 :])
    assert store.keys(artifacts) == {}
    writer.commit()
    assert store.keys(artifacts) == {"m/1.0.0/w.bin": len(data)}
    assert store.uploads(artifacts) == []
    with repo.open_blob("m/1.0.0/w.bin") as stream:
        assert stream.read() == data


def _wait_for_parts(store: ObjectStore, artifacts: str, count: int) -> None:
    """On S3, until the unfinished uploads hold ``count`` parts (GCS shows none)."""
    if not isinstance(store, S3):
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 30
    while store.parts(artifacts) < count:
        assert time.monotonic() < deadline, "the parts never arrived"
        time.sleep(0.05)


# -- interrupted uploads --------------------------------------------------------------------


def test_an_aborted_writer_leaves_nothing(
    repo: SqlRepository, store: ObjectStore, artifacts: str
) -> None:
    writer = repo.open_blob_writer("m/1.0.0/w.bin")
    writer.write(os.urandom(2 * store.part_size + 1))
    _wait_for_parts(store, artifacts, 1)
    writer.abort()
    assert store.keys(artifacts) == {}
    assert store.uploads(artifacts) == []  # aborted server-side too
    assert repo.temp_files(0) == []


class _Failing(io.RawIOBase):
    """A source that gives ``good`` bytes, then fails as a broken pipe would."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.left:
            raise OSError("the source went away")
        size = min(len(buffer), self.left)
        buffer[:size] = b"x" * size
        self.left -= size
        return size


def test_a_failed_upload_leaves_no_blob_and_no_manifest_entry(
    repo: SqlRepository, store: ObjectStore, artifacts: str
) -> None:
    registry = Registry(repo)
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    with pytest.raises(OSError, match="went away"):
        registry.upload("m", "1.0.0", _Failing(2 * store.part_size + 1), name="w.bin")
    assert registry.get_version("m", "1.0.0").artifacts == ()
    assert store.keys(artifacts) == {}
    assert store.uploads(artifacts) == []
    registry.upload("m", "1.0.0", io.BytesIO(b"again"), name="w.bin")  # the name is free
    assert store.keys(artifacts) == {"m/1.0.0/w.bin": 5}


_KILLED_CHILD = """
import json, sys, time
from registry_backends.sql import open_sql
from registry_core import Registry

url, options, total = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])

class Stalls:
    '''Gives ``total`` bytes, then hangs (a source that stopped sending).'''
    def __init__(self):
        self.left = total
    def read(self, size=-1):
        if not self.left:
            print("stalled", flush=True)
            time.sleep(3600)
        size = min(self.left, size if size > 0 else self.left)
        self.left -= size
        return b"x" * size

registry = Registry(open_sql(url, **options))
registry.upload("m", "1.0.0", Stalls(), name="w.bin")
"""


def test_a_killed_upload_leaves_no_visible_blob_and_fsck_finds_its_parts(
    database: str,
    store: ObjectStore,
    artifacts: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = _with_artifacts(database, artifacts)
    options = {**store.options(), "part_size": store.part_size}
    repo = open_sql(url, **options)
    try:
        registry = Registry(repo)
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        argv = [sys.executable, "-c", _KILLED_CHILD, url, json.dumps(options)]
        argv.append(str(3 * store.part_size + 1))
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "stalled"
            _wait_for_parts(store, artifacts, 2)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
            if child.stdout is not None:
                child.stdout.close()

        assert store.keys(artifacts) == {}  # nothing visible, no temp object
        assert registry.get_version("m", "1.0.0").artifacts == ()
        if store.scheme != "s3":  # GCS: a resumable session is not listable; it expires
            assert repo.temp_files(0) == []
            return
        assert store.uploads(artifacts) == ["m/1.0.0/w.bin"]
        (leftover,) = repo.temp_files(0)  # (moto dates every upload 2010: age not tested)
        assert leftover.startswith("m/1.0.0/w.bin?uploadId=")

        from registry_core import _maintenance

        monkeypatch.setattr(_maintenance, "TEMP_GRACE_SECONDS", 0.0)
        report = registry.fsck()
        assert any("1 temporary file(s)" in p for p in report.problems), report
        assert registry.fsck(repair=True).repaired
        assert store.uploads(artifacts) == []
        assert registry.fsck().ok
    finally:
        repo.close()


# -- the layout of the old FsspecBlobStore ----------------------------------------------------


def _old_store(store: ObjectStore, artifacts: str, endpoint: str | None = None) -> FilesRepository:
    """The blob store the SQL backend opened for this URL before: fsspec's filesystem and
    root (`fsspec.core.url_to_fs`), a temp object moved into place on commit."""
    import fsspec

    options = {**store.options(endpoint), "skip_instance_cache": True}
    fs, root = fsspec.core.url_to_fs(artifacts, **options)
    scheme = artifacts.partition("://")[0]
    return FilesRepository(FsspecBlobStore(fs, root.rstrip("/"), f"{scheme}://{root}"))


def _open_as_before(url: str, blobs: FilesRepository) -> SqlRepository:
    """A registry as `open_sql` opened it before: the same database, the old blob store."""
    target = parse_url(url)
    engine = make_engine(target)
    prepare(engine, target, upgrade=False)
    return SqlRepository(engine, target, blobs)


def test_blobs_written_the_old_way_are_read_the_new_way_and_back(
    database: str, store: ObjectStore, artifacts: str, tmp_path: Path
) -> None:
    url = _with_artifacts(database, artifacts)
    name = "héllo wörld.bin"  # a space and non-ASCII: the object names must agree exactly
    old_data, new_data = os.urandom(3 * MiB), os.urandom(2 * MiB)
    before = _open_as_before(url, _old_store(store, artifacts))
    try:
        old = Registry(before)
        old.create_model("team/m")
        old.create_version("team/m", "1.0.0")
        old.upload("team/m", "1.0.0", io.BytesIO(old_data), name=name, subfolder="sub dir")
        old.publish("team/m", "1.0.0")
    finally:
        before.close()
    written_before = store.keys(artifacts)
    assert written_before == {f"team/m/1.0.0/sub dir/{name}": len(old_data)}

    now = open_sql(url, **store.options())
    try:
        new = Registry(now)
        assert new.verify("team/m", "1.0.0").ok
        with new.open_artifact("team/m", "1.0.0", f"sub dir/{name}") as stream:
            assert stream.read() == old_data
        assert list(now.list_blobs("team/m/1.0.0")) == [f"team/m/1.0.0/sub dir/{name}"]
        new.create_version("team/m", "1.1.0")
        new.upload("team/m", "1.1.0", io.BytesIO(new_data), name=name, subfolder="sub dir")
        new.publish("team/m", "1.1.0")
    finally:
        now.close()
    assert store.keys(artifacts) == {
        **written_before,
        f"team/m/1.1.0/sub dir/{name}": len(new_data),
    }

    again = _open_as_before(url, _old_store(store, artifacts))  # a downgrade reads it too
    try:
        old = Registry(again)
        assert old.verify("team/m", "1.1.0").ok
        old.delete_version("team/m", "1.0.0")
    finally:
        again.close()
    now = open_sql(url, **store.options())
    try:
        Registry(now).delete_model("team/m", force=True)
    finally:
        now.close()
    assert store.keys(artifacts) == {}


def test_the_new_store_names_blobs_as_the_old_one_did(store: ObjectStore, artifacts: str) -> None:
    old = _old_store(store, artifacts)
    new = open_blob_store(artifacts, **store.options())
    names = ["m/1.0.0/a.bin", "m/1.0.0/deep/er/b c.txt", ".modelreg/2.0.0/ü.json"]
    for i, name in enumerate(names):
        writer = (old if i % 2 else new).open_blob_writer(name)
        writer.write(name.encode())
        writer.commit()
    for side in (old, new):
        assert sorted(side.list_blobs("")) == sorted(names)
        for name in names:
            with side.open_blob(name) as stream:
                assert stream.read() == name.encode()
    assert sorted(store.keys(artifacts)) == sorted(names)
    new.delete_blobs("")
    assert store.keys(artifacts) == {}


# -- options and drivers --------------------------------------------------------------------


def _tables(database: str) -> list[str]:
    engine = sa.create_engine(database)
    try:
        return sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_bad_options_are_refused_before_the_database_is_touched(
    database: str, store: ObjectStore, artifacts: str, tmp_path: Path
) -> None:
    url = _with_artifacts(database, artifacts)
    with pytest.raises(InvalidInput, match="colour"):
        open_sql(url, colour="blue", **store.options())
    with pytest.raises(InvalidInput, match="part_size"):
        open_sql(url, part_size=1000, **store.options())
    folder = _with_artifacts(database, str(tmp_path / "blobs"))
    with pytest.raises(InvalidInput, match="takes no options"):
        open_sql(folder, endpoint_url=store.endpoint)
    assert _tables(database) == []
    assert not (tmp_path / "blobs").exists()


@pytest.mark.parametrize(
    ("scheme", "modules", "extra"),
    [("s3", ["s3fs"], "s3"), ("gs", ["gcsfs", "gcsfs.core"], "gcs")],
)
def test_a_missing_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, database: str, scheme: str, modules: list[str], extra: str
) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled package looks like
    url = _with_artifacts(database, f"{scheme}://{BUCKET}/x")
    with pytest.raises(BackendNotInstalled) as caught:
        open_registry(url)
    assert install_command(extra) in str(caught.value)
    assert _tables(database) == []


def test_credentials_given_as_options_stay_out_of_repr(database: str, s3_store: S3) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    url = _with_artifacts(database, f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}")
    repo = open_sql(url, endpoint_url=s3_store.endpoint, key="k", secret=secret)
    try:
        assert secret not in repr(repo) and secret not in repr(Registry(repo))
    finally:
        repo.close()


# -- the conformance suite, blobs on S3 -------------------------------------------------------


class TestPostgresS3Artifacts(SqlConformance):
    """The whole suite on PostgreSQL with its blobs in moto's S3."""

    kind = "postgresql"
    state_machine_settings = server_machine_settings()
    # Its documents go through the same SqlRepository as TestPostgres, which walks the
    # whole permission matrix and tries every kill point; here a sample of each.
    access_cells = ACCESS_SAMPLE
    kill_stride = 2

    @pytest.fixture(autouse=True)
    def _bucket(self, s3_store: S3) -> None:
        self.s3 = s3_store

    def make_repository(self) -> SqlRepository:
        where = server(self.kind)
        base, name = where.create()
        url = _with_artifacts(base, self.s3.url())
        repository = open_sql(url, **self.s3.options())
        opener = functools.partial(open_sql, url, **self.s3.options())
        self.__dict__.setdefault("_made", {})[id(repository)] = (opener, name)
        return repository

    def repository_opener(self, repository: Repository) -> Callable[[], Repository]:
        opener: Callable[[], Repository] = self.__dict__["_made"][id(repository)][0]
        return opener

    def close_repository(self, repository: Repository) -> None:
        assert isinstance(repository, SqlRepository)
        repository.delete_blobs("")
        repository.close()
        _, name = self.__dict__["_made"].pop(id(repository))
        server(self.kind).drop(name)
