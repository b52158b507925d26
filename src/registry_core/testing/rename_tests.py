"""Contract tests of `Registry.rename_model`: what moves, what is refused, what a crash
leaves and how it is finished."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from registry_core.ci import CIJob
from registry_core.errors import AlreadyExists, Conflict, InvalidInput, InvalidName, NotFound
from registry_core.lifecycle import VersionState
from registry_core.protocol import BlobWriter, Repository
from registry_core.registry import Registry
from registry_core.testing.fixtures import RepositoryFixtures

__all__ = ["RenameContractTests"]

WEIGHTS = b"weights" * 1000


def _fill(registry: Registry, model: str) -> None:
    """A model with a ready and a draft version, artifacts in a subfolder, metadata."""
    registry.create_model(model, "fraud scores", tags={"team": "risk"})
    registry.create_version(model, "1.0.0", tags={"stage": "prod"})
    registry.upload(model, "1.0.0", io.BytesIO(WEIGHTS), name="w.bin", subfolder="weights")
    registry.upload(model, "1.0.0", io.BytesIO(b"{}"), name="config.json")
    registry.log_params(model, "1.0.0", {"lr": 0.1})
    registry.log_metrics(model, "1.0.0", {"loss": 0.5, "acc": 0.9}, step=1)
    registry.link_ci_job(
        model, "1.0.0", CIJob(provider="gitlab", job_id="42", project_url="https://x.test/p")
    )
    registry.publish(model, "1.0.0")
    registry.set_alias(model, "champion", "1.0.0")
    registry.create_version(model, "2.0.0-rc.1")
    registry.upload(model, "2.0.0-rc.1", io.BytesIO(b"draft"), name="d.bin")


def _snapshot(registry: Registry, model: str) -> dict[str, Any]:
    """Everything a user can read of ``model``, without its name."""
    found = registry.get_model(model)
    versions = {}
    for version in registry.list_versions(model, page_size=100):
        files = {
            str(a.path): registry.open_artifact(model, version.version, a.path).read()
            for a in version.artifacts
        }
        metrics = [(m.key, m.value, m.step) for m in registry.get_metrics(model, version.version)]
        versions[str(version.version)] = (
            version.state,
            dict(version.tags),
            dict(version.params),
            version.ci_job,
            version.manifest_sha256,
            files,
            metrics,
        )
    return {
        "description": found.description,
        "tags": dict(found.tags),
        "aliases": {k: str(v) for k, v in found.aliases.items()},
        "versions": versions,
    }


class _CrashOnSecondBlob:
    """Delegates to a repository, but the second blob written raises, like a killed job."""

    def __init__(self, inner: Repository) -> None:
        self._inner = inner
        self._writers = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_blob_writer(self, name: str) -> BlobWriter:
        self._writers += 1
        if self._writers == 2:
            raise RuntimeError("killed while copying a blob")
        return self._inner.open_blob_writer(name)


class RenameContractTests(RepositoryFixtures):
    """`rename_model` on the backend under test."""

    def test_rename_moves_versions_artifacts_metrics_and_aliases(
        self, registry: Registry, repo: Repository
    ) -> None:
        _fill(registry, "team/old")
        before = _snapshot(registry, "team/old")
        renamed = registry.rename_model("team/old", "Team/New")
        assert renamed.name.value == "Team/New"
        assert _snapshot(registry, "Team/New") == before
        assert registry.get_version("team/new", "1.0.0").package == "Team/New/1.0.0"
        assert str(registry.latest("Team/New").version) == "1.0.0"
        assert str(registry.get_alias("Team/New", "champion").version) == "1.0.0"
        with pytest.raises(NotFound):
            registry.get_model("team/old")
        with pytest.raises(NotFound):
            registry.get_version("team/old", "1.0.0")
        assert [m.name.value for m in registry.list_models()] == ["Team/New"]
        assert list(repo.list_blobs("team/old")) == []
        assert registry.fsck().ok
        registry.create_model("team/old")  # the old name is free again, and empty
        assert len(registry.list_versions("team/old")) == 0

    def test_the_renamed_model_takes_writes_under_its_new_name(self, registry: Registry) -> None:
        _fill(registry, "old")
        registry.rename_model("old", "new")
        registry.upload("new", "2.0.0-rc.1", io.BytesIO(b"more"), name="more.bin")
        registry.publish("new", "2.0.0-rc.1")
        registry.create_version("new", "1.1.0")
        assert [str(v.version) for v in registry.list_versions("new")] == [
            "1.0.0",
            "1.1.0",
            "2.0.0-rc.1",
        ]

    def test_a_taken_name_is_refused_and_nothing_changes(self, registry: Registry) -> None:
        _fill(registry, "a")
        registry.create_model("b", "other")
        before = _snapshot(registry, "a")
        with pytest.raises(AlreadyExists, match="'b'"):
            registry.rename_model("a", "B")
        assert _snapshot(registry, "a") == before
        assert registry.get_model("b").description == "other"
        registry.set_tag("a", "2.0.0-rc.1", "still", "writable")  # no intent left behind
        assert registry.fsck().ok

    def test_bad_renames_are_refused(self, registry: Registry) -> None:
        registry.create_model("Model")
        with pytest.raises(NotFound):
            registry.rename_model("missing", "other")
        with pytest.raises(InvalidName):
            registry.rename_model("Model", "../escape")
        with pytest.raises(InvalidName):
            registry.rename_model("Model", ".modelreg/x")
        with pytest.raises(InvalidInput, match="letter case"):
            registry.rename_model("Model", "model")
        assert registry.rename_model("Model", "Model").name.value == "Model"
        assert [m.name.value for m in registry.list_models()] == ["Model"]

    def test_a_model_being_renamed_refuses_writes_and_fsck_finishes_it(
        self, registry: Registry, repo: Repository
    ) -> None:
        _fill(registry, "old")
        before = _snapshot(registry, "old")
        doc = repo.get(("models", "old"))
        assert doc is not None  # as if the renamer died right after writing its intent
        repo.compare_and_swap(("models", "old"), {**doc.data, "renaming_to": "new"}, doc.etag)
        writes: list[Callable[[], object]] = [
            lambda: registry.create_version("old", "3.0.0"),
            lambda: registry.update_model("old", description="changed"),
            lambda: registry.set_alias("old", "best", "1.0.0"),
            lambda: registry.delete_model("old", force=True),
            lambda: registry.rename_model("old", "elsewhere"),
        ]
        for write in writes:
            with pytest.raises(Conflict, match="being renamed to 'new'"):
                write()
        assert _snapshot(registry, "old") == before  # readers still see it
        report = registry.fsck()
        assert any("half-renamed" in p for p in report.problems)
        assert registry.fsck(repair=True).repaired
        assert _snapshot(registry, "new") == before
        with pytest.raises(NotFound):
            registry.get_model("old")
        assert registry.fsck().ok

    def test_a_rename_killed_half_way_is_finished_by_calling_it_again(
        self, registry: Registry, repo: Repository
    ) -> None:
        _fill(registry, "old")
        before = _snapshot(registry, "old")
        crashing = Registry(_CrashOnSecondBlob(repo))
        with pytest.raises(RuntimeError, match="killed"):
            crashing.rename_model("old", "new")
        assert _snapshot(registry, "old") == before
        with pytest.raises(NotFound):
            registry.get_model("new")  # not visible before the move is complete
        registry.rename_model("old", "new")
        assert _snapshot(registry, "new") == before
        with pytest.raises(NotFound):
            registry.get_model("old")
        assert registry.fsck().ok

    def test_versions_frozen_by_a_rename_refuse_metadata_and_uploads(
        self, registry: Registry, repo: Repository
    ) -> None:
        _fill(registry, "old")
        key = ("versions", "old", registry.get_version("old", "2.0.0-rc.1").version.precedence_key)
        doc = repo.get(key)
        assert doc is not None
        repo.compare_and_swap(key, {**doc.data, "renaming_to": "new"}, doc.etag)
        writes: list[Callable[[], object]] = [
            lambda: registry.log_metric("old", "2.0.0-rc.1", "loss", 0.1),
            lambda: registry.set_tag("old", "2.0.0-rc.1", "k", "v"),
            lambda: registry.upload("old", "2.0.0-rc.1", io.BytesIO(b"x"), name="x.bin"),
            lambda: registry.publish("old", "2.0.0-rc.1"),
            lambda: registry.delete_version("old", "2.0.0-rc.1"),
        ]
        for write in writes:
            with pytest.raises(Conflict, match="being renamed"):
                write()
        version = registry.get_version("old", "2.0.0-rc.1")
        assert version.state is VersionState.DRAFT
        assert [str(a.path) for a in version.artifacts] == ["d.bin"]
        assert registry.get_metrics("old", "2.0.0-rc.1") == []
