"""Reading an MLflow model registry with the stock client, for `import_mlflow`.

Everything here talks to MLflow and nothing to modelreg: the client, the listings, a
version's run, its metric histories and its files. ``mlflow`` is imported on first use;
a missing client, or a driver its store needs, becomes `BackendNotInstalled`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from registry_backends._install import install_command
from registry_core import (
    BackendError,
    BackendNotInstalled,
    InvalidVersion,
    Metric,
    NotFound,
    Version,
)

__all__ = ["MlflowSource", "mlflow_error"]

_PAGE = 1000


@contextlib.contextmanager
def _driver_needed() -> Iterator[None]:
    """A missing ``mlflow`` (or a driver its store imports when it first opens, such as
    SQLAlchemy) becomes an error that names the extra to install."""
    try:
        yield
    except ImportError as error:
        raise BackendNotInstalled(
            f"importing from MLflow needs the MLflow client ({error.name or 'mlflow'} is "
            f"missing); install it with {install_command('mlflow')}"
        ) from error


def mlflow_error() -> type[Exception]:
    """The exception MLflow raises for what it cannot read (a version's files, a run)."""
    from mlflow.exceptions import MlflowException

    return MlflowException


def _refuse_missing_database(uri: str) -> None:
    """MLflow creates a SQLite file that does not exist: a mistyped path would import
    nothing from a new empty database, and leave it behind."""
    if not uri.startswith("sqlite:///"):
        return
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if path and path != ":memory:" and not os.path.exists(path):
        raise NotFound(f"no MLflow database at {path!r} (from {uri!r})")


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Every item of an MLflow search, page after page."""
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


def _when(ms: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp((ms or 0) / 1000, tz=dt.timezone.utc)


class MlflowSource:
    """The MLflow registry at ``uri`` (tracking server or store URI), read-only."""

    def __init__(self, uri: str) -> None:
        _refuse_missing_database(uri)
        self.uri = uri
        with _driver_needed():
            import mlflow

            self.client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)

    def models(self) -> list[tuple[Any, list[Any]]]:
        """Every registered model by name, each with its versions in number order."""
        client = self.client
        versions: dict[str, list[Any]] = {}
        with _driver_needed(), self._readable():
            models = list(
                _pages(lambda t: client.search_registered_models(max_results=_PAGE, page_token=t))
            )
            for found in _pages(
                lambda t: client.search_model_versions(max_results=_PAGE, page_token=t)
            ):
                versions.setdefault(found.name, []).append(found)
        return [
            (m, sorted(versions.get(m.name, ()), key=lambda v: _order(v.version)))
            for m in sorted(models, key=lambda m: m.name)
        ]

    @contextlib.contextmanager
    def _readable(self) -> Iterator[None]:
        """MLflow's own error for a registry it cannot read (no server there, not an
        MLflow server, a store it cannot open) becomes a `BackendError` naming the URI."""
        try:
            yield
        except mlflow_error() as error:
            message = " ".join(str(error).split())[:400]
            raise BackendError(
                f"cannot read the MLflow registry at {self.uri!r}: {message}"
            ) from None

    def run(self, run_id: str | None) -> Any:
        """A version's source run, or None when it has none or the run is gone."""
        if not run_id:
            return None
        try:
            return self.client.get_run(run_id)
        except mlflow_error():
            return None

    def metrics(self, run_id: str | None, keys: tuple[str, ...]) -> list[Metric]:
        """Every point of the run's metrics ``keys``, each history in MLflow's order."""
        if not run_id:
            return []
        return [
            Metric(m.key, float(m.value), int(m.step), _when(m.timestamp))
            for key in keys
            for m in self.client.get_metric_history(run_id, key)
        ]

    def download(self, model: str, number: str, folder: Path) -> Path:
        """The files of version ``number`` of ``model``, downloaded under ``folder``: the
        folder (or the one file) that holds them."""
        import mlflow.artifacts

        uri = self.client.get_model_version_download_uri(model, number)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(folder), tracking_uri=self.uri, registry_uri=self.uri
        )
        return Path(local)


def numbered(number: str | int) -> Version:
    """The SemVer an MLflow version number stands for: ``N.0.0`` for MLflow's integers;
    a server that numbers its versions in SemVer already (GitLab, ``modelreg serve``)
    keeps its own. `InvalidVersion` for anything else."""
    text = str(number).strip()
    if text.isdigit():
        return Version.parse(f"{int(text)}.0.0")
    try:
        return Version.parse(text)
    except InvalidVersion:
        raise InvalidVersion(
            f"MLflow version {text!r} is neither a whole number nor a SemVer version"
        ) from None


def _order(number: str) -> tuple[int, str]:
    """Versions in their order; a number neither integer nor SemVer sorts last."""
    try:
        return 0, numbered(number).precedence_key
    except InvalidVersion:
        return 1, number
