"""Version packages: one sealed version of a model as one tar file, and back again.

``export_version(registry, model, version, out)`` writes an uncompressed POSIX (pax) tar:

* ``modelreg-package.json`` first: the format (``"format": "modelreg-package"``,
  ``"format_version": 1``), the model's name, description and tags, the version's
  number, state, description, parameters, tags, CI link, manifest digest, times and
  users, its metric history, the paths of its log files (``logs/...``) and every file's
  path, size and SHA-256;
* then each file as ``files/<path>`` (subfolders kept), in manifest order.

The same version always gives the same bytes: members in manifest order, every header
with mode 0644, uid/gid 0, no user or group names and, as mtime, the second the version
was published; JSON with sorted keys and fixed separators; no pax time records. Blobs are
streamed in chunks and hashed on the way; a blob that does not match the manifest aborts
the export with `IntegrityError`. The archive is written under a temporary name beside
``out``, fsynced and renamed, so ``out`` is whole or absent.

Only sealed versions (ready, deprecated, yanked) are exported: their files and parameters
never change, so a package is a snapshot that can be checked against the manifest digest
and exported again byte for byte. A draft can still change under the export and a failed
version was never finished; both are refused with `IllegalTransition`.

``import_package(path, registry)`` reads the archive twice. The first pass
(`verify_package`, also ``modelreg verify-package``) needs no registry: it checks the
structure (the manifest first; regular files only, no links or devices; every name
``files/<a path of the manifest>``, none twice, none missing, none extra, none absolute or
with ``..``) and every file's size and SHA-256; nothing is written. Only then does the
second pass bring the version in through the public `Registry` calls: create the model
if missing (with the package's description and tags), ``create_version``, ``upload``
each file (its hash compared with the manifest again, in case the archive changed
between the passes), ``log_metrics``, ``publish`` (then ``deprecate`` or ``yank``).

Why the public calls and not the storage protocol (as `registry_backends.copy` does):
every rule stays in the core, applied once: names, limits, permissions for a registry
with an actor (create and update), the model's rename and delete marks, the metric
batch format, the manifest digest that ``publish`` computes. The price: the version is
visible as a draft while its files are uploaded, which happens only after every hash
was checked; if the second pass fails the draft (and a model this import created) is
deleted again. And the destination's version gets new times: its ``created_at``,
``updated_at`` and ``published_at`` are those of the import and its ``created_by`` the
importer (the source's stay in the package). Metric points keep their timestamps.

A version already in the registry with the same content (number, state, description,
parameters, tags, CI link, files and metric points) is "already there": nothing is
written. With other content, `AlreadyExists`, and nothing is changed.

An import that dies (a killed process, a lost connection) is finished by importing the
same package again: the version carries the tag `IMPORTING` (the SHA-256 of the package's
manifest) from its creation until the import is done, and is removed from the version
last. The next import of that package takes a version still marked for it over: a draft
(or failed one) is deleted and made again; a sealed one gets its final state and loses
the mark. A version marked for another package is left alone (it is another import's).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from registry_backends._package_format import (
    FILES,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    Package,
    PathLike,
    header,
    open_archive,
    padding,
)
from registry_core import (
    Action,
    AlreadyExists,
    IllegalTransition,
    IntegrityError,
    InvalidInput,
    ModelName,
    ModelVersion,
    NotFound,
    Registry,
    RegistryError,
    Version,
    VersionState,
)
from registry_core._artifacts import manifest_digest
from registry_core.transfer import copy_verified

__all__ = [
    "FORMAT",
    "IMPORTING",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "Package",
    "export_version",
    "import_package",
    "verify_package",
]

#: The tag an import keeps on the version it makes until it is done (see the module).
IMPORTING = "modelreg.importing"

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_METRIC_BATCH = 5000

Progress = Callable[[int], None]


# -- export ------------------------------------------------------------------------------


def export_version(
    registry: Registry,
    model: str | ModelName,
    version: str | Version,
    out: PathLike,
    *,
    progress: Progress | None = None,
) -> Package:
    """Write ``version`` of ``model`` (sealed: ready, deprecated or yanked) as a package
    at ``out``; return what its manifest says. ``progress(n)`` is called per chunk
    written. `IntegrityError` if a stored file does not match the manifest; ``out`` is
    then left as it was."""
    entity = registry.get_version(model, version)
    if not entity.state.is_sealed:
        raise IllegalTransition(
            f"version '{entity.version}' of model '{entity.model}' is {entity.state.value}; "
            "only sealed versions (ready, deprecated, yanked) can be exported: publish it first"
        )
    if entity.manifest_sha256 != manifest_digest(entity.artifacts):
        raise IntegrityError(f"the manifest of {entity.package} changed after it was sealed")
    package = Package.of(
        registry.get_model(entity.model), entity, registry.get_metrics(entity.model, entity.version)
    )
    repo = registry.repository
    mtime = 0 if entity.published_at is None else int(entity.published_at.timestamp())
    with _replacing(Path(out)) as sink:
        body = package.manifest_bytes()
        sink.write(header(MANIFEST_NAME, len(body), mtime))
        sink.write(body + padding(len(body)))
        for artifact in package.files:
            blob = f"{entity.package}/{artifact.path}"
            sink.write(header(FILES + artifact.path.value, artifact.size, mtime))
            try:
                stream = repo.open_blob(blob)
            except NotFound as error:
                raise IntegrityError(f"the bytes of '{blob}' are missing; not exported") from error
            with stream:
                copy_verified(
                    stream,
                    sink.write,
                    size=artifact.size,
                    sha256=artifact.sha256,
                    name=blob,
                    progress=progress,
                )
            sink.write(padding(artifact.size))
        sink.write(bytes(2 * _BLOCK))
        sink.write(bytes(-sink.tell() % _RECORD))
    return package


@contextlib.contextmanager
def _replacing(target: Path) -> Iterator[IO[bytes]]:
    """A new file beside ``target`` that replaces it, fsynced, when the block ends
    normally, and is removed when it raises."""
    folder = target.parent
    temp = folder / f".{target.name}.{secrets.token_hex(6)}.part"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise InvalidInput(f"cannot write {str(target)!r}: {error.strerror}") from error
    try:
        with os.fdopen(fd, "wb", buffering=0) as sink:
            yield sink
            os.fsync(sink.fileno())
        os.replace(temp, target)
    except BaseException as error:
        temp.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, RegistryError):
            raise InvalidInput(
                f"cannot write {str(target)!r}: {error.strerror or error}"
            ) from error
        raise
    with contextlib.suppress(OSError):  # the rename's durability; not every system allows it
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def verify_package(path: PathLike, *, progress: Progress | None = None) -> Package:
    """Check a package without any registry: its structure and every file's size and
    SHA-256. Returns what its manifest says; raises `InvalidInput`, `IntegrityError` or
    `SchemaError` naming the first problem."""
    with open_archive(path) as archive:
        package = archive.manifest()
        for artifact, stream in archive.files(package):
            copy_verified(
                stream,
                _discard,
                size=artifact.size,
                sha256=artifact.sha256,
                name=f"{archive.shown}:{artifact.path}",
                progress=progress,
            )
    return package


def _discard(chunk: bytes) -> None:
    """Where the first pass sends the bytes it hashes."""


# -- import ------------------------------------------------------------------------------


def import_package(
    path: PathLike, registry: Registry, *, progress: Progress | None = None
) -> ModelVersion:
    """Bring the version in ``path`` into ``registry`` (see the module docstring) and
    return it; a version already there with the same content is returned as it is.
    ``progress(n)`` counts the bytes of both passes (twice the files' size)."""
    return _import_package(path, registry, progress=progress)[0]


def _import_package(
    path: PathLike,
    registry: Registry,
    *,
    progress: Progress | None = None,
    checked: Package | None = None,
) -> tuple[ModelVersion, bool]:
    """`import_package`, and whether it wrote anything (False: it was already there).
    ``checked``: what `verify_package` found in ``path`` already (not checked again)."""
    registry.require(Action.CREATE)
    registry.require(Action.UPDATE)
    package = checked if checked is not None else verify_package(path, progress=progress)
    mark = hashlib.sha256(package.manifest_bytes()).hexdigest()
    _take_over(registry, package, mark)
    there = _already_there(registry, package)
    if there is not None:
        if progress is not None:
            progress(package.size)  # nothing to store: the second half is done
        return there, False
    made_model = _ensure_model(registry, package)
    made_version = False
    try:
        entity = registry.create_version(
            package.model,
            package.version,
            description=package.description,
            tags={**package.tags, IMPORTING: mark},
            params=package.params,
            ci_job=package.ci_job,
        )
        made_version = True
        return _fill(path, registry, package, entity, progress), True
    except BaseException:
        _undo(registry, package, made_model, made_version)
        raise


def _take_over(registry: Registry, package: Package, mark: str) -> None:
    """Clear the way after an import of this very package that died: its draft (or
    failed version) is deleted; its sealed version is brought to its final state."""
    try:
        there = registry.get_version(package.model, package.version)
    except NotFound:
        return
    if there.tags.get(IMPORTING) != mark:
        return
    if there.state.is_sealed:
        _finish(registry, package, there)
    else:
        registry.delete_version(package.model, package.version, force=True)


def _finish(registry: Registry, package: Package, entity: ModelVersion) -> ModelVersion:
    """The last steps of an import, once the version is sealed: the package's state
    (deprecated or yanked), then the mark off."""
    name, number = entity.model, entity.version
    if entity.state is not package.state:
        if package.state is VersionState.DEPRECATED:
            entity = registry.deprecate(name, number)
        elif package.state is VersionState.YANKED:
            entity = registry.yank(name, number)
    if IMPORTING in entity.tags:
        entity = registry.delete_tag(name, number, IMPORTING)
    return entity


def _already_there(registry: Registry, package: Package) -> ModelVersion | None:
    """The version if the registry holds it with the package's content; None if it does
    not hold it; `AlreadyExists` if it holds it with other content."""
    try:
        there = registry.get_version(package.model, package.version)
    except NotFound:
        return None
    mine = Package.of(
        registry.get_model(there.model), there, registry.get_metrics(there.model, there.version)
    ).content()
    theirs = package.content()
    if mine == theirs:
        return there
    differ = sorted(k for k in theirs if mine.get(k) != theirs[k])
    raise AlreadyExists(
        f"version '{there.version}' of model '{there.model}' already exists with other "
        f"content ({', '.join(differ)} differ); nothing was imported: delete it first or "
        "keep it"
    )


def _ensure_model(registry: Registry, package: Package) -> bool:
    """Create the model with the package's description and tags unless it exists;
    whether this call created it."""
    try:
        registry.get_model(package.model)
        return False
    except NotFound:
        pass
    try:
        registry.create_model(
            package.model, package.model_description, tags=dict(package.model_tags)
        )
    except AlreadyExists:
        return False
    return True


def _fill(
    path: PathLike,
    registry: Registry,
    package: Package,
    entity: ModelVersion,
    progress: Progress | None,
) -> ModelVersion:
    """The second pass: files, metrics, then the state."""
    name, number = entity.model, entity.version
    with open_archive(path) as archive:
        if archive.manifest().manifest_bytes() != package.manifest_bytes():
            raise IntegrityError(f"{archive.shown!r} changed while it was being imported")
        for artifact, stream in archive.files(package):
            got = registry.upload(name, number, stream, name=artifact.path.value, progress=progress)
            if (got.size, got.sha256) != (artifact.size, artifact.sha256):
                raise IntegrityError(
                    f"{archive.shown!r}: '{artifact.path}' changed while it was being imported"
                )
    points = list(package.metrics)
    for start in range(0, len(points), _METRIC_BATCH):
        registry.log_metrics(name, number, points[start : start + _METRIC_BATCH])
    entity = registry.publish(name, number)
    if entity.manifest_sha256 != package.manifest_sha256:
        raise IntegrityError(f"the imported {entity.package} was sealed with another manifest")
    return _finish(registry, package, entity)


def _undo(registry: Registry, package: Package, made_model: bool, made_version: bool) -> None:
    """After a failed second pass: delete the draft, and the model if this import made it
    and it holds no other version. Best effort; the import's error is what is raised."""
    with contextlib.suppress(RegistryError):
        if made_version:
            registry.delete_version(package.model, package.version, force=True)
        if made_model and registry.count_versions(package.model) == 0:
            registry.delete_model(package.model)
