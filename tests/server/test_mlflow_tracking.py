"""The everyday MLflow training script, unchanged but for the tracking URI and token, with
the stock ``mlflow`` client: experiments, runs, ``log_model`` with registration,
``register_model`` from a run, searches, deletes, and a run's files.

Runs on local files, SQLite and (when the CI has it) PostgreSQL.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serverkit import open_backend

from needs import need
from registry_backends import open_registry
from registry_core import Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backends"))
from sql_support import ENV, new_database

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("pandas")
pyfunc = pytest.importorskip("mlflow.pyfunc")
from mlflow.exceptions import MlflowException  # noqa: E402


@pytest.fixture(params=["files", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def registry(backend: str, tmp_path: Path) -> Iterator[Registry]:
    """Local files, SQLite, or a new PostgreSQL database (required when ``CI`` is set)."""
    if backend != "postgresql":
        yield open_backend(backend, tmp_path)
        return
    if not os.environ.get(ENV["postgresql"]):
        need(f"${ENV['postgresql']}", "these tests need PostgreSQL; .ci/run sets it")
    url, drop = new_database("postgresql")
    try:
        yield open_registry(url)
    finally:
        drop()


class Doubler(pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: list[float]) -> list[float]:
        return [2 * x for x in model_input]


@pytest.fixture
def fluent(served: Any, mlflow_env: pytest.MonkeyPatch) -> Any:
    """The fluent API pointed at the server with ana's token, as a user would set it (each
    test sets its experiment first)."""
    mlflow_env.setenv("MLFLOW_TRACKING_URI", served.url)
    mlflow_env.setenv("MLFLOW_REGISTRY_URI", served.url)
    mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", served.tokens["ana"])
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def test_the_everyday_training_script(fluent: Any, served: Any) -> None:
    experiment, model = unique("fraud"), unique("fraud")
    fluent.set_experiment(experiment)
    with fluent.start_run() as run:
        fluent.log_param("lr", 0.01)
        fluent.log_params({"epochs": 3, "depth": 6})
        for epoch in range(3):
            fluent.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        fluent.set_tag("team", "risk")
        info = pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name=model)
    assert info.registered_model_version == "1.0.0"

    loaded = pyfunc.load_model(f"models:/{model}/1")
    assert list(loaded.predict([1.0, 2.5])) == [2.0, 5.0]

    version = served.registry.get_version(model, "1.0.0")
    assert version.state.value == "ready" and version.manifest_sha256
    assert version.params == {"lr": "0.01", "epochs": "3", "depth": "6"}
    assert version.tags.get("team") == "risk"
    losses = served.registry.get_metrics(model, "1.0.0", "loss")
    assert [(m.step, m.value) for m in losses] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert version.source_run == run.info.run_id
    assert served.registry.verify(model, "1.0.0").ok

    finished = fluent.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.params["lr"] == "0.01"
    assert finished.data.metrics["loss"] == pytest.approx(1 / 3)


def test_register_model_from_a_run_takes_the_version_from_its_tag(
    fluent: Any, served: Any, tmp_path: Path
) -> None:
    model = unique("churn")
    fluent.set_experiment(unique("churn"))
    saved = tmp_path / "saved"
    pyfunc.save_model(str(saved), python_model=Doubler())
    with fluent.start_run() as run:
        fluent.set_tag("gitlab.version", "2.1.0")
        fluent.log_param("seed", 7)
        fluent.log_artifacts(str(saved), "model")
        fluent.log_artifact(str(saved / "MLmodel"), "extra")
    registered = fluent.register_model(f"runs:/{run.info.run_id}/model", model)
    assert registered.version == "2.1.0" and registered.status == "READY"
    assert list(pyfunc.load_model(f"models:/{model}/2").predict([3.0])) == [6.0]
    files = [a.path.value for a in served.registry.list_artifacts(model, "2.1.0")]
    assert "MLmodel" in files and not any(f.startswith("extra") for f in files)

    with pytest.raises(MlflowException) as refused:
        fluent.register_model(f"runs:/{run.info.run_id}/model", model)
    assert refused.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client = fluent.MlflowClient()
    listed = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert listed == {"extra", "model"}  # the promoted folder is still shown, from the version
    inside = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert "model/MLmodel" in inside
    local = client.download_artifacts(run.info.run_id, "extra/MLmodel", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == (saved / "MLmodel").read_bytes()


def test_search_runs_filters_and_orders(fluent: Any) -> None:
    experiment = fluent.set_experiment(unique("search"))
    for lr, acc in [(0.1, 0.7), (0.01, 0.9), (0.001, 0.8)]:
        with fluent.start_run():
            fluent.log_param("lr", lr)
            fluent.log_metric("acc", acc)
    client = fluent.MlflowClient()
    ids = [experiment.experiment_id]
    best = client.search_runs(ids, "metrics.acc > 0.75", order_by=["metrics.acc DESC"])
    assert [r.data.metrics["acc"] for r in best] == [0.9, 0.8]
    by_param = client.search_runs(ids, "params.lr = '0.01'")
    assert [r.data.params["lr"] for r in by_param] == ["0.01"]
    finished = client.search_runs(ids, "attributes.status = 'FINISHED'", max_results=2)
    assert len(finished) == 2 and finished.token
    rest = client.search_runs(ids, "attributes.status = 'FINISHED'", page_token=finished.token)
    assert len(rest) == 1
    frame = fluent.search_runs([experiment.experiment_id], order_by=["params.lr ASC"])
    assert list(frame["params.lr"]) == ["0.001", "0.01", "0.1"]


def test_delete_run_and_experiment(fluent: Any, served: Any) -> None:
    experiment = fluent.set_experiment(unique("gone"))
    with fluent.start_run() as kept, fluent.start_run(nested=True) as dropped:
        fluent.log_metric("x", 1.0)
    client = fluent.MlflowClient()
    client.delete_run(dropped.info.run_id)
    remaining = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in remaining] == [kept.info.run_id]
    with pytest.raises(MlflowException) as missing:
        client.get_run(dropped.info.run_id)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.delete_experiment(experiment.experiment_id)
    assert client.get_experiment_by_name(experiment.name) is None
    with pytest.raises(MlflowException):
        client.get_run(kept.info.run_id)
    assert served.registry.fsck().ok


def test_a_reader_cannot_log_or_promote(served: Any, mlflow_env: pytest.MonkeyPatch) -> None:
    """Permissions as for versions: a guest reads runs, a reporter and up writes."""
    owner = mlflow.MlflowClient(tracking_uri=served.url, registry_uri=served.url)
    mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", served.tokens["ana"])
    experiment_id = owner.create_experiment(unique("perm"))
    run = owner.create_run(experiment_id)
    owner.log_param(run.info.run_id, "a", "1")
    mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", served.tokens["gil"])
    guest = mlflow.MlflowClient(tracking_uri=served.url, registry_uri=served.url)
    assert guest.get_run(run.info.run_id).data.params == {"a": "1"}
    with pytest.raises(MlflowException) as refused:
        guest.log_param(run.info.run_id, "b", "2")
    assert refused.value.error_code == "PERMISSION_DENIED"
