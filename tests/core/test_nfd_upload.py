"""File names from the local disk are stored in NFC, whatever form the disk wrote them in.

macOS writes names in NFD (``e`` + U+0301 for ``é``). Names that come from the file system
(`upload_dir`, `upload` of a path without ``name=``, and the same for runs) are normalised
to NFC; a name the caller gives (``name=``, ``subfolder=``, a stream) must already be NFC.
"""

from __future__ import annotations

import io
import os
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_core import MemoryRepository, Registry
from registry_core.errors import InvalidPath
from registry_core.paths import ArtifactPath

CAFE_NFD = "cafe\u0301.txt"
CAFE_NFC = "caf\u00e9.txt"
RESUME_NFD = "re\u0301sume\u0301"
RESUME_NFC = "r\u00e9sum\u00e9"


class Target:
    """A draft version or a run, reached through the Registry calls that fit it."""

    def __init__(self, registry: Registry, kind: str) -> None:
        self.registry, self.kind = registry, kind
        if kind == "version":
            registry.create_model("m")
            registry.create_version("m", "1.0.0")
        else:
            self.run_id = registry.create_run().id

    def upload(self, source: Any, **options: Any) -> ArtifactPath:
        if self.kind == "version":
            return self.registry.upload("m", "1.0.0", source, **options).path
        return self.registry.upload_run_artifact(self.run_id, source, **options).path

    def upload_dir(self, directory: Path, **options: Any) -> list[str]:
        if self.kind == "version":
            done = self.registry.upload_dir("m", "1.0.0", directory, **options)
        else:
            done = self.registry.upload_run_dir(self.run_id, directory, **options)
        return [a.path.value for a in done]

    def stored(self) -> list[str]:
        if self.kind == "version":
            artifacts = self.registry.list_artifacts("m", "1.0.0")
        else:
            artifacts = self.registry.list_run_artifacts(self.run_id)
        return [a.path.value for a in artifacts]

    def read(self, path: str) -> bytes:
        if self.kind == "version":
            opened = self.registry.open_artifact("m", "1.0.0", path)
        else:
            opened = self.registry.open_run_artifact(self.run_id, path)
        with opened as stream:
            return stream.read()

    def download(self, dest: Path) -> list[Path]:
        if self.kind == "version":
            return self.registry.download("m", "1.0.0", dest)
        return self.registry.download_run(self.run_id, dest)


@pytest.fixture(params=["version", "run"])
def repository_and_target(request: pytest.FixtureRequest) -> tuple[MemoryRepository, Target]:
    repository = MemoryRepository()
    return repository, Target(Registry(repository), request.param)


@pytest.fixture
def target(repository_and_target: tuple[MemoryRepository, Target]) -> Target:
    return repository_and_target[1]


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _names_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _is_nfc(text: str) -> bool:
    return unicodedata.is_normalized("NFC", text)


def _mac_folder(tmp_path: Path) -> Path:
    """A folder as macOS writes it: every non-ASCII name in NFD."""
    folder = tmp_path / "made-on-a-mac"
    _write(folder / CAFE_NFD, b"coffee")
    _write(folder / RESUME_NFD / "notes.txt", b"notes")
    if not any(not _is_nfc(name) for name in os.listdir(folder)):
        pytest.skip("this file system normalises file names itself")
    return folder


def test_upload_dir_of_nfd_names_stores_nfc_paths(target: Target, tmp_path: Path) -> None:
    uploaded = target.upload_dir(_mac_folder(tmp_path), subfolder="data")
    expected = sorted([f"data/{CAFE_NFC}", f"data/{RESUME_NFC}/notes.txt"])
    assert sorted(uploaded) == expected
    assert target.stored() == expected
    assert target.read(f"data/{CAFE_NFC}") == b"coffee"


def test_download_writes_nfc_names(target: Target, tmp_path: Path) -> None:
    target.upload_dir(_mac_folder(tmp_path))
    out = tmp_path / "out"
    written = target.download(out)
    assert _names_under(out) == sorted([CAFE_NFC, f"{RESUME_NFC}/notes.txt"])
    assert all(_is_nfc(os.fsdecode(p)) for p in written)
    assert (out / CAFE_NFC).read_bytes() == b"coffee"


def test_upload_of_a_local_nfd_file_without_a_name_stores_nfc(
    target: Target, tmp_path: Path
) -> None:
    local = _write(_mac_folder(tmp_path) / CAFE_NFD, b"coffee")
    assert target.upload(local).value == CAFE_NFC
    assert target.upload(str(local), subfolder="more").value == f"more/{CAFE_NFC}"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda t, local: t.upload(local, name=CAFE_NFD), id="path-with-name"),
        pytest.param(lambda t, local: t.upload(io.BytesIO(b"x"), name=CAFE_NFD), id="stream"),
        pytest.param(lambda t, local: t.upload(local, subfolder=RESUME_NFD), id="subfolder"),
        pytest.param(
            lambda t, local: t.upload_dir(local.parent, subfolder=RESUME_NFD), id="dir-subfolder"
        ),
    ],
)
def test_a_name_the_caller_gives_must_already_be_nfc(
    target: Target, tmp_path: Path, call: Callable[[Target, Path], object]
) -> None:
    local = _write(tmp_path / "plain" / "w.bin", b"w")
    with pytest.raises(InvalidPath, match="not NFC-normalised"):
        call(target, local)
    assert target.stored() == []


@pytest.mark.parametrize(
    "names",
    [
        pytest.param((CAFE_NFC, CAFE_NFD), id="nfc-and-nfd"),
        pytest.param((f"{RESUME_NFC}/a.txt", f"{RESUME_NFD}/a.txt"), id="folders"),
        pytest.param(("Weights.bin", "weights.bin"), id="case"),
    ],
)
def test_local_names_that_become_one_path_are_refused_before_anything_is_stored(
    repository_and_target: tuple[MemoryRepository, Target], tmp_path: Path, names: tuple[str, str]
) -> None:
    repository, target = repository_and_target
    folder = tmp_path / "clash"
    _write(folder / "other.txt", b"1")  # no clash, and not stored either
    for name in names:
        _write(folder / name, b"x")
    if len(_names_under(folder)) < 3:
        pytest.skip("this file system already makes the two names one")
    with pytest.raises(InvalidPath, match=r"would both be artifact path .*nothing was uploaded"):
        target.upload_dir(folder)
    assert target.stored() == []
    assert list(repository.list_blobs("")) == []


def test_from_local_normalises_only_the_local_part() -> None:
    assert ArtifactPath.from_local(None, f"{RESUME_NFD}/{CAFE_NFD}").value == (
        f"{RESUME_NFC}/{CAFE_NFC}"
    )
    with pytest.raises(InvalidPath, match=r"subfolder .* not NFC-normalised"):
        ArtifactPath.from_local(RESUME_NFD, CAFE_NFD)
    with pytest.raises(InvalidPath, match="must be a str"):
        ArtifactPath.from_local(None, b"cafe.txt")  # type: ignore[arg-type]
