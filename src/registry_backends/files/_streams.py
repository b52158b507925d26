"""Streaming blobs to and from S3 and GCS with bounded memory, and parsing their URLs.

`RemoteWriter` cuts the bytes it is given into parts of a fixed size and hands each to a
service's `Uploader` (S3: multipart parts, several in flight; GCS: resumable chunks, one
at a time); the last part waits for ``commit``, so nothing is visible before it, and
any failure aborts the upload server-side. Memory holds at most one part being filled
plus the parts in flight. `RemoteReader` streams one GET, and after a dropped connection
resumes from where it stopped with a ranged GET pinned to the first answer's etag.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import io
from collections.abc import Callable, Coroutine
from typing import IO, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from registry_backends.files._wire import RetryPolicy, TransientError, retrying
from registry_core.errors import BackendError, InvalidInput

__all__ = ["Part", "RemoteReader", "RemoteWriter", "Uploader", "loop_runner", "split_url"]

T = TypeVar("T")


def loop_runner(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine on the driver's event loop thread from any other thread."""
    import fsspec.asyn

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        result: T = fsspec.asyn.sync(loop, lambda: coroutine)
        return result

    return run


class Part(io.BytesIO):
    """One part's bytes, filled in place and sent as is: aiohttp streams an owned
    ``BytesIO`` without copying it (bytes, it would copy). Closing is left to the
    garbage collector, so that a retry can send the same part again."""

    def close(self) -> None:
        self.seek(0)


class Uploader(Protocol):
    """One upload in parts; every method retries transient failures itself."""

    async def single(self, data: bytes) -> None:
        """Write a blob smaller than one part in one request."""

    async def start(self) -> None:
        """Begin a multipart (S3) or resumable (GCS) upload."""

    async def send(self, number: int, offset: int, part: Part, total: int | None) -> None:
        """Send part ``number`` (from 1) at byte ``offset``; ``total`` only on the last."""

    async def finish(self) -> None:
        """Make the uploaded parts the object."""

    async def abort(self) -> None:
        """Throw the upload away server-side; quiet if there is nothing to abort."""


class RemoteWriter:
    """A `BlobWriter` feeding an `Uploader` part by part, ``in_flight`` parts at once.

    ``budget`` caps the bytes held (parts being sent plus the part filling); by default
    ``(in_flight + 1) * part_size``. A smaller one lets big parts overlap only partly with
    filling the next: ``write`` waits for a send to finish before going over it.
    """

    def __init__(
        self,
        uploader: Uploader,
        loop: asyncio.AbstractEventLoop,
        *,
        part_size: int,
        in_flight: int,
        budget: int | None = None,
    ) -> None:
        self._uploader = uploader
        self._loop = loop
        self._part_size = part_size
        self._in_flight = in_flight
        self._budget = budget or (in_flight + 1) * part_size
        self._part = Part()
        self._pending: collections.deque[tuple[concurrent.futures.Future[None], int]] = (
            collections.deque()
        )
        self._started = False
        self._closed = False
        self._number = 0
        self._offset = 0

    def _wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("blob writer is closed")

    def write(self, chunk: bytes) -> None:
        self._check_open()
        view = memoryview(chunk)
        while view:
            if self._part.tell() == self._part_size:  # full, and more follows: send it
                self._send(self._part, None)
                self._part = Part()
            piece = view[: self._part_size - self._part.tell()]
            while self._pending and self._held() + len(piece) > self._budget:
                self._pending.popleft()[0].result()
            self._part.write(piece)
            view = view[len(piece) :]

    def _held(self) -> int:
        return sum(size for _, size in self._pending) + self._part.tell()

    def _send(self, part: Part, total: int | None) -> None:
        if not self._started:
            self._wait(self._uploader.start())
            self._started = True
        while len(self._pending) >= self._in_flight:
            self._pending.popleft()[0].result()
        self._number += 1
        size = part.tell()
        part.seek(0)
        sending = self._uploader.send(self._number, self._offset, part, total)
        self._pending.append((asyncio.run_coroutine_threadsafe(sending, self._loop), size))
        self._offset += size

    def commit(self) -> None:
        self._check_open()
        try:
            if not self._started:
                self._wait(self._uploader.single(self._part.getvalue()))
            else:
                self._send(self._part, self._offset + self._part.tell())
                while self._pending:
                    self._pending.popleft()[0].result()
                self._wait(self._uploader.finish())
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._part = Part()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._part = Part()
        futures = [future for future, _ in self._pending]
        for future in futures:
            future.cancel()
        concurrent.futures.wait(futures)
        self._pending.clear()
        if self._started:
            with contextlib.suppress(BackendError):
                self._wait(self._uploader.abort())


class Ranges(Protocol):
    """How a service opens an object's bytes from an offset and reads them."""

    size: int

    async def open(self, offset: int) -> Any:
        """A body from ``offset`` (the first call, at 0, also learns size and etag)."""

    async def read(self, body: Any, size: int) -> bytes:
        """Up to ``size`` bytes of ``body``."""

    def close(self, body: Any) -> None:
        """Release the body's connection."""


class RemoteReader(io.RawIOBase):
    """The bytes of one object, streamed; resumes after a transient failure."""

    def __init__(
        self,
        ranges: Ranges,
        body: Any,
        run: Callable[[Coroutine[Any, Any, Any]], Any],
        retry: RetryPolicy,
        what: str,
    ) -> None:
        super().__init__()
        self._ranges = ranges
        self._body = body
        self._run = run
        self._retry = retry
        self._what = what
        self._position = 0

    @classmethod
    def open(
        cls,
        ranges: Ranges,
        run: Callable[[Coroutine[Any, Any, Any]], Any],
        retry: RetryPolicy,
        what: str,
    ) -> IO[bytes]:
        """Start the GET now, so that a missing object raises `NotFound` here."""
        body = run(retrying(retry, lambda: ranges.open(0), what))
        return io.BufferedReader(cls(ranges, body, run, retry, what), buffer_size=2**20)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._ranges.size:
            return 0
        wanted = len(buffer)

        async def attempt() -> bytes:
            if self._body is None:
                self._body = await self._ranges.open(self._position)
            try:
                return await self._ranges.read(self._body, wanted)
            except TransientError:
                self._ranges.close(self._body)
                self._body = None
                raise

        data: bytes = self._run(retrying(self._retry, attempt, self._what))
        if not data:
            raise BackendError(f"{self._what} ended after {self._position} bytes")
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        if self._body is not None:
            self._ranges.close(self._body)
            self._body = None
        super().close()


def split_url(
    url: str, schemes: tuple[str, ...], check_bucket: Callable[[str], str | None]
) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``scheme://bucket/prefix``; `InvalidInput` otherwise.

    A URL holding credentials (``user:secret@``) is refused without being repeated.
    """
    if not isinstance(url, str):
        raise InvalidInput(f"a registry URL must be a string, not {type(url).__name__}")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise InvalidInput("credentials do not belong in the registry URL; pass them as options")
    if parts.scheme.lower() not in schemes:
        raise InvalidInput(f"{url!r} is not a {' or '.join(s + '://' for s in schemes)} URL")
    if parts.query or parts.fragment:
        raise InvalidInput(f"{url!r} has a query or fragment; pass options as keywords")
    bucket = parts.netloc
    if not bucket:
        raise InvalidInput(f"{url!r} names no bucket: use {schemes[0]}://bucket/prefix")
    why = check_bucket(bucket)
    if why is not None:
        raise InvalidInput(f"{bucket!r} is not a valid bucket name: {why}")
    prefix = parts.path.strip("/")
    if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
        raise InvalidInput(f"{url!r} has an empty, '.' or '..' segment in its prefix")
    return bucket, prefix
