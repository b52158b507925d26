"""A pyfunc model logged to a stock MLflow store, imported with ``import_mlflow``, then
loaded through modelreg's MLflow server by the stock client and asked to predict."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("pandas")
pytest.importorskip("sqlalchemy")

import mlflow
import mlflow.pyfunc as pyfunc

from mlflow_source import pointed_at
from registry_backends import import_mlflow, open_registry
from registry_core import Registry


class Tripler(pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: list[float]) -> list[float]:
        return [3 * x for x in model_input]


def _logged(folder: Path, name: str) -> str:
    """A SQLite MLflow store holding ``name`` version 1 (a pyfunc), alias ``champion``."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pointed_at(uri), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = mlflow.MlflowClient()
        experiment = client.create_experiment("e", artifact_location=(folder / "a").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            mlflow.log_param("factor", "3")
            pyfunc.log_model(
                name="model",
                python_model=Tripler(),
                registered_model_name=name,
                pip_requirements=["mlflow"],
            )
        client.set_registered_model_alias(name, "champion", "1")
    return uri


@pytest.mark.parametrize("backend", ["files"])  # the import writes through Registry calls
def test_an_imported_pyfunc_model_loads_and_predicts(
    registry: Registry, served: Any, mlflow_env: pytest.MonkeyPatch, name: str, tmp_path: Path
) -> None:
    report = import_mlflow(_logged(tmp_path / "mlflow", name), registry)
    assert not report.conflicts and not report.skipped
    assert str(registry.get_model(name).aliases["champion"]) == "1.0.0"

    mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", served.tokens["ana"])
    mlflow_env.setenv("MLFLOW_TRACKING_URI", served.url)
    mlflow_env.setenv("MLFLOW_REGISTRY_URI", served.url)
    by_alias = pyfunc.load_model(f"models:/{name}@champion")
    assert list(by_alias.predict([1.0, 2.0])) == [3.0, 6.0]
    by_major = pyfunc.load_model(f"models:/{name}/1")
    assert list(by_major.predict([4.0])) == [12.0]


@pytest.mark.parametrize("backend", ["files"])
def test_import_from_a_tracking_server_url(
    registry: Registry, served: Any, mlflow_env: pytest.MonkeyPatch, name: str, tmp_path: Path
) -> None:
    """``--from http://...``: the source is an MLflow tracking server, here modelreg's own
    (the stock client logs a run and registers a pyfunc model through it)."""
    mlflow_env.setenv("MLFLOW_TRACKING_TOKEN", served.tokens["ana"])
    mlflow_env.setenv("MLFLOW_TRACKING_URI", served.url)
    mlflow_env.setenv("MLFLOW_REGISTRY_URI", served.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.set_experiment("served")
        with mlflow.start_run():
            mlflow.log_param("factor", "3")
            for step in range(3):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            pyfunc.log_model(
                name="model",
                python_model=Tripler(),
                registered_model_name=name,
                pip_requirements=["mlflow"],
            )
    source = registry.latest(name)
    destination = open_registry(str(tmp_path / "imported"))
    report = import_mlflow(served.url, destination)
    assert not report.conflicts and not report.skipped, str(report)
    got = destination.latest(name)
    assert got.params == source.params
    assert destination.get_metrics(name, got.version) == registry.get_metrics(name, source.version)
    files = {a.path: a.sha256 for a in destination.list_artifacts(name, got.version)}
    assert files == {a.path: a.sha256 for a in registry.list_artifacts(name, source.version)}
    assert destination.verify(name, got.version).ok
    assert import_mlflow(served.url, destination).changed_nothing
