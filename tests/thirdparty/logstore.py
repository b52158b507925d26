"""A third-party backend, written from the README and `registry_core.protocol` alone.

Layout under the root folder::

    documents.jsonl   every write, one JSON line: {"key": [...], "data": {...} | null, "etag": ...}
    lock              flock'ed: shared to read the log, exclusive to append
    blobs/<name>      each committed blob, as a file
    tmp/              uploads in progress, renamed into blobs/ on commit

Each process keeps an index of the log (key -> JSON text, etag) and reads only the lines
appended since. A line counts once its newline is written; a writer killed mid-append
leaves a line without one, which readers ignore and the next writer cuts off.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from registry_core.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    InvalidInput,
    NotFound,
    RegistryError,
)
from registry_core.protocol import Document, Key

LOG = "documents.jsonl"


def open_logstore(url: str, **options: Any) -> LogRepository:
    """The entry point: ``logstore = "logstore:open_logstore"`` in ``modelreg.backends``,
    called with the whole URL, ``logstore:///path/to/folder``."""
    root = url.partition("://")[2]
    if options or not root:
        raise InvalidInput(f"logstore wants logstore:///folder and no options, not {url!r}")
    return LogRepository(root)


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """The one place where the file system's errors become `BackendError`."""
    try:
        yield
    except RegistryError:
        raise
    except (OSError, ValueError) as error:
        raise BackendError(f"logstore could not {what}: {error}") from error


class BlobWriter:
    """An upload into ``tmp/``, renamed to its name under ``blobs/`` on commit."""

    def __init__(self, repo: LogRepository, name: str) -> None:
        self._target = repo.blob_path(name)
        self._temp = repo.temp_path(self._target)
        self._errors = repo.storage_errors
        with self._errors(f"start writing {name!r}"):
            self._file: IO[bytes] | None = open(self._temp, "xb")  # noqa: SIM115
        self._committed = False

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise ValueError("the blob writer is closed")
        with self._errors("write a blob"):
            self._file.write(chunk)

    def commit(self) -> None:
        if self._file is None:
            raise ValueError("the blob writer is closed")
        with self._errors(f"commit {self._target}"):
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            for _ in range(10):  # a racing delete may prune the new parent folders
                self._target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self._temp, self._target)
                    break
            else:
                raise BackendError(f"logstore could not commit {self._target}: folders vanish")
            folder = os.open(self._target.parent, os.O_RDONLY)
            try:
                os.fsync(folder)  # the rename survives a power loss
            finally:
                os.close(folder)
        self._committed = True

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self._committed:
            with self._errors("abort an upload"), contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp)


class LogRepository:
    """A `registry_core.Repository` in a folder; threads and processes may share it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        with self.storage_errors(f"open {self.root}"):
            (self.root / "blobs").mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
            (self.root / LOG).touch()
        self._mutex = threading.Lock()
        self._index: dict[Key, tuple[Any, str]] = {}  # key -> (stored data, etag)
        self._offset = 0  # bytes of the log read into the index

    def storage_errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return storage_errors(what)

    # -- the log ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, what: str, exclusive: bool) -> Iterator[Any]:
        """The log file under the lock, read up to its last complete line."""
        with self.storage_errors(what), self._mutex, open(self.root / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            with open(self.root / LOG, "rb+") as log:
                log.seek(self._offset)
                self._apply(self._complete_lines(log.read()))
                yield log

    def _complete_lines(self, chunk: bytes) -> bytes:
        return chunk[: chunk.rfind(b"\n") + 1]

    def _apply(self, lines: bytes) -> None:
        for line in lines.splitlines():
            record = json.loads(line)
            key = tuple(record["key"])
            if record["data"] is None:
                self._index.pop(key, None)
            else:
                self._index[key] = (self._stored(record["data"]), record["etag"])
        self._offset += len(lines)

    def _stored(self, data: Mapping[str, Any]) -> Any:
        return json.dumps(data)

    def _document(self, stored: tuple[Any, str]) -> Document:
        return Document(json.loads(stored[0]), stored[1])

    def _new_etag(self, data: Mapping[str, Any] | None) -> str:
        return uuid.uuid4().hex

    def _append(self, log: Any, changes: list[tuple[Key, Mapping[str, Any] | None]]) -> str:
        """Write ``changes`` as one append (cutting off a torn tail first); the last etag."""
        log.truncate(self._offset)  # a torn line a killed writer left is not a record
        records, etag = [], ""
        for key, data in changes:
            etag = self._new_etag(data)
            records.append(json.dumps({"key": key, "data": data, "etag": etag}) + "\n")
        text = "".join(records).encode()
        log.seek(self._offset)
        log.write(text)
        log.flush()
        os.fsync(log.fileno())
        self._apply(text)
        return etag

    # -- documents ----------------------------------------------------------------------

    def get(self, key: Key) -> Document | None:
        with self._locked("read a document", exclusive=False):
            stored = self._index.get(key)
            return None if stored is None else self._document(stored)

    def put_if_absent(self, key: Key, data: Mapping[str, Any]) -> str:
        with self._locked("create a document", exclusive=True) as log:
            if key in self._index:
                raise AlreadyExists(f"document {'/'.join(key)!r} already exists")
            return self._append(log, [(key, data)])

    def compare_and_swap(self, key: Key, data: Mapping[str, Any], etag: str) -> str:
        with self._locked("replace a document", exclusive=True) as log:
            stored = self._index.get(key)
            if stored is None:
                raise NotFound(f"document {'/'.join(key)!r} does not exist")
            if stored[1] != etag:
                raise Conflict(f"document {'/'.join(key)!r} was changed by another writer")
            return self._append(log, [(key, data)])

    def delete(self, key: Key, etag: str | None = None) -> None:
        with self._locked("delete a document", exclusive=True) as log:
            stored = self._index.get(key)
            if stored is None:
                return
            if etag is not None and stored[1] != etag:
                raise Conflict(f"document {'/'.join(key)!r} was changed by another writer")
            self._append(log, [(key, None)])

    def delete_tree(self, prefix: Key) -> None:
        with self._locked("delete documents", exclusive=True) as log:
            doomed = [key for key in self._index if key[: len(prefix)] == prefix]
            if doomed:
                self._append(log, [(key, None) for key in doomed])

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
        with self._locked("list documents", exclusive=False):
            found = sorted(  # keys are unique: two items never tie on the segment
                (key[-1], stored)
                for key, stored in self._index.items()
                if key[:-1] == prefix
                and (after is None or key[-1] > after)
                and (before is None or key[-1] < before)
                and key[-1].startswith(starts_with or "")
            )
            if reverse:
                found.reverse()
            return [(segment, self._document(stored)) for segment, stored in found[:limit]]

    # -- blobs --------------------------------------------------------------------------

    def blob_path(self, name: str) -> Path:
        return self.root / "blobs" / name if name else self.root / "blobs"

    def temp_path(self, target: Path) -> Path:
        return self.root / "tmp" / uuid.uuid4().hex

    def open_blob_writer(self, name: str) -> BlobWriter:
        return BlobWriter(self, name)

    def open_blob(self, name: str) -> IO[bytes]:
        try:
            with self.storage_errors(f"read {name!r}"):
                return open(self.blob_path(name), "rb")
        except BackendError as error:
            absent = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
            if isinstance(error.__cause__, absent):
                raise NotFound(f"blob {name!r} does not exist") from error
            raise

    def delete_blobs(self, prefix: str) -> None:
        path = self.blob_path(prefix)
        with self.storage_errors(f"delete {prefix!r}"):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            for parent in path.parents:  # prune emptied folders, up to blobs/
                if parent == self.blob_path(""):
                    break
                try:
                    parent.rmdir()
                except OSError:  # not empty
                    break

    def list_blobs(self, prefix: str) -> Iterator[str]:
        top = self.blob_path("")
        with self.storage_errors(f"list {prefix!r}"):
            found = [p for p in self.blob_path(prefix).rglob("*") if p.is_file()]
        return iter(sorted(p.relative_to(top).as_posix() for p in found))
