"""Contract tests of the `Registry` running on a backend: what a user sees end to end."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
from pathlib import Path
from typing import Any

import pytest

from registry_core.entities import ModelVersion, Upload
from registry_core.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    IllegalTransition,
    IntegrityError,
    InvalidInput,
    InvalidPath,
    InvalidVersion,
    NotFound,
)
from registry_core.lifecycle import VersionState
from registry_core.names import ModelName
from registry_core.protocol import BlobWriter, Repository
from registry_core.registry import Registry
from registry_core.testing.contract import THREADS, run_threads
from registry_core.testing.fixtures import RepositoryFixtures
from registry_core.versions import Version

__all__ = ["RegistryContractTests"]


class _Interrupted(Exception):
    """Stands for whatever stops an upload part-way: Ctrl+C, a full disk, a dead network."""


def _folder(root: Path, *names: str) -> Path:
    """A local folder holding ``names``, each file's bytes its name 100 times."""
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode() * 100)
    return root


def _ready(registry: Registry, model: str, *versions: str) -> None:
    for version in versions:
        registry.create_version(model, version)
        registry.publish(model, version)


class _SlowCommits:
    """Delegates to a repository; a blob's commit waits until the test lets it go."""

    def __init__(self, inner: Repository) -> None:
        self._inner = inner
        self.committing = threading.Event()
        self.go_on = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_blob_writer(self, name: str) -> BlobWriter:
        writer = self._inner.open_blob_writer(name)
        outer = self

        class Slow:
            write, abort = writer.write, writer.abort

            def commit(self) -> None:
                outer.committing.set()
                assert outer.go_on.wait(60), "the test never let the commit go on"
                writer.commit()

        return Slow()


class _Unreachable:
    """Delegates to a repository until ``down``; then every write fails, as when the
    network or the process goes away in the middle of an upload."""

    def __init__(self, inner: Repository) -> None:
        self._inner = inner
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def compare_and_swap(self, *args: Any, **kwargs: Any) -> str:
        if self.down:
            raise BackendError("storage unreachable")
        return self._inner.compare_and_swap(*args, **kwargs)

    def open_blob_writer(self, name: str) -> BlobWriter:
        writer = self._inner.open_blob_writer(name)
        outer = self

        class Failing:
            abort, commit = writer.abort, writer.commit

            def write(self, chunk: bytes) -> None:
                outer.down = True
                raise BackendError("storage unreachable")

        return Failing()


def _dead_upload(registry: Registry, repo: Repository) -> Upload:
    """Draft ``m`` 1.0.0 with the hold of an upload to ``w.bin`` that died: storage went
    away mid-write, so the upload could not let go of its path."""
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    with pytest.raises(BackendError):
        Registry(_Unreachable(repo)).upload("m", "1.0.0", io.BytesIO(b"lost"), name="w.bin")
    (held,) = registry.get_version("m", "1.0.0").uploads
    return held


class RegistryContractTests(RepositoryFixtures):
    """The Registry's behaviour on the backend under test."""

    # -- models ---------------------------------------------------------------------------

    def test_model_names_are_unique_regardless_of_case(self, registry: Registry) -> None:
        registry.create_model("Fraud/Detector", "first")
        with pytest.raises(AlreadyExists, match="Fraud/Detector"):
            registry.create_model("fraud/detector")
        assert registry.get_model("FRAUD/DETECTOR").name.value == "Fraud/Detector"

    def test_list_models_pages_in_name_order_with_a_prefix(self, registry: Registry) -> None:
        names = [f"team/m{i:02d}" for i in range(25)] + ["other", "team"]
        for name in names:
            registry.create_model(name)
        seen, token = [], None
        while True:
            page = registry.list_models("team/", page_size=7, page_token=token)
            seen += [m.name.value for m in page.items]
            token = page.next_page_token
            if token is None:
                break
        assert seen == sorted(n for n in names if n.startswith("team/"))

    def test_a_page_token_survives_inserts_and_deletes(self, registry: Registry) -> None:
        for i in range(10):
            registry.create_model(f"m{i}")
        first = registry.list_models(page_size=4)
        registry.delete_model("m4")
        registry.create_model("m45")
        rest = registry.list_models(page_size=100, page_token=first.next_page_token)
        assert [m.name.value for m in rest.items] == ["m45", "m5", "m6", "m7", "m8", "m9"]

    def test_a_foreign_page_token_is_refused(self, registry: Registry) -> None:
        registry.create_model("m")
        with pytest.raises(InvalidInput):
            registry.list_models(page_token="not-a-token")

    def test_delete_model_removes_versions_artifacts_and_metrics(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.create_model("m")
        registry.create_model("m/sub")
        for model in ("m", "m/sub"):
            registry.create_version(model, "1.0.0")
            registry.upload(model, "1.0.0", io.BytesIO(b"w"), name="w.bin")
            registry.log_metric(model, "1.0.0", "loss", 0.5)
        registry.delete_model("m")
        with pytest.raises(NotFound):
            registry.get_model("m")
        assert list(repo.list_blobs("m/1.0.0")) == []
        assert registry.get_version("m/sub", "1.0.0").artifacts[0].size == 1
        registry.create_model("m")
        with pytest.raises(NotFound):
            registry.get_version("m", "1.0.0")

    def test_an_interrupted_model_delete_is_invisible_and_finished_by_the_next_writer(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.upload("m", "1.0.0", io.BytesIO(b"w"), name="w.bin")
        doc = repo.get(("models", "m"))
        assert doc is not None
        repo.compare_and_swap(("models", "m"), {**doc.data, "deleting": True}, doc.etag)
        with pytest.raises(NotFound):
            registry.get_model("m")
        assert [m.name.value for m in registry.list_models().items] == []
        registry.create_model("m", "again")
        assert registry.get_model("m").description == "again"
        assert list(repo.list_blobs("m/1.0.0")) == []
        with pytest.raises(NotFound):
            registry.get_version("m", "1.0.0")

    # -- versions -------------------------------------------------------------------------

    def test_versions_must_be_semver(self, registry: Registry) -> None:
        registry.create_model("m")
        for bad in ("1.0", "v1.0.0", "01.0.0", "latest", ""):
            with pytest.raises(InvalidVersion):
                registry.create_version("m", bad)
        assert registry.list_versions("m").items == ()

    def test_versions_equal_in_precedence_cannot_both_exist(self, registry: Registry) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0+a")
        with pytest.raises(AlreadyExists):
            registry.create_version("m", "1.0.0+b")
        assert str(registry.get_version("m", "1.0.0").version) == "1.0.0+a"

    def test_bumps_start_at_one_and_follow_the_highest(self, registry: Registry) -> None:
        registry.create_model("m")
        assert str(registry.create_version("m", bump="minor").version) == "1.0.0"
        assert str(registry.create_version("m", bump="minor").version) == "1.1.0"
        assert str(registry.create_version("m", bump="major", prerelease="rc").version) == (
            "2.0.0-rc.0"
        )
        assert str(registry.create_version("m", bump="major", prerelease="rc").version) == (
            "2.0.0-rc.1"
        )

    def test_racing_bumps_get_distinct_versions(self, registry: Registry) -> None:
        registry.create_model("m")
        results = run_threads(THREADS, lambda _: registry.create_version("m", bump="patch"))
        versions = sorted(str(r.version) for r in results if isinstance(r, ModelVersion))
        assert len(versions) == THREADS, results
        assert len(set(versions)) == THREADS

    def test_racing_creators_of_one_version_have_one_winner(self, registry: Registry) -> None:
        registry.create_model("m")
        results = run_threads(THREADS, lambda _: registry.create_version("m", "3.1.4"))
        assert sum(not isinstance(r, Exception) for r in results) == 1
        assert sum(isinstance(r, AlreadyExists) for r in results) == THREADS - 1

    def test_list_versions_pages_in_precedence_order(self, registry: Registry) -> None:
        registry.create_model("m")
        chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0",
            "1.2.0",
            "1.10.0",
            "2.0.0-rc.1",
            "10.0.0",
        ]
        for version in reversed(chain):
            registry.create_version("m", version)
        seen, token = [], None
        while True:
            page = registry.list_versions("m", page_size=2, page_token=token)
            seen += [str(v.version) for v in page.items]
            token = page.next_page_token
            if token is None:
                break
        assert seen == chain
        down = registry.list_versions("m", order="-precedence", include_prereleases=False)
        assert [str(v.version) for v in down.items] == ["10.0.0", "1.10.0", "1.2.0", "1.0.0"]

    def test_latest_is_the_highest_ready_release(self, registry: Registry) -> None:
        registry.create_model("m")
        _ready(registry, "m", "1.0.0", "1.1.0", "2.0.0-rc.1")
        registry.create_version("m", "3.0.0")  # a draft
        assert str(registry.latest("m").version) == "1.1.0"
        assert str(registry.latest("m", include_prereleases=True).version) == "2.0.0-rc.1"

    def test_yanked_and_deprecated_versions_are_never_latest_or_in_a_range(
        self, registry: Registry
    ) -> None:
        registry.create_model("m")
        _ready(registry, "m", "1.0.0", "1.1.0", "1.2.0")
        registry.yank("m", "1.2.0")
        registry.deprecate("m", "1.1.0")
        assert str(registry.latest("m").version) == "1.0.0"
        assert str(registry.resolve("m", "^1.0").version) == "1.0.0"
        assert registry.resolve("m", "1.2.0").state is VersionState.YANKED

    def test_resolve_reads_exact_latest_alias_then_range(self, registry: Registry) -> None:
        registry.create_model("m")
        _ready(registry, "m", "1.0.0", "1.4.2", "2.0.0")
        registry.set_alias("m", "production", "1.0.0")
        assert str(registry.resolve("m", "1.4.2").version) == "1.4.2"
        assert str(registry.resolve("m", "latest").version) == "2.0.0"
        assert str(registry.resolve("m", "production").version) == "1.0.0"
        assert str(registry.resolve("m", "~1.4").version) == "1.4.2"
        assert str(registry.resolve("m", ">=1.0.0 <2.0.0 || >=3").version) == "1.4.2"
        with pytest.raises(NotFound):
            registry.resolve("m", "^3")
        with pytest.raises(InvalidVersion):
            registry.resolve("m", ">=>=1")

    def test_a_missing_alias_is_not_found_and_the_error_lists_the_aliases(
        self, registry: Registry
    ) -> None:
        registry.create_model("m")
        _ready(registry, "m", "1.0.0")
        with pytest.raises(NotFound, match=r"no alias or version 'production' \(it has no alias"):
            registry.resolve("m", "production")
        registry.set_alias("m", "champion", "1.0.0")
        registry.set_alias("m", "canary", "1.0.0")
        with pytest.raises(NotFound, match=r"'production' \(its aliases are canary, champion\)"):
            registry.resolve("m", "production")
        assert str(registry.resolve("m", "1").version) == "1.0.0"  # an alias-like range
        for typo in ("1.0.O", "01.0.0", "1.0.0.1"):  # no range syntax: a mistyped version
            with pytest.raises(NotFound, match=f"no alias or version '{typo}'"):
                registry.resolve("m", typo)
        for broken in (">=>=1", "^^1", "1.x.y", "1.2 - 1.4.x.z"):  # a range, written wrong
            with pytest.raises(InvalidVersion, match="is not an npm version range"):
                registry.resolve("m", broken)

    def test_a_range_matches_a_prerelease_only_on_its_own_tuple(self, registry: Registry) -> None:
        registry.create_model("m")
        _ready(registry, "m", "1.2.3", "1.2.4-rc.1", "1.3.0-beta.1")
        assert str(registry.resolve("m", "^1.2.3").version) == "1.2.3"
        assert str(registry.resolve("m", ">=1.2.4-rc.0").version) == "1.2.4-rc.1"

    # -- lifecycle and sealing ------------------------------------------------------------

    def test_a_sealed_version_refuses_uploads_deletes_and_params(self, registry: Registry) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.2.0")
        registry.upload("m", "1.2.0", io.BytesIO(b"weights"), name="w.bin")
        registry.log_param("m", "1.2.0", "lr", "0.1")
        sealed = registry.publish("m", "1.2.0")
        assert sealed.manifest_sha256 is not None
        with pytest.raises(IllegalTransition, match=r"1\.2\.1"):
            registry.upload("m", "1.2.0", io.BytesIO(b"x"), name="other.bin")
        with pytest.raises(IllegalTransition):
            registry.delete_artifacts("m", "1.2.0", ["w.bin"])
        with pytest.raises(IllegalTransition):
            registry.log_param("m", "1.2.0", "lr2", "1")
        with pytest.raises(IllegalTransition):
            registry.append_log("m", "1.2.0", "late line")
        after = registry.get_version("m", "1.2.0")
        assert after.artifacts == sealed.artifacts and after.params == {"lr": "0.1"}
        assert registry.verify("m", "1.2.0").ok
        registry.set_tag("m", "1.2.0", "owner", "ana")  # tags stay editable
        registry.log_metric("m", "1.2.0", "auc", 0.9)  # and metrics

    def test_illegal_transitions_are_refused(self, registry: Registry) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        with pytest.raises(IllegalTransition):
            registry.deprecate("m", "1.0.0")
        with pytest.raises(IllegalTransition):
            registry.undeprecate("m", "1.0.0")  # only publish makes a draft ready
        registry.fail("m", "1.0.0")
        with pytest.raises(IllegalTransition):
            registry.publish("m", "1.0.0")
        assert registry.get_version("m", "1.0.0").state is VersionState.FAILED

    def test_create_with_publish_is_ready_and_sealed_at_once(self, registry: Registry) -> None:
        registry.create_model("m")
        registry.create_version("m", "0.9.0", publish=True)
        made = registry.create_version(
            "m", "1.0.0", tags={"k": "v"}, params={"lr": 0.1, "deep": True}, publish=True
        )
        assert made.state is VersionState.READY and made.published_at == made.created_at
        stored = registry.get_version("m", "1.0.0")
        assert stored == made
        assert (stored.tags, stored.params) == ({"k": "v"}, {"lr": "0.1", "deep": "True"})
        # sealed with the empty manifest, exactly as publishing an empty draft seals it
        registry.create_version("m", "1.0.1")
        assert registry.publish("m", "1.0.1").manifest_sha256 == stored.manifest_sha256
        assert str(registry.latest("m").version) == "1.0.1"
        assert str(registry.resolve("m", "~1.0.0").version) == "1.0.1"
        assert registry.verify("m", "1.0.0").ok
        with pytest.raises(IllegalTransition):
            registry.upload("m", "1.0.0", io.BytesIO(b"x"), name="late.bin")
        with pytest.raises(IllegalTransition):
            registry.log_param("m", "1.0.0", "lr2", "1")
        bumped = registry.create_version("m", bump="major", publish=True)
        assert (str(bumped.version), bumped.state) == ("2.0.0", VersionState.READY)

    def test_create_with_publish_refuses_bad_input_and_stores_nothing(
        self, registry: Registry
    ) -> None:
        registry.create_model("m")
        with pytest.raises(InvalidInput):
            registry.create_version("m", "1.0.0", params={"": "x"}, publish=True)
        with pytest.raises(InvalidInput):
            registry.create_version("m", "1.0.0", publish="yes")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            registry.create_version("m", "1.0.0", params=["lr"], publish=True)  # type: ignore[arg-type]
        assert registry.list_versions("m").items == ()
        registry.create_version("m", "1.0.0")
        with pytest.raises(AlreadyExists):
            registry.create_version("m", "1.0.0", publish=True)
        assert registry.get_version("m", "1.0.0").state is VersionState.DRAFT

    def test_new_version_publishes_on_success_and_fails_on_error(self, registry: Registry) -> None:
        registry.create_model("m")
        with registry.new_version("m", bump="minor") as draft:
            draft.upload(io.BytesIO(b"abc"), name="w.bin")
            draft.log_param("epochs", 3)
        assert registry.get_version("m", "1.0.0").state is VersionState.READY
        with pytest.raises(RuntimeError), registry.new_version("m", bump="minor"):
            raise RuntimeError("training diverged")
        assert registry.get_version("m", "1.1.0").state is VersionState.FAILED

    # -- artifacts ------------------------------------------------------------------------

    def test_artifacts_round_trip_with_subfolders(self, registry: Registry, tmp_path: Path) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        src = tmp_path / "src"
        (src / "config").mkdir(parents=True)
        (src / "weights.bin").write_bytes(bytes(range(256)) * 100)
        (src / "config" / "params.json").write_text('{"lr": 0.1}')
        registry.upload_dir("m", "1.0.0", src)
        registry.upload("m", "1.0.0", src / "weights.bin", subfolder="extra/deep")
        listed = [a.path.value for a in registry.list_artifacts("m", "1.0.0")]
        assert listed == ["config/params.json", "extra/deep/weights.bin", "weights.bin"]
        out = registry.download("m", "1.0.0", tmp_path / "out")
        assert len(out) == 3
        assert (tmp_path / "out" / "extra/deep/weights.bin").read_bytes() == (
            (src / "weights.bin").read_bytes()
        )
        sha = hashlib.sha256((src / "weights.bin").read_bytes()).hexdigest()
        assert registry.list_artifacts("m", "1.0.0", prefix="extra")[0].sha256 == sha

    def test_artifact_paths_are_unique_regardless_of_case(self, registry: Registry) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.upload("m", "1.0.0", io.BytesIO(b"a"), name="Config/A.json")
        with pytest.raises(AlreadyExists):
            registry.upload("m", "1.0.0", io.BytesIO(b"b"), name="config/a.json")
        with pytest.raises(AlreadyExists):
            registry.upload("m", "1.0.0", io.BytesIO(b"b"), name="config/a.json/inner")
        with pytest.raises(InvalidPath):
            registry.upload("m", "1.0.0", io.BytesIO(b"b"), name="../escape")
        assert [a.path.value for a in registry.list_artifacts("m", "1.0.0")] == ["Config/A.json"]

    def test_changed_bytes_raise_integrity_error_on_read(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.upload("m", "1.0.0", io.BytesIO(b"original"), name="w.bin")
        writer = repo.open_blob_writer("m/1.0.0/w.bin")
        writer.write(b"tampered")
        writer.commit()
        with pytest.raises(IntegrityError), registry.open_artifact("m", "1.0.0", "w.bin") as f:
            f.read()
        report = registry.verify("m", "1.0.0")
        assert not report.ok and report.problems[0][0] == "w.bin"

    def test_a_download_of_changed_bytes_fails_and_leaves_no_file(
        self, registry: Registry, repo: Repository, tmp_path: Path
    ) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        big = bytes(range(256)) * 40_000  # several chunks, so the hashing thread runs
        registry.upload("m", "1.0.0", io.BytesIO(big), name="w.bin")
        writer = repo.open_blob_writer("m/1.0.0/w.bin")
        writer.write(big[:-1] + b"!")
        writer.commit()
        with pytest.raises(IntegrityError, match="SHA-256"):
            registry.download("m", "1.0.0", tmp_path / "out")
        assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == []

    def test_an_upload_dir_that_fails_part_way_leaves_the_draft_as_it_was(
        self, registry: Registry, repo: Repository, tmp_path: Path
    ) -> None:
        """Interrupted in its third file, a folder upload keeps no file, hold or blob of its
        own, and the same call then succeeds at once."""
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.upload("m", "1.0.0", io.BytesIO(b"kept"), name="notes.txt")
        src = _folder(tmp_path / "src", "a.bin", "b.bin", "c.bin", "d/e.bin")
        files_begun = 0

        def interrupt_third(moved: int) -> None:
            nonlocal files_begun
            files_begun += 1  # each file is one chunk here
            if files_begun == 3:
                raise _Interrupted

        with pytest.raises(_Interrupted):
            registry.upload_dir("m", "1.0.0", src, progress=interrupt_third)
        assert [a.path.value for a in registry.list_artifacts("m", "1.0.0")] == ["notes.txt"]
        assert sorted(repo.list_blobs("m")) == ["m/1.0.0/notes.txt"]
        assert registry.fsck().ok
        made = registry.upload_dir("m", "1.0.0", src)
        assert [a.path.value for a in made] == ["a.bin", "b.bin", "c.bin", "d/e.bin"]
        assert registry.open_artifact("m", "1.0.0", "d/e.bin").read() == b"d/e.bin" * 100

    def test_an_upload_dir_refused_for_one_path_stores_none_of_the_others(
        self, registry: Registry, repo: Repository, tmp_path: Path
    ) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.upload("m", "1.0.0", io.BytesIO(b"kept"), name="B.BIN")
        src = _folder(tmp_path / "src", "a.bin", "b.bin", "c.bin")  # b.bin is B.BIN's path
        with pytest.raises(AlreadyExists, match=r"artifact 'B\.BIN' already exists"):
            registry.upload_dir("m", "1.0.0", src)
        assert [a.path.value for a in registry.list_artifacts("m", "1.0.0")] == ["B.BIN"]
        assert sorted(repo.list_blobs("m")) == ["m/1.0.0/B.BIN"]
        registry.upload("m", "1.0.0", src / "a.bin")  # no hold left on the others
        assert registry.fsck().ok

    def test_delete_artifacts_is_all_or_nothing(self, registry: Registry, repo: Repository) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.upload("m", "1.0.0", io.BytesIO(b"a"), name="a")
        with pytest.raises(NotFound):
            registry.delete_artifacts("m", "1.0.0", ["a", "missing"])
        assert len(registry.list_artifacts("m", "1.0.0")) == 1
        registry.delete_artifacts("m", "1.0.0", ["a"])
        assert registry.list_artifacts("m", "1.0.0") == ()
        assert list(repo.list_blobs("m/1.0.0")) == []

    def test_an_upload_is_listed_only_once_its_bytes_are_in_place(
        self, registry: Registry, repo: Repository
    ) -> None:
        """A slow upload holds its path: nobody can delete it from the manifest and upload
        other bytes under its name before the slow blob lands (which would leave the
        manifest naming bytes the store no longer has)."""
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        slow = _SlowCommits(repo)
        writer = threading.Thread(
            target=Registry(slow).upload,
            args=("m", "1.0.0", io.BytesIO(b"big" * 1000)),
            kwargs={"name": "model.bin"},
        )
        writer.start()
        try:
            assert slow.committing.wait(60)
            assert registry.list_artifacts("m", "1.0.0") == ()
            assert [u.path.value for u in registry.get_version("m", "1.0.0").uploads] == [
                "model.bin"
            ]
            with pytest.raises(NotFound):
                registry.delete_artifacts("m", "1.0.0", ["model.bin"])
            with pytest.raises(Conflict, match="being uploaded"):
                registry.upload("m", "1.0.0", io.BytesIO(b"small"), name="MODEL.bin")
            with pytest.raises(Conflict, match="being uploaded"):
                registry.upload("m", "1.0.0", io.BytesIO(b"small"), name="model.bin/inner")
            with pytest.raises(Conflict, match="still uploading"):
                registry.publish("m", "1.0.0")
            registry.upload("m", "1.0.0", io.BytesIO(b"other"), name="other.bin")
        finally:
            slow.go_on.set()
            writer.join(60)
        assert [a.path.value for a in registry.list_artifacts("m", "1.0.0")] == [
            "model.bin",
            "other.bin",
        ]
        with registry.open_artifact("m", "1.0.0", "model.bin") as stream:
            assert stream.read() == b"big" * 1000
        registry.delete_artifacts("m", "1.0.0", ["model.bin"])
        registry.upload("m", "1.0.0", io.BytesIO(b"small"), name="model.bin")
        with registry.open_artifact("m", "1.0.0", "model.bin") as stream:
            assert stream.read() == b"small"
        published = registry.publish("m", "1.0.0")
        assert published.uploads == ()
        assert registry.verify("m", "1.0.0").ok and registry.fsck().ok

    def test_racing_uploads_of_one_path_have_one_winner_whose_bytes_are_stored(
        self, registry: Registry
    ) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")

        def upload(i: int) -> object:
            return registry.upload("m", "1.0.0", io.BytesIO(b"writer %d" % i), name="w.bin")

        results = run_threads(THREADS, upload)
        winners = [r for r in results if not isinstance(r, Exception)]
        assert len(winners) == 1, results
        assert all(isinstance(r, (AlreadyExists, Conflict)) for r in results if r not in winners)
        with registry.open_artifact("m", "1.0.0", "w.bin") as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == winners[0].sha256  # type: ignore[attr-defined]
        assert registry.get_version("m", "1.0.0").uploads == ()

    def test_a_dead_upload_lets_go_of_its_path_when_its_hold_lapses(
        self, registry: Registry, repo: Repository
    ) -> None:
        held = _dead_upload(registry, repo)
        with pytest.raises(Conflict, match="being uploaded"):
            registry.upload("m", "1.0.0", io.BytesIO(b"again"), name="w.bin")
        assert registry.fsck().ok  # a hold that has not lapsed may belong to a live upload

        later = held.expires + dt.timedelta(seconds=1)
        after_lease = Registry(repo, clock=lambda: later)
        report = after_lease.fsck()
        assert [p for p in report.problems if "w.bin" in p], report
        after_lease.fsck(repair=True)
        assert after_lease.fsck().ok
        assert registry.get_version("m", "1.0.0").uploads == ()
        registry.upload("m", "1.0.0", io.BytesIO(b"again"), name="w.bin")
        with registry.open_artifact("m", "1.0.0", "w.bin") as stream:
            assert stream.read() == b"again"

    def test_a_lapsed_hold_is_taken_over_by_the_next_upload(
        self, registry: Registry, repo: Repository
    ) -> None:
        held = _dead_upload(registry, repo)
        later = held.expires + dt.timedelta(seconds=1)
        after_lease = Registry(repo, clock=lambda: later)
        after_lease.upload("m", "1.0.0", io.BytesIO(b"new"), name="w.bin")
        assert after_lease.get_version("m", "1.0.0").uploads == ()
        assert after_lease.publish("m", "1.0.0").state is VersionState.READY

    def test_logs_append_under_logs(self, registry: Registry) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.append_log("m", "1.0.0", "epoch 1\n")
        registry.append_log("m", "1.0.0", "epoch 2\n")
        with registry.open_artifact("m", "1.0.0", "logs/run.log") as f:
            assert f.read() == b"epoch 1\nepoch 2\n"

    def test_publish_refuses_a_manifest_whose_bytes_are_missing(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.upload("m", "1.0.0", io.BytesIO(b"w"), name="w.bin")
        repo.delete_blobs("m/1.0.0/w.bin")  # as if the upload died before its commit
        with pytest.raises(IntegrityError, match=r"w\.bin"):
            registry.publish("m", "1.0.0")
        assert registry.get_version("m", "1.0.0").state is VersionState.DRAFT
        report = registry.fsck(repair=True)
        assert any("w.bin" in p for p in report.problems)

    # -- fsck -----------------------------------------------------------------------------

    def test_fsck_finishes_half_deletes_and_removes_orphan_blobs(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.create_model("gone")
        registry.create_version("gone", "1.0.0")
        registry.upload("gone", "1.0.0", io.BytesIO(b"w"), name="w.bin")
        registry.create_model("kept")
        registry.create_version("kept", "2.0.0")
        registry.upload("kept", "2.0.0", io.BytesIO(b"k"), name="k.bin")
        doc = repo.get(("models", "gone"))
        assert doc is not None
        repo.compare_and_swap(("models", "gone"), {**doc.data, "deleting": True}, doc.etag)
        writer = repo.open_blob_writer("kept/2.0.0/stray.bin")
        writer.write(b"left by a crash")
        writer.commit()
        assert registry.fsck().ok is False
        assert len(registry.fsck().problems) == 2
        report = registry.fsck(repair=True)
        assert report.ok and len(report.repaired) == 2
        assert registry.fsck().ok
        assert sorted(repo.list_blobs("kept")) == ["kept/2.0.0/k.bin"]
        assert list(repo.list_blobs("gone")) == []
        assert repo.get(("models", "gone")) is None

    # -- metadata and aliases -------------------------------------------------------------

    def test_params_are_written_once(self, registry: Registry) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        registry.log_params("m", "1.0.0", {"lr": 0.1, "epochs": 3})
        registry.log_param("m", "1.0.0", "lr", "0.1")  # same value: fine
        with pytest.raises(AlreadyExists):
            registry.log_param("m", "1.0.0", "lr", "0.2")
        assert registry.get_version("m", "1.0.0").params == {"lr": "0.1", "epochs": "3"}

    def test_metrics_keep_their_history_in_order(self, registry: Registry) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        for step in range(5):
            registry.log_metric("m", "1.0.0", "loss", 1.0 / (step + 1), step=step)
        registry.log_metrics("m", "1.0.0", {"acc": 0.9, "loss": float("nan")}, step=5)
        losses = registry.get_metrics("m", "1.0.0", "loss")
        assert [m.step for m in losses] == [0, 1, 2, 3, 4, 5]
        assert losses[0].value == 1.0 and losses[-1].value != losses[-1].value
        assert len(registry.get_metrics("m", "1.0.0")) == 7

    def test_aliases_point_only_at_ready_versions(self, registry: Registry) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0")
        with pytest.raises(IllegalTransition):
            registry.set_alias("m", "champion", "1.0.0")
        registry.publish("m", "1.0.0")
        registry.set_alias("m", "champion", "1.0.0")
        assert str(registry.get_alias("m", "champion").version) == "1.0.0"
        with pytest.raises(IllegalTransition):
            registry.yank("m", "1.0.0")
        with pytest.raises(IllegalTransition):
            registry.delete_version("m", "1.0.0")
        registry.delete_version("m", "1.0.0", force=True)
        with pytest.raises(NotFound):
            registry.get_alias("m", "champion")

    # -- counting -------------------------------------------------------------------------

    def test_count_versions_agrees_with_a_listing(
        self, registry: Registry, repo: Repository
    ) -> None:
        """`Registry.count_versions`, and the backend's optional ``count_documents``, count
        what a listing shows: versions in any state, less deleted ones. A version whose
        document is marked ``deleting`` (a delete interrupted half-way) may be counted by
        ``count_documents``, never listed."""

        def listed(model: str) -> int:
            page = registry.list_versions(model, page_size=1000)
            assert page.next_page_token is None
            return len(page.items)

        registry.create_model("m")
        registry.create_model("m/sub")  # its versions are another model's, not m's
        assert registry.count_versions("m") == listed("m") == 0
        for version in ("1.0.0", "1.1.0", "2.0.0-rc.1", "2.0.0", "3.0.0"):
            registry.create_version("m", version, publish=version != "3.0.0")
        registry.create_version("m/sub", "9.0.0")
        registry.yank("m", "1.0.0")
        assert registry.count_versions("m") == listed("m") == 5
        registry.delete_version("m", "2.0.0-rc.1")
        assert registry.count_versions("m") == listed("m") == 4

        key = ("versions", ModelName.parse("m").key, Version.parse("1.1.0").precedence_key)
        doc = repo.get(key)
        assert doc is not None
        repo.compare_and_swap(key, {**doc.data, "deleting": True}, doc.etag)
        assert listed("m") == 3
        assert registry.count_versions("m") in (3, 4)
        assert registry.count_versions("M/SUB") == listed("m/sub") == 1
        counter = getattr(repo, "count_documents", None)
        if counter is not None:
            assert counter(key[:2]) in (3, 4)
            assert counter(("versions", "no-such-model")) == 0
            assert counter(("models",)) == 2

        registry.fsck(repair=True)  # finishes the interrupted delete
        assert registry.count_versions("m") == listed("m") == 3
        registry.delete_model("m/sub")
        registry.create_model("m/sub")
        assert registry.count_versions("m/sub") == listed("m/sub") == 0
