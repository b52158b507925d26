"""`LocalStore`: the `ObjectStore` of a folder on a local disk.

Atomic primitives (see /work/shared/TEST-INFRA.md §4): every write goes to a temp file in
``<root>/.modelreg/tmp`` (the same filesystem, so a rename is atomic), is fsynced, and is
then moved into place: ``os.link`` for create-if-absent (EEXIST loses), ``os.replace``
for overwrites, then the folder is fsynced. A process killed at any point leaves only
temp files, which `remove_temp_files` clears. A copy is a hard link made the same way
(linked to a temp name, fsynced, renamed into place), or a copy of the bytes where the
filesystem cannot link. Compare-and-swap and conditional delete hold an exclusive
``flock`` on one of 256 lock files in ``<root>/.modelreg/locks``, chosen by a hash of the
object name: a fixed set, so no lock file outlives its document, and ``flock`` excludes
threads of one process as well as other processes.

Etags are a hash of the bytes; `FilesRepository` makes every write's bytes unique.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO
from urllib.parse import unquote, urlsplit

from registry_backends.files._posix import (
    ABSENT,
    fsync_dir,
    load_fcntl,
    os_errors,
    read_file,
    remove,
    unlink_quietly,
)
from registry_backends.files._store import META
from registry_backends.files.repository import FilesRepository
from registry_core.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    InvalidInput,
    InvalidPath,
    NotFound,
)

__all__ = ["LocalStore", "open_files"]

_STRIPES = 256
_ATTEMPTS = 32  # moves into a folder that concurrent deletes keep removing
#: A folder untouched this long gets a stamp: longer than any timestamp granularity we meet.
SETTLED_SECONDS = 2
#: Large blobs start their writeback every this many bytes (see _LocalBlobWriter).
_WRITEBACK_STEP = 32 * 1024 * 1024
#: Why ``os.link`` fails where a copy still works: another filesystem, none with hard links
#: (FAT, some network and FUSE ones), Linux's ``protected_hardlinks``, too many links.
_NO_LINK = frozenset(
    {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
)
_COPY_CHUNK = 1024 * 1024
_FADVISE = getattr(os, "posix_fadvise", None)
_DONTNEED = getattr(os, "POSIX_FADV_DONTNEED", 4)


def _etag(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class LocalStore:
    """A folder on a local disk as an `ObjectStore`; thread- and process-safe (POSIX)."""

    quick_reads = True  # reads take no lock: see registry_core.protocol.reads_are_quick

    def __init__(self, root: str) -> None:
        self._fcntl = load_fcntl()
        self._root = os.path.abspath(root)
        self._inside = os.path.join(self._root, "")  # the root with one trailing "/"
        self._tmp = os.path.join(self._root, META, "tmp")
        self._locks = os.path.join(self._root, META, "locks")
        # Folders a prune never removes; the rest are recreated on demand.
        self._keep = {self._root, os.path.join(self._root, META)}

    def __repr__(self) -> str:
        return f"LocalStore({self._root!r})"

    @property
    def root(self) -> str:
        return self._root

    def path(self, name: str) -> str:
        """The file of object ``name``; `InvalidPath` if it would lie outside the root."""
        full = os.path.normpath(os.path.join(self._root, name))
        if os.path.isabs(name) or not (full == self._root or full.startswith(self._inside)):
            raise InvalidPath(f"{name!r} lies outside the registry folder {self._root!r}")
        return full

    # -- documents ---------------------------------------------------------------------

    def read(self, name: str) -> tuple[bytes, str] | None:
        path = self.path(name)
        with os_errors(path):
            data = read_file(path)
        return None if data is None else (data, _etag(data))

    def create(self, name: str, data: bytes) -> str:
        target = self.path(name)
        with os_errors(target):
            temp = self._write_temp(data)
            try:
                self._into_place(os.link, temp, target)
            except FileExistsError as error:
                raise AlreadyExists(f"{name!r} already exists") from error
            finally:
                unlink_quietly(temp)
            fsync_dir(os.path.dirname(target))
        return _etag(data)

    def replace(self, name: str, data: bytes, etag: str) -> str:
        target = self.path(name)
        with os_errors(target):
            temp = self._write_temp(data)  # before the lock, to hold it briefly
            try:
                with self._locked(name):
                    self._check_etag(name, target, etag, missing_ok=False)
                    os.replace(temp, target)  # ENOENT: a delete_tree took the folder
            finally:
                unlink_quietly(temp)
            fsync_dir(os.path.dirname(target))
        return _etag(data)

    def delete(self, name: str, etag: str | None = None) -> None:
        target = self.path(name)
        with os_errors(target):
            with self._locked(name):
                if etag is not None and not self._check_etag(name, target, etag, missing_ok=True):
                    return
                try:
                    os.unlink(target)
                except ABSENT:
                    return
            fsync_dir(os.path.dirname(target))
            self._prune(os.path.dirname(target))

    def _check_etag(self, name: str, target: str, etag: str, *, missing_ok: bool) -> bool:
        """Whether ``name`` exists with ``etag``: `Conflict` if changed, `NotFound` if gone."""
        current = read_file(target)
        if current is None:
            if missing_ok:
                return False
            raise NotFound(f"{name!r} does not exist")
        if _etag(current) != etag:
            raise Conflict(f"{name!r} was changed by another writer")
        return True

    # -- folders -----------------------------------------------------------------------

    def folder_stamp(self, folder: str) -> tuple[int, int, int] | None:
        """The folder's (inode, mtime, size) once its last change is `SETTLED_SECONDS`
        old, so any later change must show (see `_listing`); else None."""
        try:
            status = os.stat(self.path(folder))
        except OSError:
            return None
        if time.time_ns() - status.st_mtime_ns < SETTLED_SECONDS * 1_000_000_000:
            return None
        return (status.st_ino, status.st_mtime_ns, status.st_size)

    def list_names(self, folder: str) -> list[str]:
        path = self.path(folder)
        with os_errors(path):
            try:
                return os.listdir(path)
            except ABSENT:
                return []

    def find(self, name: str) -> Iterator[str]:
        top = self.path(name)
        with os_errors(top):
            if os.path.isfile(top):
                return iter([name])
            start = len(self._root) + 1
            return iter(
                [
                    os.path.join(folder, file)[start:]
                    for folder, _, files in os.walk(top)
                    for file in files
                ]
            )

    def remove_tree(self, name: str) -> None:
        """Renames the tree into the temp folder first, then deletes it there.

        The rename detaches the whole tree at once, so a writer racing with the delete
        lands either inside it (gone with it) or in a fresh folder (after the delete);
        a crash mid-delete leaves only a ``trash-`` entry for `remove_temp_files`. A
        write whose path lookup passed the folder just before the rename may still land
        in the trash after the rename (Linux resolves a path one folder at a time):
        ``rmtree`` retries, and what it cannot remove stays invisible for fsck.
        """
        top = self.path(name)
        if top == self._root:
            raise InvalidPath(f"refusing to remove the whole registry folder {self._root!r}")
        with os_errors(top):
            self._make_folders(self._tmp)
            trash = self._temp_path("trash")
            try:
                os.rename(top, trash)
            except ABSENT:
                return
            for _ in range(3):
                try:
                    remove(trash)
                    break
                except OSError as error:
                    if error.errno != errno.ENOTEMPTY:
                        raise
            self._prune(os.path.dirname(top))

    # -- blobs -------------------------------------------------------------------------

    def open_writer(self, name: str) -> _LocalBlobWriter:
        target = self.path(name)
        with os_errors(target):
            return _LocalBlobWriter(self, target)

    def open_read(self, name: str) -> IO[bytes]:
        path = self.path(name)
        with os_errors(path):
            return _open_blob(name, path)

    def copy(self, source: str, target: str) -> None:
        """A hard link: both names then share one copy of the bytes, which never change,
        since every write renames a new file onto its name. The link is made under a temp
        name, fsynced and renamed into place as a blob commit is; where the filesystem
        cannot link, the bytes are copied into the temp file instead."""
        origin, destination = self.path(source), self.path(target)
        with os_errors(destination):
            temp = self._link_temp(source, origin)
            try:
                self.into_place(temp, destination)
            finally:
                unlink_quietly(temp)  # still there only if both names were one file already

    def _link_temp(self, name: str, origin: str) -> str:
        """A temp file holding the bytes of blob ``name`` (at ``origin``), durably."""
        self._make_folders(self._tmp)
        temp = self._temp_path("copy")
        try:
            os.link(origin, temp)
        except ABSENT as error:
            raise NotFound(f"blob {name!r} does not exist") from error
        except OSError as error:
            if error.errno not in _NO_LINK:
                raise
            return self._copy_temp(name, origin)  # EPERM for a folder too: that finds it
        try:  # the new link count reaches the disk with the inode, as a commit's fsync does
            fd = os.open(temp, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            unlink_quietly(temp)
            raise
        return temp

    def _copy_temp(self, name: str, origin: str) -> str:
        """The fallback of `_link_temp`: the bytes copied into a new temp file, fsynced."""
        stream, temp = self.open_temp("copy")
        try:
            with stream, _open_blob(name, origin) as reader:
                shutil.copyfileobj(reader, stream, _COPY_CHUNK)
                stream.flush()
                os.fsync(stream.fileno())
        except BaseException:
            unlink_quietly(temp)
            raise
        return temp

    # -- temp files --------------------------------------------------------------------

    def temp_files(self, older_than_seconds: float) -> list[str]:
        cutoff = time.time() - older_than_seconds
        found = []
        with os_errors(self._tmp):
            for name in self.list_names(f"{META}/tmp"):
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(os.path.join(self._tmp, name)).st_mtime <= cutoff:
                        found.append(f"{META}/tmp/{name}")
        return sorted(found)

    def remove_temp_files(self, older_than_seconds: float) -> list[str]:
        removed = self.temp_files(older_than_seconds)
        for name in removed:
            path = self.path(name)
            with os_errors(path):
                remove(path)
        return removed

    # -- helpers -----------------------------------------------------------------------

    def _temp_path(self, kind: str) -> str:
        return os.path.join(self._tmp, f"{kind}-{os.getpid()}-{secrets.token_hex(8)}.tmp")

    def open_temp(self, kind: str) -> tuple[BinaryIO, str]:
        """A new, empty temp file (mode 0o666 less the umask) and its path."""
        path = self._temp_path(kind)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:
            self._make_folders(self._tmp)
            fd = os.open(path, flags, 0o666)
        return os.fdopen(fd, "wb"), path

    def _write_temp(self, data: bytes) -> str:
        stream, path = self.open_temp("doc")
        try:
            with stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        except BaseException:
            unlink_quietly(path)
            raise
        return path

    def _into_place(self, move: Callable[[str, str], object], temp: str, target: str) -> None:
        """``move(temp, target)`` (a link or rename), creating the target's folders.

        Retries when concurrent deletes removed a folder that had just become empty.
        """
        for attempt in range(_ATTEMPTS):
            if attempt > 2:
                time.sleep(0.001 * attempt)  # let a busy deleter finish
            try:
                move(temp, target)
                return
            except FileNotFoundError:
                if not os.path.exists(temp):
                    raise BackendError(f"temp file {temp!r} vanished (removed by fsck?)") from None
                with contextlib.suppress(FileNotFoundError):  # pruned again meanwhile
                    self._make_folders(os.path.dirname(target))
        raise BackendError(f"could not move a temp file to {target!r}: its folder keeps vanishing")

    def into_place(self, temp: str, target: str) -> None:
        """Rename ``temp`` onto ``target`` (a blob commit), replacing an empty folder."""
        try:
            self._into_place(os.replace, temp, target)
        except IsADirectoryError:  # a folder left by deleted artifacts: take it if empty
            os.rmdir(target)
            self._into_place(os.replace, temp, target)
        fsync_dir(os.path.dirname(target))

    def _make_folders(self, folder: str) -> None:
        """Create ``folder`` and its missing parents, fsyncing each new entry's parent."""
        missing = []
        while not os.path.isdir(folder):
            if folder == self._root:
                raise BackendError(f"the registry folder {self._root!r} is gone")
            missing.append(folder)
            folder = os.path.dirname(folder)
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)
            fsync_dir(os.path.dirname(path))

    def _prune(self, folder: str) -> None:
        """Remove ``folder`` and its parents while they are empty (best effort)."""
        while folder not in self._keep and folder.startswith(self._inside):
            try:
                os.rmdir(folder)
            except OSError:
                return
            folder = os.path.dirname(folder)

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """Hold the exclusive lock of ``name``'s stripe (released when the fd closes)."""
        digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
        path = os.path.join(self._locks, f"{int.from_bytes(digest, 'big') % _STRIPES:02x}")
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:
            self._make_folders(self._locks)
            fd = os.open(path, flags, 0o666)
        try:
            self._fcntl.flock(fd, self._fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _open_blob(name: str, path: str) -> IO[bytes]:
    """The file of blob ``name`` opened to read; `NotFound` if absent or a folder."""
    try:
        return open(path, "rb")
    except ABSENT as error:
        raise NotFound(f"blob {name!r} does not exist") from error


class _LocalBlobWriter:
    """Streams into a temp file; ``commit`` fsyncs it and renames it into place."""

    def __init__(self, store: LocalStore, target: str) -> None:
        self._store = store
        self._target = target
        self._file: BinaryIO | None
        self._file, self._temp = store.open_temp("blob")
        self._written = 0
        self._flushed = 0

    def _open_file(self) -> BinaryIO:
        if self._file is None:
            raise ValueError("blob writer is closed")
        return self._file

    def write(self, chunk: bytes) -> None:
        file = self._open_file()
        with os_errors(self._temp):
            file.write(chunk)
            self._written += len(chunk)
            if self._written - self._flushed >= _WRITEBACK_STEP:
                self._start_writeback(file)

    def _start_writeback(self, file: BinaryIO) -> None:
        """Ask the kernel to start writing what we have so far, so that the fsync in
        ``commit`` waits for the tail only and the disk works while we hash. (On Linux,
        FADV_DONTNEED starts writeback of dirty pages and drops the clean ones: a large
        upload also does not crowd the page cache.)"""
        file.flush()
        if _FADVISE is not None:
            _FADVISE(file.fileno(), self._flushed, self._written - self._flushed, _DONTNEED)
        self._flushed = self._written

    def commit(self) -> None:
        file = self._open_file()
        self._file = None
        with os_errors(self._target):
            try:
                with file:
                    file.flush()
                    os.fsync(file.fileno())
                self._store.into_place(self._temp, self._target)
            except BaseException:
                unlink_quietly(self._temp)
                raise

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        with os_errors(self._temp):
            unlink_quietly(self._temp)


def open_files(url: str, **options: Any) -> FilesRepository:
    """Open (or start) the registry in a local folder: a plain path or ``file:///abs``.

    Creates the folder if missing and writes ``.modelreg/format.json`` into an empty one;
    refuses a file, a URL with a host, and a non-empty folder that is not a registry.
    """
    if options:
        raise InvalidInput(f"the files backend takes no options, got {', '.join(sorted(options))}")
    root = _root_of(url)
    with os_errors(root):
        if os.path.exists(root) and not os.path.isdir(root):
            raise InvalidInput(f"{root!r} is a file, not a registry folder")
        try:
            os.makedirs(root, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as error:
            raise InvalidInput(f"cannot make a registry folder at {root!r}: {error}") from error
    return FilesRepository.open(LocalStore(root))


def _root_of(url: str) -> str:
    """The absolute folder a plain path or ``file://`` URL names (``~`` expanded)."""
    if not isinstance(url, str) or not url:
        raise InvalidInput(f"a registry path must be a non-empty string, not {url!r}")
    scheme, sep, _ = url.partition("://")
    if not sep:
        return os.path.abspath(os.path.expanduser(url))
    if scheme.lower() != "file":
        raise InvalidInput(f"{url!r} is not a file:// URL")
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidInput(
            f"{url!r} names the host {parts.netloc!r}; a file URL is file:///absolute/path"
        )
    if parts.query or parts.fragment:
        raise InvalidInput(f"{url!r} has a query or fragment; the files backend takes none")
    path = unquote(parts.path)
    if not path:
        raise InvalidInput(f"{url!r} names no folder; a file URL is file:///absolute/path")
    return os.path.abspath(path)
