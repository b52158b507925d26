"""The Registry's artifact operations: streaming uploads, verified reads, logs, verify."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import attrs

from registry_core._base import (
    RegistryBase,
    backoff,
    describe,
    parse_name,
    parse_version,
)
from registry_core.entities import Artifact, ModelVersion
from registry_core.errors import (
    AlreadyExists,
    Conflict,
    IllegalTransition,
    IntegrityError,
    InvalidInput,
    NotFound,
)
from registry_core.names import ModelName
from registry_core.paths import ArtifactPath
from registry_core.permissions import Action
from registry_core.transfer import (
    Progress,
    VerifyingReader,
    copy_verified,
    hash_stream,
    iter_chunks,
)
from registry_core.versions import Version

__all__ = ["Verification", "manifest_digest"]


def manifest_digest(artifacts: Iterable[Artifact]) -> str:
    """SHA-256 of the manifest's canonical JSON: one fingerprint for a sealed version."""
    rows = sorted([a.path.value, a.size, a.sha256] for a in artifacts)
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


@attrs.frozen
class Verification:
    """What `Registry.verify` found: every artifact checked, and the ones that failed."""

    package: str
    checked: int
    problems: tuple[tuple[str, str], ...]  # (artifact path, what is wrong)

    @property
    def ok(self) -> bool:
        return not self.problems


def _require_draft(entity: ModelVersion, doing: str) -> None:
    if not entity.state.is_mutable:
        hint = (
            f"create {entity.version.bump('patch')}"
            if entity.state.is_sealed
            else "create a new version"
        )
        raise IllegalTransition(
            f"{describe(entity.model, entity.version)} is {entity.state.value}"
            f"{' and sealed' if entity.state.is_sealed else ''}; cannot {doing}; {hint}"
        )


def _clash(entity: ModelVersion, path: ArtifactPath) -> str | None:
    """Why ``path`` cannot join the manifest: taken, or a file where a folder is (or back)."""
    for artifact in entity.artifacts:
        if artifact.path.key == path.key:
            return f"artifact '{artifact.path}' already exists"
        if path.is_within(artifact.path):
            return f"'{artifact.path}' is a file, so '{path}' cannot be inside it"
        if artifact.path.is_within(path):
            return f"'{path}' is a folder holding '{artifact.path}'"
    return None


class ArtifactsMixin(RegistryBase):
    """Artifacts stream in and out; the SHA-256 is computed on the way and checked back."""

    def _draft_for(self, name: ModelName, version: Version, doing: str) -> ModelVersion:
        entity = self._version_doc(name, version)[0]
        _require_draft(entity, doing)
        return entity

    def upload(
        self,
        model: str | ModelName,
        version: str | Version,
        source: str | os.PathLike[str] | IO[bytes],
        *,
        name: str | None = None,
        subfolder: str | None = None,
        progress: Progress | None = None,
    ) -> Artifact:
        """Upload a local file or binary stream into a draft, streaming and hashing it.

        The artifact is named ``name`` (default: the file's name) under ``subfolder``.
        """
        self._authorize(Action.CREATE)
        mname, ver = parse_name(model), parse_version(version)
        if isinstance(source, (str, os.PathLike)):
            file_name = name if name is not None else Path(source).name
            path = ArtifactPath.join(subfolder, file_name)
            self._check_can_add(mname, ver, path)
            with open(source, "rb") as stream:
                return self._store(mname, ver, path, stream, progress)
        if name is None:
            raise InvalidInput("uploading a stream needs a name= for the artifact")
        path = ArtifactPath.join(subfolder, name)
        self._check_can_add(mname, ver, path)
        return self._store(mname, ver, path, source, progress)

    def _check_can_add(self, name: ModelName, version: Version, path: ArtifactPath) -> None:
        entity = self._draft_for(name, version, f"add '{path}'")
        reason = _clash(entity, path)
        if reason is not None:
            raise AlreadyExists(f"{reason} in {describe(entity.model, entity.version)}")

    def _store(
        self,
        name: ModelName,
        version: Version,
        path: ArtifactPath,
        stream: IO[bytes],
        progress: Progress | None,
        replace: Artifact | None = None,
    ) -> Artifact:
        """Write the blob invisibly, record it in the manifest, then let the blob appear."""
        entity = self._version_doc(name, version)[0]
        writer = self._repo.open_blob_writer(f"{entity.package}/{path}")
        try:
            size, sha256 = hash_stream(stream, writer.write, progress)
            artifact = Artifact(path, size, sha256)

            def add(current: ModelVersion) -> ModelVersion:
                _require_draft(current, f"add '{path}'")
                kept = current.artifacts
                if replace is not None:
                    if current.artifact(path) != replace:
                        raise Conflict(f"'{path}' changed while it was being rewritten")
                    kept = tuple(a for a in kept if a.path.key != path.key)
                    current = attrs.evolve(current, artifacts=kept)
                reason = _clash(current, path)
                if reason is not None:
                    raise AlreadyExists(f"{reason} in {describe(current.model, current.version)}")
                merged = sorted((*kept, artifact), key=lambda a: a.path.key)
                return attrs.evolve(current, artifacts=tuple(merged))

            with self._atomic():
                self._update_version(name, version, add)
        except BaseException:
            writer.abort()
            raise
        writer.commit()
        return artifact

    def upload_dir(
        self,
        model: str | ModelName,
        version: str | Version,
        directory: str | os.PathLike[str],
        *,
        subfolder: str | None = None,
        progress: Progress | None = None,
    ) -> list[Artifact]:
        """Upload every file under ``directory``, keeping its relative path."""
        root = Path(directory)
        if not root.is_dir():
            raise InvalidInput(f"{str(root)!r} is not a directory")
        files = sorted(p for p in root.rglob("*") if p.is_file())
        plan = [(p, ArtifactPath.join(subfolder, p.relative_to(root).as_posix())) for p in files]
        uploaded = []
        for local, path in plan:
            uploaded.append(
                self.upload(
                    model, version, local, name=path.value, subfolder=None, progress=progress
                )
            )
        return uploaded

    def list_artifacts(
        self, model: str | ModelName, version: str | Version, *, prefix: str | None = None
    ) -> tuple[Artifact, ...]:
        """The manifest, sorted by path; with ``prefix``, only what lies under that folder."""
        self._authorize(Action.READ)
        entity = self._version_doc(parse_name(model), parse_version(version))[0]
        if prefix is None:
            return entity.artifacts
        folder = ArtifactPath.parse(prefix)
        return tuple(a for a in entity.artifacts if a.path.is_within(folder))

    def _find(self, entity: ModelVersion, path: str | ArtifactPath) -> Artifact:
        wanted = path if isinstance(path, ArtifactPath) else ArtifactPath.parse(path)
        found = entity.artifact(wanted)
        if found is None:
            raise NotFound(
                f"artifact '{wanted}' does not exist in {describe(entity.model, entity.version)}"
            )
        return found

    def _open(self, entity: ModelVersion, artifact: Artifact) -> IO[bytes]:
        raw = self._repo.open_blob(f"{entity.package}/{artifact.path}")
        checked = VerifyingReader(
            raw,
            size=artifact.size,
            sha256=artifact.sha256,
            name=f"{entity.package}/{artifact.path}",
        )
        return io.BufferedReader(checked, buffer_size=1024 * 1024)

    def open_artifact(
        self, model: str | ModelName, version: str | Version, path: str | ArtifactPath
    ) -> IO[bytes]:
        """A binary stream of the artifact that raises `IntegrityError` at the end if the
        bytes do not match the manifest."""
        self._authorize(Action.READ)
        entity = self._version_doc(parse_name(model), parse_version(version))[0]
        return self._open(entity, self._find(entity, path))

    def download(
        self,
        model: str | ModelName,
        version: str | Version,
        dest: str | os.PathLike[str],
        *,
        paths: Iterable[str] | None = None,
        progress: Progress | None = None,
    ) -> list[Path]:
        """Write artifacts under ``dest`` by their paths, each verified before it appears."""
        self._authorize(Action.READ)
        entity = self._version_doc(parse_name(model), parse_version(version))[0]
        chosen = entity.artifacts if paths is None else [self._find(entity, p) for p in paths]
        root = Path(dest)
        written = []
        for artifact in chosen:
            target = root.joinpath(*artifact.path.segments)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = _new_temp_file(target.parent)
            blob = f"{entity.package}/{artifact.path}"
            try:
                with os.fdopen(fd, "wb") as out, self._repo.open_blob(blob) as stream:
                    copy_verified(
                        stream,
                        out.write,
                        size=artifact.size,
                        sha256=artifact.sha256,
                        name=blob,
                        progress=progress,
                    )
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            written.append(target)
        return written

    def delete_artifacts(
        self, model: str | ModelName, version: str | Version, paths: Iterable[str]
    ) -> None:
        """Remove artifacts from a draft; all named paths must exist, or nothing changes."""
        self._authorize(Action.DELETE)
        name, ver = parse_name(model), parse_version(version)
        wanted = [ArtifactPath.parse(p) for p in paths]

        def remove(current: ModelVersion) -> ModelVersion:
            _require_draft(current, "delete artifacts")
            for path in wanted:
                self._find(current, path)
            keys = {p.key for p in wanted}
            return attrs.evolve(
                current, artifacts=tuple(a for a in current.artifacts if a.path.key not in keys)
            )

        with self._atomic():
            entity = self._update_version(name, ver, remove)
        for path in wanted:
            self._repo.delete_blobs(f"{entity.package}/{path}")

    def append_log(
        self, model: str | ModelName, version: str | Version, text: str, *, name: str = "run.log"
    ) -> Artifact:
        """Append UTF-8 ``text`` to the log artifact ``logs/<name>`` of a draft."""
        self._authorize(Action.UPDATE)
        if not isinstance(text, str):
            raise InvalidInput(f"log text must be a string, not {type(text).__name__}")
        mname, ver = parse_name(model), parse_version(version)
        path = ArtifactPath.join("logs", name)
        for attempt in range(64):
            entity = self._draft_for(mname, ver, f"append to '{path}'")
            old = entity.artifact(path)
            try:
                before = b"" if old is None else self._open(entity, old).read()
                data = io.BytesIO(before + text.encode("utf-8"))
                return self._store(mname, ver, path, data, None, replace=old)
            except (Conflict, IntegrityError, NotFound, AlreadyExists):
                backoff(attempt)  # another appender got between; read its log again
        raise Conflict(f"'{path}' kept changing; try again")

    def verify(self, model: str | ModelName, version: str | Version) -> Verification:
        """Re-hash every artifact against the manifest; report what is missing or changed."""
        self._authorize(Action.READ)
        entity = self._version_doc(parse_name(model), parse_version(version))[0]
        problems = []
        for artifact in entity.artifacts:
            try:
                with self._open(entity, artifact) as stream:
                    for _ in iter_chunks(stream):
                        pass
            except NotFound:
                problems.append((artifact.path.value, "missing"))
            except IntegrityError as error:
                problems.append((artifact.path.value, str(error)))
        if entity.state.is_sealed and entity.manifest_sha256 != manifest_digest(entity.artifacts):
            problems.append(("<manifest>", "the manifest changed after it was sealed"))
        return Verification(entity.package, len(entity.artifacts), tuple(problems))


def _new_temp_file(folder: Path) -> tuple[int, str]:
    """A new file in ``folder`` for a download to land in before it is renamed.

    Made as a plain ``open`` makes files (``0o666`` less the umask), so that a downloaded
    model is as readable as any other file the user writes; ``mkstemp`` would give 0o600.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = str(folder / f".modelreg-{secrets.token_hex(8)}")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:  # 2**64 names: taken only by a leftover of the same name
            continue
