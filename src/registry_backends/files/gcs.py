"""`GCSStore`: the files backend on Google Cloud Storage (``gs://bucket/prefix``).

``open_registry("gs://bucket/prefix", project=..., token=...)``; without a ``token``,
gcsfs's standard discovery applies (application default credentials, gcloud, the
metadata server). gcsfs supplies the credentials, the aiohttp session and its event
loop; the requests themselves are JSON-API calls made here, so that the generation
preconditions are exact and `registry_backends.files._remote` does the retrying.

Atomic primitives: create = a multipart upload with ``ifGenerationMatch=0``, swap = the
same with ``ifGenerationMatch=<generation>``, conditional delete = ``DELETE`` with
``ifGenerationMatch``; the etag is the generation. Blobs stream as resumable uploads in
64 MiB chunks (a multiple of 256 KiB, as GCS requires), finished by the last chunk at
``commit`` and cancelled on failure; a blob under one chunk is one multipart upload.
Chunks go one at a time, and while one is sent an eighth of the next may fill, so an
upload holds at most 72 MiB. Few, large chunks are cheap for the server: fake-gcs-server even
rewrites all it holds on each chunk, so 16 MiB chunks made a 1 GiB upload twice as slow.

A blob is copied server-side with ``rewriteTo``, called again with its ``rewriteToken``
until it is done (as gcsfs's ``_cp_file`` does): the copy appears whole with the last call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import secrets
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from registry_backends._install import install_command
from registry_backends.files._index import Listed
from registry_backends.files._remote import RemoteStore
from registry_backends.files._streams import (
    Part,
    RemoteReader,
    RemoteWriter,
    loop_runner,
    split_url,
)
from registry_backends.files._wire import (
    ListPage,
    PreconditionFailed,
    RetryPolicy,
    TransientError,
    gather_limited,
    retrying,
)
from registry_backends.files.repository import FilesRepository
from registry_core.errors import BackendError, BackendNotInstalled, InvalidInput, NotFound

if TYPE_CHECKING:
    import gcsfs

__all__ = ["GCSStore", "gcs_store", "open_gcs"]

PART_SIZE = 64 * 2**20  # a multiple of 256 KiB; see the module docstring
OVERLAP = 8  # while a chunk is sent, 1/8 of the next may fill
_OPTIONS = frozenset(
    {"endpoint_url", "token", "project", "access", "requester_pays", "part_size", "max_attempts"}
)
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


def _import_gcsfs() -> Any:
    try:
        import gcsfs.core
    except ImportError as error:
        raise BackendNotInstalled(
            f"the 'gs' backend needs gcsfs; install it with {install_command('gcs')}"
        ) from error
    return gcsfs.core


class _Status(Exception):
    """A response whose status is not what the request wanted (mapped by `_gcs_errors`)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.reason = _reason(body)


def _reason(body: bytes) -> str:
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        return str(json.loads(body)["error"]["message"])
    return body[:200].decode("utf-8", "replace")


@contextlib.contextmanager
def _gcs_errors(what: str) -> Iterator[None]:
    """The one place GCS's errors become registry errors (chained, credentials never named)."""
    import aiohttp
    from google.auth import exceptions as auth

    try:
        yield
    except _Status as error:
        status = error.status
        if status == 412:
            raise PreconditionFailed(f"a condition on {what} did not hold") from error
        if status == 404:
            raise NotFound(f"{what} does not exist") from error
        if status in _TRANSIENT:
            raise TransientError(f"GCS answered {status} on {what}") from error
        if status in (401, 403):
            raise BackendError(f"GCS refused access ({status}) to {what}") from error
        raise BackendError(f"GCS answered {status} on {what}: {error.reason}") from error
    except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as error:
        raise TransientError(f"{type(error).__name__} on {what}") from error
    except auth.TransportError as error:  # reaching the token endpoint failed
        raise TransientError(f"could not reach the credentials service for {what}") from error
    except auth.GoogleAuthError as error:
        raise BackendError(
            f"no usable GCS credentials for {what} ({type(error).__name__})"
        ) from error


def _multipart(key: str, data: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    meta = json.dumps({"name": key}).encode()
    body = b"".join(
        [
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            meta,
            f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--".encode(),
        ]
    )
    return body, f'multipart/related; boundary="{boundary}"'


class _GCSWire:
    """The GCS JSON-API requests of `RemoteStore`, on gcsfs's session and credentials."""

    def __init__(
        self, fs: gcsfs.GCSFileSystem, bucket: str, retry: RetryPolicy, part_size: int
    ) -> None:
        self.fs = fs
        self.bucket = bucket
        self.retry = retry
        self.part_size = part_size
        self.run = loop_runner(fs.loop)
        self._base = f"{fs._location}/storage/v1/b/{quote(bucket, safe='')}/o"
        self.upload_url = f"{fs._location}/upload/storage/v1/b/{quote(bucket, safe='')}/o"

    def where(self, key: str) -> str:
        return f"gs://{self.bucket}/{key}"

    def object_url(self, key: str) -> str:
        return f"{self._base}/{quote(key, safe='')}"

    async def open(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        """Send a request; the response for the caller to read and release."""
        with _gcs_errors(what):
            session = await self.fs._set_session()
            headers = self.fs._get_headers(kwargs.pop("headers", None))  # credentials
            return await session.request(method, url, headers=headers, **kwargs)

    async def request(
        self, method: str, url: str, what: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> tuple[int, Any, bytes]:
        """Send a request and read the answer; errors unless its status is in ``ok``."""
        response = await self.open(method, url, what, **kwargs)
        with _gcs_errors(what):
            async with response:
                body = await response.read()
                if response.status not in ok:
                    raise _Status(response.status, body)
                return response.status, response.headers, body

    async def get(self, key: str) -> tuple[bytes, str]:
        _, headers, body = await self.request(
            "GET", self.object_url(key), self.where(key), params={"alt": "media"}
        )
        return body, str(headers.get("X-Goog-Generation", ""))

    async def head(self, key: str) -> str:
        _, _, body = await self.request("GET", self.object_url(key), self.where(key))
        return str(json.loads(body)["generation"])

    async def put(
        self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        params = {"uploadType": "multipart"}
        if if_absent or if_match is not None:
            params["ifGenerationMatch"] = "0" if if_absent else str(if_match)
        body, kind = _multipart(key, data)
        _, _, answer = await self.request(
            "POST",
            self.upload_url,
            self.where(key),
            params=params,
            data=body,
            headers={"Content-Type": kind},
        )
        return str(json.loads(answer)["generation"])

    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        params = {} if if_match is None else {"ifGenerationMatch": if_match}
        await self.request(
            "DELETE", self.object_url(key), self.where(key), ok=(200, 204), params=params
        )

    async def delete_many(self, keys: list[str]) -> None:
        async def one(key: str) -> None:
            with contextlib.suppress(NotFound):
                await retrying(self.retry, lambda: self.delete(key), key)

        await gather_limited([functools.partial(one, key) for key in keys], 16)

    async def list_keys(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        limit: int = 1000,
        delimiter: bool = False,
        token: str | None = None,
    ) -> ListPage:
        params: dict[str, Any] = {"prefix": prefix, "maxResults": limit}
        if start_after is not None:  # startOffset is inclusive: ask for one more
            params.update(startOffset=start_after, maxResults=limit + 1)
        if delimiter:
            params["delimiter"] = "/"
        if token is not None:
            params["pageToken"] = token
        _, _, body = await self.request("GET", self._base, self.where(prefix), params=params)
        answer = json.loads(body)
        objects = [
            Listed(item["name"], int(item.get("size", 0)), str(item.get("generation", "")))
            for item in answer.get("items", [])
            if item["name"] != start_after
        ]
        more = bool(answer.get("nextPageToken")) or len(objects) > limit
        return ListPage(
            objects[:limit], answer.get("prefixes", []), more, answer.get("nextPageToken")
        )

    def open_writer(self, key: str) -> RemoteWriter:
        return RemoteWriter(
            _Resumable(self, key),
            self.fs.loop,
            part_size=self.part_size,
            in_flight=1,
            budget=self.part_size + self.part_size // OVERLAP,
        )

    def open_read(self, key: str) -> IO[bytes]:
        return RemoteReader.open(_GCSRanges(self, key), self.run, self.retry, self.where(key))

    async def copy(self, source: str, target: str) -> None:
        destination = f"b/{quote(self.bucket, safe='')}/o/{quote(target, safe='')}"
        url = f"{self.object_url(source)}/rewriteTo/{destination}"
        token: str | None = None
        while True:
            step = functools.partial(self._rewrite, url, self.where(source), token)
            answer = await retrying(self.retry, step, self.where(source))
            if answer.get("done") is True:
                return
            token = str(answer["rewriteToken"])

    async def _rewrite(self, url: str, what: str, token: str | None) -> dict[str, Any]:
        """One ``rewriteTo`` call; its answer says whether it is done, else the token."""
        params = {} if token is None else {"rewriteToken": token}
        _, _, body = await self.request("POST", url, what, params=params, json={})
        answer: dict[str, Any] = json.loads(body)
        return answer

    async def uploads(self, prefix: str, older_than_seconds: float) -> list[str]:
        return []  # unfinished resumable uploads are not listable; GCS drops them in a week

    async def abort_upload(self, name: str) -> None:
        return None


class _Resumable:
    """One resumable upload session: chunks in order, the last one with the total size."""

    def __init__(self, wire: _GCSWire, key: str) -> None:
        self._wire = wire
        self._key = key
        self._what = wire.where(key)
        self._session: str | None = None

    async def single(self, data: bytes) -> None:
        await retrying(self._wire.retry, lambda: self._wire.put(self._key, data), self._what)

    async def start(self) -> None:
        async def begin() -> str:
            _, headers, _ = await self._wire.request(
                "POST",
                self._wire.upload_url,
                self._what,
                params={"uploadType": "resumable", "name": self._key},
                json={"name": self._key},
            )
            return str(headers["Location"])

        self._session = await retrying(self._wire.retry, begin, self._what)

    async def send(self, number: int, offset: int, part: Part, total: int | None) -> None:
        """Send the chunk; after a failure, ask the server what it holds and go on from there
        (re-sending held bytes would not be safe everywhere)."""
        end, held, tries = offset + len(part.getbuffer()), offset, 0

        async def attempt() -> int:
            nonlocal tries
            tries += 1
            start = held if tries == 1 else await self._put(None, Part(), total)
            if start >= end:
                return start
            if start == offset:
                part.seek(0)
                return await self._put(start, part, total)
            return await self._put(start, Part(part.getbuffer()[start - offset :]), total)

        while held < end:
            tries = 0
            held = await retrying(self._wire.retry, attempt, self._what)

    async def _put(self, offset: int | None, chunk: Part, total: int | None) -> int:
        """Send ``chunk`` at ``offset`` (None: only ask); return the bytes the server holds."""
        assert self._session is not None
        size = "*" if total is None else str(total)
        length = len(chunk.getbuffer())
        span = (
            f"bytes */{size}" if offset is None else f"bytes {offset}-{offset + length - 1}/{size}"
        )
        status, headers, _ = await self._wire.request(
            "PUT",
            self._session,
            self._what,
            ok=(200, 201, 308),
            data=chunk,
            headers={"Content-Range": span},
        )
        if status != 308:
            return total if total is not None else 0  # the upload is finished
        held = headers.get("Range")
        return int(held.rsplit("-", 1)[1]) + 1 if held else 0

    async def finish(self) -> None:
        self._session = None  # the last chunk finished it

    async def abort(self) -> None:
        if self._session is not None:
            with contextlib.suppress(BackendError):
                await self._wire.request("DELETE", self._session, self._what, ok=(204, 499, 200))
            self._session = None


class _GCSRanges:
    """Opens the object's bytes from an offset, pinned to the first answer's generation."""

    def __init__(self, wire: _GCSWire, key: str) -> None:
        self._wire = wire
        self._key = key
        self._what = wire.where(key)
        self._generation: str | None = None
        self.size = 0

    async def open(self, offset: int) -> Any:
        params, headers = {"alt": "media"}, {}
        if self._generation is not None:
            params["ifGenerationMatch"] = self._generation
            headers["Range"] = f"bytes={offset}-"
        url = self._wire.object_url(self._key)
        response = await self._wire.open("GET", url, self._what, params=params, headers=headers)
        if response.status not in (200, 206):
            with _gcs_errors(self._what):
                body = await response.read()
                response.release()
                raise _Status(response.status, body)
        if self._generation is None:
            self._generation = str(response.headers.get("X-Goog-Generation", ""))
            self.size = int(response.headers.get("Content-Length", 0))
        return response

    async def read(self, body: Any, size: int) -> bytes:
        with _gcs_errors(self._what):
            data: bytes = await body.content.read(size)
        return data

    def close(self, body: Any) -> None:
        body.release()


class GCSStore(RemoteStore):
    """A prefix of a GCS bucket as an `ObjectStore` (see `RemoteStore`)."""

    def __init__(
        self, fs: gcsfs.GCSFileSystem, bucket: str, prefix: str, scheme: str = "gs", **tuning: Any
    ) -> None:
        attempts = {"attempts": int(tuning["max_attempts"])} if "max_attempts" in tuning else {}
        retry = RetryPolicy(**attempts)
        wire = _GCSWire(fs, bucket, retry, int(tuning.get("part_size", PART_SIZE)))
        url = f"{scheme}://{bucket}/{prefix}" if prefix else f"{scheme}://{bucket}"
        super().__init__(wire, url=url, prefix=prefix, run=wire.run, retry=retry)


def _check_bucket(bucket: str) -> str | None:
    """Why ``bucket`` is not a valid GCS bucket name, or None."""
    if not _BUCKET.fullmatch(bucket) or any(len(p) > 63 for p in bucket.split(".")):
        return (
            "3-63 lowercase letters, digits, '-', '_' and '.' (up to 222 with dots), "
            "starting and ending alphanumeric"
        )
    if bucket.startswith("goog") or "google" in bucket or ".." in bucket:
        return "no 'goog' prefix, no 'google', no '..'"
    return None


def gcs_store(url: str, **options: Any) -> GCSStore:
    """The `GCSStore` at ``gs://bucket/prefix`` (or ``gcs://``), taking the options
    `open_gcs` takes.

    Sends no request and writes no format marker: `open_gcs` adds the marker for a files
    registry, and a SQL registry keeps its blobs here as they are.
    """
    bucket, prefix = split_url(url, ("gs", "gcs"), _check_bucket)
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        known = ", ".join(sorted(_OPTIONS))
        raise InvalidInput(f"unknown option(s) {', '.join(unknown)} for gs://; known: {known}")
    tuning = {k: options.pop(k) for k in ("part_size", "max_attempts") if k in options}
    part_size = int(tuning.get("part_size", PART_SIZE))
    if part_size <= 0 or part_size % (256 * 1024):
        raise InvalidInput("part_size must be a positive multiple of 256 KiB for GCS")
    core = _import_gcsfs()
    fs = core.GCSFileSystem(**options)  # the plain class: no gRPC bucket-type probes
    scheme = url.partition("://")[0].lower()
    return GCSStore(fs, bucket, prefix, scheme, **tuning)


def open_gcs(url: str, **options: Any) -> FilesRepository:
    """Open (or start) the registry at ``gs://bucket/prefix`` (``gcs://`` works too).

    Options: ``endpoint_url``, ``token``, ``project``, ``access``, ``requester_pays`` (as
    gcsfs takes them), and ``part_size`` (bytes per resumable chunk, a multiple of 256 KiB,
    default 64 MiB) and ``max_attempts`` (per request).
    """
    return FilesRepository.open(gcs_store(url, **options))
