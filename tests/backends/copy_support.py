"""What the copy tests share: the registry they copy, and how two registries are compared.

`populate` builds a small registry (two models, three versions, files, metrics, an alias,
an experiment with runs, a promoted run, a member and a token); `snapshot` is everything a
reader of the public API sees of one; `assert_same` compares two and verifies every ready
version of the destination.
"""

from __future__ import annotations

import io
from typing import Any

from registry_core import CIJob, Registry, VersionState

__all__ = ["MODEL", "WEIGHTS", "assert_same", "populate", "snapshot"]

MODEL = "fraud/Detector"
#: Larger than one copy chunk (1 MiB), so a blob crosses chunk boundaries.
WEIGHTS = bytes(range(256)) * 6000


def populate(reg: Registry) -> None:
    """The registry every test copies."""
    reg.grant("ana", "developer")
    reg.create_model(MODEL, "finds fraud", tags={"team": "risk"})
    reg.create_version(
        MODEL,
        "1.0.0",
        description="first",
        params={"lr": 0.1},
        ci_job=CIJob(provider="gitlab", job_id="42"),
    )
    reg.upload(MODEL, "1.0.0", io.BytesIO(WEIGHTS), name="weights.bin")
    reg.upload(MODEL, "1.0.0", io.BytesIO(b"{}"), name="config.json", subfolder="conf")
    reg.append_log(MODEL, "1.0.0", "trained\n")
    reg.log_metric(MODEL, "1.0.0", "auc", 0.91, step=1)
    reg.log_metric(MODEL, "1.0.0", "auc", 0.93, step=2)
    reg.publish(MODEL, "1.0.0")
    reg.set_alias(MODEL, "production", "1.0.0")
    reg.create_version(MODEL, "1.1.0-rc.1", description="a draft")
    reg.upload(MODEL, "1.1.0-rc.1", io.BytesIO(b"draft bytes"), name="weights.bin")
    experiment = reg.create_experiment("tuning", tags={"k": "v"})
    kept = reg.create_run(experiment.id, name="kept", params={"depth": 3})
    reg.log_run_metric(kept.id, "loss", 0.4, step=1)
    reg.upload_run_artifact(kept.id, io.BytesIO(b"run notes"), name="notes.txt")
    best = reg.create_run(experiment.id, name="best")
    reg.upload_run_artifact(best.id, io.BytesIO(b"model bytes"), name="model.pkl")
    reg.log_run_metric(best.id, "loss", 0.2)
    reg.create_model("other")
    reg.promote_run(best.id, "other", "1.0.0")
    reg.list_experiments()  # makes the Default experiment, as any reader would
    reg.create_token("ana", description="ci")


def snapshot(reg: Registry) -> dict[Any, Any]:
    """Everything a reader of the public API sees, artifact bytes included."""
    seen: dict[Any, Any] = {
        "settings": reg.get_settings(),
        "tokens": sorted(reg.list_tokens(), key=lambda t: t.id),
        "models": reg.list_models().items,
    }
    for model in seen["models"]:
        seen[model.name, "versions"] = versions = reg.list_versions(model.name).items
        for v in versions:
            artifacts = reg.list_artifacts(model.name, v.version)
            files = {}
            for a in artifacts:
                with reg.open_artifact(model.name, v.version, a.path) as stream:
                    files[str(a.path)] = stream.read()
            seen[model.name, v.version] = (
                reg.get_version(model.name, v.version),
                artifacts,
                files,
                reg.get_metrics(model.name, v.version),
            )
    seen["experiments"] = reg.list_experiments().items
    for experiment in seen["experiments"]:
        for run in reg.list_runs(experiment.id).items:
            files = {}
            for a in reg.list_run_artifacts(run.id):
                with reg.open_run_artifact(run.id, a.path) as stream:
                    files[str(a.path)] = stream.read()
            seen[run.id] = (reg.get_run(run.id), files, reg.get_run_metrics(run.id))
    return seen


def assert_same(src: Registry, dst: Registry, expected: dict[Any, Any] | None = None) -> None:
    """``dst`` shows exactly what ``src`` shows (``expected``: its snapshot, if taken
    already), and every ready version verifies."""
    if expected is None:
        expected = snapshot(src)
    got = snapshot(dst)
    assert got == expected
    assert len(got["models"]) == 2 and len(got["experiments"]) == 2
    for model in got["models"]:
        for v in got[model.name, "versions"]:
            if v.state is VersionState.READY:
                assert dst.verify(model.name, v.version).ok
