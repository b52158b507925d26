"""What a storage backend implements: documents with atomic primitives, and blobs.

The protocol holds storage operations only. Documents are JSON-ready dicts under keys
that are tuples of strings, such as ``("versions", "fraud", "<precedence key>")``; every
rule (names, lifecycle, permissions, "latest") lives in the `Registry`, which calls these.

Keys: the first segment names a collection (``settings``, ``models``, ``versions``,
``metrics``); the other segments are ASCII strings without control characters that may
contain ``/``. A backend maps them to its own storage as it likes (file names, object
names, table rows) and must give back the last segment's plain string order in
`list_page`. Etags are opaque strings that change on every write.

Blobs hold artifact bytes under the package path ``<model>/<version>/<artifact path>``.
A blob is written through a `BlobWriter`, is invisible until ``commit()``, and
``commit()`` replaces any blob at that name atomically.

A backend with transactions also implements `TransactionalRepository`: the Registry then
runs each mutating operation in one ``transaction()`` and reads what the operation depends
on with ``get_locked``, which spares it the re-checks a store without locks needs.

A backend whose point reads (`Repository.get`, a short `Repository.list_page`) never wait
on the network or on a writer's lock says so with a ``quick_reads = True`` attribute
(SQLite, a local folder, memory); `reads_are_quick` reads it. A server may then run such
reads on its event loop instead of handing each to a worker thread.

A backend that can count documents faster than by reading them may implement the optional
method ``count_documents(prefix: Key) -> int``: the number of documents whose key is
``prefix`` plus one more segment (what `Repository.list_page` would list with no bounds
and no limit). It may leave out, or count, documents whose data holds ``"deleting": true``
(the mark the Registry writes before it deletes a document; a delete in progress, or one a
crash interrupted until the next writer or ``fsck`` finishes it). Without it,
``Registry.count_versions`` reads the documents. SQL counts with one ``COUNT`` (leaving
the marked ones out); the files backend counts the names in a folder's listing.

A backend that can copy a blob without the bytes passing through this process may
implement the optional method ``copy_blob(source: str, target: str) -> None``: afterwards
the blob ``target`` holds the bytes of the blob ``source`` (which stays), appearing
atomically and replacing any blob at ``target``, as a committed `BlobWriter` would;
`NotFound` if ``source`` does not exist. A local folder hard-links (the two names then
share one copy of the bytes), S3 and GCS copy server-side, SQL copies rows. Without it,
the Registry streams the bytes from `Repository.open_blob` into a `BlobWriter`. Promoting
a run to a version uses it; the Registry checks the copy's SHA-256 either way.

Blob names are package paths of versions (``<model>/<version>/<path>``) and the files of
runs (``.modelreg/runs/<experiment id>/<run id>/<path>``; no model may be named
``.modelreg``, so the two never meet).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import IO, Any, Protocol, runtime_checkable

import attrs

__all__ = [
    "BlobWriter",
    "Document",
    "Key",
    "Repository",
    "TransactionalRepository",
    "reads_are_quick",
]

Key = tuple[str, ...]


@attrs.frozen
class Document:
    """A stored document and the etag to pass to `Repository.compare_and_swap`."""

    data: Mapping[str, Any]
    etag: str


class BlobWriter(Protocol):
    """An upload in progress: bytes go in with `write`, and appear only on `commit`."""

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> None:
        """Make the blob visible at its name, replacing an older one atomically."""

    def abort(self) -> None:
        """Throw the upload away; safe to call after a failed write or twice."""


@runtime_checkable
class Repository(Protocol):
    """Storage operations a backend provides; the `Registry` builds everything else on them.

    Implementations must be safe to share between threads. Errors are the `RegistryError`
    tree: `NotFound`, `AlreadyExists`, `Conflict`, and `BackendError` for the rest.
    """

    def get(self, key: Key) -> Document | None:
        """The document at ``key``, or None."""

    def put_if_absent(self, key: Key, data: Mapping[str, Any]) -> str:
        """Create the document; raise `AlreadyExists` if any writer got there first.

        Returns the new etag. Of any number of racing writers, exactly one succeeds.
        """

    def compare_and_swap(self, key: Key, data: Mapping[str, Any], etag: str) -> str:
        """Replace the document only if its etag is still ``etag``; return the new etag.

        Raises `Conflict` when another write came between, `NotFound` when it is gone.
        """

    def delete(self, key: Key, etag: str | None = None) -> None:
        """Remove the document (a no-op when absent). With ``etag``: only if unchanged,
        else `Conflict`."""

    def delete_tree(self, prefix: Key) -> None:
        """Remove every document whose key starts with ``prefix`` (segment-wise), at any
        depth, the document at ``prefix`` itself included. Not atomic: the Registry writes
        its intent first and finishes after a crash."""

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
        """Documents whose key is ``prefix`` plus one more segment, by that segment.

        Only segments with ``after < segment < before`` that start with ``starts_with``
        are returned, at most ``limit``, in ascending order (descending with ``reverse``).
        """

    def open_blob_writer(self, name: str) -> BlobWriter:
        """Start writing the blob called ``name`` (``<model>/<version>/<path>``)."""

    def open_blob(self, name: str) -> IO[bytes]:
        """A binary stream of the blob's bytes; `NotFound` if there is none."""

    def delete_blobs(self, prefix: str) -> None:
        """Remove the blob ``prefix`` and every blob under ``prefix + '/'``."""

    def list_blobs(self, prefix: str) -> Iterator[str]:
        """Names of the blobs under ``prefix + '/'`` (every blob for ``""``), any order."""


@runtime_checkable
class TransactionalRepository(Repository, Protocol):
    """A `Repository` whose writes can be grouped into transactions (the SQL backend)."""

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One transaction for the calling thread's calls until the block ends; nested
        blocks join the outer one. Commits when the outermost block ends normally, rolls
        back when it raises."""

    def get_locked(self, key: Key) -> Document | None:
        """Like `get`, inside `transaction` only, and no other writer may change or delete
        the document until the transaction ends (their writes wait for it)."""


def reads_are_quick(repository: object) -> bool:
    """Whether ``repository`` promises point reads that never wait on the network or on
    a writer's lock (its optional ``quick_reads`` attribute; absent means no)."""
    return getattr(repository, "quick_reads", False) is True
