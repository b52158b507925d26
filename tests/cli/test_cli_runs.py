"""``modelreg experiment ...`` and ``modelreg run ...`` through `main`, with the runs set up
through the Python API as a training job would log them."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from registry_core import Registry, RunStatus, VersionState

if TYPE_CHECKING:
    from conftest import Cli

WEIGHTS = bytes(range(256)) * 40  # 10 KiB, every byte value


@pytest.fixture
def run_id(registry: Registry) -> str:
    """A finished run ``baseline`` of experiment ``churn`` with params, two points of
    ``auc``, a tag and two files; model ``churn`` exists to promote it to."""
    experiment = registry.create_experiment("churn", tags={"team": "risk"})
    run = registry.create_run(experiment.id, name="baseline", params={"lr": "0.1"})
    registry.log_run_metrics(run.id, {"auc": 0.8}, step=1)
    registry.log_run_metrics(run.id, {"auc": 0.9}, step=2)
    registry.set_run_tag(run.id, "dataset", "2025-03")
    registry.upload_run_artifact(run.id, io.BytesIO(WEIGHTS), name="model/weights.bin")
    registry.upload_run_artifact(run.id, io.BytesIO(b'{"a": 1}'), name="conf.json")
    registry.update_run(run.id, status=RunStatus.FINISHED)
    registry.create_model("churn")
    return run.id


def one_error_line(err: str) -> str:
    """The one line a failed command printed, asserted to be just that."""
    assert err.startswith("modelreg: error: ")
    assert err.count("\n") == 1
    return err


# -- experiment -------------------------------------------------------------------------


def test_experiment_list_shows_every_experiment_default_first(cli: Cli, registry: Registry) -> None:
    for i in range(3):
        registry.create_experiment(f"exp{i}")
    run = cli("experiment", "list")
    lines = run.out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "CREATED"]
    listed = [tuple(line.split()[:2]) for line in lines[1:]]
    assert listed == [(e.id, e.name) for e in registry.list_experiments()]
    assert listed[0] == ("0", "Default")
    assert sorted(name for _, name in listed[1:]) == ["exp0", "exp1", "exp2"]
    doc = cli("experiment", "list", json=True).json()
    assert [(e["id"], e["name"]) for e in doc["items"]] == listed
    assert doc["next_page_token"] is None


def test_experiment_show_has_fields_and_a_table_of_runs(
    cli: Cli, registry: Registry, run_id: str
) -> None:
    registry.promote_run(run_id, "churn", bump="major")
    run = cli("experiment", "show", "CHURN")  # names in any case
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == f"churn (id {run_id.split('-')[0]})"
    assert "    team = risk" in lines
    assert "  runs:         1" in lines
    header = lines.index("  runs:         1") + 1
    assert lines[header].split() == ["RUN", "ID", "NAME", "STATUS", "STARTED", "PROMOTED", "TO"]
    assert lines[header + 1].split()[:3] == [run_id, "baseline", "finished"]
    assert lines[header + 1].endswith("churn/1.0.0")
    doc = cli("experiment", "show", "churn", json=True).json()
    assert (doc["name"], doc["tags"]) == ("churn", {"team": "risk"})
    assert [(r["id"], r["status"], r["promoted_to"]) for r in doc["runs"]] == [
        (run_id, "finished", "churn/1.0.0")
    ]


def test_an_experiment_is_named_by_id_or_else_by_name(cli: Cli, registry: Registry) -> None:
    digits = registry.create_experiment("2025")  # digits that are no experiment's id
    assert cli("experiment", "show", "2025", json=True).json()["id"] == digits.id
    assert cli("experiment", "show", digits.id, json=True).json()["name"] == "2025"
    assert cli("experiment", "show", "0", json=True).json()["name"] == "Default"


def test_experiment_create_prints_name_and_id_and_stores_tags(cli: Cli, registry: Registry) -> None:
    run = cli("experiment", "create", "churn", "--tag", "team=risk")
    made = registry.get_experiment_by_name("churn")
    assert (run.code, run.out, run.err) == (0, f"created experiment 'churn' (id {made.id})\n", "")
    assert dict(made.tags) == {"team": "risk"}
    quiet = cli("experiment", "create", "other", quiet=True)
    assert quiet.out == registry.get_experiment_by_name("other").id + "\n"
    assert cli("experiment", "create", "third", json=True).json()["name"] == "third"


def test_creating_an_existing_experiment_fails_with_one_line(cli: Cli) -> None:
    cli("experiment", "create", "churn")
    run = cli("experiment", "create", "Churn")
    assert run.code == 1
    assert "experiment 'churn' already exists" in one_error_line(run.err)


def test_experiment_rename_keeps_the_id(cli: Cli, registry: Registry) -> None:
    made = registry.create_experiment("churn")
    run = cli("experiment", "rename", "churn", "churn-2025")
    assert (run.code, run.out) == (0, "renamed experiment 'churn' to 'churn-2025'\n")
    assert registry.get_experiment(made.id).name == "churn-2025"
    run = cli("experiment", "rename", "Default", "mine")
    assert run.code == 1
    assert "'Default' keeps its name" in one_error_line(run.err)


def test_experiment_delete_asks_and_without_a_terminal_needs_yes(
    cli: Cli, registry: Registry, stdin: Callable[..., None]
) -> None:
    made = registry.create_experiment("churn")
    stdin(b"y\n", tty=False)
    run = cli("experiment", "delete", "churn")
    assert run.code == 2
    assert "pass --yes" in run.err
    stdin(b"n\n", tty=True)
    run = cli("experiment", "delete", "churn")
    assert run.code == 1
    assert "[y/N]" in run.err
    assert registry.get_experiment(made.id)
    run = cli("experiment", "delete", made.id, "--yes", json=True)
    assert run.json() == {"deleted": {"experiment": made.id, "name": "churn"}}
    assert [e.name for e in registry.list_experiments()] == ["Default"]


def test_an_experiment_with_a_promoted_run_is_deleted_only_with_force(
    cli: Cli, registry: Registry, run_id: str
) -> None:
    registry.promote_run(run_id, "churn", bump="major")
    run = cli("experiment", "delete", "churn", "--yes")
    assert run.code == 1
    assert "became versions" in one_error_line(run.err)
    run = cli("experiment", "delete", "churn", "--force", "--yes")
    assert (run.code, run.out) == (0, "deleted experiment 'churn'\n")
    assert [e.name for e in registry.list_experiments()] == ["Default"]
    assert registry.get_version("churn", "1.0.0").state is VersionState.READY


# -- run --------------------------------------------------------------------------------


def test_run_list_shows_the_experiments_runs(cli: Cli, registry: Registry, run_id: str) -> None:
    other = registry.create_run(registry.get_run(run_id).experiment_id, name="second")
    lines = cli("run", "list", "churn").out.splitlines()
    assert lines[0].split() == ["RUN", "ID", "NAME", "STATUS", "STARTED", "PROMOTED", "TO"]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[1:]}
    assert rows == {run_id: ["baseline", "finished"], other.id: ["second", "running"]}
    doc = cli("run", "list", "churn", "--page-size", "1", json=True).json()
    assert len(doc["items"]) == 1 and doc["next_page_token"] is not None
    every = cli("run", "list", "churn", "--page-size", "1", "--all", json=True).json()
    assert sorted(r["id"] for r in every["items"]) == sorted([run_id, other.id])


def test_run_show_has_params_latest_metrics_tags_and_files(cli: Cli, run_id: str) -> None:
    run = cli("run", "show", run_id)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == f"run {run_id}"
    for expected in (
        "  name:         baseline",
        "  status:       finished",
        "  promoted to:  -",
        "    lr = 0.1",
        "    auc = 0.9 (step 2)",
        "    dataset = 2025-03",
        "  files:        2 (10.0 KiB)",
    ):
        assert expected in lines
    files = {line.split()[0]: line.split()[1:3] for line in lines if line.startswith("    ")}
    assert files["conf.json"] == ["8", "B"]
    assert files["model/weights.bin"] == ["10.0", "KiB"]
    doc = cli("run", "show", run_id, json=True).json()
    assert (doc["id"], doc["experiment_name"], doc["params"]) == (run_id, "churn", {"lr": "0.1"})
    assert doc["metrics"]["auc"]["value"] == 0.9
    assert [(a["path"], a["size"]) for a in doc["artifacts"]] == [
        ("conf.json", 8),
        ("model/weights.bin", len(WEIGHTS)),
    ]


def test_run_show_after_promotion_names_the_version_and_keeps_every_file(
    cli: Cli, registry: Registry, run_id: str
) -> None:
    registry.promote_run(run_id, "churn", bump="major", path="model")
    lines = cli("run", "show", run_id).out.splitlines()
    assert "  promoted to:  churn/1.0.0 (files under model)" in lines
    assert "  files:        2 (10.0 KiB)" in lines
    assert cli("run", "show", run_id, json=True).json()["promoted_to"] == "churn/1.0.0"


def test_run_delete_removes_the_run(
    cli: Cli, registry: Registry, run_id: str, stdin: Callable[..., None]
) -> None:
    stdin(b"", tty=False)
    assert cli("run", "delete", run_id).code == 2  # no terminal to ask: needs --yes
    run = cli("run", "delete", run_id, "--yes")
    assert (run.code, run.out) == (0, f"deleted run '{run_id}'\n")
    assert cli("run", "list", "churn", json=True).json()["items"] == []


def test_a_promoted_run_is_not_deleted(cli: Cli, registry: Registry, run_id: str) -> None:
    registry.promote_run(run_id, "churn", bump="major")
    run = cli("run", "delete", run_id, "--yes")
    assert run.code == 1
    assert "it cannot be deleted" in one_error_line(run.err)
    assert registry.get_run(run_id).promoted_to == "churn/1.0.0"


def test_run_promote_bumps_major_by_default_and_prints_the_version(
    cli: Cli, registry: Registry, run_id: str
) -> None:
    run = cli("run", "promote", run_id, "churn")
    assert (run.code, run.err) == (0, "")
    assert run.out == f"promoted run '{run_id}' to version 1.0.0 of model 'churn' (ready)\n"
    version = registry.get_version("churn", "1.0.0")
    assert version.state is VersionState.READY
    assert version.source_run == run_id
    assert [a.path.value for a in version.artifacts] == ["conf.json", "model/weights.bin"]
    assert dict(version.params) == {"lr": "0.1"}
    assert [m.value for m in registry.get_metrics("churn", "1.0.0", "auc")] == [0.8, 0.9]


def test_run_promote_takes_a_version_a_folder_and_a_description(
    cli: Cli, registry: Registry, run_id: str
) -> None:
    argv = ("run", "promote", run_id, "churn", "2.1.0", "--path", "model", "--description", "d")
    doc = cli(*argv, json=True).json()
    assert (doc["version"], doc["state"], doc["description"]) == ("2.1.0", "ready", "d")
    assert [a["path"] for a in doc["artifacts"]] == ["weights.bin"]  # re-rooted


def test_run_promote_quiet_prints_only_the_version(
    cli: Cli, registry: Registry, run_id: str
) -> None:
    registry.create_version("churn", "1.0.0", publish=True)
    argv = ("run", "promote", run_id, "churn", "--bump", "minor", "--prerelease", "rc")
    run = cli(*argv, quiet=True)
    assert run.out == "1.1.0-rc.0\n"


def test_a_run_is_promoted_once(cli: Cli, registry: Registry, run_id: str) -> None:
    assert cli("run", "promote", run_id, "churn").code == 0
    run = cli("run", "promote", run_id, "churn")
    assert (run.code, run.out) == (1, "")
    assert "a run is promoted once" in one_error_line(run.err)
    assert [str(v.version) for v in registry.list_versions("churn")] == ["1.0.0"]


def test_run_promote_with_version_and_bump_is_a_usage_error(cli: Cli, run_id: str) -> None:
    run = cli("run", "promote", run_id, "churn", "1.0.0", "--bump", "minor")
    assert run.code == 2
    assert "either VERSION or --bump" in run.err


def test_run_download_writes_every_file_byte_exact(cli: Cli, run_id: str, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    run = cli("run", "download", run_id, str(dest))
    assert run.code == 0, run.err
    assert run.out.splitlines() == [str(dest / "conf.json"), str(dest / "model" / "weights.bin")]
    assert (dest / "model" / "weights.bin").read_bytes() == WEIGHTS
    assert (dest / "conf.json").read_bytes() == b'{"a": 1}'
    assert sorted(p.name for p in dest.rglob("*")) == ["conf.json", "model", "weights.bin"]


def test_run_download_of_a_folder_and_after_promotion(
    cli: Cli, registry: Registry, run_id: str, tmp_path: Path
) -> None:
    registry.promote_run(run_id, "churn", bump="major", path="model")
    doc = cli("run", "download", run_id, str(tmp_path), "--path", "model", json=True).json()
    assert doc == {"dest": str(tmp_path), "files": [str(tmp_path / "model" / "weights.bin")]}
    assert (tmp_path / "model" / "weights.bin").read_bytes() == WEIGHTS  # read from the version
    assert not (tmp_path / "conf.json").exists()
    run = cli("run", "download", run_id, str(tmp_path), "--path", "nope")
    assert run.code == 1
    assert "has no files at or under 'nope'" in one_error_line(run.err)


def test_a_download_that_fails_its_check_leaves_no_file(
    cli: Cli, registry: Registry, run_id: str, tmp_path: Path
) -> None:
    """The stored bytes of a file changed behind the registry's back: the download says
    so, and leaves neither that file nor a temporary one."""
    run = registry.get_run(run_id)
    writer = registry.repository.open_blob_writer(f"{run.package}/model/weights.bin")
    writer.write(bytes(len(WEIGHTS)))  # same size, other bytes
    writer.commit()
    dest = tmp_path / "dest"
    done = cli("run", "download", run_id, str(dest), "--path", "model")
    assert done.code == 1
    assert "SHA-256" in one_error_line(done.err) or "sha256" in one_error_line(done.err)
    assert [p for p in dest.rglob("*") if p.is_file()] == []  # nor a temporary file


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("run", "show", "0-0123456789abcdef01234567"), "run '0-0123456789abcdef01234567' does"),
        (("run", "show", "nonsense"), "run 'nonsense' does not exist"),
        (("run", "promote", "nonsense", "churn"), "run 'nonsense' does not exist"),
        (("run", "download", "nonsense", "out"), "run 'nonsense' does not exist"),
        (("run", "delete", "nonsense", "--yes"), "run 'nonsense' does not exist"),
        (("run", "list", "nope"), "experiment 'nope' does not exist"),
        (("experiment", "show", "12345"), "experiment '12345' does not exist"),
        (("experiment", "delete", "nope", "--yes"), "experiment 'nope' does not exist"),
        (("experiment", "create", " padded"), "experiment name ' padded' is invalid"),
    ],
    ids=" ".join,
)
def test_bad_input_is_exit_1_with_one_line(
    cli: Cli, argv: tuple[str, ...], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = cli(*argv)
    assert (run.code, run.out) == (1, "")
    assert message in one_error_line(run.err)


def test_promoting_to_a_missing_model_or_a_bad_version_is_one_line(cli: Cli, run_id: str) -> None:
    run = cli("run", "promote", run_id, "nope")
    assert run.code == 1
    assert "model 'nope' does not exist" in one_error_line(run.err)
    run = cli("run", "promote", run_id, "churn", "1.0")
    assert run.code == 1
    one_error_line(run.err)


def test_a_bad_bump_is_a_usage_error(cli: Cli, run_id: str) -> None:
    run = cli("run", "promote", run_id, "churn", "--bump", "huge")
    assert run.code == 2
    assert run.err.startswith("usage: modelreg run promote")
    errors = [line for line in run.err.splitlines() if "error:" in line]
    assert errors == [
        "modelreg run promote: error: argument --bump: invalid choice: 'huge' "
        "(choose from 'major', 'minor', 'patch')"
    ]
