"""A real MLflow model through the server: ``pyfunc.save_model``, ``log_artifacts``
to the version's run, published by ending the run, and loaded back by ``models:/`` URI.

pyfunc needs numpy and pandas besides ``mlflow-skinny`` (the ``test`` extra has them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("pandas")
pyfunc = pytest.importorskip("mlflow.pyfunc")


class Doubler(pyfunc.PythonModel):  # type: ignore[misc]
    """The smallest useful model: doubles every input."""

    def predict(self, context: Any, model_input: list[float]) -> list[float]:
        return [2 * x for x in model_input]


@pytest.fixture
def uris(served: Any, mlflow_env: pytest.MonkeyPatch) -> str:
    """Point the fluent API (tracking and registry) at the server, as the docs say to."""
    mlflow_env.setenv("MLFLOW_TRACKING_URI", served.url)
    mlflow_env.setenv("MLFLOW_REGISTRY_URI", served.url)
    return str(served.url)


def test_pyfunc_model_round_trip(
    client: Any, uris: str, name: str, tmp_path: Path, served: Any
) -> None:
    saved = tmp_path / "model"
    pyfunc.save_model(str(saved), python_model=Doubler(), pip_requirements=["mlflow"])
    client.create_registered_model(name)
    version = client.create_model_version(name, "", description="a doubler")
    assert version.version == "1.0.0"
    client.log_artifacts(version.run_id, str(saved))
    client.log_param(version.run_id, "factor", 2)
    client.set_terminated(version.run_id)  # publish: the manifest is sealed
    assert served.registry.get_version(name, "1.0.0").state.value == "ready"

    by_major = pyfunc.load_model(f"models:/{name}/1")  # highest ready 1.x.x
    assert list(by_major.predict([1.0, 2.5])) == [2.0, 5.0]

    client.set_registered_model_alias(name, "champion", 1)
    by_alias = pyfunc.load_model(f"models:/{name}@champion")
    assert list(by_alias.predict([4.0])) == [8.0]

    exact = client.get_model_version_download_uri(name, "1.0.0")
    assert list(pyfunc.load_model(exact).predict([1.0])) == [2.0]


def test_an_alias_set_by_tag_loads_by_models_uri(
    client: Any, uris: str, name: str, tmp_path: Path
) -> None:
    """``modelreg.alias`` names the exact SemVer the client's alias call cannot take."""
    saved = tmp_path / "model"
    pyfunc.save_model(str(saved), python_model=Doubler(), pip_requirements=["mlflow"])
    client.create_registered_model(name)
    version = client.create_model_version(name, "", tags={"gitlab.version": "1.2.0"})
    client.log_artifacts(version.run_id, str(saved))
    client.set_terminated(version.run_id)

    client.set_model_version_tag(name, "1.2.0", "modelreg.alias", "champion")
    by_alias = pyfunc.load_model(f"models:/{name}@champion")
    assert list(by_alias.predict([3.0])) == [6.0]


def test_latest_uri_needs_integer_versions_in_the_stock_client(
    client: Any, uris: str, name: str, tmp_path: Path
) -> None:
    """``models:/<name>/latest`` runs ``int(version)`` in the client: with SemVer strings
    it cannot work, and the server cannot help it. Pin the behaviour so a client change
    shows up here."""
    saved = tmp_path / "model"
    pyfunc.save_model(str(saved), python_model=Doubler(), pip_requirements=["mlflow"])
    client.create_registered_model(name)
    version = client.create_model_version(name, "")
    client.log_artifacts(version.run_id, str(saved))
    client.set_terminated(version.run_id)
    with pytest.raises(ValueError, match="invalid literal for int"):
        pyfunc.load_model(f"models:/{name}/latest")
