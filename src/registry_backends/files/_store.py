"""The object-store adapter: the few primitives `FilesRepository` needs from a storage.

`FilesRepository` implements the `Repository` protocol once, on top of an `ObjectStore`.
A store holds objects under ``/``-separated names relative to its root (no leading
``/``). Each primitive maps onto one call of a local disk, of S3, or of GCS, and the
non-conditional ones onto an fsspec filesystem, so an S3 or GCS adapter is a thin layer
over ``s3fs`` / ``gcsfs``:

* ``read`` -- local: ``open`` and read, etag = hash of the bytes; S3: GetObject and its
  ETag; GCS: ``cat`` and the generation.
* ``create`` -- local: temp file + ``os.link`` (EEXIST loses); S3: PutObject with
  ``If-None-Match: *``; GCS: ``ifGenerationMatch=0``.
* ``replace`` / ``delete`` -- local: ``flock``, compare, ``os.replace`` / ``unlink``; S3:
  ``If-Match``; GCS: ``ifGenerationMatch=<generation>``.
* ``list_names`` / ``find`` / ``remove_tree`` / ``open_read`` -- fsspec's
  ``ls(detail=False)`` / ``find`` / ``rm(recursive=True)`` / ``open("rb")``; the local
  store calls ``os.listdir``, ``os.walk``, ``shutil.rmtree`` and ``open`` directly.
* ``open_writer`` -- local: a temp file renamed on commit; S3: a multipart upload
  completed on commit; GCS: a resumable upload finished on commit.
* ``copy`` -- local: a hard link to a temp name renamed into place (a copy where links
  fail); S3: CopyObject (a multipart copy over 5 GiB); GCS: ``rewriteTo``. No byte
  passes through this process except in the local fallback.
* ``temp_files`` -- local: files in ``.modelreg/tmp``; S3: incomplete multipart uploads.

A store that cannot list a folder in reverse cheaply (S3 and GCS list names ascending
only) may also offer ``list_documents(folder, *, after, before, starts_with, limit,
reverse, decode)``, returning a page of ``(segment, Document)`` from an ordered index it
keeps, or None; `FilesRepository.list_page` then uses it (see ``_index.py``).

Etags are opaque. A store may derive them from the content (the local disk hashes it,
S3's ETag is an MD5), so identical bytes may give identical etags: `FilesRepository`
makes every write's bytes unique (a random ``rev``), which is what makes an etag change
on every write, on every store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Protocol

from registry_core.protocol import BlobWriter

__all__ = ["META", "RESERVED", "ObjectStore"]

#: The folder under the root that holds everything of the registry that is not a blob.
META = ".modelreg"
#: Names inside `META` that the registry owns. A model named ``.modelreg`` keeps its
#: packages at ``.modelreg/<version>/``; a SemVer version is never one of these names.
RESERVED = frozenset({"docs", "tmp", "locks", "format.json"})


class ObjectStore(Protocol):
    """Objects under names, with create-if-absent and compare-and-swap.

    Errors are the `registry_core.errors` tree; a store maps its driver's errors in one
    place. Every method is safe to call from many threads and processes at once.
    """

    @property
    def root(self) -> str:
        """Where the store lives (a path or URL), for messages and ``repr``."""

    def read(self, name: str) -> tuple[bytes, str] | None:
        """The object's bytes and etag, or None when there is no object ``name``."""

    def create(self, name: str, data: bytes) -> str:
        """Write the object only if absent, atomically; return its etag.

        Raises `AlreadyExists` when it is there: of racing creators, exactly one wins.
        """

    def replace(self, name: str, data: bytes, etag: str) -> str:
        """Overwrite the object only if its etag is still ``etag``; return the new etag.

        Raises `Conflict` when it changed, `NotFound` when it is gone.
        """

    def delete(self, name: str, etag: str | None = None) -> None:
        """Remove the object (quietly when absent); with ``etag``, only if unchanged."""

    def list_names(self, folder: str) -> list[str]:
        """Base names of the objects and sub-folders directly in ``folder`` ("" is the
        root), any order; empty when the folder does not exist."""

    def find(self, name: str) -> Iterator[str]:
        """Names of every object at or under ``name`` (``name`` itself if it is an
        object), any order."""

    def remove_tree(self, name: str) -> None:
        """Remove the object ``name`` and every object under ``name + '/'``; not atomic,
        quiet when there is nothing."""

    def open_writer(self, name: str) -> BlobWriter:
        """A streaming upload to ``name``, invisible until ``commit()``, which replaces
        any object there atomically."""

    def open_read(self, name: str) -> IO[bytes]:
        """A buffered binary stream of the object; `NotFound` if absent or a folder."""

    def copy(self, source: str, target: str) -> None:
        """Make ``target`` hold the bytes of ``source`` (which stays), appearing
        atomically and replacing any object there, as a committed writer would;
        `NotFound` if ``source`` is absent or a folder."""

    def temp_files(self, older_than_seconds: float) -> list[str]:
        """Leftovers of interrupted writes older than the given age (never visible as
        objects)."""

    def remove_temp_files(self, older_than_seconds: float) -> list[str]:
        """Remove what `temp_files` lists; return what was removed."""
