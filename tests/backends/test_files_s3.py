"""The files backend on S3, against moto's S3 server: the conformance suite, then what only
an object store shows (request counts, retries, multipart uploads, URLs, credentials)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from servers import (
    BUCKET,
    FAULTS,
    S3_CREDENTIALS,
    ObjectStoreConformance,
    Proxy,
    free_port,
    fresh_url,
    object_store_machine,
    require,
    version_objects,
)

require("s3fs", "moto", "flask", extra="s3")

from registry_backends import known_schemes, open_registry  # noqa: E402
from registry_backends._install import install_command  # noqa: E402
from registry_backends.files import FilesRepository, _index, _keys, open_files  # noqa: E402
from registry_backends.files.s3 import open_s3  # noqa: E402
from registry_core import Registry, Version  # noqa: E402
from registry_core.errors import (  # noqa: E402
    AlreadyExists,
    BackendError,
    BackendNotInstalled,
    Conflict,
    InvalidInput,
)
from registry_core.protocol import Repository  # noqa: E402


@pytest.fixture(scope="session")
def s3_endpoint(s3_bucket: str) -> str:
    """moto, with the test bucket made."""
    return s3_bucket


def _options(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {"endpoint_url": endpoint, **S3_CREDENTIALS, **extra}


def _fresh_url() -> str:
    return fresh_url("s3")


class TestS3Files(ObjectStoreConformance):
    scheme = "s3"
    open_store = staticmethod(open_s3)
    store_options = staticmethod(_options)
    # Requests to a local HTTP server cost milliseconds: sized to keep this file under 3 min.
    state_machine_settings = object_store_machine(max_examples=10, steps=20)

    @pytest.fixture(autouse=True)
    def _server(self, s3_endpoint: str) -> None:
        self.endpoint = s3_endpoint


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
def raw(s3_endpoint: str) -> Any:
    """An s3fs filesystem on the same server, to look at the objects themselves."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True, **S3_CREDENTIALS)
    fs.invalidate_cache()
    return fs


@pytest.fixture
def url() -> str:
    return _fresh_url()


@pytest.fixture
def files(s3_endpoint: str, url: str) -> FilesRepository:
    return open_s3(url, **_options(s3_endpoint))


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[Proxy]:
    with Proxy(s3_endpoint) as running:
        yield running


def _prefix(url: str) -> str:
    return url.removeprefix(f"s3://{BUCKET}/")


def _objects(raw: Any, url: str) -> list[str]:
    raw.invalidate_cache()
    return sorted(name.split("/", 2)[2] for name in raw.find(f"{BUCKET}/{_prefix(url)}"))


def _uploads(raw: Any, url: str) -> list[str]:
    found = raw.call_s3("list_multipart_uploads", Bucket=BUCKET, Prefix=_prefix(url) + "/")
    return [upload["Key"] for upload in found.get("Uploads", [])]


def _load(objects: Iterator[tuple[str, bytes]]) -> None:
    """Put objects straight into moto's store (it runs in this process): fast test data."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for name, data in objects:
        backend.put_object(BUCKET, name, data)


def _ready_template(registry: Registry) -> dict[str, Any]:
    registry.create_model("m")
    registry.create_version("m", "0.0.1")
    registry.publish("m", "0.0.1")
    doc = registry._repo.get(("versions", "m", Version.parse("0.0.1").precedence_key))
    assert doc is not None
    return dict(doc.data)


def _put_blob(repo: Repository, name: str, data: bytes) -> None:
    writer = repo.open_blob_writer(name)
    writer.write(data)
    writer.commit()


# -- opening ------------------------------------------------------------------------------


def test_open_registry_opens_an_s3_url(s3_endpoint: str, url: str) -> None:
    assert {"s3", "gs", "gcs"} <= set(known_schemes())
    registry = open_registry(url, **_options(s3_endpoint))
    registry.create_model("m")
    assert repr(registry._repo) == f"FilesRepository({url!r})"
    assert repr(registry._repo._store) == f"S3Store({url!r})"  # type: ignore[attr-defined]
    assert open_registry(url, **_options(s3_endpoint)).get_model("m").name.value == "m"


@pytest.mark.parametrize(
    "bad",
    [
        "s3://",
        "s3:///prefix",
        "s3://ab/x",
        "s3://Upper/x",
        "s3://under_score/x",
        "s3://a..b/x",
        "s3://192.168.1.1/x",
        "s3://-bucket/x",
        f"s3://{BUCKET}/a//b",
        f"s3://{BUCKET}/a/../b",
        f"s3://{BUCKET}/x?region=eu",
        "gs://bucket/x",
    ],
)
def test_bad_urls_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        open_s3(bad, endpoint_url="http://127.0.0.1:9")


def test_unknown_options_and_tiny_parts_are_refused(s3_endpoint: str, url: str) -> None:
    with pytest.raises(InvalidInput, match="colour"):
        open_s3(url, colour="blue", **_options(s3_endpoint))
    with pytest.raises(InvalidInput, match="5 MiB"):
        open_s3(url, part_size=1024, **_options(s3_endpoint))


def test_a_missing_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, url: str
) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # what an uninstalled package looks like
    with pytest.raises(BackendNotInstalled) as caught:
        open_registry(url, **_options(s3_endpoint))
    assert install_command("s3") in str(caught.value)


def test_credentials_never_appear_in_errors_logs_or_repr(
    s3_endpoint: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    key, secret = "AKIA" + uuid.uuid4().hex[:16].upper(), "s3cr3t-" + uuid.uuid4().hex
    caplog.set_level(logging.DEBUG, logger="registry_backends")
    seen: list[str] = []
    with pytest.raises(InvalidInput) as bad_url:
        open_s3(f"s3://{key}:{secret}@{BUCKET}/x")
    seen.append(str(bad_url.value))
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendError) as failed:
        open_s3(url, endpoint_url=closed, key=key, secret=secret, max_attempts=2)
    error: BaseException | None = failed.value
    while error is not None:  # the whole chain
        seen += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    repo = open_s3(url, endpoint_url=s3_endpoint, key=key, secret=secret)
    seen += [repr(repo), repr(repo._store), repo.root]  # type: ignore[attr-defined]
    seen += [r.getMessage() for r in caplog.records if r.name.startswith("registry_backends")]
    assert seen and not [text for text in seen if key in text or secret in text]


# -- atomic primitives --------------------------------------------------------------------


def test_a_swap_is_one_put_and_a_stale_etag_changes_nothing(
    s3_endpoint: str, url: str, raw: Any, proxy: Proxy
) -> None:
    repo = open_s3(url, **_options(proxy.url))
    stale = repo.put_if_absent(("models", "m"), {"v": 1, "big": "x" * 200_000})
    fresh = repo.compare_and_swap(("models", "m"), {"v": 2}, stale)
    name = f"{BUCKET}/{_prefix(url)}/.modelreg/docs/models/m.json"
    before = raw.cat(name)
    proxy.reset()
    with pytest.raises(Conflict):
        repo.compare_and_swap(("models", "m"), {"v": 3}, stale)
    assert [m for m, _ in proxy.requests if m in ("PUT", "POST")] == ["PUT"]  # no multipart
    raw.invalidate_cache()
    assert raw.cat(name) == before
    doc = repo.get(("models", "m"))
    assert doc is not None and doc.data == {"v": 2} and doc.etag == fresh


def test_the_test_server_lets_one_conditional_put_win(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto checks If-Match, then writes; the fixture makes the two one step, as on S3.
    Widening the gap between them (a slow lookup) must still leave one winner."""
    import boto3
    from moto.s3.models import S3Backend

    slow_lookup = S3Backend.get_object

    def get_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = slow_lookup(self, *args, **kwargs)
        time.sleep(0.05)  # between moto's look at the ETag and its write
        return found

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_CREDENTIALS["key"],
        aws_secret_access_key=S3_CREDENTIALS["secret"],
    )
    key = f"race/{uuid.uuid4().hex}"
    etag = client.put_object(Bucket=BUCKET, Key=key, Body=b"start")["ETag"]
    monkeypatch.setattr(S3Backend, "get_object", get_object)
    wins: list[int] = []

    def swap(i: int) -> None:
        try:
            client.put_object(Bucket=BUCKET, Key=key, Body=b"w%d" % i, IfMatch=etag)
            wins.append(i)
        except client.exceptions.ClientError:
            pass

    threads = [threading.Thread(target=swap, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"w%d" % wins[0]


def test_a_create_whose_answer_was_lost_is_not_reported_as_existing(
    s3_endpoint: str, url: str, proxy: Proxy
) -> None:
    repo = open_s3(url, **_options(proxy.url))
    document = "/.modelreg/docs/models/m.json"
    proxy.fail_next(lambda method, path: method == "PUT" and path.endswith(document), "drop-after")
    etag = repo.put_if_absent(("models", "m"), {"v": 1})
    assert proxy.faults_done == ["drop-after"]
    assert [m for m, p in proxy.requests if p.endswith(document)] == ["PUT", "PUT", "GET"]
    doc = repo.get(("models", "m"))
    assert doc is not None and doc.data == {"v": 1} and doc.etag == etag
    with pytest.raises(AlreadyExists):
        repo.put_if_absent(("models", "m"), {"v": 2})
    assert [s for s, _ in repo.list_page(("models",))] == ["m"]


def test_a_swap_whose_answer_was_lost_is_not_reported_as_a_conflict(
    s3_endpoint: str, url: str, proxy: Proxy
) -> None:
    repo = open_s3(url, **_options(proxy.url))
    etag = repo.put_if_absent(("models", "m"), {"v": 1})
    proxy.fail_next(lambda method, path: method == "PUT" and path.endswith("m.json"), "drop-after")
    new = repo.compare_and_swap(("models", "m"), {"v": 2}, etag)
    doc = repo.get(("models", "m"))
    assert doc is not None and doc.data == {"v": 2} and doc.etag == new != etag


# -- request counts -----------------------------------------------------------------------


def test_latest_over_10000_versions_costs_at_most_3_requests(
    s3_endpoint: str, url: str, proxy: Proxy
) -> None:
    template = _ready_template(Registry(open_s3(url, **_options(s3_endpoint))))
    versions = [f"1.{i}.0" for i in range(10_000)]
    _load(version_objects(_prefix(url), "m", versions, template))
    registry = Registry(open_s3(url, **_options(proxy.url)))
    proxy.reset()
    assert str(registry.latest("m").version) == "1.9999.0"
    assert len(proxy.requests) <= 3, proxy.requests
    proxy.reset()
    page = registry.list_versions("m", order="-precedence", page_size=3)
    assert [str(v.version) for v in page.items] == ["1.9999.0", "1.9998.0", "1.9997.0"]
    assert sum(1 for method, _ in proxy.requests if method == "GET") <= 6  # list + 4 reads
    proxy.reset()
    assert str(registry.resolve("m", "~1.5000").version) == "1.5000.0"
    assert len(proxy.requests) <= 3, proxy.requests


def test_creating_a_version_costs_the_same_at_10_and_2000_versions(
    s3_endpoint: str, url: str, proxy: Proxy
) -> None:
    template = _ready_template(Registry(open_s3(url, **_options(s3_endpoint))))
    counts = {}
    for model, count in (("small", 10), ("large", 2000)):
        Registry(open_s3(url, **_options(s3_endpoint))).create_model(model)
        versions = [f"1.{i}.0" for i in range(count)]
        _load(version_objects(_prefix(url), model, versions, {**template, "model": model}))
        registry = Registry(open_s3(url, **_options(proxy.url)))
        proxy.reset()
        registry.create_version(model, "2.0.0")
        exact = len(proxy.requests)
        proxy.reset()
        assert str(registry.create_version(model, bump="patch").version) == "2.0.1"
        counts[model] = (exact, len(proxy.requests))
    assert counts["small"] == counts["large"], counts
    assert counts["large"][0] <= 6, counts  # model, document, two markers, model again


# -- retries ------------------------------------------------------------------------------


def test_transient_errors_are_retried_and_every_write_succeeds(s3_endpoint: str, url: str) -> None:
    big = os.urandom(12 * 2**20 + 3)  # three 5 MiB parts
    with Proxy(s3_endpoint, fail_every=3) as flaky:
        registry = Registry(open_s3(url, **_options(flaky.url, part_size=5 * 2**20)))
        registry.create_model("m")
        registry.create_model("gone")
        registry.create_version("gone", "1.0.0")
        registry.create_version("m", "1.0.0")
        registry.create_version("m", "1.1.0")
        registry.upload("m", "1.0.0", io.BytesIO(b"small"), name="small.bin")
        registry.upload("m", "1.0.0", io.BytesIO(big), name="big.bin")
        registry.log_metric("m", "1.0.0", "loss", 0.5)
        registry.publish("m", "1.0.0")
        registry.set_tag("m", "1.0.0", "team", "fraud")
        registry.set_alias("m", "prod", "1.0.0")
        registry.delete_version("m", "1.1.0")
        registry.delete_model("gone")
        with registry.open_artifact("m", "1.0.0", "big.bin") as stream:
            assert stream.read() == big
        assert set(flaky.faults_done) == set(FAULTS), flaky.faults_done
    check = Registry(open_s3(url, **_options(s3_endpoint)))
    assert [m.name.value for m in check.list_models().items] == ["m"]
    version = check.latest("m")
    assert str(version.version) == "1.0.0" and version.tags == {"team": "fraud"}
    assert sorted(a.path.value for a in version.artifacts) == ["big.bin", "small.bin"]
    assert [str(v.version) for v in check.list_versions("m").items] == ["1.0.0"]
    assert check.resolve("m", "prod").version == version.version
    assert check.verify("m", "1.0.0").ok
    # A lost answer to CreateMultipartUpload (a POST) leaves an unused upload behind: fsck
    # finds it as a temporary file (moto dates uploads 2010), never anything else.
    assert all("temporary file" in problem for problem in check.fsck().problems)


def test_a_multipart_upload_whose_completion_answer_was_lost_succeeds(
    s3_endpoint: str, url: str, proxy: Proxy
) -> None:
    repo = open_s3(url, **_options(proxy.url, part_size=5 * 2**20))
    data = os.urandom(11 * 2**20)

    def completion(method: str, path: str) -> bool:
        return method == "POST" and "uploadId=" in path

    proxy.fail_next(completion, "drop-after")
    _put_blob(repo, "m/1.0.0/w.bin", data)
    assert proxy.faults_done == ["drop-after"]
    with repo.open_blob("m/1.0.0/w.bin") as stream:
        assert stream.read() == data


def test_a_read_resumes_where_a_dropped_connection_left_it(
    s3_endpoint: str, url: str, files: FilesRepository, proxy: Proxy
) -> None:
    data = os.urandom(3 * 2**20)
    _put_blob(files, "m/1.0.0/w.bin", data)
    repo = open_s3(url, **_options(proxy.url))
    proxy.fail_next(lambda method, path: method == "GET" and path.endswith("w.bin"), "truncate")
    with repo.open_blob("m/1.0.0/w.bin") as stream:
        assert stream.read() == data
    gets = [p for m, p in proxy.requests if m == "GET" and p.endswith("w.bin")]
    assert len(gets) == 2 and proxy.faults_done == ["truncate"]


# -- blobs --------------------------------------------------------------------------------


_MEMORY_CHILD = """
import json, os, sys, tracemalloc
from registry_backends.files.s3 import open_s3
url, endpoint, key, secret = sys.argv[1:5]
repo = open_s3(url, endpoint_url=endpoint, key=key, secret=secret, part_size=5 * 2**20)
chunk = os.urandom(2**20)
tracemalloc.start()
writer = repo.open_blob_writer("m/1.0.0/big.bin")
for _ in range(64):
    writer.write(chunk)
writer.commit()
up = tracemalloc.get_traced_memory()[1]
tracemalloc.reset_peak()
with repo.open_blob("m/1.0.0/big.bin") as stream:
    same = stream.read(2**20) == chunk
    while stream.read(2**20):
        pass
down = tracemalloc.get_traced_memory()[1]
print(json.dumps({"up": up, "down": down, "same": same}))
"""


def test_an_upload_streams_in_parts_with_flat_memory(s3_endpoint: str, url: str) -> None:
    """Measured in a child process: moto runs in this one and keeps every part it gets."""
    credentials = [S3_CREDENTIALS["key"], S3_CREDENTIALS["secret"]]
    argv = [sys.executable, "-c", _MEMORY_CHILD, url, s3_endpoint, *credentials]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    peaks = json.loads(done.stdout)
    assert peaks["same"]
    # 64 MiB in 5 MiB parts: one part filling, four in flight, the 1 MiB chunk.
    assert peaks["up"] < 36 * 2**20, f"{peaks['up'] / 2**20:.1f} MiB held to upload 64 MiB"
    assert peaks["down"] < 8 * 2**20, f"{peaks['down'] / 2**20:.1f} MiB held to read 64 MiB"


def test_nothing_is_visible_until_commit_and_abort_leaves_nothing(
    s3_endpoint: str, url: str, raw: Any
) -> None:
    repo = open_s3(url, **_options(s3_endpoint, part_size=5 * 2**20))
    writer = repo.open_blob_writer("m/1.0.0/w.bin")
    writer.write(os.urandom(12 * 2**20))  # two parts sent, the third held back
    assert _uploads(raw, url) == [f"{_prefix(url)}/m/1.0.0/w.bin"]
    assert not [n for n in _objects(raw, url) if n.endswith("w.bin")]
    assert repo.temp_files(0) == [f"m/1.0.0/w.bin?uploadId={_upload_id(raw, url)}"]
    writer.abort()
    writer.abort()
    assert _uploads(raw, url) == [] and not [n for n in _objects(raw, url) if "w.bin" in n]


def _upload_id(raw: Any, url: str) -> str:
    found = raw.call_s3("list_multipart_uploads", Bucket=BUCKET, Prefix=_prefix(url) + "/")
    return str(found["Uploads"][0]["UploadId"])


def test_a_failed_commit_aborts_the_upload(
    s3_endpoint: str, url: str, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_backends.files import s3

    async def refuse(self: Any) -> None:
        raise BackendError("the server went away")

    monkeypatch.setattr(s3._Multipart, "finish", refuse)
    registry = Registry(open_s3(url, **_options(s3_endpoint, part_size=5 * 2**20)))
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    with pytest.raises(BackendError, match="went away"):
        registry.upload("m", "1.0.0", io.BytesIO(os.urandom(11 * 2**20)), name="w.bin")
    assert _uploads(raw, url) == [] and not [n for n in _objects(raw, url) if "w.bin" in n]
    failed = registry.get_version("m", "1.0.0")  # never listed, and its hold let go
    assert failed.artifacts == () and failed.uploads == ()


def test_unfinished_uploads_are_the_temp_files(s3_endpoint: str, url: str, raw: Any) -> None:
    repo = open_s3(url, **_options(s3_endpoint, part_size=5 * 2**20))
    repo.open_blob_writer("m/1.0.0/w.bin").write(os.urandom(6 * 2**20))  # a crash: never ended
    leftover = repo.temp_files(0)  # (moto dates every upload 2010: the age is not tested)
    assert len(leftover) == 1 and leftover[0].startswith("m/1.0.0/w.bin?uploadId=")
    assert repo.remove_temp_files(0) == leftover
    assert _uploads(raw, url) == [] and repo.temp_files(0) == []


def test_deleting_thousands_of_blobs_takes_a_few_batches(
    s3_endpoint: str, url: str, files: FilesRepository, proxy: Proxy
) -> None:
    names = [f"m/1.0.0/shard-{i:05d}.bin" for i in range(2500)]
    _load((f"{_prefix(url)}/{name}", b"x") for name in [*names, "m/1.0.1/keep.bin"])
    repo = open_s3(url, **_options(proxy.url))
    proxy.reset()
    repo.delete_blobs("m/1.0.0")
    assert sum(1 for m, p in proxy.requests if m == "POST" and "delete" in p) == 3
    assert len(proxy.requests) <= 7, proxy.requests  # 3 lists, 1 HEAD, 3 deletes
    assert sorted(files.list_blobs("m")) == ["m/1.0.1/keep.bin"]


# -- the ordered index --------------------------------------------------------------------


def test_documents_keep_markers_that_list_them_in_order(
    s3_endpoint: str, url: str, raw: Any, files: FilesRepository
) -> None:
    files.put_if_absent(("models", "m"), {})
    assert [n for n in _objects(raw, url) if "/models/" in n] == [
        ".modelreg/docs/models/m.json",
        f".modelreg/docs/models/~ASC/{_index.ascending('m')}",
        f".modelreg/docs/models/~DESC/{_index.descending('m')}",
    ]
    files.delete(("models", "m"))
    assert not [n for n in _objects(raw, url) if "/models/" in n]


def _model_m(url: str, endpoint: str, *versions: str, publish: bool = False) -> Registry:
    """A registry at ``url`` with model ``m`` and these versions (published or drafts)."""
    registry = Registry(open_s3(url, **_options(endpoint)))
    registry.create_model("m")
    for version in versions:
        registry.create_version("m", version)
        if publish:
            registry.publish("m", version)
    return registry


def test_a_marker_without_its_document_is_passed_over_and_dropped(
    s3_endpoint: str, url: str, raw: Any
) -> None:
    """As a version deleted between a listing and its reading: the listing goes on past it
    (it used to raise Conflict), and the marker left behind is removed."""
    registry = _model_m(url, s3_endpoint, "1.0.0", "1.1.0", publish=True)
    key = Version.parse("1.1.0").precedence_key
    folder = f"{BUCKET}/{_prefix(url)}/.modelreg/docs/versions/m"
    raw.rm(f"{folder}/{key}.json")  # behind its back
    assert str(registry.latest("m").version) == "1.0.0"
    assert [str(v.version) for v in registry.list_versions("m").items] == ["1.0.0"]
    raw.invalidate_cache()
    assert not [name for name in raw.find(folder) if key in name.rsplit("/", 1)[-1]]


def test_a_document_whose_markers_were_lost_comes_back_on_the_next_create(
    s3_endpoint: str, url: str, raw: Any, files: FilesRepository
) -> None:
    files.put_if_absent(("models", "m"), {"v": 1})
    folder = f"{BUCKET}/{_prefix(url)}/.modelreg/docs/models"
    raw.rm([f"{folder}/~ASC/{_index.ascending('m')}", f"{folder}/~DESC/{_index.descending('m')}"])
    assert files.list_page(("models",)) == []  # as a crash right after the create leaves it
    with pytest.raises(AlreadyExists):
        files.put_if_absent(("models", "m"), {"v": 2})
    assert [(s, dict(d.data)) for s, d in files.list_page(("models",), reverse=True)] == [
        ("m", {"v": 1})
    ]


def test_fsck_finds_and_repairs_gaps_in_the_ordered_index(
    s3_endpoint: str, url: str, raw: Any
) -> None:
    registry = _model_m(url, s3_endpoint, "1.0.0", "2.0.0")
    registry.upload("m", "2.0.0", io.BytesIO(b"kept"), name="conf/w.bin")
    folder = ".modelreg/docs/versions/m"
    key = Version.parse("2.0.0").precedence_key
    root = f"{BUCKET}/{_prefix(url)}"
    raw.rm([f"{root}/{m}" for m in _index.markers(folder, key)])  # a crash before them
    stale = _index.markers(folder, Version.parse("3.0.0").precedence_key)
    for marker in stale:  # a crash in a delete, after the document went
        raw.pipe(f"{root}/{marker}", b"x")
    assert [str(v.version) for v in registry.list_versions("m").items] == ["1.0.0"]

    report = registry.fsck()
    assert sorted(report.problems) == sorted(
        [
            f"document '{folder}/{key}.json' is missing from the ordered index (listings skip it)",
            *(f"index marker '{m}' names no document" for m in stale),
        ]
    )
    assert len(registry.fsck(repair=True).repaired) == 3
    assert registry.fsck().ok
    assert [str(v.version) for v in registry.list_versions("m").items] == ["1.0.0", "2.0.0"]
    with registry.open_artifact("m", "2.0.0", "conf/w.bin") as stream:  # not taken for orphaned
        assert stream.read() == b"kept"
    assert str(registry.list_versions("m", order="-precedence").items[0].version) == "2.0.0"


def test_a_stale_marker_is_kept_when_its_document_came_since_the_check(
    s3_endpoint: str, url: str, files: FilesRepository
) -> None:
    files.put_if_absent(("models", "m"), {"v": 1})
    asc, desc = _index.markers(".modelreg/docs/models", "m")
    files.repair_index([], [asc, desc])
    assert [s for s, _ in files.list_page(("models",))] == ["m"]
    assert [s for s, _ in files.list_page(("models",), reverse=True)] == ["m"]


def test_a_registry_copied_without_the_index_is_listed_by_folder(
    s3_endpoint: str, url: str, raw: Any, tmp_path: Path
) -> None:
    local = Registry(open_files(str(tmp_path / "reg")))
    local.create_model("m")
    for version in ("1.0.0", "1.2.0", "1.10.0"):
        local.create_version("m", version)
        local.publish("m", version)
    raw.put(str(tmp_path / "reg") + "/", f"{BUCKET}/{_prefix(url)}/", recursive=True)
    copied = Registry(open_s3(url, **_options(s3_endpoint)))
    assert str(copied.latest("m").version) == "1.10.0"
    copied.create_version("m", "2.0.0")
    assert [str(v.version) for v in copied.list_versions("m", order="-precedence").items] == [
        "2.0.0",
        "1.10.0",
        "1.2.0",
        "1.0.0",
    ]


SEGMENTS = st.text(max_size=12) | st.text(alphabet="-._/+09az~AZé", max_size=12)


@given(a=SEGMENTS, b=SEGMENTS)
def test_marker_names_sort_like_their_segments(a: str, b: str) -> None:
    assert (a < b) == (_index.ascending(a) < _index.ascending(b))
    assert (a < b) == (_index.descending(a) > _index.descending(b))
    assert _index.from_ascending(_index.ascending(a)) == a
    assert _index.from_descending(_index.descending(a)) == a
    assert b.startswith(a) == _index.ascending(b).startswith(_index.ascending(a, whole=False))
    assert b.startswith(a) == _index.descending(b).startswith(_index.descending(a, whole=False))
    assert re.fullmatch(r"[-0-9A-Za-z_]+", _index.ascending(a) + _index.descending(a))


@given(folder=st.lists(SEGMENTS, max_size=3), segment=SEGMENTS)
def test_a_marker_names_its_document(folder: list[str], segment: str) -> None:
    folder_name = "/".join([_index.DOCS, *_keys.folder_parts(folder)])
    for marker in _index.markers(folder_name, segment):
        assert _index.document_of_marker(marker) == _index.document_name(folder_name, segment)
    assert _index.document_of_marker(_index.document_name(folder_name, segment)) is None
    assert _index.document_of_marker(f"{folder_name}/~ASC/not-a-marker") is None


@given(folder=st.lists(SEGMENTS, max_size=3), segment=SEGMENTS | st.text(min_size=300))
def test_document_names_split_back_into_folder_and_segment(folder: list[str], segment: str) -> None:
    folder_name = "/".join([_index.DOCS, *_keys.folder_parts(folder)])
    name = _index.document_name(folder_name, segment)
    assert _index.split_document(name) == (folder_name, segment)
    assert _index.split_document(_index.markers(folder_name, segment)[0]) is None
