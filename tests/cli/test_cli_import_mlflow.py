"""``modelreg import-mlflow``: the command over a real MLflow SQLite store."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")

from registry_core import Registry

if TYPE_CHECKING:
    from conftest import Cli


def test_dry_run_then_import_then_nothing_left(
    cli: Cli, mlflow_store: str, registry: Registry
) -> None:
    dry = cli("import-mlflow", "--from", mlflow_store, "--dry-run")
    assert dry.code == 0, dry.err
    assert "would import: fraud: MLflow version 2 -> 2.1.0 (ready" in dry.out
    assert "skipped: model 'bad name!'" in dry.out
    assert registry.list_models(page_size=10).items == ()

    done = cli("import-mlflow", "--from", mlflow_store)
    assert done.code == 0, done.err
    assert "imported: fraud: MLflow version 1 -> 1.0.0 (ready, 2 params, 1 metrics, 3 files)" in (
        done.out
    )
    assert str(registry.get_model("fraud").aliases["champion"]) == "2.1.0"

    again = cli("import-mlflow", "--from", mlflow_store, json=True)
    assert again.code == 0
    payload = again.json()
    assert payload["changed_nothing"] and payload["imported"] == []
    fraud2 = [
        v for v in payload["versions"] if v["model"] == "fraud" and v["mlflow_version"] == "2"
    ]
    assert fraud2 == [
        {
            "model": "fraud",
            "mlflow_version": "2",
            "version": "2.1.0",
            "state": "ready",
            "outcome": "unchanged",
            "note": "",
        }
    ]


def test_a_dry_run_into_a_local_registry_not_made_yet_makes_none(
    cli: Cli, mlflow_store: str, tmp_path: Path
) -> None:
    folder, database = tmp_path / "new-folder", tmp_path / "new.db"
    for target in (str(folder), f"sqlite:///{database}"):
        dry = cli("import-mlflow", "--from", mlflow_store, "--dry-run", "--registry", target)
        assert dry.code == 0, dry.err
        assert "would import: fraud: MLflow version 2 -> 2.1.0 (ready" in dry.out
    assert not folder.exists() and not database.exists()


def test_a_conflict_exits_1(cli: Cli, mlflow_store: str, registry: Registry) -> None:
    assert cli("import-mlflow", "--from", mlflow_store).code == 0
    registry.update_version("churn", "1.0.0", description="changed here")
    again = cli("import-mlflow", "--from", mlflow_store)
    assert again.code == 1
    assert "conflict (not overwritten): churn: MLflow version 1: differs" in again.out


def test_a_missing_database_is_an_error_and_not_created(cli: Cli, tmp_path: Path) -> None:
    done = cli("import-mlflow", "--from", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert done.code == 1
    assert "no MLflow database at" in done.err
    assert not (tmp_path / "mlflow.db").exists()


def test_a_url_with_no_mlflow_server_is_an_error_not_a_traceback(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the command's default: 3
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    done = cli("import-mlflow", "--from", url)
    assert done.code == 1
    assert f"cannot read the MLflow registry at '{url}'" in done.err


def test_without_mlflow_the_error_names_the_extra(
    cli: Cli, mlflow_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    done = cli("import-mlflow", "--from", mlflow_store)
    assert done.code == 1
    assert "[mlflow]" in done.err and "pip install" in done.err


def test_from_is_required(cli: Cli) -> None:
    assert cli("import-mlflow").code == 2
