"""A version's files on its page: the folder tree, downloads, uploads, deleting, logs.

Everything streams. A download goes out through the registry's verifying reader
(`verified_chunks`: the last chunk is held back until the SHA-256 matched); "Download all"
is one tar written file by file (the manifest gives each member's size up front, so no
file is buffered). An upload from the page's script is one ``PUT`` per file whose body is
read chunk by chunk from the event loop (`BodyReader`) straight into `Registry.upload`;
the form without a script posts multipart, which Starlette spools to disk, and each
spooled file is streamed in the same way.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator
from typing import IO
from urllib.parse import quote

import attrs
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response, StreamingResponse

from registry_core import (
    Artifact,
    ArtifactPath,
    InvalidInput,
    ModelVersion,
    NotFound,
    Registry,
    RegistryError,
)
from registry_server.artifacts_api import BodyReader, verified_chunks
from registry_server.errors import ApiError
from registry_server.ui._web import Page, Visit, redirect, status_for, streamed

__all__ = [
    "LOG_TAIL_BYTES",
    "Folder",
    "LogView",
    "delete_files",
    "delete_files_page",
    "download",
    "download_all",
    "file_response",
    "read_logs",
    "tree",
    "upload",
    "upload_file",
    "upload_limit",
]

#: How much of a log the page shows: its last MiB.
LOG_TAIL_BYTES = 1024 * 1024
_CHUNK = 1024 * 1024
#: After a refused upload, how much of the unread body is read and dropped so that the
#: browser gets the answer (a client still sending when the connection closes sees none).
_DRAIN_BYTES = 16 * 1024 * 1024
_BLOCK = tarfile.BLOCKSIZE


# -- the tree -------------------------------------------------------------------------


@attrs.define
class Folder:
    """One folder of the manifest: its subfolders (by name) and its files, sorted."""

    name: str
    path: str
    folders: list[Folder] = attrs.field(factory=list)
    files: list[Artifact] = attrs.field(factory=list)


def tree(artifacts: Iterable[Artifact]) -> Folder:
    """The manifest as nested folders by path segment (the root has no name)."""
    root = Folder("", "")
    index: dict[str, Folder] = {"": root}
    for artifact in sorted(artifacts, key=lambda a: a.path.segments):
        parent = root
        for depth, segment in enumerate(artifact.path.segments[:-1], start=1):
            path = "/".join(artifact.path.segments[:depth])
            folder = index.get(path)
            if folder is None:
                folder = index[path] = Folder(segment, path)
                parent.folders.append(folder)
            parent = folder
        parent.files.append(artifact)
    return root


def _entity(visit: Visit) -> ModelVersion:
    assert visit.model is not None and visit.version is not None
    return visit.registry.get_version(visit.model, visit.version)


def _back(visit: Visit, entity: ModelVersion) -> str:
    return visit.links.version(entity.model, entity.version, tab="artifacts")


def _disposition(name: str) -> str:
    """``attachment`` with the file's name, safe for any characters in it."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# -- downloads ------------------------------------------------------------------------


def file_response(stream: IO[bytes], artifact: Artifact, package: str) -> Response:
    """``artifact`` (of ``package``) as a download, streamed from the registry's verifying
    ``stream``: a version's file and a run's alike."""
    return StreamingResponse(
        verified_chunks(stream, f"{package}/{artifact.path}"),
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(artifact.size),
            "Content-Disposition": _disposition(artifact.path.segments[-1]),
        },
    )


def download(visit: Visit) -> Response:
    """One file, streamed and verified on the way out."""
    entity = _entity(visit)
    path = ArtifactPath.parse(visit.query.get("path", ""))
    artifact = entity.artifact(path)
    if artifact is None:
        raise NotFound(f"artifact '{path}' does not exist in {entity.package}")
    stream = visit.registry.open_artifact(entity.model, entity.version, artifact.path)
    return file_response(stream, artifact, entity.package)


def _tar_size(artifacts: Iterable[Artifact], headers: Iterable[bytes]) -> int:
    """The length of the tar `_tar_chunks` writes: each header, each file padded to a
    block, and the two empty blocks that end the archive."""
    body = sum(-(-a.size // _BLOCK) * _BLOCK for a in artifacts)
    return sum(len(h) for h in headers) + body + 2 * _BLOCK


def _tar_header(entity: ModelVersion, artifact: Artifact) -> bytes:
    info = tarfile.TarInfo(artifact.path.value)
    info.size = artifact.size
    info.mode = 0o644
    info.mtime = int((entity.published_at or entity.created_at).timestamp())
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def _tar_chunks(registry: Registry, entity: ModelVersion) -> Iterator[bytes]:
    """A tar of every artifact, member by member, each verified as it is read."""
    for artifact in entity.artifacts:
        yield _tar_header(entity, artifact)
        stream = registry.open_artifact(entity.model, entity.version, artifact.path)
        yield from verified_chunks(stream, f"{entity.package}/{artifact.path}")
        padding = -artifact.size % _BLOCK
        if padding:
            yield bytes(padding)
    yield bytes(2 * _BLOCK)


def download_all(visit: Visit) -> Response:
    """Every file as one tar, ``<model>-<version>.tar``, streamed with flat memory."""
    entity = _entity(visit)
    headers = [_tar_header(entity, a) for a in entity.artifacts]
    name = f"{str(entity.model).replace('/', '-')}-{entity.version}.tar"
    return StreamingResponse(
        _tar_chunks(visit.registry, entity),
        media_type="application/x-tar",
        headers={
            "Content-Length": str(_tar_size(entity.artifacts, headers)),
            "Content-Disposition": _disposition(name),
        },
    )


# -- deleting -------------------------------------------------------------------------


def _chosen(entity: ModelVersion, paths: Iterable[object]) -> list[Artifact]:
    chosen = []
    for text in paths:
        if not isinstance(text, str):
            raise InvalidInput("a path to delete must be text")
        path = ArtifactPath.parse(text)
        artifact = entity.artifact(path)
        if artifact is None:
            raise NotFound(f"artifact '{path}' does not exist in {entity.package}")
        if artifact not in chosen:
            chosen.append(artifact)
    return sorted(chosen, key=lambda a: a.path.key)


def delete_files_page(visit: Visit) -> Page | Response:
    """The confirmation: exactly the ticked files, each kept in the form that deletes."""
    entity = _entity(visit)
    chosen = _chosen(entity, visit.request.query_params.getlist("path"))
    if not chosen:
        return redirect(_back(visit, entity), "Tick the files to delete first.", error=True)
    return Page("version_delete_files.html", {"v": entity, "chosen": chosen})


def delete_files(visit: Visit) -> Response:
    entity = _entity(visit)
    chosen = _chosen(entity, visit.form.getlist("path") if visit.form is not None else [])
    if not chosen:
        return redirect(_back(visit, entity), "No files were chosen.", error=True)
    visit.registry.delete_artifacts(entity.model, entity.version, [a.path.value for a in chosen])
    count = len(chosen)
    return redirect(_back(visit, entity), f"Deleted {count} file{'' if count == 1 else 's'}.")


# -- uploads --------------------------------------------------------------------------


def upload_limit(visit: Visit) -> int | None:
    """The largest upload accepted (None: no limit), as `create_app` was told."""
    return visit.config.max_artifact_bytes


def _too_large(name: str, size: int, limit: int) -> InvalidInput:
    return InvalidInput(f"'{name}' is {size} bytes; the largest upload accepted is {limit} bytes")


def upload(visit: Visit) -> Response:
    """The form without a script: each spooled file streamed into the draft in turn."""
    entity = _entity(visit)
    subfolder = visit.field("subfolder").strip().strip("/") or None
    files = [
        f
        for f in (visit.form.getlist("files") if visit.form is not None else [])
        if isinstance(f, UploadFile) and f.filename
    ]
    if not files:
        return redirect(_back(visit, entity), "Choose the files to upload first.", error=True)
    limit = upload_limit(visit)
    done, problems = [], []
    for item in files:
        name = item.filename or ""
        try:
            if limit is not None and item.size is not None and item.size > limit:
                raise _too_large(name, item.size, limit)
            item.file.seek(0)
            artifact = visit.registry.upload(
                entity.model, entity.version, item.file, name=name, subfolder=subfolder
            )
            done.append(artifact.path.value)
        except RegistryError as error:
            problems.append(str(error))
    if problems:
        uploaded = f" Uploaded: {', '.join(done)}." if done else ""
        return redirect(_back(visit, entity), "; ".join(problems) + "." + uploaded, error=True)
    return redirect(_back(visit, entity), f"Uploaded {', '.join(done)}.")


def _drain(body: BodyReader) -> None:
    """Read and drop what is left of a refused upload's body, up to `_DRAIN_BYTES`."""
    try:
        while body.size <= _DRAIN_BYTES and body.read(_CHUNK):
            pass
    except (ApiError, OSError):
        pass


@streamed
def upload_file(visit: Visit) -> Response:
    """``PUT :upload-file?path=<path>``: the body is one file; the answer is JSON with the
    artifact, or with the rule's message and a 4xx status."""
    limit = upload_limit(visit)
    body = BodyReader(visit.request.receive, limit)
    try:
        path = ArtifactPath.parse(visit.query.get("path", ""))
        declared = visit.request.headers.get("content-length", "")
        if limit is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(path.value, int(declared), limit)
        assert visit.model is not None and visit.version is not None
        artifact = visit.registry.upload(
            visit.model,
            visit.version,
            io.BufferedReader(body, buffer_size=_CHUNK),
            name=path.value,
        )
    except RegistryError as error:
        _drain(body)
        status = status_for(error)
        return JSONResponse({"message": str(error)}, status_code=status)
    except ApiError as error:  # too large, or the browser went away
        return JSONResponse({"message": error.message}, status_code=error.status)
    return JSONResponse(
        {"path": artifact.path.value, "size": artifact.size, "sha256": artifact.sha256},
        status_code=201,
    )


# -- logs -----------------------------------------------------------------------------


@attrs.frozen
class LogView:
    """A log artifact as the page shows it: its text, or the last `LOG_TAIL_BYTES` of it."""

    path: str
    size: int
    text: str
    cut: bool


def _tail(stream: IO[bytes], keep: int) -> bytes:
    """The last ``keep`` bytes of ``stream``, read to the end (which verifies it)."""
    held = bytearray()
    while chunk := stream.read(_CHUNK):
        held += chunk
        if len(held) > 2 * keep:
            del held[: len(held) - keep]
    return bytes(held[-keep:]) if len(held) > keep else bytes(held)


def read_logs(registry: Registry, entity: ModelVersion) -> list[LogView]:
    """The text of every artifact under ``logs/``, each cut to its last MiB."""
    logs = ArtifactPath.parse("logs")
    views = []
    for artifact in entity.artifacts:
        if not artifact.path.is_within(logs):
            continue
        with registry.open_artifact(entity.model, entity.version, artifact.path) as stream:
            data = _tail(stream, LOG_TAIL_BYTES)
        cut = artifact.size > LOG_TAIL_BYTES
        if cut and b"\n" in data:
            data = data[data.index(b"\n") + 1 :]  # start at a whole line
        text = data.decode("utf-8", "replace")
        views.append(LogView(artifact.path.value, artifact.size, text, cut))
    return views
