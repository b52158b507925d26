"""POSIX file helpers of the local store, and the one place OS errors become registry errors."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
from collections.abc import Iterator
from types import ModuleType

from registry_core.errors import BackendError, NotFound, RegistryError

__all__ = [
    "ABSENT",
    "fsync_dir",
    "load_fcntl",
    "os_errors",
    "read_file",
    "remove",
    "unlink_quietly",
]

#: What ``open``, ``listdir`` and ``rename`` raise when the thing is not there as named.
ABSENT = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


@contextlib.contextmanager
def os_errors(path: str) -> Iterator[None]:
    """Map OS errors to the registry's error tree: the one place this backend does it.

    Callers catch the errors that mean "absent" themselves where absence is normal;
    whatever reaches here is a failure, named with its path and chained.
    """
    try:
        yield
    except RegistryError:
        raise
    except FileNotFoundError as error:
        raise NotFound(f"{path!r} does not exist") from error
    except PermissionError as error:
        raise BackendError(f"permission denied on {path!r}: {error.strerror}") from error
    except OSError as error:
        code = errno.errorcode.get(error.errno or 0, "OSError")
        raise BackendError(f"{code} ({error.strerror or error}) on {path!r}") from error


def load_fcntl() -> ModuleType:
    """``fcntl``, imported lazily so that the module imports on Windows too."""
    try:
        import fcntl
    except ImportError as error:  # Windows
        raise BackendError(
            "the local files backend needs POSIX file locks (fcntl), which this platform "
            "lacks; Windows is not supported yet"
        ) from error
    return fcntl


def fsync_dir(path: str) -> None:
    """Make a rename or link in ``path`` durable (skipped where folders cannot be synced,
    and when a concurrent prune already removed the folder: nothing is left to sync)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def read_file(path: str) -> bytes | None:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except ABSENT:
        return None


def remove(path: str) -> None:
    """Remove a file or a whole folder, quietly if it is already gone."""
    if os.path.isdir(path) and not os.path.islink(path):
        _rmtree(path)
    else:
        unlink_quietly(path)


def _rmtree(path: str) -> None:
    """``shutil.rmtree`` that tolerates entries a concurrent delete removes first."""

    def ignore_missing(exc: BaseException) -> None:
        if not isinstance(exc, FileNotFoundError):
            raise exc

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=lambda _f, _p, exc: ignore_missing(exc))
    else:
        shutil.rmtree(path, onerror=lambda _f, _p, info: ignore_missing(info[1]))
