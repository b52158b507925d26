"""The stock ``mlflow.MlflowClient`` drives every call of REST.md sections 2-4 end to end,
on each backend."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")

from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from registry_core import Registry, VersionState  # noqa: E402


def code_of(error: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(error.value.error_code)


# -- registered models ----------------------------------------------------------------


def test_registered_model_lifecycle(client: Any, name: str) -> None:
    created = client.create_registered_model(name, tags={"team": "fraud"}, description="first")
    assert created.name == name
    assert created.tags == {"team": "fraud"}
    with pytest.raises(MlflowException) as error:
        client.create_registered_model(name)
    assert code_of(error) == "RESOURCE_ALREADY_EXISTS"

    got = client.get_registered_model(name)
    assert (got.description, got.tags, got.latest_versions) == ("first", {"team": "fraud"}, [])
    client.update_registered_model(name, description="second")
    client.set_registered_model_tag(name, "owner", "ana")
    client.delete_registered_model_tag(name, "team")
    got = client.get_registered_model(name)
    assert (got.description, got.tags) == ("second", {"owner": "ana"})

    client.delete_registered_model(name)
    with pytest.raises(MlflowException) as error:
        client.get_registered_model(name)
    assert code_of(error) == "RESOURCE_DOES_NOT_EXIST"


def test_rename_moves_versions_and_their_artifacts(client: Any, name: str, tmp_path: Path) -> None:
    client.create_registered_model(name, description="d")
    mv = client.create_model_version(name, "", tags={"gitlab.version": "1.0.0"})
    client.log_artifacts(mv.run_id, str(_files(tmp_path / "src")))
    client.log_metric(mv.run_id, "loss", 0.25)
    client.set_terminated(mv.run_id)
    client.set_registered_model_alias(name, "champion", 1)
    client.create_registered_model(name + "-taken")
    with pytest.raises(MlflowException) as error:
        client.rename_registered_model(name, name + "-taken")
    assert code_of(error) == "RESOURCE_ALREADY_EXISTS"

    new = name + "-renamed"
    client.rename_registered_model(name, new)
    with pytest.raises(MlflowException) as error:
        client.get_registered_model(name)
    assert code_of(error) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(new).description == "d"
    moved = client.get_model_version_by_alias(new, "champion")
    assert (moved.version, moved.tags["modelreg.state"]) == ("1.0.0", "ready")
    assert moved.source == f"mlflow-artifacts:/{new}/1.0.0"
    assert client.get_run(moved.run_id).data.metrics == {"loss": 0.25}
    out = Path(client.download_artifacts(moved.run_id, "sub/deeper", str(tmp_path / "out")))
    assert (out / "b.bin").read_bytes() == bytes(range(256)) * 64


def test_search_registered_models_filters_and_pages(client: Any, name: str) -> None:
    for suffix in ("a", "b", "c", "d", "e"):
        client.create_registered_model(f"{name}-{suffix}", tags={"kind": suffix in "ace"})
    client.create_registered_model(f"other-{name}")

    every = client.search_registered_models()
    assert len(every) == 6
    like = client.search_registered_models(filter_string=f"name LIKE '{name}-%'")
    assert [m.name for m in like] == [f"{name}-{s}" for s in "abcde"]
    exact = client.search_registered_models(filter_string=f"name = '{name}-c'")
    assert [m.name for m in exact] == [f"{name}-c"]
    tagged = client.search_registered_models(
        filter_string=f"name LIKE '{name}%' AND tags.kind = 'True'"
    )
    assert [m.name for m in tagged] == [f"{name}-{s}" for s in "ace"]

    seen: list[str] = []
    token = None
    while True:
        page = client.search_registered_models(
            filter_string=f"name LIKE '{name}-%'", max_results=2, page_token=token
        )
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == [f"{name}-{s}" for s in "abcde"]

    with pytest.raises(MlflowException) as error:
        client.search_registered_models(filter_string="creation_timestamp > 3")
    assert code_of(error) == "INVALID_PARAMETER_VALUE"


# -- model versions -------------------------------------------------------------------


def test_versions_are_semver_from_tags(client: Any, name: str) -> None:
    client.create_registered_model(name)
    first = client.create_model_version(name, "", description="default: next major")
    assert (first.version, first.status, first.current_stage) == ("1.0.0", "READY", "None")
    assert first.tags["modelreg.state"] == "draft"
    assert first.source == f"mlflow-artifacts:/{name}/1.0.0"
    gitlab = client.create_model_version(name, "", tags={"gitlab.version": "1.2.3"})
    assert gitlab.version == "1.2.3"
    minor = client.create_model_version(name, "", tags={"modelreg.bump": "minor"})
    assert minor.version == "1.3.0"
    ours = client.create_model_version(name, "", tags={"modelreg.version": "2.0.0-rc.1"})
    assert ours.version == "2.0.0-rc.1"
    major = client.create_model_version(name, "")
    assert major.version == "2.0.0"  # a major bump of 2.0.0-rc.1 releases it
    with pytest.raises(MlflowException) as error:
        client.create_model_version(name, "", tags={"gitlab.version": "v1"})
    assert code_of(error) == "INVALID_PARAMETER_VALUE"

    got = client.get_model_version(name, "1.2.3")
    assert got.run_id == gitlab.run_id


def test_version_calls(client: Any, name: str, served: Any) -> None:
    client.create_registered_model(name)
    mv = client.create_model_version(name, "", tags={"gitlab.version": "1.0.0"}, description="d")
    client.update_model_version(name, "1.0.0", description="changed")
    client.set_model_version_tag(name, "1.0.0", "stage", "candidate")
    client.set_model_version_tag(name, "1.0.0", "drop", "me")
    client.delete_model_version_tag(name, "1.0.0", "drop")
    got = client.get_model_version(name, "1.0.0")
    assert got.description == "changed"
    assert got.tags == {"gitlab.version": "1.0.0", "stage": "candidate", "modelreg.state": "draft"}
    uri = client.get_model_version_download_uri(name, "1.0.0")
    assert uri == f"mlflow-artifacts:/{name}/1.0.0"

    with pytest.raises(MlflowException) as error, pytest.warns(FutureWarning):
        client.transition_model_version_stage(name, "1.0.0", "Production")
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    assert "modelreg.alias" in str(error.value)

    with pytest.warns(FutureWarning):
        assert client.get_latest_versions(name) == []  # a draft is never latest
    client.set_terminated(mv.run_id)
    with pytest.warns(FutureWarning):
        latest = client.get_latest_versions(name, stages=["Production"])  # stages ignored
    assert [v.version for v in latest] == ["1.0.0"]
    assert latest[0].tags["modelreg.state"] == "ready"

    client.set_registered_model_alias(name, "champion", 1)  # the client insists on an int
    by_alias = client.get_model_version_by_alias(name, "champion")
    assert (by_alias.version, by_alias.aliases) == ("1.0.0", ["champion"])
    model = client.get_registered_model(name)
    assert model.aliases == {"champion": "1.0.0"}
    assert [v.version for v in model.latest_versions] == ["1.0.0"]

    client.delete_registered_model_alias(name, "champion")
    assert client.get_registered_model(name).aliases == {}
    client.delete_model_version(name, "1.0.0")
    with pytest.raises(MlflowException) as error:
        client.get_model_version(name, "1.0.0")
    assert code_of(error) == "RESOURCE_DOES_NOT_EXIST"


def test_search_model_versions_filters_and_pages(client: Any, name: str) -> None:
    for model in (name, name + "-other"):
        client.create_registered_model(model)
        for _ in range(3):
            client.create_model_version(model, "")
    client.set_model_version_tag(name, "2.0.0", "best", "yes")

    found = client.search_model_versions(f"name='{name}'")
    assert [v.version for v in found] == ["3.0.0", "2.0.0", "1.0.0"]
    assert [
        v.version for v in client.search_model_versions(f"name = '{name}' AND tags.best = 'yes'")
    ] == ["2.0.0"]
    assert len(client.search_model_versions(f"name LIKE '{name}%'")) == 6
    by_run = client.search_model_versions(f"run_id = '{found[1].run_id}'")
    assert [(v.name, v.version) for v in by_run] == [(name, "2.0.0")]

    seen: list[tuple[str, str]] = []
    token = None
    while True:
        page = client.search_model_versions(
            f"name LIKE '{name}%'", max_results=4, order_by=["version_number ASC"], page_token=token
        )
        seen += [(v.name, v.version) for v in page]
        token = page.token
        if not token:
            break
    assert seen == [(m, f"{n}.0.0") for m in (name, name + "-other") for n in (1, 2, 3)]


def test_a_retried_create_of_an_exact_version_is_idempotent(client: Any, name: str) -> None:
    client.create_registered_model(name)
    first = client.create_model_version(name, "", tags={"gitlab.version": "1.0.0"})
    again = client.create_model_version(name, "", tags={"gitlab.version": "1.0.0"})
    assert again.run_id == first.run_id
    client.log_param(first.run_id, "p", "1")  # now it holds data: a repeat is a conflict
    with pytest.raises(MlflowException) as error:
        client.create_model_version(name, "", tags={"gitlab.version": "1.0.0"})
    assert code_of(error) == "RESOURCE_ALREADY_EXISTS"


def test_a_create_tagged_ready_is_published_at_once(client: Any, name: str, served: Any) -> None:
    client.create_registered_model(name)
    ready = {"modelreg.state": "ready", "gitlab.version": "1.0.0", "team": "fraud"}
    mv = client.create_model_version(name, "", tags=ready)
    stored = served.registry.get_version(name, "1.0.0")
    assert stored.state is VersionState.READY and stored.manifest_sha256 is not None
    assert dict(stored.tags) == {"gitlab.version": "1.0.0", "team": "fraud"}  # no state tag
    assert mv.tags["modelreg.state"] == "ready"
    assert client.get_run(mv.run_id).info.status == "FINISHED"
    again = client.create_model_version(name, "", tags=ready)  # a retry: the same version
    assert again.run_id == mv.run_id
    with pytest.raises(MlflowException) as error:
        client.log_param(mv.run_id, "late", "x")  # sealed
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    draft = client.create_model_version(name, "", tags={"modelreg.state": "draft"})
    assert served.registry.get_version(name, draft.version).state is VersionState.DRAFT
    with pytest.raises(MlflowException) as error:
        client.create_model_version(name, "", tags={"modelreg.state": "yanked"})
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    assert "draft" in str(error.value) and "ready" in str(error.value)
    assert [str(v.version) for v in served.registry.list_versions(name).items] == [
        "1.0.0",
        "2.0.0",
    ]


# -- runs -------------------------------------------------------------------------------


def test_run_calls_reach_the_version(client: Any, name: str, served: Any) -> None:
    client.create_registered_model(name)
    mv = client.create_model_version(name, "")
    run = client.get_run(mv.run_id)
    assert run.info.status == "RUNNING"
    assert run.info.artifact_uri == f"mlflow-artifacts:/{name}/1.0.0"
    assert run.info.lifecycle_stage == "active"

    client.log_param(mv.run_id, "lr", 0.1)
    client.log_metric(mv.run_id, "loss", 0.5, step=1)
    client.log_metric(mv.run_id, "loss", 0.25, step=2)
    client.log_metric(mv.run_id, "odd", float("nan"))
    client.log_metric(mv.run_id, "big", float("inf"))
    client.set_tag(mv.run_id, "note", "hello")
    now = int(time.time() * 1000)
    client.log_batch(
        mv.run_id,
        metrics=[Metric("m", float(i), now, i) for i in range(1500)],
        params=[Param(f"p{i}", str(i)) for i in range(150)],
        tags=[RunTag("batch", "yes")],
    )
    run = client.get_run(mv.run_id)
    assert run.data.params["lr"] == "0.1"
    assert run.data.params["p149"] == "149"
    assert run.data.metrics["loss"] == 0.25
    assert math.isnan(run.data.metrics["odd"])
    assert run.data.metrics["big"] == math.inf
    assert run.data.metrics["m"] == 1499.0
    assert run.data.tags["note"] == "hello"
    assert run.data.tags["batch"] == "yes"
    history = client.get_metric_history(mv.run_id, "loss")
    assert [(p.step, p.value) for p in history] == [(1, 0.5), (2, 0.25)]

    client.set_terminated(mv.run_id)  # FINISHED publishes
    assert client.get_run(mv.run_id).info.status == "FINISHED"
    assert served.registry.get_version(name, "1.0.0").state is VersionState.READY
    client.set_terminated(mv.run_id)  # again: a no-op, as a retry would be
    with pytest.raises(MlflowException) as error:
        client.log_param(mv.run_id, "late", "x")  # sealed
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    client.log_metric(mv.run_id, "after", 1.0)  # metrics stay editable

    failed = client.create_model_version(name, "")
    client.set_terminated(failed.run_id, status="KILLED")
    got = client.get_model_version(name, failed.version)
    assert got.status == "FAILED_REGISTRATION"
    assert got.tags["modelreg.state"] == "failed"
    assert client.get_run(failed.run_id).info.status == "FAILED"

    with pytest.raises(MlflowException) as error:
        client.get_run("nothing_mhere")
    assert code_of(error) == "RESOURCE_DOES_NOT_EXIST"


# -- artifacts --------------------------------------------------------------------------


def _files(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "model.txt").write_text("weights")
    (root / "sub" / "a.json").write_text('{"a": 1}')
    (root / "sub" / "deeper" / "b.bin").write_bytes(bytes(range(256)) * 64)
    return root


def test_artifact_calls(client: Any, name: str, tmp_path: Path, served: Any) -> None:
    client.create_registered_model(name)
    mv = client.create_model_version(name, "")
    src = _files(tmp_path / "src")
    client.log_artifact(mv.run_id, str(src / "model.txt"))
    client.log_artifact(mv.run_id, str(src / "model.txt"), artifact_path="dir/x")
    client.log_artifacts(mv.run_id, str(src / "sub"))
    client.log_artifacts(mv.run_id, str(src / "sub"), "bundle")
    client.log_artifact(mv.run_id, str(src / "model.txt"))  # overwrite while a draft

    top = {(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(mv.run_id)}
    assert top == {
        ("model.txt", False, 7),
        ("dir", True, None),
        ("a.json", False, 8),
        ("deeper", True, None),
        ("bundle", True, None),
    }
    sub = {f.path for f in client.list_artifacts(mv.run_id, "bundle")}
    assert sub == {"bundle/a.json", "bundle/deeper"}
    assert client.list_artifacts(mv.run_id, "missing") == []
    assert client.list_artifacts(mv.run_id, "model.txt") == []

    out = tmp_path / "out"
    one = client.download_artifacts(mv.run_id, "model.txt", str(out / "one"))
    assert Path(one).read_text() == "weights"
    folder = client.download_artifacts(mv.run_id, "bundle", str(out / "folder"))
    assert (Path(folder) / "deeper" / "b.bin").read_bytes() == bytes(range(256)) * 64
    everything = Path(client.download_artifacts(mv.run_id, "", str(out / "all")))
    assert (everything / "dir" / "x" / "model.txt").read_text() == "weights"
    direct = mlflow.artifacts.download_artifacts(
        artifact_uri=f"mlflow-artifacts:/{name}/1.0.0/a.json",
        dst_path=str(out / "direct"),
        tracking_uri=served.url,
    )
    assert Path(direct).read_text() == '{"a": 1}'

    client.set_terminated(mv.run_id)
    registry: Registry = served.registry
    assert registry.verify(name, "1.0.0").ok
    with pytest.raises(Exception, match=r"sealed|ready"):
        client.log_artifact(mv.run_id, str(src / "model.txt"), artifact_path="late")
