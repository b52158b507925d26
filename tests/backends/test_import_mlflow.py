"""``import_mlflow``: a real MLflow SQLite store, made with the stock client, imported into
a local-files registry and checked through modelreg's public API."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from mlflow_source import FRAUD_FILES, add_version
from registry_backends import ImportReport, import_mlflow, open_registry
from registry_backends.mlflow_import import semver_for, state_for
from registry_core import (
    InvalidInput,
    InvalidVersion,
    NotFound,
    Registry,
    RegistryError,
    Version,
    VersionState,
)
from registry_core.testing import DiesAfter
from registry_core.testing.access_tests import stored


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return open_registry(str(tmp_path / "registry"))


def _versions(registry: Registry, model: str) -> dict[str, tuple[str, VersionState]]:
    page = registry.list_versions(model, page_size=100)
    return {str(v.version): (v.tags["mlflow.version"], v.state) for v in page.items}


def test_models_versions_metadata_files_and_aliases_arrive(
    mlflow_store: str, registry: Registry
) -> None:
    report = import_mlflow(mlflow_store, registry)

    names = [str(m.name) for m in registry.list_models(page_size=100).items]
    assert sorted(names) == ["churn", "doubler", "fraud"]
    fraud = registry.get_model("fraud")
    assert (fraud.description, dict(fraud.tags)) == ("Card fraud detector", {"team": "risk"})
    assert _versions(registry, "fraud") == {
        "1.0.0": ("1", VersionState.READY),
        "2.1.0": ("2", VersionState.READY),
        "3.0.0": ("3", VersionState.DEPRECATED),
    }
    first = registry.get_version("fraud", "1.0.0")
    assert first.description == "first"
    assert first.tags["data"] == "2024-q1"
    assert first.tags["mlflow.run_id"]
    assert dict(first.params) == {"lr": "0.1", "depth": "3"}
    losses = registry.get_metrics("fraud", "1.0.0", "loss")
    assert [(m.step, m.value) for m in losses] == [(0, 0.9), (1, 0.5), (2, 0.25)]
    assert losses[0].timestamp.timestamp() == 1_700_000_000
    assert {str(a.path) for a in first.artifacts} == set(FRAUD_FILES)
    for path, content in FRAUD_FILES.items():
        with registry.open_artifact("fraud", "1.0.0", path) as stream:
            assert stream.read() == content
    assert registry.get_version("fraud", "3.0.0").tags["mlflow.stage"] == "Archived"
    assert {k: str(v) for k, v in fraud.aliases.items()} == {
        "champion": "2.1.0",
        "first": "1.0.0",
    }
    assert "alias fraud@old: MLflow version 3 is not a ready version" in str(report)
    for model in ("fraud", "churn", "doubler"):
        for version in _versions(registry, model):
            assert registry.verify(model, version).ok

    assert _versions(registry, "churn") == {"1.0.0": ("1", VersionState.READY)}
    assert any("churn: MLflow version 2: tag semver = 'v2'" in s for s in report.skipped)
    assert any("model 'bad name!': not a valid modelreg name" in s for s in report.skipped)
    doubler = registry.get_version("doubler", "1.0.0")
    assert "MLmodel" in {str(a.path) for a in doubler.artifacts}
    assert dict(doubler.params) == {"factor": "2"}
    assert str(registry.get_model("doubler").aliases["champion"]) == "1.0.0"

    mapped = {(m.model, m.mlflow_version): (m.version, m.outcome) for m in report.mapping}
    assert mapped[("fraud", "2")] == ("2.1.0", "imported")
    assert mapped[("churn", "2")] == (None, "skipped")
    assert report.files == len(FRAUD_FILES) + 2 + 1 + len(doubler.artifacts)
    assert report.bytes > sum(len(b) for b in FRAUD_FILES.values())


def test_a_second_import_changes_nothing_and_then_only_a_new_version_arrives(
    mlflow_store: str, registry: Registry, tmp_path: Path
) -> None:
    import_mlflow(mlflow_store, registry)
    before = stored(registry.repository)
    again = import_mlflow(mlflow_store, registry)
    assert stored(registry.repository) == before
    assert again.changed_nothing and not again.conflicts
    assert "nothing to import" in str(again)
    assert len(again.unchanged) == 3 + 5 + 3  # models, versions, aliases

    add_version(
        mlflow_store, "fraud", tmp_path / "work", {"weights.bin": b"v4"}, params={"lr": "0.01"}
    )
    third = import_mlflow(mlflow_store, registry)
    assert third.imported == (
        "fraud: MLflow version 4 -> 4.0.0 (ready, 1 params, 0 metrics, 1 files)",
    )
    assert registry.get_version("fraud", "4.0.0").tags["mlflow.version"] == "4"
    assert not third.conflicts


def test_a_changed_version_is_a_conflict_and_is_not_overwritten(
    mlflow_store: str, registry: Registry
) -> None:
    import_mlflow(mlflow_store, registry)
    registry.update_version("fraud", "1.0.0", description="edited in modelreg")
    registry.delete_alias("fraud", "champion")
    registry.set_alias("fraud", "champion", "1.0.0")
    before = stored(registry.repository)
    report = import_mlflow(mlflow_store, registry)
    assert stored(registry.repository) == before
    assert report.conflicts == (
        "fraud: MLflow version 1: differs from the version imported before: description",
        "alias fraud@champion -> 2.1.0: the registry's points at 1.0.0",
    )


def test_a_semver_taken_by_a_version_not_from_mlflow_is_a_conflict(
    mlflow_store: str, registry: Registry
) -> None:
    registry.create_model("fraud", "Card fraud detector", tags={"team": "risk"})
    registry.create_version("fraud", "2.1.0", publish=True)
    report = import_mlflow(mlflow_store, registry)
    assert (
        "fraud: MLflow version 2 -> 2.1.0: 2.1.0 already exists (not from MLflow)"
        in report.conflicts
    )
    assert "tags" not in registry.get_version("fraud", "2.1.0").tags
    assert "alias fraud@champion: MLflow version 2 is not a ready version in the registry" in (
        report.skipped
    )


def test_a_dry_run_writes_nothing_and_shows_the_mapping(
    mlflow_store: str, registry: Registry
) -> None:
    before = stored(registry.repository)
    report = import_mlflow(mlflow_store, registry, dry_run=True)
    assert stored(registry.repository) == before
    assert report.dry_run and report.files == 0
    text = str(report)
    assert "would import: fraud: MLflow version 2 -> 2.1.0 (ready, 1 params, 1 metrics)" in text
    assert "would import: fraud: MLflow version 3 -> 3.0.0 (deprecated" in text
    assert "would import: alias fraud@champion -> 2.1.0" in text
    with pytest.raises(NotFound):
        registry.get_model("fraud")


def test_progress_counts_every_version_and_the_bytes(mlflow_store: str, registry: Registry) -> None:
    seen = []
    import_mlflow(mlflow_store, registry, progress=seen.append)
    assert seen[-1].versions_done == seen[-1].versions_total == 7
    assert seen[-1].bytes_done > 0


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(NotFound, match="no MLflow database"):
        import_mlflow(f"sqlite:///{tmp_path / 'nope.db'}", registry)
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.parametrize(
    ("number", "tags", "version"),
    [
        (3, {}, "3.0.0"),
        ("12", {"other": "1.0.0"}, "12.0.0"),
        (1, {"gitlab.version": "2.1.0"}, "2.1.0"),
        (1, {"semver": "1.0.0-rc.1+build.5"}, "1.0.0-rc.1+build.5"),
        (1, {"gitlab.version": "1.2.0", "semver": "1.2.0"}, "1.2.0"),
    ],
)
def test_the_version_number_rule(number: int | str, tags: dict[str, str], version: str) -> None:
    assert semver_for(number, tags) == Version.parse(version)


@pytest.mark.parametrize(
    ("tags", "error"),
    [
        ({"semver": "v1.0.0"}, InvalidVersion),
        ({"gitlab.version": "1.0"}, InvalidVersion),
        ({"gitlab.version": "1.0.0", "semver": "2.0.0"}, InvalidInput),
    ],
)
def test_a_bad_version_tag_refuses_the_version(
    tags: dict[str, str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        semver_for(1, tags)


@pytest.mark.parametrize(
    ("status", "stage", "state"),
    [
        ("READY", "None", VersionState.READY),
        ("READY", None, VersionState.READY),
        ("READY", "Staging", VersionState.READY),
        ("READY", "Production", VersionState.READY),
        ("READY", "Archived", VersionState.DEPRECATED),
        ("FAILED_REGISTRATION", "None", VersionState.FAILED),
        ("FAILED_REGISTRATION", "Archived", VersionState.FAILED),
        ("PENDING_REGISTRATION", "None", None),
    ],
)
def test_the_state_rule(status: str, stage: str | None, state: VersionState | None) -> None:
    assert state_for(status, stage) is state


def test_the_report_is_public() -> None:
    assert str(ImportReport()).startswith("imported 0, unchanged 0")


def _set_status(uri: str, model: str, number: int, status: str) -> None:
    """MLflow's own stored status of a version (the stock client sets only READY)."""
    with sqlite3.connect(uri.removeprefix("sqlite:///")) as db:
        db.execute(
            "UPDATE model_versions SET status = ? WHERE name = ? AND version = ?",
            (status, model, number),
        )


def test_failed_versions_arrive_failed_and_pending_ones_wait(
    mlflow_store: str, registry: Registry
) -> None:
    _set_status(mlflow_store, "fraud", 1, "FAILED_REGISTRATION")
    _set_status(mlflow_store, "churn", 1, "PENDING_REGISTRATION")
    report = import_mlflow(mlflow_store, registry)
    failed = registry.get_version("fraud", "1.0.0")
    assert failed.state is VersionState.FAILED and failed.artifacts == ()
    assert dict(failed.params) == {"lr": "0.1", "depth": "3"}
    assert len(registry.get_metrics("fraud", "1.0.0", "loss")) == 3
    assert "alias fraud@first: MLflow version 1 is not a ready version" in str(report)
    assert "churn: MLflow version 1: still registering in MLflow" in str(report)
    with pytest.raises(NotFound):
        registry.get_version("churn", "1.0.0")

    _set_status(mlflow_store, "churn", 1, "READY")
    later = import_mlflow(mlflow_store, registry)
    assert later.imported == (
        "churn: MLflow version 1 -> 1.0.0 (ready, 0 params, 0 metrics, 1 files)",
    )


def _everything(registry: Registry) -> dict[str, Any]:
    """What the public API shows of every model, version, file, metric and alias."""
    seen: dict[str, Any] = {}
    for model in registry.list_models(page_size=100).items:
        name = str(model.name)
        seen[name] = (model.description, dict(model.tags), dict(model.aliases))
        for v in registry.list_versions(name, page_size=100).items:
            files = {a.path.value: a.sha256 for a in registry.list_artifacts(name, v.version)}
            metrics = [(m.key, m.value, m.step) for m in registry.get_metrics(name, v.version)]
            seen[f"{name}@{v.version}"] = (
                v.state,
                v.description,
                dict(v.tags),
                dict(v.params),
                files,
                metrics,
            )
    return seen


@pytest.mark.parametrize("writes", [0, 2, 4, 7, 12, 20, 30, 38, 44])  # of 45
def test_an_import_killed_after_some_writes_is_finished_by_importing_again(
    mlflow_store: str, tmp_path: Path, writes: int
) -> None:
    """`DiesAfter` lets ``writes`` storage writes through, then every call fails and
    nothing is cleaned up (drafts stay, marked); the next import must end where a clean
    one does, with no mark left."""
    clean = open_registry(str(tmp_path / "clean"))
    import_mlflow(mlflow_store, clean)
    url = str(tmp_path / "killed")
    dying = DiesAfter(open_registry(url).repository, writes)
    with contextlib.suppress(RegistryError):
        import_mlflow(mlflow_store, Registry(dying))
    assert dying.dead
    resumed = open_registry(url)
    report = import_mlflow(mlflow_store, resumed)
    assert not report.conflicts, str(report)
    assert _everything(resumed) == _everything(clean)
    assert import_mlflow(mlflow_store, resumed).changed_nothing
