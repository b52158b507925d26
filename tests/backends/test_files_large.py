"""A blob larger than the writeback step and the hashing chunk round-trips on a local disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from registry_backends import open_registry


def test_a_large_upload_round_trips_verified(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    with source.open("wb") as out:
        for i in range(70):  # 70 MiB: past two writeback steps, many hashing chunks
            out.write(block[i:] + block[:i])
    registry = open_registry(str(tmp_path / "reg"))
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    seen: list[int] = []
    artifact = registry.upload("m", "1.0.0", source, progress=seen.append)
    assert artifact.size == source.stat().st_size == sum(seen)
    assert artifact.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    stored = tmp_path / "reg" / "m" / "1.0.0" / "big.bin"
    assert stored.read_bytes() == source.read_bytes()
    (out_file,) = registry.download("m", "1.0.0", tmp_path / "out")
    assert out_file.read_bytes() == source.read_bytes()
