"""Streams that hash on the way through: the only place bytes of artifacts are touched.

Uploads read the caller's source in chunks, hash and count them, and hand them to the
backend's blob writer, so memory stays flat whatever the size. Downloads wrap the
backend's stream in `VerifyingReader`, which raises `IntegrityError` at the end when the
bytes are not the ones the manifest recorded.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import itertools
from collections.abc import Callable, Iterator
from typing import IO

from registry_core.errors import IntegrityError

__all__ = [
    "CHUNK_SIZE",
    "Progress",
    "VerifyingReader",
    "copy_verified",
    "hash_stream",
    "iter_chunks",
]

CHUNK_SIZE = 4 * 1024 * 1024

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
    stream: IO[bytes], sink: Callable[[bytes], object], progress: Progress | None = None
) -> tuple[int, str]:
    """Copy ``stream`` into ``sink`` chunk by chunk; return (size, sha256 hex).

    Past the first chunk, a second thread hashes chunk *n* while this one writes it and
    reads chunk *n + 1* (hashlib releases the GIL), so a large copy costs about the
    larger of hashing and I/O rather than their sum. At most three chunks are in memory.
    """
    digest = hashlib.sha256()
    chunks = iter_chunks(stream)
    head = list(itertools.islice(chunks, 2))
    if len(head) < 2:  # one chunk or none: no thread for a small file
        for chunk in head:
            digest.update(chunk)
            sink(chunk)
            if progress is not None:
                progress(len(chunk))
        return sum(map(len, head)), digest.hexdigest()
    size = 0
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="modelreg-hash") as pool:
        hashing: concurrent.futures.Future[None] | None = None
        for chunk in itertools.chain(head, chunks):
            if hashing is not None:
                hashing.result()
            hashing = pool.submit(digest.update, chunk)
            sink(chunk)
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
        assert hashing is not None
        hashing.result()
    return size, digest.hexdigest()


def copy_verified(
    stream: IO[bytes],
    sink: Callable[[bytes], object],
    *,
    size: int,
    sha256: str,
    name: str,
    progress: Progress | None = None,
) -> None:
    """Copy ``stream`` into ``sink``, then raise `IntegrityError` unless the bytes match.

    The caller must not use what the sink received until this returns.
    """
    seen, digest = hash_stream(stream, sink, progress)
    _compare(name, seen, digest, size, sha256)


def _compare(name: str, seen: int, digest: str, size: int, sha256: str) -> None:
    if seen != size:
        raise IntegrityError(f"artifact {name!r} has {seen} bytes, the manifest says {size}")
    if digest != sha256:
        raise IntegrityError(
            f"artifact {name!r} does not match its SHA-256 {sha256[:12]}...; "
            "the stored bytes changed"
        )


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
        _compare(
            self._name,
            self._seen,
            self._digest.hexdigest(),
            self._expected_size,
            self._expected_sha256,
        )

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()
