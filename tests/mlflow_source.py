"""An MLflow registry to import from, built with the stock client in a SQLite store.

`build_store` makes it once (MLflow's migrations take a few seconds); `copy_store` gives
each test its own database file, so a test that adds versions changes only its copy. The
artifacts stay in the folder the experiment names, shared by the copies: a test adds
files there only under new run ids.

What it holds (``EXPECTED`` in the tests spells it out):

* ``fraud`` (description, tags): version 1 from a run with params, a per-step metric and
  files in a subfolder; version 2 tagged ``gitlab.version=2.1.0``; version 3 archived.
  Aliases ``champion`` -> 2, ``first`` -> 1, ``old`` -> 3 (archived: not importable).
* ``churn`` (description, tags): version 1; version 2 tagged ``semver=v2`` (invalid).
* ``doubler``: logged with ``mlflow.pyfunc.log_model(registered_model_name=...)``,
  alias ``champion`` -> 1.
* ``bad name!``: a name modelreg refuses, one version.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: The bytes of the files version 1 of ``fraud`` logs under ``model/``.
FRAUD_FILES = {
    "weights.bin": bytes(range(256)) * 4,
    "config/params.json": b'{"depth": 3}\n',
    "config/deep/notes.txt": "naïve notes\n".encode(),
}


@contextlib.contextmanager
def pointed_at(uri: str) -> Iterator[Any]:
    """The fluent MLflow API on ``uri`` through the environment, as the server tests do
    (``set_tracking_uri`` would stay set for later tests of the same process)."""
    mlflow = pytest.importorskip("mlflow")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", uri)
        env.setenv("MLFLOW_REGISTRY_URI", uri)
        yield mlflow


def log_run(
    mlflow: Any, experiment_id: str, folder: Path, files: dict[str, bytes], **data: Any
) -> str:
    """A finished run with params, a per-step metric ``loss`` and ``files`` under ``model/``."""
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params(data.get("params", {}))
        for step, value in enumerate(data.get("losses", ())):
            mlflow.log_metric("loss", value, step=step, timestamp=1_700_000_000_000 + step)
        source = folder / run.info.run_id
        for path, content in files.items():
            (source / path).parent.mkdir(parents=True, exist_ok=True)
            (source / path).write_bytes(content)
        mlflow.log_artifacts(str(source), artifact_path="model")
    return str(run.info.run_id)


def add_version(uri: str, model: str, folder: Path, files: dict[str, bytes], **data: Any) -> Any:
    """A new version of ``model`` from a new run (``tags`` on the version)."""
    with pointed_at(uri) as mlflow:
        client = mlflow.MlflowClient()
        experiment = client.get_experiment_by_name("training")
        run_id = log_run(mlflow, experiment.experiment_id, folder, files, **data)
        return client.create_model_version(
            model,
            f"runs:/{run_id}/model",
            run_id,
            tags=data.get("tags"),
            description=data.get("description"),
        )


def build_store(folder: Path) -> str:
    """The store described in the module docstring, in ``folder``; its URI."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pointed_at(uri) as mlflow, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow.pyfunc

        client = mlflow.MlflowClient()
        experiment = client.create_experiment(
            "training", artifact_location=(folder / "artifacts").as_uri()
        )
        work = folder / "work"
        client.create_registered_model(
            "fraud", tags={"team": "risk"}, description="Card fraud detector"
        )
        run1 = log_run(
            mlflow,
            experiment,
            work,
            FRAUD_FILES,
            params={"lr": "0.1", "depth": "3"},
            losses=[0.9, 0.5, 0.25],
        )
        client.create_model_version(
            "fraud", f"runs:/{run1}/model", run1, description="first", tags={"data": "2024-q1"}
        )
        run2 = log_run(
            mlflow, experiment, work, {"weights.bin": b"v2"}, params={"lr": "0.05"}, losses=[0.4]
        )
        client.create_model_version(
            "fraud", f"runs:/{run2}/model", run2, tags={"gitlab.version": "2.1.0"}
        )
        run3 = log_run(mlflow, experiment, work, {"weights.bin": b"v3"})
        client.create_model_version("fraud", f"runs:/{run3}/model", run3)
        client.transition_model_version_stage("fraud", "3", "Archived")
        client.set_registered_model_alias("fraud", "champion", "2")
        client.set_registered_model_alias("fraud", "first", "1")
        client.set_registered_model_alias("fraud", "old", "3")

        client.create_registered_model("churn", tags={"team": "growth"}, description="Churn")
        for tags in ({}, {"semver": "v2"}):
            run = log_run(mlflow, experiment, work, {"model.txt": b"churn"})
            client.create_model_version("churn", f"runs:/{run}/model", run, tags=tags)

        client.create_registered_model("bad name!")
        run = log_run(mlflow, experiment, work, {"x": b"x"})
        client.create_model_version("bad name!", f"runs:/{run}/model", run)

        class PyDoubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def predict(self, context: Any, model_input: list[float]) -> list[float]:
                return [2 * x for x in model_input]

        with mlflow.start_run(experiment_id=experiment):
            mlflow.log_param("factor", "2")
            mlflow.pyfunc.log_model(
                name="model",
                python_model=PyDoubler(),
                registered_model_name="doubler",
                pip_requirements=["mlflow"],
            )
        client.set_registered_model_alias("doubler", "champion", "1")
    return uri


def copy_store(template: Path, folder: Path) -> str:
    """A copy of the database `build_store` made in ``template``; its URI."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template / "mlflow.db", folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"
