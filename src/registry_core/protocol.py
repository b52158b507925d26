"""What a storage backend implements: documents with atomic primitives, and blobs.

The protocol holds storage operations only. Documents are JSON-ready dicts under keys
that are tuples of strings, such as ``("versions", "fraud", "<precedence key>")``; every
rule (names, lifecycle, permissions, "latest") lives in the `Registry`, which calls these.

Keys: the first segment names a collection (``settings``, ``models``, ``versions``,
``metrics``, ``experiments``, ``runs``, ``tokens``...); the other segments are ASCII
strings without control characters that may contain ``/``. A backend maps them to its own
storage as it likes (file names, object names, table rows) and must give back the last
segment's plain string order in `list_page`.

Documents are JSON objects (str keys; str, int, finite float, bool, None, lists and
objects as values) and read back equal, ints as ints. What a backend hands out and what
it is handed are copies: changing the dict passed to `Repository.put_if_absent` or
`Repository.compare_and_swap` after the call, or the data of a `Document` it returned,
changes nothing stored (``test_documents_handed_out_are_copies``).

Etags are opaque strings that name one write, not a content: they change on every write,
even one of identical data, and a document deleted and created again never gets an old
etag back, so a stale `Repository.compare_and_swap` always loses
(``test_rewriting_identical_data_changes_the_etag``).

Durability and crashes: when a call returns, its change survives a crash of the process
(and, by default, a power loss). A writer killed in the middle of a write leaves either
the old or the new document, never a torn one, and costs no other document: later reads
and writes work (``test_a_torn_write_leaves_later_reads_and_writes_working``).

Errors: `NotFound`, `AlreadyExists`, `Conflict` as each method says, `InvalidInput` for a
key or name a backend cannot store, and `BackendError` for every failure of the storage
itself (a driver's exception or an `OSError` chained with ``from``): nothing but a
`RegistryError` leaves a backend (``test_storage_failures_surface_as_backend_error``).

Blobs hold artifact bytes under the package path ``<model>/<version>/<artifact path>``.
A blob is written through a `BlobWriter`, is invisible until ``commit()``, and
``commit()`` replaces any blob at that name atomically. Nothing of an upload in progress
or aborted (a temp file, a part) is ever listed by `Repository.list_blobs` or
`Repository.list_page`, or readable (``test_a_blob_being_written_is_never_listed``).

A backend with transactions also implements `TransactionalRepository`: the Registry then
runs each mutating operation in one ``transaction()`` and reads what the operation depends
on with ``get_locked``, which spares it the re-checks a store without locks needs.

A backend whose point reads (`Repository.get`, a short `Repository.list_page`) never wait
on the network or on a writer's lock says so with a ``quick_reads = True`` attribute
(SQLite, a local folder, memory); `reads_are_quick` reads it. A server may then run such
reads on its event loop instead of handing each to a worker thread.

A backend whose writes are as quick as its reads while no other writer holds the store
(SQLite on a local disk: a small transaction is a few hundred microseconds, its fsync
included) may implement the optional method ``writes_unless_busy()``: a context manager
under which, on the calling thread, the first write that would have to wait for another
writer raises `WouldWait` instead, before it has changed anything; once one write has
begun in the block, later ones wait as usual. An operation that raised `WouldWait` has
therefore written nothing and can be run again where waiting is fine. `quick_writes`
finds the method. A server may run small writes on its event loop under it, and hand
only the ones that would wait to a worker thread.

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
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, Protocol, runtime_checkable

import attrs

__all__ = [
    "BlobWriter",
    "Document",
    "Key",
    "Repository",
    "TransactionalRepository",
    "WouldWait",
    "quick_writes",
    "reads_are_quick",
]

Key = tuple[str, ...]


@attrs.frozen
class Document:
    """A stored document and the etag to pass to `Repository.compare_and_swap`."""

    data: Mapping[str, Any]
    etag: str


class BlobWriter(Protocol):
    """An upload in progress: bytes go in with `write`, and appear only on `commit`.

    One writer is used by one thread. Its temporary bytes live where no listing sees
    them; a writer that is dropped without ``commit()`` or ``abort()`` (a crashed
    process) leaves at most a temp file that no listing shows.
    """

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (any size, empty included) to the upload."""

    def commit(self) -> None:
        """Make the blob visible at its name, replacing an older one atomically."""

    def abort(self) -> None:
        """Throw the upload away; safe to call after a failed write, twice, and after
        ``commit()``, where it does nothing: the committed blob stays
        (``test_abort_after_commit_is_a_no_op``)."""


@runtime_checkable
class Repository(Protocol):
    """Storage operations a backend provides; the `Registry` builds everything else on them.

    Implementations must be safe to share between threads, and, when other processes
    can open the same storage, between processes. Errors are the `RegistryError` tree:
    `NotFound`, `AlreadyExists`, `Conflict`, and `BackendError` for the rest.
    """

    def get(self, key: Key) -> Document | None:
        """The document at ``key`` (data the caller may change), or None."""

    def put_if_absent(self, key: Key, data: Mapping[str, Any]) -> str:
        """Create the document; raise `AlreadyExists` if any writer got there first.

        Returns the new etag. Of any number of racing writers, exactly one succeeds.
        """

    def compare_and_swap(self, key: Key, data: Mapping[str, Any], etag: str) -> str:
        """Replace the document only if its etag is still ``etag``; return the new etag.

        Raises `Conflict` when another write came between, `NotFound` when it is gone.
        """

    def delete(self, key: Key, etag: str | None = None) -> None:
        """Remove the document. With ``etag``: only if unchanged, else `Conflict`.

        A no-op when the document is absent, with or without ``etag``: whoever deleted
        it first did what the caller wanted (every backend agrees;
        ``test_delete_with_an_etag_of_a_missing_document_is_a_no_op``)."""

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
        are returned, at most ``limit``, in ascending plain string order of the segment
        (descending with ``reverse``). Deeper keys are not listed, and a segment keeps its
        ``/``: ``("versions", "a")`` lists ``("versions", "a", "1")`` but not
        ``("versions", "a/b", "1")``. A listing never shows half of a write.
        """

    def open_blob_writer(self, name: str) -> BlobWriter:
        """Start writing the blob called ``name`` (``<model>/<version>/<path>``)."""

    def open_blob(self, name: str) -> IO[bytes]:
        """A binary stream of the blob's bytes; `NotFound` if there is none.

        If the blob is deleted or replaced while the stream is read, the stream gives the
        bytes it started with or raises a `RegistryError`, never others
        (``test_a_blob_deleted_while_read_gives_its_bytes_or_a_registry_error``)."""

    def delete_blobs(self, prefix: str) -> None:
        """Remove the blob ``prefix`` and every blob under ``prefix + '/'`` (not
        ``prefix + 'x'``); quiet when there is none."""

    def list_blobs(self, prefix: str) -> Iterator[str]:
        """Names of the committed blobs under ``prefix + '/'`` (every blob for ``""``),
        each once, in any order. A name is whole, as given to `open_blob_writer`
        (``"m/1.0.0/w.bin"`` for prefix ``"m"``), not relative to ``prefix``."""


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


class WouldWait(Exception):
    """A write under ``writes_unless_busy()`` would have waited for another writer; it
    changed nothing. Not a `RegistryError`: it never reaches a caller of the Registry
    that did not ask for it."""


def quick_writes(
    repository: object,
) -> Callable[[], contextlib.AbstractContextManager[object]] | None:
    """The repository's optional ``writes_unless_busy`` (see the module docstring), or
    None when it has none."""
    method = getattr(repository, "writes_unless_busy", None)
    return method if callable(method) else None


def reads_are_quick(repository: object) -> bool:
    """Whether ``repository`` promises point reads that never wait on the network or on
    a writer's lock (its optional ``quick_reads`` attribute; absent means no)."""
    return getattr(repository, "quick_reads", False) is True
