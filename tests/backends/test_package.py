"""Version packages (`registry_backends.package`) between real backends: a local folder
and SQLite. Every check goes through the public API; a refused import must leave the
destination's stored documents and blobs exactly as they were (`stored`)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_backends import export_version, import_package, open_registry, verify_package
from registry_backends.package import IMPORTING, MANIFEST_NAME, Package
from registry_core import (
    AlreadyExists,
    CIJob,
    IllegalTransition,
    IntegrityError,
    InvalidInput,
    Metric,
    PermissionDenied,
    Registry,
    RegistryError,
    SchemaError,
    VersionState,
)
from registry_core._artifacts import manifest_digest
from registry_core.testing import DiesAfter
from registry_core.testing.access_tests import stored

MODEL, VERSION = "fraud/Detector", "1.2.0"
WEIGHTS = bytes(range(256)) * 40  # 10 KiB


Opener = Callable[[str], Registry]


def new_url(tmp_path: Path, kind: str) -> str:
    """Where a new registry of a kind lives: ``files`` (a local folder) or ``sqlite``."""
    folder = tempfile.mkdtemp(dir=tmp_path)
    return folder if kind == "files" else f"sqlite:///{folder}/registry.db"


@pytest.fixture
def opener(tmp_path: Path) -> Opener:
    """An empty registry of a kind (see `new_url`)."""
    return lambda kind: open_registry(new_url(tmp_path, kind))


def populate(reg: Registry, weights: bytes = WEIGHTS, state: str = "ready") -> None:
    """One model and one sealed version with everything a package carries."""
    reg.create_model(MODEL, "finds fraud", tags={"team": "risk"})
    reg.create_version(
        MODEL,
        VERSION,
        description="second try",
        tags={"data": "2024-q1"},
        params={"lr": 0.1, "epochs": 3},
        ci_job=CIJob(provider="gitlab", job_id="42", project_url="https://gitlab.com/a/b"),
    )
    reg.upload(MODEL, VERSION, io.BytesIO(weights), name="weights.bin")
    reg.upload(MODEL, VERSION, io.BytesIO(b'{"a": 1}'), name="conf/sub/params.json")
    reg.upload(MODEL, VERSION, io.BytesIO("é\n".encode()), name="notes/café.txt")
    reg.append_log(MODEL, VERSION, "epoch 1\n")
    reg.append_log(MODEL, VERSION, "epoch 2\n")
    for step, auc in enumerate([0.8, 0.9, float("nan")]):
        reg.log_metric(MODEL, VERSION, "auc", auc, step=step)
    reg.log_metrics(MODEL, VERSION, {"loss": 0.3, "acc": 0.9}, step=7)
    reg.publish(MODEL, VERSION)
    if state == "deprecated":
        reg.deprecate(MODEL, VERSION)
    elif state == "yanked":
        reg.yank(MODEL, VERSION)


def snapshot(reg: Registry) -> dict[str, Any]:
    """What a reader of the public API sees of the version, times of the version aside
    (an import makes its own)."""
    v = reg.get_version(MODEL, VERSION)
    model = reg.get_model(MODEL)
    files = {}
    for artifact in reg.list_artifacts(MODEL, VERSION):
        with reg.open_artifact(MODEL, VERSION, artifact.path) as stream:
            files[artifact.path.value] = (artifact.size, artifact.sha256, stream.read())
    metrics = [(m.key, repr(m.value), m.step, m.timestamp) for m in reg.get_metrics(MODEL, VERSION)]
    return {
        "model": (str(model.name), model.description, dict(model.tags)),
        "version": (str(v.version), v.state, v.description, dict(v.tags), dict(v.params)),
        "ci_job": v.ci_job,
        "manifest_sha256": v.manifest_sha256,
        "files": files,
        "metrics": metrics,
    }


PAIRS = [("files", "sqlite"), ("sqlite", "files")]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_export_then_import_gives_the_same_version(
    opener: Opener, tmp_path: Path, source: str, target: str
) -> None:
    src, dst = opener(source), opener(target)
    populate(src)
    out = tmp_path / "fraud-1.2.0.tar"
    seen: list[int] = []
    package = export_version(src, MODEL, VERSION, out, progress=seen.append)
    assert sum(seen) == package.size == src.get_version(MODEL, VERSION).size
    assert package.logs == ("logs/run.log",)
    imported = import_package(out, dst)
    assert imported.state is VersionState.READY
    assert snapshot(dst) == snapshot(src)
    assert dst.verify(MODEL, VERSION).ok
    assert dst.get_version(MODEL, VERSION).manifest_sha256 == package.manifest_sha256
    assert dst.resolve(MODEL, "latest").version == imported.version


def test_the_archive_holds_the_manifest_first_then_the_files(
    opener: Opener, tmp_path: Path
) -> None:
    src = opener("files")
    populate(src)
    out = tmp_path / "p.tar"
    export_version(src, MODEL, VERSION, out)
    with tarfile.open(out) as tar:
        members = tar.getmembers()
        manifest = json.loads(tar.extractfile(members[0]).read())  # type: ignore[union-attr]
    assert [m.name for m in members] == [
        MANIFEST_NAME,
        "files/conf/sub/params.json",
        "files/logs/run.log",
        "files/notes/café.txt",
        "files/weights.bin",
    ]
    published = src.get_version(MODEL, VERSION).published_at
    assert published is not None
    for member in members:
        assert member.isreg() and member.mode == 0o644
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == int(published.timestamp())
        assert "mtime" not in member.pax_headers and "atime" not in member.pax_headers
    assert manifest["format"] == "modelreg-package" and manifest["format_version"] == 1
    assert manifest["model"] == {
        "name": MODEL,
        "description": "finds fraud",
        "tags": {"team": "risk"},
    }
    assert manifest["version"]["params"] == {"lr": "0.1", "epochs": "3"}
    assert manifest["version"]["ci_job"]["job_id"] == "42"
    assert manifest["logs"] == ["logs/run.log"]
    assert [m["step"] for m in manifest["metrics"] if m["key"] == "auc"] == [0, 1, 2]
    assert manifest["metrics"][2]["value"] == "nan"
    assert {f["path"]: f["size"] for f in manifest["files"]}["weights.bin"] == len(WEIGHTS)
    assert out.stat().st_size % tarfile.RECORDSIZE == 0


def test_two_exports_are_byte_for_byte_the_same_also_after_reopening(
    opener: Opener, tmp_path: Path
) -> None:
    (tmp_path / "reg").mkdir()
    url = new_url(tmp_path / "reg", "sqlite")
    src = open_registry(url)
    populate(src)
    export_version(src, MODEL, VERSION, tmp_path / "a.tar")
    export_version(src, MODEL, VERSION, tmp_path / "b.tar")
    export_version(open_registry(url), MODEL, VERSION, tmp_path / "c.tar")
    first = (tmp_path / "a.tar").read_bytes()
    assert (tmp_path / "b.tar").read_bytes() == first
    assert (tmp_path / "c.tar").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar", "b.tar", "c.tar", "reg"]


def test_a_file_larger_than_a_chunk_round_trips(opener: Opener, tmp_path: Path) -> None:
    src, dst = opener("files"), opener("files")
    big = os.urandom(4 * 2**20 + 12345)  # crosses the 4 MiB transfer chunk
    populate(src, weights=big)
    out = tmp_path / "big.tar"
    export_version(src, MODEL, VERSION, out)
    assert verify_package(out).size == src.get_version(MODEL, VERSION).size
    import_package(out, dst)
    with dst.open_artifact(MODEL, VERSION, "weights.bin") as stream:
        assert stream.read() == big


@pytest.mark.parametrize("state", ["deprecated", "yanked"])
def test_a_deprecated_or_yanked_version_keeps_its_state(
    opener: Opener, tmp_path: Path, state: str
) -> None:
    src, dst = opener("files"), opener("sqlite")
    populate(src, state=state)
    export_version(src, MODEL, VERSION, tmp_path / "p.tar")
    assert import_package(tmp_path / "p.tar", dst).state.value == state
    assert snapshot(dst) == snapshot(src)
    assert dst.verify(MODEL, VERSION).ok


def test_a_version_without_files_round_trips(opener: Opener, tmp_path: Path) -> None:
    src, dst = opener("sqlite"), opener("files")
    src.create_model("m")
    src.create_version("m", "1.0.0", params={"k": "v"}, publish=True)
    package = export_version(src, "m", "1.0.0", tmp_path / "p.tar")
    assert package.files == () and verify_package(tmp_path / "p.tar") == package
    version = import_package(tmp_path / "p.tar", dst)
    assert (version.state, dict(version.params), version.artifacts) == (
        VersionState.READY,
        {"k": "v"},
        (),
    )
    assert version.manifest_sha256 == src.get_version("m", "1.0.0").manifest_sha256


def test_an_unwritable_output_is_a_registry_error(opener: Opener, tmp_path: Path) -> None:
    src = opener("files")
    populate(src)
    with pytest.raises(InvalidInput, match="cannot write"):
        export_version(src, MODEL, VERSION, tmp_path / "missing" / "p.tar")
    (tmp_path / "taken").mkdir()
    with pytest.raises(InvalidInput, match="cannot write"):
        export_version(src, MODEL, VERSION, tmp_path / "taken")
    assert list(tmp_path.glob("**/*.part")) == []
    assert list((tmp_path / "taken").iterdir()) == []


def test_a_draft_is_not_exported(opener: Opener, tmp_path: Path) -> None:
    src = opener("files")
    src.create_model("m")
    src.create_version("m", "1.0.0")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IllegalTransition, match="is draft; only sealed versions"):
        export_version(src, "m", "1.0.0", out / "p.tar")
    assert list(out.iterdir()) == []


def test_a_changed_blob_aborts_the_export_and_leaves_no_file(
    opener: Opener, tmp_path: Path
) -> None:
    src = opener("files")
    populate(src)
    root = Path(src.repository.root)  # type: ignore[attr-defined]
    blob = root / MODEL / VERSION / "weights.bin"
    data = bytearray(blob.read_bytes())
    data[5000] ^= 1
    blob.write_bytes(bytes(data))
    out = tmp_path / "out" / "p.tar"
    out.parent.mkdir()
    out.write_bytes(b"an older package")
    with pytest.raises(IntegrityError, match=r"weights\.bin"):
        export_version(src, MODEL, VERSION, out)
    assert [p.name for p in out.parent.iterdir()] == ["p.tar"]
    assert out.read_bytes() == b"an older package"


# -- tampered archives -------------------------------------------------------------------


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(path) as tar:
        return [
            (m, tar.extractfile(m).read() if m.isreg() else None)  # type: ignore[union-attr]
            for m in tar.getmembers()
        ]


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, None if data is None else io.BytesIO(data))


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _offset(path: Path, name: str) -> int:
    """Where the header of member ``name`` starts."""
    with tarfile.open(path) as tar:
        return tar.getmember(name).offset


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[_offset(path, "files/weights.bin") + tarfile.BLOCKSIZE + 100] ^= 0xFF
    path.write_bytes(bytes(data))


def _cut_inside_a_file(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: _offset(path, "files/weights.bin") + 2048])


def _edit_manifest(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    members = _members(path)
    manifest = json.loads(members[0][1] or b"")
    change(manifest)
    members[0] = _file(MANIFEST_NAME, json.dumps(manifest).encode())
    _write(path, members)


def _changed_hash(manifest: dict[str, Any]) -> None:
    """Another SHA-256 for weights.bin, and a manifest digest that agrees with it."""
    from registry_core import Artifact, ArtifactPath

    entry = next(f for f in manifest["files"] if f["path"] == "weights.bin")
    entry["sha256"] = "0" * 64
    manifest["version"]["manifest_sha256"] = manifest_digest(
        Artifact(ArtifactPath.parse(f["path"]), f["size"], f["sha256"]) for f in manifest["files"]
    )


def _changed_hash_only(manifest: dict[str, Any]) -> None:
    next(f for f in manifest["files"] if f["path"] == "weights.bin")["sha256"] = "0" * 64


def _rewrite(change: Callable[[list[tuple[tarfile.TarInfo, bytes | None]]], None]) -> Any:
    def tamper(path: Path) -> None:
        members = _members(path)
        change(members)
        _write(path, members)

    return tamper


TAMPERS: dict[str, tuple[Callable[[Path], None], type[RegistryError], str]] = {
    "a changed byte": (_flip_a_byte, IntegrityError, "does not match its SHA-256"),
    "a changed hash in the manifest": (
        lambda p: _edit_manifest(p, _changed_hash),
        IntegrityError,
        "weights.bin",
    ),
    "a changed hash without its digest": (
        lambda p: _edit_manifest(p, _changed_hash_only),
        IntegrityError,
        "manifest_sha256",
    ),
    "an extra file": (
        _rewrite(lambda ms: ms.append(_file("files/extra.txt", b"x"))),
        IntegrityError,
        "does not name",
    ),
    "a missing file": (
        _rewrite(lambda ms: ms.pop(2)),
        IntegrityError,
        "lacks logs/run.log",
    ),
    "a duplicate member": (
        _rewrite(lambda ms: ms.append(ms[1])),
        IntegrityError,
        "twice",
    ),
    "a ../ member": (
        _rewrite(lambda ms: ms.append(_file("../evil", b"x"))),
        InvalidInput,
        "outside the package",
    ),
    "a ../ inside files/": (
        _rewrite(lambda ms: ms.append(_file("files/../../evil", b"x"))),
        InvalidInput,
        "outside the package",
    ),
    "an absolute path": (
        _rewrite(lambda ms: ms.append(_file("/tmp/evil", b"x"))),
        InvalidInput,
        "outside the package",
    ),
    "a symlink": (
        _rewrite(lambda ms: ms.append(_link("files/link", "/etc/passwd", tarfile.SYMTYPE))),
        InvalidInput,
        "symbolic link",
    ),
    "a hard link": (
        _rewrite(lambda ms: ms.append(_link("files/hard", "files/weights.bin", tarfile.LNKTYPE))),
        InvalidInput,
        "hard link",
    ),
    "a device": (
        _rewrite(lambda ms: ms.append(_link("files/dev", "", tarfile.CHRTYPE))),
        InvalidInput,
        "device",
    ),
    "no manifest first": (
        _rewrite(lambda ms: ms.append(ms.pop(0))),
        InvalidInput,
        "first member must be",
    ),
    "a newer format": (
        lambda p: _edit_manifest(p, lambda m: m.update(format_version=2)),
        SchemaError,
        "upgrade modelreg",
    ),
    "a draft in the manifest": (
        lambda p: _edit_manifest(p, lambda m: m["version"].update(state="draft")),
        InvalidInput,
        "sealed version",
    ),
    "a manifest path with ..": (
        lambda p: _edit_manifest(p, lambda m: m["files"][0].update(path="../x")),
        InvalidInput,
        r"'\.\.'",
    ),
    "not JSON": (
        _rewrite(lambda ms: ms.__setitem__(0, _file(MANIFEST_NAME, b"{not json"))),
        InvalidInput,
        "not JSON",
    ),
    "cut inside a file": (_cut_inside_a_file, InvalidInput, "is cut short"),
    "cut after the manifest": (
        lambda p: p.write_bytes(p.read_bytes()[: _offset(p, "files/conf/sub/params.json")]),
        IntegrityError,
        "the package is incomplete",
    ),
    "not a tar": (lambda p: p.write_bytes(b"hello" * 1000), InvalidInput, "cannot read"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS), ids=list(TAMPERS))
def test_a_tampered_package_is_refused_and_nothing_is_stored(
    opener: Opener, tmp_path: Path, tamper: str
) -> None:
    change, error, message = TAMPERS[tamper]
    src, dst = opener("files"), opener("files")
    populate(src)
    dst.create_model("other", "kept")
    path = tmp_path / "p.tar"
    export_version(src, MODEL, VERSION, path)
    change(path)
    with pytest.raises(error, match=message):
        verify_package(path)
    before = stored(dst.repository)
    with pytest.raises(error, match=message):
        import_package(path, dst)
    assert stored(dst.repository) == before


def test_an_unreadable_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        verify_package(tmp_path / "missing.tar")
    with pytest.raises(InvalidInput, match="cannot read"):
        verify_package(tmp_path)


# -- importing into a registry that holds something --------------------------------------


@pytest.fixture
def package(opener: Opener, tmp_path: Path) -> Path:
    src = opener("files")
    populate(src)
    path = tmp_path / "p.tar"
    export_version(src, MODEL, VERSION, path)
    return path


def test_importing_twice_changes_nothing(opener: Opener, package: Path) -> None:
    dst = opener("sqlite")
    first = import_package(package, dst)
    before = stored(dst.repository)
    assert import_package(package, dst) == first
    assert stored(dst.repository) == before


def test_a_version_with_other_content_is_a_conflict_and_stays(
    opener: Opener, package: Path
) -> None:
    dst = opener("files")
    import_package(package, dst)
    dst.set_tag(MODEL, VERSION, "data", "changed")
    before = stored(dst.repository)
    with pytest.raises(AlreadyExists, match=r"already exists with other content .*tags"):
        import_package(package, dst)
    assert stored(dst.repository) == before


def test_a_draft_of_the_same_number_is_a_conflict(opener: Opener, package: Path) -> None:
    dst = opener("sqlite")
    dst.create_model(MODEL)
    dst.create_version(MODEL, VERSION)
    before = stored(dst.repository)
    with pytest.raises(AlreadyExists, match="state"):
        import_package(package, dst)
    assert stored(dst.repository) == before


def test_an_existing_model_keeps_its_description_and_gets_the_version(
    opener: Opener, package: Path
) -> None:
    dst = opener("files")
    dst.create_model(MODEL.lower(), "ours")
    dst.create_version(MODEL, "1.0.0", publish=True)
    import_package(package, dst)
    assert dst.get_model(MODEL).description == "ours"
    assert [str(v.version) for v in dst.list_versions(MODEL)] == ["1.0.0", VERSION]
    assert dst.verify(MODEL, VERSION).ok


def test_metric_points_keep_their_timestamps(opener: Opener, package: Path) -> None:
    dst = opener("files")
    import_package(package, dst)
    points = Package.from_json(json.loads(_members(package)[0][1] or b"")).metrics
    got = dst.get_metrics(MODEL, VERSION)
    assert [(m.key, m.step, m.timestamp) for m in got] == [
        (m.key, m.step, m.timestamp) for m in points
    ]
    assert all(isinstance(m, Metric) for m in got)


def test_an_actor_needs_the_right_to_create_versions(opener: Opener, package: Path) -> None:
    dst = opener("files")
    dst.grant("owner", "owner")
    dst.grant("gus", "guest")
    dst.grant("rita", "reporter")
    before = stored(dst.repository)
    with pytest.raises(PermissionDenied):
        import_package(package, dst.as_actor("gus"))
    with pytest.raises(PermissionDenied):
        import_package(package, dst.as_actor("stranger"))
    assert stored(dst.repository) == before
    version = import_package(package, dst.as_actor("rita"))
    assert version.created_by == "rita"
    assert dst.verify(MODEL, VERSION).ok


@pytest.mark.parametrize("state", ["ready", "yanked"])
def test_an_import_killed_after_any_write_is_finished_by_importing_again(
    opener: Opener, tmp_path: Path, state: str
) -> None:
    """`DiesAfter` lets k storage writes of the import through, then every call fails
    (nothing is cleaned up). Importing the same package again, in a new process as it
    were, must end with the version exactly as exported, and no mark left on it."""
    src = opener("files")
    populate(src, state=state)
    out = tmp_path / "p.tar"
    export_version(src, MODEL, VERSION, out)
    expected = snapshot(src)
    for k in range(200):
        url = new_url(tmp_path, "files")
        dying = DiesAfter(open_registry(url).repository, k)
        try:
            import_package(out, Registry(dying))
        except RegistryError:
            assert dying.dead
        else:
            break
        dst = open_registry(url)
        import_package(out, dst)
        assert snapshot(dst) == expected, k
        assert dst.verify(MODEL, VERSION).ok
    else:
        pytest.fail("the import never finished")
    assert k > 10  # it died at every write of the import: model, version, files, state


def test_a_version_marked_by_another_import_is_not_taken_over(
    opener: Opener, tmp_path: Path
) -> None:
    src = opener("files")
    populate(src)
    out = tmp_path / "p.tar"
    export_version(src, MODEL, VERSION, out)
    dst = opener("files")
    dst.create_model(MODEL)
    dst.create_version(MODEL, VERSION, tags={IMPORTING: "0" * 64})  # another package's
    before = stored(dst.repository)
    with pytest.raises(AlreadyExists, match="other content"):
        import_package(out, dst)
    assert stored(dst.repository) == before
