"""What a service (S3, GCS) implements for `RemoteStore`, and how its requests are retried.

A `Wire` makes single requests and maps its driver's errors, in one place per service, to
`NotFound` (404), `PreconditionFailed` (412), `TransientError` (500, 503, throttling, a
dropped connection) and `BackendError`. `retrying` retries what is transient with capped
exponential backoff and full jitter; the drivers' own retries are switched off so that
every retry happens here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import IO, Protocol, TypeVar

import attrs

from registry_backends.files._index import Listed
from registry_core.errors import BackendError
from registry_core.protocol import BlobWriter

__all__ = [
    "ListPage",
    "PreconditionFailed",
    "RetryPolicy",
    "TransientError",
    "Wire",
    "gather_limited",
    "retrying",
]

log = logging.getLogger("registry_backends.files")
T = TypeVar("T")


class TransientError(BackendError):
    """A request failed in a way that may pass: retried by `retrying`."""


class PreconditionFailed(BackendError):
    """A conditional request's condition did not hold (HTTP 412)."""


@attrs.frozen
class RetryPolicy:
    """How often and how patiently a transient failure is retried."""

    attempts: int = 8
    base: float = 0.05
    cap: float = 2.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


async def retrying(policy: RetryPolicy, call: Callable[[], Awaitable[T]], what: str) -> T:
    """``await call()``, retrying `TransientError` with backoff; re-raise the last one."""
    for attempt in range(policy.attempts):
        try:
            return await call()
        except TransientError as error:
            if attempt + 1 >= policy.attempts:
                raise
            log.debug("retrying %s after: %s", what, error)
            await asyncio.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")


async def gather_limited(calls: list[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Await every call, at most ``limit`` at a time; results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))


@attrs.frozen
class ListPage:
    """Objects (and with a delimiter, sub-folders) of one list request."""

    objects: list[Listed]
    folders: list[str]
    more: bool  # more objects follow the last one
    token: str | None = None  # where a listing without ``start_after`` goes on


class Wire(Protocol):
    """The requests a service makes; names are full object keys in the bucket.

    Each raises `NotFound`, `PreconditionFailed`, `TransientError` or `BackendError`.
    """

    async def get(self, key: str) -> tuple[bytes, str]:
        """Bytes and etag (ETag / generation)."""

    async def head(self, key: str) -> str:
        """The etag only."""

    async def put(
        self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        """Write in one request; return the new etag."""

    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete; `NotFound` when absent (some services say nothing)."""

    async def delete_many(self, keys: list[str]) -> None:
        """Delete a batch of keys, quietly skipping absent ones."""

    async def list_keys(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        limit: int = 1000,
        delimiter: bool = False,
        token: str | None = None,
    ) -> ListPage:
        """Keys under ``prefix`` after ``start_after`` (or from a page's ``token``),
        ascending, at most ``limit``; with ``delimiter``, sub-folders as ``folders``."""

    def open_writer(self, key: str) -> BlobWriter:
        """A streaming upload, invisible until commit."""

    def open_read(self, key: str) -> IO[bytes]:
        """A streaming download; `NotFound` if absent."""

    async def copy(self, source: str, target: str) -> None:
        """A server-side copy that appears at ``target`` whole, replacing what is there;
        `NotFound` if ``source`` is absent. Retries its transient failures itself (a copy
        may take several requests), as an upload does."""

    async def uploads(self, prefix: str, older_than_seconds: float) -> list[str]:
        """Unfinished uploads under ``prefix``, as names for `abort_upload`."""

    async def abort_upload(self, name: str) -> None:
        """Abort one unfinished upload named by `uploads`."""
