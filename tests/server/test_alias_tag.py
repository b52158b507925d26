"""The stock client points aliases with the version tag ``modelreg.alias`` (its own
``set_registered_model_alias`` insists on an integer version), and deleting a model or a
version takes its aliases along, as in MLflow; on each backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")

from mlflow.entities import RunTag  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

ALIAS = "modelreg.alias"


def code_of(error: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(error.value.error_code)


def _published(client: Any, name: str, version: str, tmp_path: Path) -> Any:
    """A ready version whose one artifact, ``model.txt``, holds its version."""
    mv = client.create_model_version(name, "", tags={"gitlab.version": version})
    src = tmp_path / "src" / version
    src.mkdir(parents=True)
    (src / "model.txt").write_text(f"weights {version}")
    client.log_artifact(mv.run_id, str(src / "model.txt"))
    client.set_terminated(mv.run_id)
    return mv


def _model_with_two_versions(client: Any, name: str, tmp_path: Path) -> None:
    client.create_registered_model(name)
    _published(client, name, "1.0.0", tmp_path)
    _published(client, name, "2.0.0", tmp_path)


@pytest.fixture
def uris(served: Any, mlflow_env: pytest.MonkeyPatch) -> str:
    """Point the fluent API at the server, so ``models:/`` URIs resolve through it."""
    mlflow_env.setenv("MLFLOW_TRACKING_URI", served.url)
    mlflow_env.setenv("MLFLOW_REGISTRY_URI", served.url)
    return str(served.url)


def _download_champion(name: str, dst: Path) -> str:
    out = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}@champion", dst_path=str(dst)
    )
    return (Path(out) / "model.txt").read_text()


def test_the_alias_tag_points_and_moves_an_alias(
    client: Any, uris: str, name: str, tmp_path: Path
) -> None:
    _model_with_two_versions(client, name, tmp_path)

    client.set_model_version_tag(name, "1.0.0", ALIAS, "champion")
    champion = client.get_model_version_by_alias(name, "champion")
    assert (champion.version, champion.aliases) == ("1.0.0", ["champion"])
    assert ALIAS not in champion.tags
    assert ALIAS not in client.get_model_version(name, "1.0.0").tags
    assert client.get_registered_model(name).aliases == {"champion": "1.0.0"}
    assert _download_champion(name, tmp_path / "first") == "weights 1.0.0"

    client.set_model_version_tag(name, "2.0.0", ALIAS, "champion")  # moves it
    champion = client.get_model_version_by_alias(name, "champion")
    assert (champion.version, champion.aliases) == ("2.0.0", ["champion"])
    assert client.get_model_version(name, "1.0.0").aliases == []
    assert client.get_registered_model(name).aliases == {"champion": "2.0.0"}
    assert _download_champion(name, tmp_path / "second") == "weights 2.0.0"


def test_the_alias_tag_on_a_draft_is_refused_with_a_hint(client: Any, name: str) -> None:
    client.create_registered_model(name)
    client.create_model_version(name, "", tags={"gitlab.version": "1.0.0"})
    with pytest.raises(MlflowException) as error:
        client.set_model_version_tag(name, "1.0.0", ALIAS, "champion")
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    assert "ready" in str(error.value)
    assert "once the version is published" in str(error.value)
    assert client.get_registered_model(name).aliases == {}
    got = client.get_model_version(name, "1.0.0")
    assert (got.aliases, ALIAS in got.tags) == ([], False)


def test_the_alias_tag_on_a_failed_version_gives_the_rule(client: Any, name: str) -> None:
    client.create_registered_model(name)
    mv = client.create_model_version(name, "")
    client.set_terminated(mv.run_id, status="FAILED")
    with pytest.raises(MlflowException) as error:
        client.set_model_version_tag(name, "1.0.0", ALIAS, "champion")
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    assert "is failed" in str(error.value)
    assert "published" not in str(error.value)  # publishing is no way out for it
    assert client.get_registered_model(name).aliases == {}


def test_the_alias_tag_at_create_is_refused(client: Any, name: str) -> None:
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as error:
        client.create_model_version(name, "", tags={ALIAS: "champion"})
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    assert "draft" in str(error.value)
    assert "once the version is published" in str(error.value)
    assert client.search_model_versions(f"name = '{name}'") == []


@pytest.mark.parametrize("alias", ["not an alias!", "latest", ""])
def test_a_bad_alias_name_in_the_tag_is_refused(
    client: Any, name: str, tmp_path: Path, alias: str
) -> None:
    client.create_registered_model(name)
    _published(client, name, "1.0.0", tmp_path)
    with pytest.raises(MlflowException) as error:
        client.set_model_version_tag(name, "1.0.0", ALIAS, alias)
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    assert "alias" in str(error.value)
    assert client.get_registered_model(name).aliases == {}


def test_deleting_the_alias_tag_removes_the_aliases_of_that_version(
    client: Any, name: str, tmp_path: Path
) -> None:
    _model_with_two_versions(client, name, tmp_path)
    client.set_model_version_tag(name, "1.0.0", ALIAS, "champion")
    client.set_model_version_tag(name, "1.0.0", ALIAS, "production")
    client.set_model_version_tag(name, "2.0.0", ALIAS, "challenger")
    assert client.get_model_version(name, "1.0.0").aliases == ["champion", "production"]

    client.delete_model_version_tag(name, "1.0.0", ALIAS)
    assert client.get_registered_model(name).aliases == {"challenger": "2.0.0"}
    assert client.get_model_version(name, "1.0.0").aliases == []
    with pytest.raises(MlflowException) as error:
        client.get_model_version_by_alias(name, "champion")
    assert code_of(error) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as error:  # no alias left to remove
        client.delete_model_version_tag(name, "1.0.0", ALIAS)
    assert code_of(error) == "RESOURCE_DOES_NOT_EXIST"


def test_the_alias_tag_on_the_versions_run(client: Any, name: str, tmp_path: Path) -> None:
    client.create_registered_model(name)
    draft = client.create_model_version(name, "")
    with pytest.raises(MlflowException) as error:
        client.set_tag(draft.run_id, ALIAS, "champion")
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    assert "once the version is published" in str(error.value)
    with pytest.raises(MlflowException) as error:
        client.log_batch(draft.run_id, tags=[RunTag(ALIAS, "champion")])
    assert code_of(error) == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model(name).aliases == {}

    client.set_terminated(draft.run_id)
    client.set_tag(draft.run_id, ALIAS, "champion")
    client.log_batch(draft.run_id, tags=[RunTag(ALIAS, "production"), RunTag("k", "v")])
    assert client.get_registered_model(name).aliases == {
        "champion": "1.0.0",
        "production": "1.0.0",
    }
    tags = client.get_run(draft.run_id).data.tags
    assert (ALIAS in tags, tags["k"]) == (False, "v")
    client.delete_tag(draft.run_id, ALIAS)
    assert client.get_registered_model(name).aliases == {}


def test_deleting_a_model_with_an_alias_deletes_it(
    client: Any, name: str, tmp_path: Path, served: Any
) -> None:
    client.create_registered_model(name)
    _published(client, name, "1.0.0", tmp_path)
    client.set_model_version_tag(name, "1.0.0", ALIAS, "champion")
    assert client.get_registered_model(name).aliases == {"champion": "1.0.0"}
    client.delete_registered_model(name)
    with pytest.raises(MlflowException) as error:
        client.get_registered_model(name)
    assert code_of(error) == "RESOURCE_DOES_NOT_EXIST"
    assert list(served.registry.list_models().items) == []


def test_deleting_an_aliased_version_deletes_it_and_its_aliases(
    client: Any, name: str, tmp_path: Path
) -> None:
    _model_with_two_versions(client, name, tmp_path)
    client.set_model_version_tag(name, "1.0.0", ALIAS, "champion")
    client.set_model_version_tag(name, "2.0.0", ALIAS, "challenger")
    assert client.get_model_version(name, "1.0.0").aliases == ["champion"]
    client.delete_model_version(name, "1.0.0")
    with pytest.raises(MlflowException) as error:
        client.get_model_version(name, "1.0.0")
    assert code_of(error) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as error:
        client.get_model_version_by_alias(name, "champion")
    assert code_of(error) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(name).aliases == {"challenger": "2.0.0"}
