"""The parser, exit codes, help texts, and the JSON and table helpers."""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import registry_backends.cli
from registry_backends.cli import command_paths, main
from registry_backends.cli.output import format_size, format_time, table, to_json, to_jsonable
from registry_core import (
    Artifact,
    ArtifactPath,
    CIJob,
    Metric,
    ModelName,
    Registry,
    Role,
    Settings,
    Version,
    VersionState,
    Visibility,
)

if TYPE_CHECKING:
    from conftest import Cli

COMMANDS = sorted(" ".join(path) for path in command_paths())


TREE = {
    "model": "create list show update rename delete",
    "version": "create list show update link-ci publish fail deprecate undeprecate yank delete "
    "latest resolve",
    "artifact": "upload list download cat delete log",
    "log": "param metric tag metrics",
    "alias": "set delete show",
    "experiment": "list show create rename delete",
    "run": "list show download delete promote",
    "settings": "show set grant revoke",
    "token": "create list revoke",
    "db": "upgrade current",
}
#: Commands of one word.
SINGLE = ["verify", "fsck", "serve", "copy", "import-mlflow", "export", "import", "verify-package"]


def test_the_command_tree() -> None:
    expected = [f"{group} {leaf}" for group, leaves in TREE.items() for leaf in leaves.split()]
    assert sorted([*expected, *SINGLE]) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert f"usage: modelreg {command}" in out
    assert "Example" in out
    assert "modelreg " + command in out.split("Example")[1]


@pytest.mark.parametrize("group", ["", *TREE])
def test_groups_have_help_with_examples(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*group.split(), "--help"]) == 0
    assert "Examples:" in capsys.readouterr().out


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("modelreg 0.")


@pytest.mark.parametrize("argv", [[], ["model"], ["nope"], ["model", "create"], ["--bogus"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: modelreg" in capsys.readouterr().err


def test_global_options_may_follow_the_command(cli: Cli, registry_url: str) -> None:
    cli("model", "create", "fraud")
    run = cli("model", "list", "--json", "--registry", registry_url)
    assert [m["name"] for m in run.json()["items"]] == ["fraud"]


def test_the_registry_defaults_to_modelreg_url(
    cli: Cli, registry_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli("model", "create", "fraud")
    monkeypatch.setenv("MODELREG_URL", registry_url)
    assert main(["--json", "model", "show", "fraud"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "fraud"


def test_an_unknown_registry_scheme_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--registry", "nosuch://x", "model", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("modelreg: error: unknown registry URL scheme 'nosuch'")
    assert err.count("\n") == 1


def test_keyboard_interrupt_is_exit_130(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("registry_core.Registry.list_models", interrupted)
    run = cli("model", "list")
    assert run.code == 130
    assert "interrupted" in run.err


def test_an_unexpected_error_propagates(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("registry_core.Registry.list_models", broken)
    with pytest.raises(ZeroDivisionError):
        cli("model", "list")


def test_python_dash_m_runs_the_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "registry_backends.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("modelreg ")


MODULES = [
    m.name for m in pkgutil.walk_packages(registry_backends.cli.__path__, "registry_backends.cli.")
]


@pytest.mark.parametrize("name", [m for m in MODULES if not m.endswith("__main__")])
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.__all__ lists {public!r}, which is missing"


# -- output helpers ---------------------------------------------------------------------

WHEN = dt.datetime(2025, 3, 1, 14, 5, 9, tzinfo=dt.timezone.utc)


def test_to_jsonable_turns_values_into_plain_json() -> None:
    assert to_jsonable(Version.parse("1.2.0-rc.1+b")) == "1.2.0-rc.1+b"
    assert to_jsonable(ModelName.parse("a/b")) == "a/b"
    assert to_jsonable(WHEN) == "2025-03-01T14:05:09+00:00"
    assert to_jsonable(VersionState.READY) == "ready"
    assert to_jsonable(Visibility.PUBLIC) == "public"
    assert to_jsonable(Role.OWNER) == "owner"
    assert to_jsonable([float("nan"), float("inf"), 1.5]) == ["nan", "inf", 1.5]
    assert to_jsonable({"b": 1, "a": (1, 2)}) == {"a": [1, 2], "b": 1}
    with pytest.raises(TypeError):
        to_jsonable(object())


def test_to_jsonable_entities_have_their_fields_and_derived_ones() -> None:
    artifact = Artifact(ArtifactPath.parse("w/m.bin"), 3, "a" * 64)
    assert list(to_jsonable(artifact)) == ["path", "size", "sha256"]
    job = CIJob(provider="gitlab", job_id="1", project_url="https://g.example/p")
    assert to_jsonable(job)["job_url"] == "https://g.example/p/-/jobs/1"
    point = Metric("auc", 0.5, 2, WHEN)
    assert to_jsonable(point) == {
        "key": "auc",
        "value": 0.5,
        "step": 2,
        "timestamp": "2025-03-01T14:05:09+00:00",
    }
    settings = Settings(members={"b": Role.GUEST, "a": Role.OWNER})
    assert to_jsonable(settings)["members"] == {"a": "owner", "b": "guest"}
    assert json.loads(to_json(settings))["visibility"] == "private"


def test_to_json_sorts_keys() -> None:
    text = to_json({"b": {"z": 1, "a": 2}, "a": Artifact(ArtifactPath.parse("m"), 1, "a" * 64)})
    assert text.index('"a"') < text.index('"b"')
    assert text.index('"path"') < text.index('"sha256"') < text.index('"size"')
    assert text.index('"a": 2') < text.index('"z": 1')


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


def test_format_time_is_utc() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert format_time(WHEN.astimezone(plus_two)) == "2025-03-01 14:05Z"
    assert format_time(WHEN, seconds=True) == "2025-03-01 14:05:09Z"
    assert format_time(None) == "-"


def test_table_aligns_columns() -> None:
    lines = table(["NAME", "SIZE"], [("a", "1 B"), ("longer", "10.0 KiB")], right="SIZE")
    assert lines == ["NAME        SIZE", "a            1 B", "longer  10.0 KiB"]


def test_an_empty_cell_shows_as_a_dash_in_every_column() -> None:
    lines = table(["NAME", "ALIASES", "DESCRIPTION"], [("a", "", ""), ("b", "prod", "x")])
    assert lines == ["NAME  ALIASES  DESCRIPTION", "a     -        -", "b     prod     x"]


def test_get_is_another_name_for_show(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud", "d")
    registry.create_version("fraud", "1.0.0")
    registry.publish("fraud", "1.0.0")
    registry.set_alias("fraud", "champion", "1.0.0")
    for shown in (
        ("model", "{}", "fraud"),
        ("version", "{}", "fraud", "1.0.0"),
        ("alias", "{}", "fraud", "champion"),
        ("settings", "{}"),
    ):
        by_show = cli(*(word.format("show") for word in shown), json=True)
        by_get = cli(*(word.format("get") for word in shown), json=True)
        assert by_show.code == 0, by_show.err
        assert by_get.out == by_show.out


#: Every command that prints a list, with what it needs to exist first.
LISTINGS = [
    ("model", "list"),
    ("version", "list", "fraud"),
    ("artifact", "list", "fraud", "1.0.0"),
    ("log", "metrics", "fraud", "1.0.0"),
    ("log", "metric", "fraud", "1.0.0", "auc=0.5"),
    ("artifact", "upload", "fraud", "1.0.0", "-", "--name", "in.txt"),
    ("token", "list"),
    ("experiment", "list"),
    ("run", "list", "Default"),
]


@pytest.mark.parametrize("argv", LISTINGS, ids=" ".join)
def test_every_list_in_json_has_one_shape(
    argv: tuple[str, ...], cli: Cli, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.create_model("fraud")
    registry.create_version("fraud", "1.0.0")
    registry.upload("fraud", "1.0.0", io.BytesIO(b"w"), name="model.bin")
    registry.log_metric("fraud", "1.0.0", "auc", 0.25)
    registry.create_token("ana")
    registry.create_run("0")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"text")))
    run = cli(*argv, json=True)
    assert run.code == 0, run.err
    doc = run.json()
    assert sorted(doc) == ["items", "next_page_token"]
    assert isinstance(doc["items"], list) and len(doc["items"]) == 1


def test_a_missing_alias_is_named_as_one(cli: Cli, registry: Registry, tmp_path: Path) -> None:
    registry.create_model("fraud")
    run = cli("artifact", "download", "fraud", "production", "--dest", str(tmp_path))
    assert run.code == 1
    assert "model 'fraud' has no alias or version 'production' (it has no aliases)" in run.err
    assert "range" not in run.err.split(";")[0]


def test_a_file_given_as_version_points_at_the_missing_version(
    cli: Cli, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.create_model("fraud")
    (tmp_path / "weights.bin").write_bytes(b"w")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "params.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    # V=$(failing command); modelreg artifact upload fraud $V weights.bin config/
    run = cli("artifact", "upload", "fraud", "weights.bin", "config/")
    assert run.code == 1
    assert "'weights.bin' is a local file: was VERSION left out, or empty?" in run.err
    assert "is a local file" not in cli("version", "publish", "fraud", "nofile").err


def test_an_artifact_table_fits_in_80_columns(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud")
    registry.create_version("fraud", "1.0.0")
    registry.upload("fraud", "1.0.0", io.BytesIO(b"w" * 5000), name="config/params-final.json")
    lines = cli("artifact", "list", "fraud", "1.0.0").out.splitlines()
    assert len(lines) == 2 and max(len(line) for line in lines) <= 80


def test_a_table_cuts_its_last_column_to_fit() -> None:
    rows = [("fraud/detector", "production", "2025-03-01 14:05Z", "x" * 60)]
    lines = table(["NAME", "ALIASES", "UPDATED", "DESCRIPTION"], rows, fit=80)
    assert max(len(line) for line in lines) == 80
    assert lines[1].endswith("x…")
    assert table(["A", "B"], [("a", "b" * 90)], fit=0)[1] == "a  " + "b" * 90


@pytest.mark.parametrize("command", ["", *COMMANDS, *TREE])
def test_help_fits_in_80_columns(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    main([*command.split(), "--help"])
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if len(line) > 80] == []
