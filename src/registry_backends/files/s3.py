"""`S3Store`: the files backend on Amazon S3 (or any S3 API: MinIO, moto, R2...).

``open_registry("s3://bucket/prefix", endpoint_url=..., key=..., secret=...)``; without
credentials, botocore's standard discovery applies (environment, profile, instance role).
Requests go through s3fs's aiobotocore client with botocore's and s3fs's retries off, so
that `registry_backends.files._remote` retries them and knows when it did.

Atomic primitives, each one PutObject/DeleteObject (documents are small, so never the
multipart path, where s3fs would drop ``IfMatch``): create = ``IfNoneMatch: *``, swap =
``IfMatch: <ETag>``, conditional delete = ``IfMatch``. Blobs stream as multipart uploads
of 16 MiB parts, three in flight, completed on ``commit`` and aborted on failure; a blob
under one part is a single PutObject at commit.

A blob is copied server-side, as s3fs's ``_cp_file`` does: CopyObject up to 1 GiB, above
that a multipart upload of UploadPartCopy parts of 1 GiB, four at a time, each pinned to
the source's ETag (CopyObject would take up to 5 GiB, but parts in parallel copy a large
object faster). Either way the copy appears whole at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import re
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

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
    import s3fs

__all__ = ["S3Store", "open_s3", "s3_store"]

PART_SIZE = 16 * 2**20
IN_FLIGHT = 3  # parts uploading at once: memory is (IN_FLIGHT + 1) * PART_SIZE
#: The largest object copied by one CopyObject (S3 takes 5 GiB); larger ones go in parts.
COPY_LIMIT = 2**30
#: Parts of a multipart copy (S3 takes up to 10,000 of up to 5 GiB): 5 TiB in 5,120.
COPY_PART = 2**30
COPY_IN_FLIGHT = 4
_OPTIONS = frozenset(
    {
        "endpoint_url",
        "key",
        "secret",
        "token",
        "profile",
        "region",
        "anon",
        "client_kwargs",
        "config_kwargs",
        "part_size",
        "max_attempts",
    }
)
_THROTTLED = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeout"}
)
_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _import_s3fs() -> Any:
    try:
        import s3fs
    except ImportError as error:
        raise BackendNotInstalled(
            f"the 's3' backend needs s3fs; install it with {install_command('s3')}"
        ) from error
    return s3fs


@contextlib.contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    """The one place S3's errors become registry errors (chained, credentials never named)."""
    import aiohttp
    from botocore import exceptions as boto

    try:
        yield
    except boto.ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if status == 412 or code == "PreconditionFailed":
            raise PreconditionFailed(f"a condition on {what} did not hold") from error
        if code == "NoSuchBucket":
            raise BackendError(f"the bucket of {what} does not exist") from error
        if status == 404 or code in ("NoSuchKey", "NoSuchUpload", "NotFound"):
            raise NotFound(f"{what} does not exist") from error
        if status in (500, 502, 503, 504) or code in _THROTTLED or code == "InternalError":
            raise TransientError(f"S3 answered {code or status} on {what}") from error
        if status in (401, 403) or code in _DENIED:
            raise BackendError(f"S3 refused access ({code or status}) to {what}") from error
        raise BackendError(f"S3 answered {code or status} on {what}") from error
    except (boto.HTTPClientError, boto.ConnectionError, aiohttp.ClientError) as error:
        raise TransientError(f"{type(error).__name__} on {what}") from error
    except (asyncio.TimeoutError, ConnectionError) as error:
        raise TransientError(f"{type(error).__name__} on {what}") from error
    except boto.NoCredentialsError as error:
        raise BackendError(f"no AWS credentials found for {what}") from error
    except boto.BotoCoreError as error:
        raise BackendError(f"{type(error).__name__} on {what}") from error


class _S3Wire:
    """The S3 requests of `RemoteStore`, on s3fs's aiobotocore client."""

    def __init__(
        self, fs: s3fs.S3FileSystem, bucket: str, retry: RetryPolicy, part_size: int
    ) -> None:
        self.fs = fs
        self.bucket = bucket
        self.retry = retry
        self.part_size = part_size
        self.run = loop_runner(fs.loop)

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    async def client(self) -> Any:
        return await self.fs.set_session()

    async def call(self, method: str, key: str, **kwargs: Any) -> Any:
        client = await self.client()
        with _s3_errors(self.where(key)):
            return await getattr(client, method)(Bucket=self.bucket, **kwargs)

    async def get(self, key: str) -> tuple[bytes, str]:
        response = await self.call("get_object", key, Key=key)
        with _s3_errors(self.where(key)):
            async with response["Body"] as body:
                data = await body.read()
        return data, str(response["ETag"])

    async def head(self, key: str) -> str:
        return str((await self.call("head_object", key, Key=key))["ETag"])

    async def put(
        self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        condition = {"IfNoneMatch": "*"} if if_absent else {}
        if if_match is not None:
            condition["IfMatch"] = if_match
        response = await self.call("put_object", key, Key=key, Body=data, **condition)
        return str(response["ETag"])

    async def delete(self, key: str, *, if_match: str | None = None) -> None:
        condition = {} if if_match is None else {"IfMatch": if_match}
        await self.call("delete_object", key, Key=key, **condition)

    async def delete_many(self, keys: list[str]) -> None:
        objects = [{"Key": key} for key in keys]
        response = await self.call(
            "delete_objects", keys[0], Delete={"Objects": objects, "Quiet": True}
        )
        errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
        if errors:
            first = errors[0]
            kind = TransientError if first.get("Code") in _THROTTLED | {"InternalError"} else None
            message = f"S3 could not delete {self.where(first.get('Key', ''))}: {first.get('Code')}"
            raise (kind or BackendError)(message)

    async def list_keys(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        limit: int = 1000,
        delimiter: bool = False,
        token: str | None = None,
    ) -> ListPage:
        options: dict[str, Any] = {"Prefix": prefix, "MaxKeys": limit}
        if start_after is not None:
            options["StartAfter"] = start_after
        if delimiter:
            options["Delimiter"] = "/"
        if token is not None:
            options["ContinuationToken"] = token
        response = await self.call("list_objects_v2", prefix, **options)
        objects = [
            Listed(item["Key"], int(item.get("Size", 0)), str(item.get("ETag", "")))
            for item in response.get("Contents", [])
        ]
        folders = [item["Prefix"] for item in response.get("CommonPrefixes", [])]
        more = bool(response.get("IsTruncated"))
        return ListPage(objects, folders, more, response.get("NextContinuationToken"))

    def open_writer(self, key: str) -> RemoteWriter:
        return RemoteWriter(
            _Multipart(self, key), self.fs.loop, part_size=self.part_size, in_flight=IN_FLIGHT
        )

    def open_read(self, key: str) -> IO[bytes]:
        return RemoteReader.open(_S3Ranges(self, key), self.run, self.retry, self.where(key))

    async def retried(self, method: str, key: str, **kwargs: Any) -> Any:
        """`call`, retrying transient failures."""
        return await retrying(self.retry, lambda: self.call(method, key, **kwargs), key)

    async def copy(self, source: str, target: str) -> None:
        """CopyObject, or a multipart copy above `COPY_LIMIT`; see the module docstring."""
        head = await self.retried("head_object", source, Key=source)
        size, etag = int(head.get("ContentLength", 0)), str(head["ETag"])
        origin = {"Bucket": self.bucket, "Key": source}
        if size <= COPY_LIMIT:
            await self.retried("copy_object", source, Key=target, CopySource=origin)
        else:
            await _copy_in_parts(self, origin, target, size, etag)

    async def uploads(self, prefix: str, older_than_seconds: float) -> list[str]:
        cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=older_than_seconds)
        found: list[str] = []
        markers: dict[str, str] = {}
        while True:
            response = await self.call("list_multipart_uploads", prefix, Prefix=prefix, **markers)
            found += [
                f"{u['Key']}?uploadId={u['UploadId']}"
                for u in response.get("Uploads", [])
                if u["Initiated"] <= cutoff
            ]
            if not response.get("IsTruncated"):
                return found
            markers = {
                "KeyMarker": response["NextKeyMarker"],
                "UploadIdMarker": response["NextUploadIdMarker"],
            }

    async def abort_upload(self, name: str) -> None:
        key, _, upload = name.rpartition("?uploadId=")
        await self.call("abort_multipart_upload", key, Key=key, UploadId=upload)


async def _copy_in_parts(
    wire: _S3Wire, origin: dict[str, str], target: str, size: int, etag: str
) -> None:
    """UploadPartCopy in `COPY_PART` ranges, each only from the source's version with
    ``etag``; the copy appears at ``target`` when the upload completes."""
    pinned = {"Key": target, "CopySource": origin, "CopySourceIfMatch": etag}
    upload = str((await wire.retried("create_multipart_upload", target, Key=target))["UploadId"])

    async def part(number: int, first: int) -> str:
        last = min(first + COPY_PART, size) - 1
        answer = await wire.retried(
            "upload_part_copy",
            target,
            UploadId=upload,
            PartNumber=number,
            CopySourceRange=f"bytes={first}-{last}",
            **pinned,
        )
        return str(answer["CopyPartResult"]["ETag"])

    try:
        starts = enumerate(range(0, size, COPY_PART), 1)
        etags = await gather_limited(
            [functools.partial(part, n, first) for n, first in starts], COPY_IN_FLIGHT
        )
        parts = [{"ETag": tag, "PartNumber": n} for n, tag in enumerate(etags, 1)]
        try:
            await wire.retried(
                "complete_multipart_upload",
                target,
                Key=target,
                UploadId=upload,
                MultipartUpload={"Parts": parts},
            )
        except NotFound:  # a retry after a lost answer: done if the object is this upload
            if await wire.head(target) != _multipart_etag(etags):
                raise
    except BaseException:
        with contextlib.suppress(BackendError):
            await wire.call("abort_multipart_upload", target, Key=target, UploadId=upload)
        raise


def _multipart_etag(etags: list[str]) -> str:
    """The ETag S3 gives the object a multipart upload of parts with ``etags`` made."""
    digests = b"".join(bytes.fromhex(tag.strip('"')) for tag in etags)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(etags)}"'


class _Multipart:
    """The parts of one multipart upload (`RemoteWriter` decides when to send them)."""

    def __init__(self, wire: _S3Wire, key: str) -> None:
        self._wire = wire
        self._key = key
        self._upload: str | None = None
        self._etags: dict[int, str] = {}

    async def _retried(self, method: str, **kwargs: Any) -> Any:
        wire = self._wire
        return await retrying(
            wire.retry, lambda: wire.call(method, self._key, Key=self._key, **kwargs), self._key
        )

    async def single(self, data: bytes) -> None:
        await self._retried("put_object", Body=data)

    async def start(self) -> None:
        self._upload = str((await self._retried("create_multipart_upload"))["UploadId"])

    async def send(self, number: int, offset: int, part: Part, total: int | None) -> None:
        async def upload() -> Any:
            part.seek(0)
            return await self._wire.call(
                "upload_part",
                self._key,
                Key=self._key,
                UploadId=self._upload,
                PartNumber=number,
                Body=part,
            )

        response = await retrying(self._wire.retry, upload, self._key)
        self._etags[number] = str(response["ETag"])

    async def finish(self) -> None:
        parts = [{"ETag": self._etags[n], "PartNumber": n} for n in sorted(self._etags)]
        try:
            await self._retried(
                "complete_multipart_upload",
                UploadId=self._upload,
                MultipartUpload={"Parts": parts},
            )
        except NotFound:  # a retry after a lost answer: done if the object is this upload
            etags = [self._etags[n] for n in sorted(self._etags)]
            if await self._wire.head(self._key) != _multipart_etag(etags):
                raise
        self._upload = None

    async def abort(self) -> None:
        if self._upload is not None:
            with contextlib.suppress(NotFound):
                await self._retried("abort_multipart_upload", UploadId=self._upload)
            self._upload = None


class _S3Ranges:
    """Opens the object's bytes from an offset, pinned to the first answer's ETag."""

    def __init__(self, wire: _S3Wire, key: str) -> None:
        self._wire = wire
        self._key = key
        self._etag: str | None = None
        self.size = 0

    async def open(self, offset: int) -> Any:
        extra: dict[str, Any] = {}
        if self._etag is not None:
            extra = {"IfMatch": self._etag, "Range": f"bytes={offset}-"}
        response = await self._wire.call("get_object", self._key, Key=self._key, **extra)
        if self._etag is None:
            self._etag = str(response["ETag"])
            self.size = int(response.get("ContentLength", 0))
        return response["Body"]

    async def read(self, body: Any, size: int) -> bytes:
        with _s3_errors(self._wire.where(self._key)):
            data: bytes = await body.read(size)
        return data

    def close(self, body: Any) -> None:
        with contextlib.suppress(Exception):
            body.close()


class S3Store(RemoteStore):
    """A prefix of an S3 bucket as an `ObjectStore` (see `RemoteStore`)."""

    def __init__(self, fs: s3fs.S3FileSystem, bucket: str, prefix: str, **tuning: Any) -> None:
        retry = RetryPolicy(
            **({"attempts": int(tuning["max_attempts"])} if "max_attempts" in tuning else {})
        )
        wire = _S3Wire(fs, bucket, retry, int(tuning.get("part_size", PART_SIZE)))
        url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        super().__init__(wire, url=url, prefix=prefix, run=wire.run, retry=retry)


def _check_bucket(bucket: str) -> str | None:
    """Why ``bucket`` is not a valid S3 bucket name, or None."""
    if not _BUCKET.fullmatch(bucket):
        return "3-63 lowercase letters, digits, '.' and '-', starting and ending alphanumeric"
    if ".." in bucket or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket):
        return "no '..' and not an IP address"
    return None


def s3_store(url: str, **options: Any) -> S3Store:
    """The `S3Store` at ``s3://bucket/prefix``, taking the options `open_s3` takes.

    Sends no request and writes no format marker: `open_s3` adds the marker for a files
    registry, and a SQL registry keeps its blobs here as they are.
    """
    bucket, prefix = split_url(url, ("s3",), _check_bucket)
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        known = ", ".join(sorted(_OPTIONS))
        raise InvalidInput(f"unknown option(s) {', '.join(unknown)} for s3://; known: {known}")
    tuning = {k: options.pop(k) for k in ("part_size", "max_attempts") if k in options}
    if int(tuning.get("part_size", PART_SIZE)) < 5 * 2**20:
        raise InvalidInput("part_size must be at least 5 MiB (S3's smallest multipart part)")
    s3fs = _import_s3fs()
    client_kwargs = dict(options.pop("client_kwargs", None) or {})
    if "region" in options:
        client_kwargs["region_name"] = options.pop("region")
    config_kwargs = dict(options.pop("config_kwargs", None) or {})
    config_kwargs.setdefault("retries", {"total_max_attempts": 1})  # we retry ourselves
    fs = s3fs.S3FileSystem(client_kwargs=client_kwargs, config_kwargs=config_kwargs, **options)
    fs.retries = 1
    return S3Store(fs, bucket, prefix, **tuning)


def open_s3(url: str, **options: Any) -> FilesRepository:
    """Open (or start) the registry at ``s3://bucket/prefix``.

    Options: ``endpoint_url``, ``key``/``secret``/``token``, ``profile``, ``region``,
    ``anon``, ``client_kwargs``, ``config_kwargs`` (as s3fs takes them), and ``part_size``
    (bytes per multipart part, default 16 MiB) and ``max_attempts`` (per request).
    """
    return FilesRepository.open(s3_store(url, **options))
