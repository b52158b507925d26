"""The proxied artifact API: ``/api/2.0/mlflow-artifacts/artifacts/<model>/<version>/<path>``.

Paths are read from the raw request path, one percent-decoding per segment, and refused
(400 ``INVALID_PARAMETER_VALUE``) when a segment is empty (absolute paths, ``//``), ``.``
or ``..``, or holds ``/``, ``\\``, NUL or another control character, or a second level of
percent-encoding. The model is every segment before the first SemVer one (a model name
may not have a SemVer segment after its first), the version that segment, the artifact
path the rest; `registry_core.ArtifactPath` then applies the artifact path rules.

Uploads stream the request body into `Registry.upload` from a worker thread that pulls
the body from the event loop chunk by chunk, so memory stays flat whatever the size.
Downloads stream out through the registry's verifying reader, holding back the last chunk
until the SHA-256 has matched: a corrupt artifact never reaches the client whole.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import unquote_to_bytes

import anyio.from_thread
from starlette.types import Message, Receive

from registry_core import (
    Artifact,
    ArtifactPath,
    IntegrityError,
    InvalidPath,
    ModelVersion,
    NotFound,
    Registry,
    Version,
)
from registry_server.errors import ApiError, logger

__all__ = [
    "ARTIFACTS",
    "BodyReader",
    "PackagePath",
    "delete_artifact",
    "list_artifacts",
    "open_download",
    "parse_query_path",
    "parse_raw_path",
    "store_upload",
    "verified_chunks",
]

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_CHUNK = 1024 * 1024
_DOUBLE_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_SEMVER_START = re.compile(r"\d")


class PackagePath:
    """A request's target: a model, one of its versions, and a path inside it (or None);
    or, with ``run_id``, one of modelreg's runs (``.modelreg/runs/<experiment>/<run>``)."""

    def __init__(
        self, model: str, version: str, path: str | None, run_id: str | None = None
    ) -> None:
        self.model = model
        self.version = version
        self.path = path
        self.run_id = run_id

    @property
    def label(self) -> str:
        return f"run {self.run_id}" if self.run_id else f"{self.model}/{self.version}"


def _bad(message: str) -> ApiError:
    return ApiError.invalid(f"invalid artifact path: {message}")


def _check_segment(segment: str) -> str:
    if not segment:
        raise _bad("empty segment (absolute path, '//' or a trailing '/')")
    if segment in (".", ".."):
        raise _bad(f"segment {segment!r} is not allowed")
    if "/" in segment or "\\" in segment:
        raise _bad("an encoded '/' or a backslash inside a segment")
    if any(ord(char) < 32 or ord(char) == 127 for char in segment):
        raise _bad("NUL or another control character")
    if _DOUBLE_ENCODED.search(segment):
        raise _bad("percent-encoding inside percent-encoding")
    return segment


def _split(segments: list[str]) -> PackagePath:
    if segments[0].lower() == ".modelreg":  # no model has this name: a run's files
        if (
            len(segments) < 4
            or segments[1] != "runs"
            or not segments[3].startswith(segments[2] + "-")
        ):
            raise _bad("a run's files are at .modelreg/runs/<experiment id>/<run id>/")
        rest = segments[4:]
        return PackagePath("", "", "/".join(rest) if rest else None, run_id=segments[3])
    for index in range(1, len(segments)):
        if _SEMVER_START.match(segments[index]):
            try:
                Version.parse(segments[index])
            except ValueError:
                continue
            rest = segments[index + 1 :]
            return PackagePath(
                "/".join(segments[:index]), segments[index], "/".join(rest) if rest else None
            )
    raise _bad("it must start with <model>/<version> (the run's artifact_uri)")


def parse_raw_path(raw_path: bytes) -> PackagePath:
    """The target of an artifact URL, from the undecoded request path."""
    marker = ARTIFACTS.encode() + b"/"
    start = raw_path.find(marker)
    if start < 0:
        raise _bad("not under the artifact API")
    segments = []
    for raw in raw_path[start + len(marker) :].split(b"/"):
        try:
            text = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("not UTF-8") from None
        segments.append(_check_segment(text))
    return _split(segments)


def parse_query_path(path: str) -> PackagePath:
    """The target of a listing (``?path=<model>/<version>[/<dir>]``, already decoded once)."""
    if path.endswith("/") and len(path) > 1:
        path = path[:-1]
    return _split([_check_segment(segment) for segment in path.split("/")])


def _artifact_path(text: str) -> ArtifactPath:
    try:
        return ArtifactPath.parse(text)
    except InvalidPath as error:
        raise ApiError.invalid(str(error)) from None


# -- listing --------------------------------------------------------------------------


def _files(reg: Registry, target: PackagePath) -> tuple[Artifact, ...]:
    if target.run_id is not None:
        return reg.list_run_artifacts(target.run_id)
    return reg.get_version(target.model, target.version).artifacts


def list_artifacts(reg: Registry, target: PackagePath) -> dict[str, Any]:
    """One directory level, names relative to it; a file or a missing folder lists empty."""
    files = _files(reg, target)
    folder = None if target.path is None else _artifact_path(target.path)
    depth = 0 if folder is None else len(folder.segments)
    entries: dict[str, dict[str, Any]] = {}
    for artifact in files:
        if folder is not None and not artifact.path.is_within(folder):
            continue
        rest = artifact.path.segments[depth:]
        if not rest:  # the listed path is this file
            return {"files": []}
        if len(rest) == 1:
            entries[rest[0]] = {"path": rest[0], "is_dir": False, "file_size": artifact.size}
        else:
            entries.setdefault(rest[0], {"path": rest[0], "is_dir": True})
    return {"files": [entries[name] for name in sorted(entries)]}


# -- download -------------------------------------------------------------------------


def open_download(reg: Registry, target: PackagePath) -> tuple[IO[bytes], int]:
    """A verifying stream of the artifact and its size; 404 for a folder or nothing."""
    if target.path is None:
        raise ApiError.not_found("name an artifact inside the version to download it")
    path = _artifact_path(target.path)
    if target.run_id is not None:
        found = [a for a in reg.list_run_artifacts(target.run_id) if a.path.key == path.key]
        if not found:
            raise NotFound(f"artifact '{path}' does not exist in run '{target.run_id}'")
        return reg.open_run_artifact(target.run_id, path), found[0].size
    entity = reg.get_version(target.model, target.version)
    artifact = entity.artifact(path)
    if artifact is None:
        raise NotFound(f"artifact '{path}' does not exist in {entity.package}")
    return reg.open_artifact(entity.model, entity.version, artifact.path), artifact.size


def verified_chunks(stream: IO[bytes], name: str) -> Iterator[bytes]:
    """The stream's chunks, each sent only once the next read succeeded: the read that
    reaches the end checks the SHA-256, so a mismatch cuts the body short."""
    try:
        pending = stream.read(_CHUNK)
        while pending:
            following = stream.read(_CHUNK)
            yield pending
            pending = following
    except IntegrityError as error:
        logger.error("download of %s cut short: %s", name, error)
        raise
    finally:
        stream.close()


# -- upload ---------------------------------------------------------------------------


class TooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            "RESOURCE_LIMIT_EXCEEDED",
            f"the artifact is larger than the limit of {limit} bytes",
        )


class BodyReader(io.RawIOBase):
    """The request body as a blocking binary stream, for a worker thread.

    Each read pulls at most one ASGI message from the event loop; nothing is held beyond
    the message being handed over. Past ``limit`` bytes it raises `TooLarge`.
    """

    def __init__(self, receive: Receive, limit: int | None) -> None:
        super().__init__()
        self._receive = receive
        self._limit = limit
        self._pending = b""
        self._done = False
        self.size = 0

    def readable(self) -> bool:
        return True

    async def _next(self) -> Message:
        return await self._receive()

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            message = anyio.from_thread.run(self._next)
            if message["type"] == "http.disconnect":
                raise ApiError(400, "BAD_REQUEST", "the client went away during the upload")
            self._pending = message.get("body", b"")
            self._done = not message.get("more_body", False)
            self.size += len(self._pending)
            if self._limit is not None and self.size > self._limit:
                raise TooLarge(self._limit)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def store_upload(reg: Registry, target: PackagePath, body: io.RawIOBase) -> None:
    """Stream ``body`` into the draft at ``target``; an existing file there is replaced
    (MLflow overwrites, and a retried PUT re-sends the same bytes)."""
    if target.path is None:
        raise _bad("name the file to upload after <model>/<version>/")
    path = _artifact_path(target.path)
    if target.run_id is not None:
        run = reg.get_run(target.run_id)
        own = run.artifact(path)
        if own is not None:
            reg.delete_run_artifacts(run.id, [own.path.value])
        reader = io.BufferedReader(body, buffer_size=_CHUNK)
        reg.upload_run_artifact(run.id, reader, name=path.value)
        return
    entity: ModelVersion = reg.get_version(target.model, target.version)
    existing = entity.artifact(path)
    if existing is not None:
        reg.delete_artifacts(entity.model, entity.version, [existing.path.value])
    reader = io.BufferedReader(body, buffer_size=_CHUNK)
    reg.upload(entity.model, entity.version, reader, name=path.value)


def delete_artifact(reg: Registry, target: PackagePath) -> None:
    """Delete a file, or every file under a folder, of a draft or a run."""
    if target.run_id is not None:
        run = reg.get_run(target.run_id)
        wanted = None if target.path is None else _artifact_path(target.path)
        own = [a.path.value for a in run.artifacts if wanted is None or a.path.is_within(wanted)]
        if wanted is not None and not own:
            raise NotFound(f"artifact '{wanted}' does not exist in run '{run.id}'")
        if own:
            reg.delete_run_artifacts(run.id, own)
        return
    entity = reg.get_version(target.model, target.version)
    if target.path is None:
        paths = [a.path.value for a in entity.artifacts]
    else:
        wanted = _artifact_path(target.path)
        paths = [a.path.value for a in entity.artifacts if a.path.is_within(wanted)]
        if not paths:
            raise NotFound(f"artifact '{wanted}' does not exist in {entity.package}")
    if paths:
        reg.delete_artifacts(entity.model, entity.version, paths)
