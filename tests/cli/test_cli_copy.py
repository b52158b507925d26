"""``modelreg copy SRC DST``: a folder registry into SQLite and back, by the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from registry_backends import open_registry
from registry_backends.cli import main
from registry_backends.cli.commands_copy import CopyBar
from registry_backends.copy import CopyProgress
from registry_core import Registry
from registry_core.testing.access_tests import stored

#: Two chunks and a bit, so the progress line moves while one file streams.
BIG = b"w" * (2 * 2**20 + 5)


def fill(reg: Registry) -> None:
    reg.create_model("fraud", "finds fraud")
    reg.create_version("fraud", "1.0.0", params={"lr": 0.1})
    reg.upload("fraud", "1.0.0", io.BytesIO(BIG), name="weights.bin")
    reg.upload("fraud", "1.0.0", io.BytesIO(b"{}"), name="config.json", subfolder="conf")
    reg.log_metric("fraud", "1.0.0", "auc", 0.9)
    reg.publish("fraud", "1.0.0")
    reg.set_alias("fraud", "production", "1.0.0")
    reg.create_model("churn")
    reg.create_version("churn", "0.1.0")


def modelreg(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def source(tmp_path: Path) -> str:
    url = str(tmp_path / "folder-registry")
    fill(open_registry(url))
    return url


def test_copy_a_folder_registry_into_sqlite_and_again(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"sqlite:///{tmp_path}/registry.db"
    code, out, _ = modelreg(capsys, "copy", source, target)
    assert code == 0, out
    assert "copied: version fraud@1.0.0" in out
    dst = open_registry(target)
    assert str(dst.get_alias("fraud", "production").version) == "1.0.0"
    assert dst.verify("fraud", "1.0.0").ok
    with dst.open_artifact("fraud", "1.0.0", "weights.bin") as stream:
        assert stream.read() == BIG
    assert dst.get_metrics("fraud", "1.0.0") == open_registry(source).get_metrics("fraud", "1.0.0")
    code, out, _ = modelreg(capsys, "--json", "copy", source, target)
    assert code == 0
    again = json.loads(out)
    assert again["changed_nothing"] and again["copied"] == [] and again["blobs_copied"] == 0


def test_dry_run_and_models_prefix(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(tmp_path / "copy")
    code, out, _ = modelreg(capsys, "copy", source, target, "--dry-run", "--models", "fr")
    assert code == 0
    assert "would copy: version fraud@1.0.0" in out and "churn" not in out
    assert not Path(target).exists() or open_registry(target).list_models().items == ()
    code, out, _ = modelreg(capsys, "copy", source, target, "--models", "fr", "--workers", "1")
    assert code == 0
    assert [m.name.value for m in open_registry(target).list_models().items] == ["fraud"]


def test_a_conflict_is_exit_1_and_the_destination_keeps_its_model(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(tmp_path / "copy")
    assert modelreg(capsys, "copy", source, target)[0] == 0
    dst = open_registry(target)
    dst.update_model("fraud", description="theirs")
    before = stored(dst.repository)
    code, out, _ = modelreg(capsys, "copy", source, target)
    assert code == 1
    assert "conflict (not overwritten): model fraud" in out
    assert stored(dst.repository) == before


def test_bad_arguments_are_usage_errors(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = modelreg(capsys, "copy", source, source + "2", "--workers", "0")
    assert code == 2 and "from 1 to 64" in err
    code, _, err = modelreg(capsys, "copy", source, "nosuch://x")
    assert code == 1 and "nosuch" in err


def test_the_progress_line_counts_versions_and_bytes() -> None:
    stream = io.StringIO()
    bar = CopyBar(stream)
    bar(CopyProgress(0, 2, 0))
    bar._drawn_at = 0.0  # draw the next one even within a tenth of a second
    bar(CopyProgress(1, 2, 3 * 2**20))
    bar.close()
    assert stream.getvalue().split("\r")[-1] == "copying: 1/2 versions, 3.0 MiB\n"
    quiet = io.StringIO()
    CopyBar(quiet).close()  # no progress came: no line at all
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("missing", ["nope", "sqlite:///{tmp}/nope.db", "file://{tmp}/nope"])
def test_a_source_that_does_not_exist_is_an_error_and_is_not_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    source = missing.format(tmp=tmp_path) if "{" in missing else str(tmp_path / missing)
    code, _, err = modelreg(capsys, "copy", source, str(tmp_path / "copy"))
    assert code == 1 and "no registry at" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["folder", "sqlite"])
def test_a_dry_run_into_a_registry_not_made_yet_makes_nothing(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    target = str(tmp_path / "new") if kind == "folder" else f"sqlite:///{tmp_path}/new.db"
    code, out, _ = modelreg(capsys, "copy", source, target, "--dry-run")
    assert code == 0
    assert "would copy: version fraud@1.0.0" in out and "would copy: model churn" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder-registry"]
