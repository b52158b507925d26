"""`RemoteStore`: the `ObjectStore` of S3 and GCS, written once over a few async requests
(a `registry_backends.files._wire.Wire`) that each service implements.

**Retries.** Every request goes through `retrying` (see `_wire`). A conditional write sent
twice (by `retrying`, or by aiohttp, which re-sends an idempotent PUT once when a
kept-alive connection drops) may find its own first copy applied: every 412 is checked
against the stored bytes, which are unique per write (`FilesRepository` adds a random
``rev``), so a create never reports a false `AlreadyExists` nor a swap a false `Conflict`.

**Errors.** A wire maps its driver's errors in one place; `RemoteStore` turns its 412 into
`AlreadyExists` or `Conflict` as the call means. Messages name ``s3://bucket/key`` and
never a credential.

**Index.** When the registry keeps the ordered index (see `registry_backends.files._index`),
creates write the document's markers after it and deletes remove them before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import IO, Any, TypeVar

import attrs

from registry_backends.files import _index
from registry_backends.files._index import INDEX_FIELD, LazyDocument, Listed
from registry_backends.files._wire import (
    ListPage,
    PreconditionFailed,
    RetryPolicy,
    Wire,
    gather_limited,
    retrying,
)
from registry_core.errors import AlreadyExists, Conflict, NotFound
from registry_core.protocol import BlobWriter, Document

__all__ = ["RemoteStore"]

T = TypeVar("T")
MARKER = ".modelreg/format.json"
_CONCURRENCY = 16  # requests in flight for bulk reads and deletes


class RemoteStore:
    """An `ObjectStore` over a `Wire`: objects under ``<prefix>/`` of one bucket.

    ``run`` runs a coroutine on the driver's event loop from any thread and returns its
    result; ``url`` is ``scheme://bucket/prefix`` for messages and ``repr``.
    """

    def __init__(
        self,
        wire: Wire,
        *,
        url: str,
        prefix: str,
        run: Callable[[Coroutine[Any, Any, Any]], Any],
        retry: RetryPolicy | None = None,
    ) -> None:
        self._wire = wire
        self._url = url
        self._prefix = f"{prefix}/" if prefix else ""
        self._run = run
        self._retry = retry or RetryPolicy()
        self._indexed: bool | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._url!r})"

    @property
    def root(self) -> str:
        return self._url

    def _key(self, name: str) -> str:
        return self._prefix + name

    def _call(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        result: T = self._run(retrying(self._retry, call, what))
        return result

    # -- documents ---------------------------------------------------------------------

    def read(self, name: str) -> tuple[bytes, str] | None:
        try:
            found = self._call(lambda: self._wire.get(self._key(name)), name)
        except NotFound:
            return None
        if name == MARKER:
            self._note_format(found[0])
        return found

    def create(self, name: str, data: bytes) -> str:
        if name == MARKER:
            data = _with_index_field(data)
        try:
            etag = self._put_verified(name, data, if_absent=True)
        except PreconditionFailed as error:
            if self._doc_of(name) is not None:
                self._repair_markers(name)
            raise AlreadyExists(f"{self._url}/{name} already exists") from error
        self._write_markers(name)
        return etag

    def replace(self, name: str, data: bytes, etag: str) -> str:
        try:
            return self._put_verified(name, data, if_match=etag)
        except PreconditionFailed as error:
            if self.read(name) is None:  # GCS answers 412 for an absent object too
                raise NotFound(f"{self._url}/{name} does not exist") from error
            raise Conflict(f"{self._url}/{name} was changed by another writer") from error
        except NotFound as error:
            raise NotFound(f"{self._url}/{name} does not exist") from error

    def _put_verified(self, name: str, data: bytes, **condition: Any) -> str:
        """A conditional put; on a 412 the stored object is ours if it holds ``data``.

        A request can be sent twice without this store knowing (aiohttp re-sends an
        idempotent PUT once when a kept-alive connection drops), and the first copy may
        have been applied; the bytes are unique per write, so equal bytes prove it.
        """
        try:
            return self._call(lambda: self._wire.put(self._key(name), data, **condition), name)
        except PreconditionFailed:
            found = self.read(name)
            if found is not None and found[0] == data:
                return found[1]
            raise

    def delete(self, name: str, etag: str | None = None) -> None:
        doc = self._doc_of(name)
        if doc is not None:
            self._delete_quietly(list(_index.markers(*doc)))
        try:
            self._call(lambda: self._wire.delete(self._key(name), if_match=etag), name)
        except NotFound:
            return
        except PreconditionFailed as error:
            if doc is not None:
                self._write_markers(name)  # the document stays: so do its markers
            raise Conflict(f"{self._url}/{name} was changed by another writer") from error

    # -- the ordered index -------------------------------------------------------------

    def _note_format(self, raw: bytes) -> None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            self._indexed = bool(json.loads(raw).get(INDEX_FIELD))

    def indexed(self) -> bool:
        """Whether this registry keeps the ordered index (read from ``format.json``)."""
        if self._indexed is None:
            found = self.read(MARKER)
            if found is None:
                return False
        return bool(self._indexed)

    def _doc_of(self, name: str) -> tuple[str, str] | None:
        """``(folder, segment)`` when ``name`` is a document the index covers."""
        doc = _index.split_document(name)
        return doc if doc is not None and self.indexed() else None

    def _write_markers(self, name: str) -> None:
        doc = self._doc_of(name)
        if doc is not None:
            keys = [self._key(m) for m in _index.markers(*doc)]
            self._run(self._put_all(keys))

    def _repair_markers(self, name: str) -> None:
        """After a lost create: restore the markers if a crash left the document without."""
        doc = self._doc_of(name)
        assert doc is not None
        if not self._exists(_index.markers(*doc)[1]):
            self._write_markers(name)

    async def _put_all(self, keys: list[str]) -> None:
        """Write markers: a few random bytes each, so that every write has its own etag
        (S3's ETag of an empty object is always the same) for `_lazy`'s conditional delete."""
        await asyncio.gather(*(retrying(self._retry, self._marker_put(key), key) for key in keys))

    def _marker_put(self, key: str) -> Callable[[], Awaitable[str]]:
        return functools.partial(self._wire.put, key, secrets.token_hex(8).encode())

    def index_problems(self) -> tuple[list[str], list[str]]:
        """Documents the index misses (a crash between a create and its markers) and
        markers that name no document (a crash in a delete), by name; none without the
        index. One listing of every document and marker."""
        if not self.indexed():
            return [], []
        names = set(self._find(_index.DOCS))
        unindexed: list[str] = []
        expected: set[str] = set()
        for name in names:
            doc = _index.split_document(name)
            if doc is not None:
                pair = _index.markers(*doc)
                expected.update(pair)
                if not names.issuperset(pair):
                    unindexed.append(name)
        stale = [n for n in names if _index.is_marker(n) and n not in expected]
        return sorted(unindexed), sorted(stale)

    def reindex(self, name: str) -> None:
        """Write the markers of document ``name`` again (when it still exists)."""
        if self._exists(name):
            self._write_markers(name)

    def remove_stale_marker(self, marker: str) -> None:
        """Remove ``marker`` unless its document exists now (a create may have come since
        the listing: its document is written before its markers)."""
        document = _index.document_of_marker(marker)
        if document is None or not self._exists(document):
            self._delete_quietly([marker])

    def _exists(self, name: str) -> bool:
        """Whether object ``name`` exists (a HEAD: no body read)."""
        try:
            self._call(lambda: self._wire.head(self._key(name)), name)
        except NotFound:
            return False
        return True

    def _delete_quietly(self, names: list[str]) -> None:
        async def one(key: str) -> None:
            with contextlib.suppress(NotFound):
                await retrying(self._retry, lambda: self._wire.delete(key), key)

        async def every() -> None:
            await asyncio.gather(*(one(self._key(n)) for n in names))

        self._run(every())

    def list_documents(
        self,
        folder: str,
        *,
        after: str | None,
        before: str | None,
        starts_with: str | None,
        limit: int,
        reverse: bool,
        decode: Callable[[str, bytes, str], Document],
    ) -> list[tuple[str, Document]] | None:
        """A page of the documents directly in ``folder``, from the index; None when this
        registry keeps no index (the caller lists the folder instead).

        Descending pages return `LazyDocument`\\ s; ascending pages read every document
        of the page, concurrently, and skip the ones deleted since the listing.
        """
        if not self.indexed():
            return None
        base = f"{folder}/{_index.DESC if reverse else _index.ASC}/"
        encode = _index.descending if reverse else _index.ascending
        decoded = _index.from_descending if reverse else _index.from_ascending
        bound = before if reverse else after
        start = None if bound is None else self._key(base + encode(bound))
        prefix = self._key(base + encode(starts_with or "", whole=False))
        page: list[tuple[str, Document]] = []
        while len(page) < limit:
            listing = functools.partial(
                self._wire.list_keys, prefix, start_after=start, limit=min(1000, limit - len(page))
            )
            found = self._call(listing, base)
            entries, done = self._entries(found, base, decoded, after, before, reverse)
            if reverse:
                page += [(seg, self._lazy(folder, seg, m, decode)) for seg, m in entries]
            else:
                page += self._read_all(folder, entries, decode)
            if done or not found.more or not found.objects:
                break
            start = found.objects[-1].name
        return page[:limit]

    def _entries(
        self,
        found: ListPage,
        base: str,
        decoded: Callable[[str], str | None],
        after: str | None,
        before: str | None,
        reverse: bool,
    ) -> tuple[list[tuple[str, Listed]], bool]:
        """Segments of the listed markers within the bounds; True once past a bound."""
        entries: list[tuple[str, Listed]] = []
        skip = len(self._prefix) + len(base)
        for listed in found.objects:
            segment = decoded(listed.name[skip:])
            if segment is None:
                continue
            if (reverse and after is not None and segment <= after) or (
                not reverse and before is not None and segment >= before
            ):
                return entries, True
            entries.append((segment, attrs.evolve(listed, name=listed.name[len(self._prefix) :])))
        return entries, False

    def _lazy(
        self,
        folder: str,
        segment: str,
        marker: Listed,
        decode: Callable[[str, bytes, str], Document],
    ) -> Document:
        name = _index.document_name(folder, segment)

        def load() -> Document | None:
            found = self.read(name)
            return None if found is None else decode(name, *found)

        def gone() -> None:  # the marker outlived its document: drop it if unchanged
            key = self._key(marker.name)
            with contextlib.suppress(NotFound, PreconditionFailed):
                self._call(lambda: self._wire.delete(key, if_match=marker.etag), key)

        return LazyDocument(load, gone)

    def _read_all(
        self,
        folder: str,
        entries: list[tuple[str, Listed]],
        decode: Callable[[str, bytes, str], Document],
    ) -> list[tuple[str, Document]]:
        names = [_index.document_name(folder, segment) for segment, _ in entries]

        async def get(name: str) -> tuple[bytes, str] | None:
            with contextlib.suppress(NotFound):
                return await retrying(self._retry, lambda: self._wire.get(self._key(name)), name)
            return None

        found = self._run(gather_limited([functools.partial(get, n) for n in names], _CONCURRENCY))
        return [
            (segment, decode(name, *read))
            for (segment, _), name, read in zip(entries, names, found, strict=True)
            if read is not None
        ]

    # -- folders -----------------------------------------------------------------------

    def _list_all(self, prefix: str, *, delimiter: bool) -> Iterator[ListPage]:
        token = None
        while True:
            listing = functools.partial(
                self._wire.list_keys, prefix, delimiter=delimiter, token=token
            )
            page = self._call(listing, prefix)
            yield page
            if page.token is None:
                return
            token = page.token

    def list_names(self, folder: str) -> list[str]:
        prefix = self._key(f"{folder}/" if folder else "")
        names: list[str] = []
        for page in self._list_all(prefix, delimiter=True):
            names += [o.name[len(prefix) :] for o in page.objects]
            names += [f[len(prefix) :].rstrip("/") for f in page.folders]
        return [n for n in names if n]

    def find(self, name: str) -> Iterator[str]:
        return iter(self._find(name))

    def _find(self, name: str) -> list[str]:
        found = [
            o.name[len(self._prefix) :]
            for page in self._list_all(self._key(f"{name}/"), delimiter=False)
            for o in page.objects
        ]
        return [name, *found] if self._exists(name) else found

    def remove_tree(self, name: str) -> None:
        """Markers first (see `_index`), then the rest, in batches of 1,000."""
        names = self._find(name)
        for phase in (True, False):
            keys = [self._key(n) for n in names if _index.is_marker(n) == phase]
            for start in range(0, len(keys), 1000):
                batch = keys[start : start + 1000]
                self._call(functools.partial(self._wire.delete_many, batch), name)

    # -- blobs and leftovers -----------------------------------------------------------

    def open_writer(self, name: str) -> BlobWriter:
        return self._wire.open_writer(self._key(name))

    def open_read(self, name: str) -> IO[bytes]:
        return self._wire.open_read(self._key(name))

    def copy(self, source: str, target: str) -> None:
        """A server-side copy (see the wire's ``copy``); a copy onto itself, which S3
        refuses, only checks that the object is there."""
        if source == target:
            if not self._exists(source):
                raise NotFound(f"{self._url}/{source} does not exist")
            return
        self._run(self._wire.copy(self._key(source), self._key(target)))

    def temp_files(self, older_than_seconds: float) -> list[str]:
        found = self._call(lambda: self._wire.uploads(self._prefix, older_than_seconds), "uploads")
        return sorted(name[len(self._prefix) :] for name in found)

    def remove_temp_files(self, older_than_seconds: float) -> list[str]:
        removed = self.temp_files(older_than_seconds)
        for upload in removed:
            with contextlib.suppress(NotFound):
                self._call(functools.partial(self._wire.abort_upload, self._key(upload)), upload)
        return removed


def _with_index_field(raw: bytes) -> bytes:
    """The format marker a remote store writes: it records that the index is kept."""
    marker = json.loads(raw)
    marker[INDEX_FIELD] = 1
    return (json.dumps(marker, indent=1) + "\n").encode()
