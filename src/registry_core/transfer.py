"""Streams that hash on the way through: the only place bytes of artifacts are touched.

Uploads read the caller's source in chunks, hash and count them, and hand them to the
backend's blob writer, so memory stays flat whatever the size. Downloads wrap the
backend's stream in `VerifyingReader`, which raises `IntegrityError` at the end when the
bytes are not the ones the manifest recorded.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from typing import IO

from registry_core.errors import IntegrityError

__all__ = ["CHUNK_SIZE", "Progress", "VerifyingReader", "hash_stream", "iter_chunks"]

CHUNK_SIZE = 1024 * 1024

#: Called with the number of bytes just moved; the CLI feeds it to a progress bar.
Progress = Callable[[int], None]


def iter_chunks(stream: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Read ``stream`` to its end in chunks of at most ``size`` bytes."""
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        if not isinstance(chunk, bytes):
            raise TypeError(f"artifact source must be a binary stream, read {type(chunk).__name__}")
        yield chunk


def hash_stream(
    stream: IO[bytes], sink: Callable[[bytes], None], progress: Progress | None = None
) -> tuple[int, str]:
    """Copy ``stream`` into ``sink`` chunk by chunk; return (size, sha256 hex)."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter_chunks(stream):
        digest.update(chunk)
        size += len(chunk)
        sink(chunk)
        if progress is not None:
            progress(len(chunk))
    return size, digest.hexdigest()


class VerifyingReader(io.RawIOBase):
    """A read-only binary stream that checks size and SHA-256 when it reaches the end.

    Reading past the last byte raises `IntegrityError` if the bytes differ from the
    manifest; a caller who stops early gets no check (there is nothing to compare yet).
    """

    def __init__(self, raw: IO[bytes], *, size: int, sha256: str, name: str) -> None:
        super().__init__()
        self._raw = raw
        self._expected_size = size
        self._expected_sha256 = sha256
        self._name = name
        self._digest = hashlib.sha256()
        self._seen = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        if not data:
            self._check()
            return 0
        n = len(data)
        buffer[:n] = data
        self._digest.update(data)
        self._seen += n
        if self._seen > self._expected_size:
            self._check()
        return n

    def _check(self) -> None:
        if self._checked:
            return
        self._checked = True
        if self._seen != self._expected_size:
            raise IntegrityError(
                f"artifact {self._name!r} has {self._seen} bytes, the manifest says "
                f"{self._expected_size}"
            )
        if self._digest.hexdigest() != self._expected_sha256:
            raise IntegrityError(
                f"artifact {self._name!r} does not match its SHA-256 "
                f"{self._expected_sha256[:12]}...; the stored bytes changed"
            )

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()
