"""``modelreg export``, ``import`` and ``verify-package`` through `main`."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from registry_backends import open_registry
from registry_backends.cli import main, progress
from registry_core import Registry

if TYPE_CHECKING:
    from conftest import Cli


@pytest.fixture
def published(registry: Registry) -> tuple[str, str]:
    """``fraud`` 1.0.0, ready, with a file in a subfolder, a log, a param and metrics."""
    registry.create_model("fraud", "finds fraud")
    registry.create_version("fraud", "1.0.0", params={"lr": 0.1}, tags={"t": "1"})
    registry.upload("fraud", "1.0.0", io.BytesIO(b"weights" * 100), name="model.bin")
    registry.upload("fraud", "1.0.0", io.BytesIO(b"{}"), name="conf/a.json")
    registry.append_log("fraud", "1.0.0", "trained\n")
    registry.log_metric("fraud", "1.0.0", "auc", 0.9, step=3)
    registry.publish("fraud", "1.0.0")
    registry.set_alias("fraud", "production", "1.0.0")
    return "fraud", "1.0.0"


def other_registry() -> tuple[str, Registry]:
    url = f"memory://cli-other-{uuid.uuid4().hex}"
    return url, open_registry(url)


def test_export_verify_and_import_into_another_registry(
    cli: Cli, registry: Registry, published: tuple[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "fraud-1.0.0.tar"
    run = cli("export", "fraud", "production", "-o", str(out))
    assert run.code == 0, run.err
    assert run.out == f"exported fraud 1.0.0 (3 files, 710 B) to {out}\n"
    run = cli("verify-package", str(out))
    assert run.code == 0, run.err
    assert run.out == "ok: fraud 1.0.0 (ready), 3 files, 710 B\n"
    url, other = other_registry()
    run = cli("import", str(out), "--registry", url)
    assert run.code == 0, run.err
    assert run.out == "imported fraud 1.0.0 (ready, 3 files, 710 B)\n"
    assert other.get_model("fraud").description == "finds fraud"
    assert other.list_artifacts("fraud", "1.0.0") == registry.list_artifacts("fraud", "1.0.0")
    assert other.get_metrics("fraud", "1.0.0") == registry.get_metrics("fraud", "1.0.0")
    assert other.verify("fraud", "1.0.0").ok
    run = cli("import", str(out), "--registry", url)
    assert run.code == 0, run.err
    assert "already in the registry with the same content; nothing changed" in run.out
    run = cli("import", str(out), "--registry", url, json=True)
    assert run.json() == {
        "bytes": 710,
        "files": 3,
        "imported": False,
        "model": "fraud",
        "state": "ready",
        "version": "1.0.0",
    }


def test_export_names_the_file_after_the_version_by_default(
    cli: Cli, registry: Registry, published: tuple[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    run = cli("export", "fraud", "latest", quiet=True)
    assert (run.code, run.out) == (0, "fraud-1.0.0.tar\n")
    first = (tmp_path / "fraud-1.0.0.tar").read_bytes()
    run = cli("export", "fraud", "1.0.0", "-o", "again.tar", json=True)
    assert run.json()["file"] == "again.tar" and run.json()["bytes"] == 710
    assert (tmp_path / "again.tar").read_bytes() == first


def test_verify_package_exit_codes(cli: Cli, published: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "p.tar"
    assert cli("export", *published, "-o", str(out)).code == 0
    run = cli("verify-package", str(out), json=True)
    assert run.code == 0 and run.json()["ok"] is True
    with tarfile.open(out) as tar:
        offset = tar.getmember("files/model.bin").offset_data
    data = bytearray(out.read_bytes())
    data[offset] ^= 1
    out.write_bytes(bytes(data))
    run = cli("verify-package", str(out))
    assert run.code == 1 and run.out == ""
    assert run.err.startswith("modelreg: error: ") and "model.bin" in run.err
    (tmp_path / "text.txt").write_text("not a tar")
    run = cli("verify-package", str(tmp_path / "text.txt"))
    assert run.code == 1 and "cannot read" in run.err
    run = cli("verify-package", str(tmp_path / "missing.tar"))
    assert run.code == 1 and "missing.tar" in run.err


def test_a_tampered_package_is_not_imported(
    cli: Cli, published: tuple[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "p.tar"
    assert cli("export", *published, "-o", str(out)).code == 0
    with tarfile.open(out) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    manifest = json.loads(members[0][1])
    manifest["format_version"] = 9
    with tarfile.open(out, "w") as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo(members[0][0].name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for member, body in members[1:]:
            tar.addfile(member, io.BytesIO(body))
    url, other = other_registry()
    run = cli("import", str(out), "--registry", url)
    assert run.code == 1 and "format version 9" in run.err
    assert len(other.list_models()) == 0


def test_a_refused_package_makes_no_local_registry(
    cli: Cli, published: tuple[str, str], tmp_path: Path
) -> None:
    """Importing into a folder or SQLite file not made yet checks the package first: a
    bad one leaves nothing behind; a sound one makes the registry and lands."""
    good, cut = tmp_path / "good.tar", tmp_path / "cut.tar"
    assert cli("export", *published, "-o", str(good)).code == 0
    cut.write_bytes(good.read_bytes()[:1024])  # the manifest cut short
    folder, database = tmp_path / "folder", tmp_path / "new.db"
    for target in (str(folder), f"sqlite:///{database}"):
        run = cli("import", str(cut), "--registry", target)
        assert run.code == 1, run.out
        assert "cut.tar" in run.err, run.err
    assert not folder.exists() and not database.exists()
    run = cli("import", str(good), "--registry", str(folder))
    assert run.code == 0, run.err
    assert open_registry(str(folder)).get_version(*published).state.is_sealed


def test_export_of_a_draft_and_import_of_a_conflict_fail(
    cli: Cli, registry: Registry, published: tuple[str, str], tmp_path: Path
) -> None:
    registry.create_version("fraud", "2.0.0")
    run = cli("export", "fraud", "2.0.0", "-o", str(tmp_path / "d.tar"))
    assert run.code == 1 and "only sealed versions" in run.err
    assert not (tmp_path / "d.tar").exists()
    out = tmp_path / "p.tar"
    assert cli("export", *published, "-o", str(out)).code == 0
    url, other = other_registry()
    other.create_model("fraud")
    other.create_version("fraud", "1.0.0", description="ours")
    run = cli("import", str(out), "--registry", url)
    assert run.code == 1 and "already exists with other content" in run.err
    assert other.get_version("fraud", "1.0.0").description == "ours"


def test_export_and_import_draw_a_progress_bar_on_a_terminal(
    cli: Cli, published: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "_load_tqdm", lambda: None)
    from registry_backends.cli import commands_package

    monkeypatch.setattr(commands_package, "bars_wanted", lambda quiet: not quiet)
    out = tmp_path / "p.tar"
    run = cli("export", *published, "-o", str(out))
    assert run.code == 0 and run.err.startswith("\rexport [") and "100%" in run.err
    url, _ = other_registry()
    run = cli("import", str(out), "--registry", url)
    assert run.code == 0 and run.err.startswith("\rimport [")
    assert main(["--registry", url, "-q", "import", str(out)]) == 0
