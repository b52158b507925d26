"""The in-memory repository: the reference every backend is compared against.

It keeps documents and blobs in dicts under one lock. Documents are copied through JSON
on the way in and out, so it stores exactly what a real backend could, and a caller's
later change to a dict it passed never reaches the store.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
from collections.abc import Iterator, Mapping
from typing import IO, Any

from registry_core.errors import AlreadyExists, Conflict, NotFound
from registry_core.protocol import Document, Key

__all__ = ["MemoryRepository"]


def _freeze(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, allow_nan=False)


def _deleting(text: str) -> bool:
    """Whether the stored document ``text`` is marked ``"deleting": true`` (a quick look
    for the words first: a document that does not contain them is not)."""
    return '"deleting": true' in text and json.loads(text).get("deleting") is True


class _MemoryBlobWriter:
    def __init__(self, repo: MemoryRepository, name: str) -> None:
        self._repo = repo
        self._name = name
        self._buffer: io.BytesIO | None = io.BytesIO()

    def write(self, chunk: bytes) -> None:
        if self._buffer is None:
            raise ValueError("blob writer is closed")
        self._buffer.write(chunk)

    def commit(self) -> None:
        if self._buffer is None:
            raise ValueError("blob writer is closed")
        with self._repo._lock:
            self._repo._blobs[self._name] = self._buffer.getvalue()
        self._buffer = None

    def abort(self) -> None:
        self._buffer = None


class MemoryRepository:
    """A `Repository` in this process's memory; thread-safe, gone when the process ends."""

    quick_reads = True  # see registry_core.protocol.reads_are_quick

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: dict[Key, tuple[str, str]] = {}  # key -> (json, etag)
        self._blobs: dict[str, bytes] = {}
        self._etags = itertools.count(1)

    def __repr__(self) -> str:
        return f"MemoryRepository(<{len(self._docs)} documents, {len(self._blobs)} blobs>)"

    def _document(self, stored: tuple[str, str]) -> Document:
        return Document(json.loads(stored[0]), stored[1])

    def get(self, key: Key) -> Document | None:
        with self._lock:
            stored = self._docs.get(key)
        return None if stored is None else self._document(stored)

    def put_if_absent(self, key: Key, data: Mapping[str, Any]) -> str:
        text = _freeze(data)
        with self._lock:
            if key in self._docs:
                raise AlreadyExists(f"document {'/'.join(key)!r} already exists")
            etag = str(next(self._etags))
            self._docs[key] = (text, etag)
        return etag

    def compare_and_swap(self, key: Key, data: Mapping[str, Any], etag: str) -> str:
        text = _freeze(data)
        with self._lock:
            stored = self._docs.get(key)
            if stored is None:
                raise NotFound(f"document {'/'.join(key)!r} does not exist")
            if stored[1] != etag:
                raise Conflict(f"document {'/'.join(key)!r} was changed by another writer")
            new_etag = str(next(self._etags))
            self._docs[key] = (text, new_etag)
        return new_etag

    def delete(self, key: Key, etag: str | None = None) -> None:
        with self._lock:
            stored = self._docs.get(key)
            if stored is None:
                return
            if etag is not None and stored[1] != etag:
                raise Conflict(f"document {'/'.join(key)!r} was changed by another writer")
            del self._docs[key]

    def delete_tree(self, prefix: Key) -> None:
        with self._lock:
            for key in [k for k in self._docs if k[: len(prefix)] == prefix]:
                del self._docs[key]

    def list_page(
        self,
        prefix: Key,
        *,
        after: str | None = None,
        before: str | None = None,
        starts_with: str | None = None,
        limit: int = 100,
        reverse: bool = False,
    ) -> list[tuple[str, Document]]:
        depth = len(prefix) + 1
        with self._lock:
            found = [
                (key[-1], stored)
                for key, stored in self._docs.items()
                if len(key) == depth
                and key[:-1] == prefix
                and (after is None or key[-1] > after)
                and (before is None or key[-1] < before)
                and (starts_with is None or key[-1].startswith(starts_with))
            ]
        found.sort(key=lambda item: item[0], reverse=reverse)
        return [(segment, self._document(stored)) for segment, stored in found[:limit]]

    def count_documents(self, prefix: Key) -> int:
        """The optional count of `registry_core.protocol`: documents one level under
        ``prefix`` not marked ``"deleting": true``, decoding only those that mention it."""
        depth = len(prefix) + 1
        with self._lock:
            stored = [
                text
                for key, (text, _) in self._docs.items()
                if len(key) == depth and key[:-1] == prefix
            ]
        return sum(1 for text in stored if not _deleting(text))

    def open_blob_writer(self, name: str) -> _MemoryBlobWriter:
        return _MemoryBlobWriter(self, name)

    def open_blob(self, name: str) -> IO[bytes]:
        with self._lock:
            data = self._blobs.get(name)
        if data is None:
            raise NotFound(f"blob {name!r} does not exist")
        return io.BytesIO(data)

    def copy_blob(self, source: str, target: str) -> None:
        """The optional copy of `registry_core.protocol`: bytes are immutable, so the two
        names share them."""
        with self._lock:
            data = self._blobs.get(source)
            if data is None:
                raise NotFound(f"blob {source!r} does not exist")
            self._blobs[target] = data

    def delete_blobs(self, prefix: str) -> None:
        with self._lock:
            for name in [n for n in self._blobs if n == prefix or n.startswith(prefix + "/")]:
                del self._blobs[name]

    def list_blobs(self, prefix: str) -> Iterator[str]:
        with self._lock:
            names = [n for n in self._blobs if not prefix or n.startswith(prefix + "/")]
        return iter(names)
