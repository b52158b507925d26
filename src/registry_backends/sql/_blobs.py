"""The artifact store of a SQL registry: the files backend's blob functions, reused.

A local folder (a path or ``file://`` URL) is a `LocalStore`, with its atomic commits
and temp-file bookkeeping. ``s3://`` and ``gs://`` (or ``gcs://``) are the files backend's
`S3Store` and `GCSStore`: a blob streams straight to its name as a multipart (S3) or
resumable (GCS) upload that ``commit`` completes, so it is never visible half-written and
is never copied from a temp object; fsck sees S3's unfinished uploads as temp files. Any
other fsspec URL (``memory://``...) is `FsspecBlobStore`: a blob is written under
``.modelreg/tmp/`` and moved to its name on commit, and ``copy_blob`` copies to a temp
object moved the same way. Every store names a blob ``<root>/<name>``, so a bucket
written through one reads through the other. Either way `FilesRepository`'s blob methods
do the naming (package paths ``<model>/<version>/<path>``) and keep the store's own files
out of listings; no store gets a files registry's format marker, since the SQL database
holds the documents. Blob operations are not part of the SQL transaction: the Registry
streams bytes outside transactions and records the manifest inside one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from collections.abc import Callable, Iterator
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from registry_backends.files import FilesRepository, LocalStore
from registry_backends.files._remote import RemoteStore
from registry_backends.files._store import META
from registry_core.errors import BackendError, InvalidInput, NotFound

__all__ = ["FsspecBlobStore", "blob_store_opener", "open_blob_store"]

#: Artifact URL schemes served by the files backend's own S3 and GCS stores; they take
#: options (``endpoint_url``, credentials, ``part_size``...) as ``open_s3``/``open_gcs`` do.
_OBJECT_STORES = frozenset({"s3", "gs", "gcs"})


def open_blob_store(location: str, **options: Any) -> FilesRepository:
    """The blob side of a registry at ``location``; a local folder is created if missing.

    ``options`` go to an ``s3://`` or ``gs://`` store; other locations take none.
    """
    return blob_store_opener(location, **options)()


def blob_store_opener(location: str, **options: Any) -> Callable[[], FilesRepository]:
    """Check ``location`` and ``options`` now (an object store is made now: that sends no
    request); create a local folder only when the result is called. `open_sql` refuses
    bad input this way before it touches the database."""
    scheme, sep, _ = location.partition("://")
    scheme = scheme.lower() if sep else "file"
    if scheme in _OBJECT_STORES:
        blobs = FilesRepository(_object_store(scheme, location, options))
        return lambda: blobs
    if options:
        raise InvalidInput(
            f"the artifact store {scheme}://... takes no options ({', '.join(sorted(options))}); "
            "only s3:// and gs:// artifact stores do"
        )
    if scheme == "file":
        return functools.partial(_open_folder, _local_path(location))
    try:
        import fsspec
    except ImportError as error:  # pragma: no cover - fsspec is a core dependency
        raise BackendError("an artifact store URL needs fsspec") from error
    try:
        fs, root = fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as error:
        raise InvalidInput(f"cannot open the artifact store {scheme}://...: {error}") from error
    blobs = FilesRepository(FsspecBlobStore(fs, root.rstrip("/"), f"{scheme}://{root}"))
    return lambda: blobs


def _object_store(scheme: str, location: str, options: dict[str, Any]) -> RemoteStore:
    """The files backend's store for ``location``; its driver is imported only now."""
    if scheme == "s3":
        from registry_backends.files.s3 import s3_store

        return s3_store(location, **options)
    from registry_backends.files.gcs import gcs_store

    return gcs_store(location, **options)


def _open_folder(path: str) -> FilesRepository:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise InvalidInput(f"cannot use {path!r} as the artifact folder: {error}") from error
    return FilesRepository(LocalStore(path))


def _local_path(location: str) -> str:
    if "://" not in location:
        return os.path.abspath(os.path.expanduser(location))
    parts = urlsplit(location)
    if parts.netloc not in ("", "localhost") or parts.query:
        raise InvalidInput(f"{location!r} is not a file:///absolute/path URL")
    return os.path.abspath(unquote(parts.path))


def _temp_name(kind: str) -> str:
    return f"{META}/tmp/{kind}-{os.getpid()}-{secrets.token_hex(8)}.tmp"


class _FsspecWriter:
    """Streams into a temp object; ``commit`` moves it to its name."""

    def __init__(self, store: FsspecBlobStore, name: str) -> None:
        self._store = store
        self._name = name
        self._temp = _temp_name("blob")
        self._file: Any = store.fs.open(store.full(self._temp), "wb")

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise ValueError("blob writer is closed")
        self._file.write(chunk)

    def commit(self) -> None:
        if self._file is None:
            raise ValueError("blob writer is closed")
        file, self._file = self._file, None
        try:
            file.close()
            self._store.fs.mv(self._store.full(self._temp), self._store.full(self._name))
        except BaseException:
            self._remove_temp()
            raise

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        self._remove_temp()

    def _remove_temp(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._store.fs.rm(self._store.full(self._temp))


class FsspecBlobStore:
    """The blob half of an `ObjectStore` over any fsspec filesystem.

    It holds blobs only: the SQL database holds the documents, so the document
    primitives (`read`, `create`, `replace`, `delete`) refuse to run.
    """

    def __init__(self, fs: Any, root: str, display: str) -> None:
        self.fs = fs
        self._root = root
        self._display = display

    def __repr__(self) -> str:
        return f"FsspecBlobStore({self._display!r})"

    @property
    def root(self) -> str:
        return self._display

    def full(self, name: str) -> str:
        return f"{self._root}/{name}" if name else self._root

    def _relative(self, path: str) -> str:
        path = path.rstrip("/")
        prefix = self._root.lstrip("/") + "/"
        stripped = path.lstrip("/")
        return stripped[len(prefix) :] if stripped.startswith(prefix) else stripped

    def _no_documents(self, *args: object, **kwargs: object) -> Any:
        raise BackendError("the artifact store of a SQL registry holds no documents")

    read = create = replace = delete = _no_documents

    def list_names(self, folder: str) -> list[str]:
        try:
            found = self.fs.ls(self.full(folder), detail=False)
        except FileNotFoundError:
            return []
        return [self._relative(str(p)).rsplit("/", 1)[-1] for p in found]

    def find(self, name: str) -> Iterator[str]:
        full = self.full(name)
        if name and self.fs.isfile(full):
            return iter([name])
        return iter([self._relative(str(p)) for p in self.fs.find(full)])

    def remove_tree(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.full(name), recursive=True)

    def open_writer(self, name: str) -> _FsspecWriter:
        return _FsspecWriter(self, name)

    def open_read(self, name: str) -> IO[bytes]:
        full = self.full(name)
        try:
            if not self.fs.isfile(full):
                raise FileNotFoundError(full)
            stream: IO[bytes] = self.fs.open(full, "rb")
        except FileNotFoundError as error:
            raise NotFound(f"blob {name!r} does not exist") from error
        return stream

    def copy(self, source: str, target: str) -> None:
        """The filesystem's ``cp_file`` to a temp object, then moved to its name as a
        written blob is."""
        origin, temp = self.full(source), self.full(_temp_name("copy"))
        try:
            if not self.fs.isfile(origin):
                raise FileNotFoundError(origin)
            self.fs.cp_file(origin, temp)
        except FileNotFoundError as error:
            raise NotFound(f"blob {source!r} does not exist") from error
        try:
            self.fs.mv(temp, self.full(target))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(temp)
            raise

    def temp_files(self, older_than_seconds: float) -> list[str]:
        return []  # object stores give no reliable age here; fsck leaves them be

    def remove_temp_files(self, older_than_seconds: float) -> list[str]:
        return []
