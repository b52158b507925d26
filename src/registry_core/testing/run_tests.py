"""Contract tests of experiments, runs and promotion on a backend."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from registry_core.entities import Metric, RunStatus
from registry_core.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from registry_core.lifecycle import VersionState
from registry_core.protocol import Repository
from registry_core.registry import Registry
from registry_core.testing.contract import THREADS, run_threads
from registry_core.testing.crash_tests import DiesAfter, kill_in_fresh_stores
from registry_core.testing.fixtures import RepositoryFixtures

__all__ = ["RunContractTests"]


def _trained(registry: Registry, experiment: str = "fraud") -> str:
    """A finished run with params, metrics over 3 steps, a tag, and files in two folders."""
    exp = registry.create_experiment(experiment)
    run = registry.create_run(exp.id, name="train", tags={"team": "risk", "mlflow.user": "ana"})
    registry.log_run_params(run.id, {"lr": 0.1, "epochs": 3})
    for step in range(3):
        registry.log_run_metrics(
            run.id, {"loss": 1.0 / (step + 1), "auc": 0.8 + step / 100}, step=step
        )
    registry.upload_run_artifact(run.id, io.BytesIO(b"weights" * 1000), name="model/model.pkl")
    registry.upload_run_artifact(run.id, io.BytesIO(b"flavors: {}\n"), name="model/MLmodel")
    registry.upload_run_artifact(run.id, io.BytesIO(b"png"), name="plots/loss.png")
    registry.update_run(run.id, status="finished")
    return run.id


def _at(when: dt.datetime) -> dt.datetime:
    return when


class RunContractTests(RepositoryFixtures):
    """Experiments, runs and promotion on the backend under test."""

    # -- experiments ----------------------------------------------------------------------

    def test_experiment_names_are_unique_regardless_of_case(self, registry: Registry) -> None:
        made = registry.create_experiment("Fraud Detection", tags={"team": "risk"})
        with pytest.raises(AlreadyExists, match="Fraud Detection"):
            registry.create_experiment("fraud detection")
        found = registry.get_experiment_by_name("FRAUD DETECTION")
        assert found == made == registry.get_experiment(made.id)
        with pytest.raises(NotFound):
            registry.get_experiment_by_name("churn")
        with pytest.raises(InvalidInput):
            registry.create_experiment(" padded")

    def test_racing_creates_of_one_name_make_one_experiment(self, registry: Registry) -> None:
        def create(i: int) -> str:
            try:
                return registry.create_experiment("race").id
            except AlreadyExists:
                return ""

        made = [r for r in run_threads(THREADS, create) if isinstance(r, str) and r]
        assert len(made) == 1
        names = [e.name for e in registry.list_experiments(page_size=100)]
        assert names.count("race") == 1

    def test_default_experiment_exists_and_stays(self, registry: Registry) -> None:
        default = registry.get_experiment("0")
        assert default.name == "Default"
        assert registry.get_experiment_by_name("default").id == "0"
        with pytest.raises(IllegalTransition):
            registry.delete_experiment("0")
        run = registry.create_run()
        assert run.experiment_id == "0"

    def test_experiments_list_in_pages_and_rename_frees_the_old_name(
        self, registry: Registry
    ) -> None:
        ids = [registry.create_experiment(f"e{i}").id for i in range(7)]
        seen, token = [], None
        while True:
            page = registry.list_experiments(page_size=3, page_token=token)
            seen += [e.id for e in page]
            token = page.next_page_token
            if token is None:
                break
        assert seen == ["0", *sorted(ids)]
        renamed = registry.rename_experiment(ids[0], "renamed")
        assert registry.get_experiment_by_name("renamed").id == ids[0] == renamed.id
        with pytest.raises(NotFound):
            registry.get_experiment_by_name("e0")
        assert registry.create_experiment("e0").id != ids[0]
        with pytest.raises(AlreadyExists):
            registry.rename_experiment(ids[1], "RENAMED")
        registry.set_experiment_tag(ids[1], "k", "v")
        assert registry.get_experiment(ids[1]).tags == {"k": "v"}
        registry.delete_experiment_tag(ids[1], "k")
        assert registry.get_experiment(ids[1]).tags == {}

    def test_deleting_an_experiment_removes_its_runs_metrics_and_files(
        self, registry: Registry, repo: Repository
    ) -> None:
        run_id = _trained(registry)
        experiment = registry.get_run(run_id).experiment_id
        registry.delete_experiment(experiment)
        with pytest.raises(NotFound):
            registry.get_run(run_id)
        with pytest.raises(NotFound):
            registry.get_experiment(experiment)
        assert list(repo.list_blobs(f".modelreg/runs/{experiment}")) == []
        assert repo.list_page(("run_metrics", experiment, run_id)) == []
        assert registry.create_experiment("fraud").id != experiment  # the name is free
        assert registry.fsck().ok

    # -- runs -----------------------------------------------------------------------------

    def test_a_run_keeps_params_once_metrics_in_order_and_tags(self, registry: Registry) -> None:
        run_id = _trained(registry)
        run = registry.get_run(run_id)
        assert run.params == {"lr": "0.1", "epochs": "3"}
        assert run.status is RunStatus.FINISHED and run.ended_at is not None
        with pytest.raises(AlreadyExists, match="written once"):
            registry.log_run_param(run_id, "lr", 0.2)
        registry.log_run_param(run_id, "lr", 0.1)  # the same value again is fine
        losses = registry.get_run_metrics(run_id, "loss")
        assert [(m.step, m.value) for m in losses] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
        registry.set_run_tag(run_id, "stage", "tuned")
        registry.delete_run_tag(run_id, "team")
        assert registry.get_run(run_id).tags == {"mlflow.user": "ana", "stage": "tuned"}
        with pytest.raises(NotFound):
            registry.delete_run_tag(run_id, "team")
        again = registry.update_run(run_id, status="running")
        assert again.status is RunStatus.RUNNING and again.ended_at is None
        with pytest.raises(InvalidInput):
            registry.update_run(run_id, status="paused")
        with pytest.raises(NotFound):
            registry.get_run("0-" + "0" * 24)
        with pytest.raises(NotFound):
            registry.get_run("not a run id")

    def test_runs_list_by_experiment_in_pages(self, registry: Registry) -> None:
        a = registry.create_experiment("a")
        b = registry.create_experiment("b")
        mine = {registry.create_run(a.id).id for _ in range(5)}
        registry.create_run(b.id)
        seen, token = [], None
        while True:
            page = registry.list_runs(a.id, page_size=2, page_token=token)
            seen += [r.id for r in page]
            token = page.next_page_token
            if token is None:
                break
        assert sorted(seen) == sorted(mine) and len(seen) == 5

    def test_run_files_upload_list_read_and_delete(self, registry: Registry) -> None:
        run_id = _trained(registry)
        paths = [a.path.value for a in registry.list_run_artifacts(run_id)]
        assert paths == ["model/MLmodel", "model/model.pkl", "plots/loss.png"]
        with registry.open_run_artifact(run_id, "model/model.pkl") as stream:
            assert stream.read() == b"weights" * 1000
        with pytest.raises(AlreadyExists):
            registry.upload_run_artifact(run_id, io.BytesIO(b"x"), name="model/MLmodel")
        registry.append_run_log(run_id, "epoch 1\n")
        registry.append_run_log(run_id, "epoch 2\n")
        with registry.open_run_artifact(run_id, "logs/run.log") as stream:
            assert stream.read() == b"epoch 1\nepoch 2\n"
        registry.delete_run_artifacts(run_id, ["plots/loss.png"])
        with pytest.raises(NotFound):
            registry.open_run_artifact(run_id, "plots/loss.png")
        assert registry.fsck().ok

    def test_racing_uploads_of_one_run_path_leave_one_winner(self, registry: Registry) -> None:
        run = registry.create_run(registry.create_experiment("e").id)
        bodies = [bytes([i]) * 50_000 for i in range(THREADS)]

        def upload(i: int) -> bool:
            try:
                registry.upload_run_artifact(run.id, io.BytesIO(bodies[i]), name="w.bin")
            except (AlreadyExists, Conflict):
                return False
            return True

        assert [r for r in run_threads(THREADS, upload) if r is not False] == [True]
        (stored,) = registry.get_run(run.id).artifacts
        with registry.open_run_artifact(run.id, "w.bin") as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == stored.sha256

    def test_deleting_a_run_removes_its_metrics_and_files(
        self, registry: Registry, repo: Repository
    ) -> None:
        run_id = _trained(registry)
        run = registry.get_run(run_id)
        registry.delete_run(run_id)
        with pytest.raises(NotFound):
            registry.get_run(run_id)
        assert list(repo.list_blobs(run.package)) == []
        assert repo.list_page(("run_metrics", run.experiment_id, run_id)) == []
        with pytest.raises(NotFound):
            registry.log_run_metric(run_id, "loss", 1.0)

    # -- promotion ------------------------------------------------------------------------

    def test_promoting_a_run_makes_a_sealed_version_of_its_files_and_metadata(
        self, registry: Registry, repo: Repository, tmp_path: Path
    ) -> None:
        run_id = _trained(registry)
        registry.create_model("fraud")
        version = registry.promote_run(run_id, "fraud", "1.2.0", path="model")
        assert version.state is VersionState.READY and version.manifest_sha256
        assert [a.path.value for a in version.artifacts] == ["MLmodel", "model.pkl"]
        assert version.params == {"lr": "0.1", "epochs": "3"}
        assert version.tags == {"team": "risk"}  # mlflow.* stays with the run
        assert version.source_run == run_id
        assert [(m.key, m.step) for m in registry.get_metrics("fraud", "1.2.0", "auc")] == [
            ("auc", 0),
            ("auc", 1),
            ("auc", 2),
        ]
        assert registry.verify("fraud", "1.2.0").ok
        with registry.open_artifact("fraud", "1.2.0", "model.pkl") as stream:
            assert stream.read() == b"weights" * 1000

        run = registry.get_run(run_id)
        assert run.promoted_to == "fraud/1.2.0" and run.promoting is None
        assert [a.path.value for a in run.artifacts] == ["plots/loss.png"]
        listed = [a.path.value for a in registry.list_run_artifacts(run_id)]
        assert listed == ["model/MLmodel", "model/model.pkl", "plots/loss.png"]
        with registry.open_run_artifact(run_id, "model/model.pkl") as stream:
            assert stream.read() == b"weights" * 1000
        assert sorted(repo.list_blobs(run.package)) == [f"{run.package}/plots/loss.png"]
        written = registry.download_run(run_id, tmp_path / "all")
        assert sorted(p.relative_to(tmp_path / "all").as_posix() for p in written) == listed
        assert (tmp_path / "all" / "model" / "model.pkl").read_bytes() == b"weights" * 1000
        (one,) = registry.download_run(run_id, tmp_path / "one", paths=["plots/loss.png"])
        assert one.read_bytes() == b"png"
        with pytest.raises(NotFound):
            registry.download_run(run_id, tmp_path / "none", paths=["model"])
        assert registry.fsck().ok

    def test_a_run_is_promoted_once_and_then_cannot_be_deleted(self, registry: Registry) -> None:
        run_id = _trained(registry)
        registry.create_model("fraud")
        registry.promote_run(run_id, "fraud", bump="major")
        with pytest.raises(AlreadyExists, match="promoted once"):
            registry.promote_run(run_id, "fraud", bump="major")
        with pytest.raises(IllegalTransition):
            registry.delete_run(run_id)
        with pytest.raises(IllegalTransition):
            registry.upload_run_artifact(run_id, io.BytesIO(b"x"), name="late.bin")
        experiment = registry.get_run(run_id).experiment_id
        with pytest.raises(IllegalTransition, match="force"):
            registry.delete_experiment(experiment)
        registry.delete_experiment(experiment, force=True)
        assert registry.verify("fraud", "1.0.0").ok  # the version keeps its files
        assert registry.fsck().ok

    def test_a_refused_promotion_leaves_the_run_and_the_model_as_they_were(
        self, registry: Registry
    ) -> None:
        run_id = _trained(registry)
        registry.create_model("fraud")
        registry.create_version("fraud", "1.0.0")
        with pytest.raises(AlreadyExists):
            registry.promote_run(run_id, "fraud", "1.0.0")
        with pytest.raises(NotFound):
            registry.promote_run(run_id, "fraud", "2.0.0", path="nothing-here")
        with pytest.raises(NotFound):
            registry.promote_run(run_id, "no-such-model", "1.0.0")
        run = registry.get_run(run_id)
        assert run.promoting is None and run.promoted_to is None and len(run.artifacts) == 3
        assert [str(v.version) for v in registry.list_versions("fraud")] == ["1.0.0"]
        assert registry.promote_run(run_id, "fraud", "2.0.0").state is VersionState.READY
        assert registry.fsck().ok

    def test_a_promotion_killed_after_any_write_finishes_when_run_again(
        self, repo: Repository
    ) -> None:
        """For every k: the promoting process dies at its k-th storage write. The run and
        the model stay readable; once the claim lapses, promoting again (or fsck, for what
        is left over) finishes with the same end state as a promotion that never died."""
        finished_at = kill_in_fresh_stores(self, repo, self._promotion_killed_after)
        assert finished_at >= 8  # claim, create, record, hold, metrics, two files, seal...

    @staticmethod
    def _promotion_killed_after(repo: Repository, k: int) -> bool:
        """Kill a promotion after write ``k`` and check; whether it finished instead."""
        registry = Registry(repo)
        run_id = _trained(registry, f"e{k}")
        model = f"m{k}"
        registry.create_model(model)
        dying = DiesAfter(repo, k)
        with contextlib.suppress(BackendError):
            Registry(dying).promote_run(run_id, model, "1.0.0", path="model")
        if not dying.dead:
            return True  # k is past the promotion's last write
        registry.get_run(run_id)
        registry.get_model(model)
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        after = Registry(repo, clock=functools.partial(_at, later))
        if after.get_run(run_id).promoted_to is None:
            version = after.promote_run(run_id, model, "1.0.0", path="model")
            assert version.state is VersionState.READY
        after.fsck(repair=True)
        assert after.fsck().ok, (k, after.fsck())
        run = registry.get_run(run_id)
        assert run.promoted_to == f"{model}/1.0.0" and run.promoting is None
        assert registry.verify(model, "1.0.0").ok
        assert [a.path.value for a in registry.list_artifacts(model, "1.0.0")] == [
            "MLmodel",
            "model.pkl",
        ]
        metrics = registry.get_metrics(model, "1.0.0")
        assert len(metrics) == 6 and all(isinstance(m, Metric) for m in metrics)
        return False

    # -- permissions ----------------------------------------------------------------------

    def test_runs_follow_the_rules_of_versions(self, registry: Registry) -> None:
        """Reading needs membership (private registry); logging, uploading, promoting and
        deleting need reporter or up, as for versions."""
        registry.grant("rita", "reporter")
        registry.grant("gus", "guest")
        run_id = _trained(registry)
        registry.create_model("fraud")
        guest, reporter = registry.as_actor("gus"), registry.as_actor("rita")
        stranger = registry.as_actor("eve")
        assert guest.get_run(run_id).params["lr"] == "0.1"
        assert [e.name for e in guest.list_experiments()] == ["Default", "fraud"]
        refused: list[Callable[[Registry], object]] = [
            lambda who: who.create_experiment("new"),
            lambda who: who.create_run(),
            lambda who: who.log_run_metric(run_id, "loss", 0.1),
            lambda who: who.set_run_tag(run_id, "k", "v"),
            lambda who: who.upload_run_artifact(run_id, io.BytesIO(b"x"), name="x"),
            lambda who: who.promote_run(run_id, "fraud", bump="major"),
            lambda who: who.delete_run(run_id),
        ]
        for call in refused:
            with pytest.raises(PermissionDenied):
                call(guest)
        with pytest.raises(PermissionDenied):
            stranger.get_run(run_id)
        reporter.log_run_metric(run_id, "loss", 0.1)
        assert reporter.create_run(name="by rita").created_by == "rita"
        version = reporter.promote_run(run_id, "fraud", bump="major")
        assert version.created_by == "rita" and version.state is VersionState.READY
