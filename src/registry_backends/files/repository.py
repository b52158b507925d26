"""`FilesRepository`: the `Repository` protocol, once, over any `ObjectStore`.

Layout under the store's root ``R``::

    R/.modelreg/format.json           {"format": "modelreg-files", "schema": 1}
    R/.modelreg/docs/<key>.json       one pretty-printed JSON document per key
    R/.modelreg/tmp/, R/.modelreg/locks/   the local store's temp and lock files
    R/<model>/<version>/<path>        the blobs: each version's package, as is

A document key's segments become path parts as `registry_backends.files._keys` escapes
them (``("versions", "team/a", "11.10.10_")`` is ``docs/versions/team%2fa/11.10.10_.json``).
A document file holds ``{"data": <the document>, "rev": <random>}``: the random ``rev``
makes every write's bytes unique, so an etag derived from the content (the local hash,
S3's MD5 ETag) changes on every write even when the document does not.

Blob names are package paths. A model may be named ``.modelreg`` (its packages are at
``R/.modelreg/<version>/``; a SemVer version is never ``docs``, ``tmp``, ``locks`` or
``format.json``), but a model named ``.modelreg/docs`` (or ``tmp``, ``locks``) would put
blobs among the registry's own files: such blob names are refused with `InvalidPath`
(compared case-insensitively, for case-insensitive disks), and nothing is ever read,
listed or deleted there as a blob.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator, Mapping
from typing import IO, Any

from registry_backends.files._keys import document_parts, folder_parts
from registry_backends.files._listing import Listings
from registry_backends.files._store import META, RESERVED, ObjectStore
from registry_core.errors import (
    AlreadyExists,
    BackendError,
    InvalidInput,
    InvalidPath,
    NotFound,
    SchemaError,
)
from registry_core.protocol import BlobWriter, Document, Key, reads_are_quick

__all__ = ["FORMAT", "SCHEMA", "FilesRepository"]

FORMAT = "modelreg-files"
SCHEMA = 1
MARKER = f"{META}/format.json"
DOCS = f"{META}/docs"


def _document_name(key: Key) -> str:
    if not key:
        raise InvalidInput("a document key needs at least one segment")
    return "/".join([DOCS, *document_parts(key)])


def _folder_name(prefix: Key) -> str:
    return "/".join([DOCS, *folder_parts(prefix)])


def _encode(data: Mapping[str, Any]) -> bytes:
    """Pretty, sorted JSON a person can read; text stays as is unless it cannot be UTF-8."""
    wrapped = {"data": data, "rev": secrets.token_hex(16)}
    text = json.dumps(wrapped, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: store it \u-escaped, as JSON allows
        return (json.dumps(wrapped, sort_keys=True, indent=1, allow_nan=False) + "\n").encode()


def _decode(name: str, raw: bytes, etag: str) -> Document:
    try:
        data = json.loads(raw)["data"]
    except (ValueError, KeyError, TypeError) as error:
        raise BackendError(f"document {name!r} is not a modelreg-files document") from error
    if not isinstance(data, dict):
        raise BackendError(f"document {name!r} holds {type(data).__name__}, not an object")
    return Document(data, etag)


def _blob_parts(name: str) -> list[str]:
    """The segments of a blob name ("" is the root); `InvalidPath` if it could escape."""
    if name == "":
        return []
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", "..") or "\x00" in part or "\\" in part:
            raise InvalidPath(f"blob name {name!r} has an empty, '.', '..' or unsafe segment")
    return parts


def _is_reserved(parts: list[str]) -> bool:
    """Whether the name lies among the registry's own files (never a blob)."""
    return len(parts) >= 2 and parts[0].lower() == META and parts[1].lower() in RESERVED


def _holds_reserved(parts: list[str]) -> bool:
    """Whether the name is the root or ``.modelreg``, which hold the registry's files."""
    return not parts or (len(parts) == 1 and parts[0].lower() == META)


def _writable(name: str) -> str:
    """``name`` if a blob may be written there; `InvalidPath` among the registry's files."""
    parts = _blob_parts(name)
    if _is_reserved(parts) or _holds_reserved(parts):
        raise InvalidPath(f"blob name {name!r} lies among the files backend's own files in {META}/")
    return name


def _readable(name: str) -> str:
    """``name`` if it may be a blob; `NotFound` among the registry's own files."""
    parts = _blob_parts(name)
    if _is_reserved(parts) or _holds_reserved(parts):
        raise NotFound(f"blob {name!r} does not exist")
    return name


def _check_marker(root: str, raw: bytes) -> None:
    try:
        marker = json.loads(raw)
        fmt, schema = marker["format"], marker["schema"]
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidInput(f"{root!r} has a {MARKER} that is not a modelreg marker") from error
    if fmt != FORMAT or not isinstance(schema, int) or schema < 1:
        raise InvalidInput(f"{root!r} is a {fmt!r} store (schema {schema!r}), not {FORMAT!r}")
    if schema > SCHEMA:
        raise SchemaError(
            f"{root!r} was written by a newer modelreg ({FORMAT} schema {schema}); this "
            f"version reads schema {SCHEMA}: upgrade modelreg"
        )


class FilesRepository:
    """A `Repository` of JSON documents and blobs in an object store (local, S3, GCS)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._listings = Listings(store.list_names, getattr(store, "folder_stamp", None))

    @classmethod
    def open(cls, store: ObjectStore) -> FilesRepository:
        """The registry in ``store``: check its format marker, or write one if it is empty.

        Refuses a store that has other content and no marker: it is not ours to write to.
        """
        found = store.read(MARKER)
        if found is None:
            if [name for name in store.list_names("") if name != META]:
                raise InvalidInput(
                    f"{store.root!r} is not a modelreg registry (no {MARKER}) and not empty"
                )
            marker = json.dumps({"format": FORMAT, "schema": SCHEMA}, indent=1) + "\n"
            with contextlib.suppress(AlreadyExists):  # another process was first: fine
                store.create(MARKER, marker.encode())
            found = store.read(MARKER)
            if found is None:
                raise BackendError(f"{store.root!r}: {MARKER} vanished while opening")
        _check_marker(store.root, found[0])
        return cls(store)

    def __repr__(self) -> str:
        return f"FilesRepository({self.root!r})"

    @property
    def root(self) -> str:
        """Where the registry lives: the folder's absolute path, or the store's URL."""
        return self._store.root

    @property
    def quick_reads(self) -> bool:
        """Whether the store's reads stay on this machine (`registry_core.protocol`)."""
        return reads_are_quick(self._store)

    # -- documents ---------------------------------------------------------------------

    def get(self, key: Key) -> Document | None:
        name = _document_name(key)
        found = self._store.read(name)
        return None if found is None else _decode(name, *found)

    def put_if_absent(self, key: Key, data: Mapping[str, Any]) -> str:
        name = _document_name(key)
        try:
            return self._store.create(name, _encode(data))
        except AlreadyExists as error:
            raise AlreadyExists(f"document {'/'.join(key)!r} already exists") from error

    def compare_and_swap(self, key: Key, data: Mapping[str, Any], etag: str) -> str:
        return self._store.replace(_document_name(key), _encode(data), etag)

    def delete(self, key: Key, etag: str | None = None) -> None:
        self._store.delete(_document_name(key), etag)

    def delete_tree(self, prefix: Key) -> None:
        if not prefix:
            self._store.remove_tree(DOCS)
            return
        self._store.remove_tree(_folder_name(prefix))
        self._store.delete(_document_name(prefix))

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
        """Lists one folder sorted (reused while the folder is unchanged, see `_listing`);
        reads only the documents it returns. A store with an ordered index (S3, GCS: see
        `ObjectStore`) pages through the index instead."""
        folder = _folder_name(prefix)
        indexed = getattr(self._store, "list_documents", None)
        if indexed is not None:
            bounds = {"after": after, "before": before, "starts_with": starts_with}
            ordered = indexed(folder, **bounds, limit=limit, reverse=reverse, decode=_decode)
            if ordered is not None:
                return list(ordered)
        found = self._listings.folder(folder).select(after, before, starts_with, reverse)
        page: list[tuple[str, Document]] = []
        for segment, relative in found:
            if len(page) >= limit:
                break
            name = f"{folder}/{relative}"
            read = self._store.read(name)
            if read is not None:  # else deleted since the listing: the next one fills in
                page.append((segment, _decode(name, *read)))
        return page

    def count_documents(self, prefix: Key) -> int:
        """The optional count of `registry_core.protocol`: the names in the folder's
        listing (kept while a local folder is unchanged, see `_listing`), without reading
        a document; so a document marked ``deleting`` still counts."""
        return len(self._listings.folder(_folder_name(prefix)).segments)

    # -- blobs -------------------------------------------------------------------------

    def open_blob_writer(self, name: str) -> BlobWriter:
        return self._store.open_writer(_writable(name))

    def open_blob(self, name: str) -> IO[bytes]:
        return self._store.open_read(_readable(name))

    def copy_blob(self, source: str, target: str) -> None:
        """The optional copy of `registry_core.protocol`, done by the store (see
        `ObjectStore.copy`); names are checked as `open_blob` and `open_blob_writer` do."""
        target = _writable(target)
        self._store.copy(_readable(source), target)

    def delete_blobs(self, prefix: str) -> None:
        """Also takes "" (every blob); never touches the registry's own files."""
        self._remove_blobs(_blob_parts(prefix))

    def _remove_blobs(self, parts: list[str]) -> None:
        if _is_reserved(parts):
            return
        if _holds_reserved(parts):
            for child in self._store.list_names("/".join(parts)):
                self._remove_blobs([*parts, child])
            return
        self._store.remove_tree("/".join(parts))

    def list_blobs(self, prefix: str) -> Iterator[str]:
        """With "" lists every blob; never lists the registry's own files."""
        under = f"{prefix}/" if prefix else ""
        return iter([n for n in self._find_blobs(_blob_parts(prefix)) if n.startswith(under)])

    def _find_blobs(self, parts: list[str]) -> Iterator[str]:
        if _is_reserved(parts):
            return
        if _holds_reserved(parts):
            for child in self._store.list_names("/".join(parts)):
                yield from self._find_blobs([*parts, child])
            return
        yield from self._store.find("/".join(parts))

    # -- maintenance (used by fsck) ------------------------------------------------------

    def index_problems(self) -> tuple[list[str], list[str]]:
        """Documents missing from the store's ordered index, and index markers without a
        document (S3, GCS; see `registry_backends.files._index`): what fsck reports."""
        check = getattr(self._store, "index_problems", None)
        return ([], []) if check is None else check()

    def repair_index(self, unindexed: list[str], stale: list[str]) -> None:
        """Index the ``unindexed`` documents again and remove the ``stale`` markers."""
        for name in unindexed:
            self._store.reindex(name)  # type: ignore[attr-defined]
        for marker in stale:
            self._store.remove_stale_marker(marker)  # type: ignore[attr-defined]

    def temp_files(self, older_than_seconds: float) -> list[str]:
        """Names of temp files older than the given age, left by interrupted writes."""
        return self._store.temp_files(older_than_seconds)

    def remove_temp_files(self, older_than_seconds: float) -> list[str]:
        """Remove the temp files older than the given age; return their names."""
        return self._store.remove_temp_files(older_than_seconds)
