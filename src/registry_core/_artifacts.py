"""The Registry's artifact operations: streaming uploads, verified reads, logs, verify."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import attrs

from registry_core._base import (
    RegistryBase,
    backoff,
    describe,
    parse_name,
    parse_version,
    version_key,
)
from registry_core.entities import Artifact, ModelVersion, Run, Upload
from registry_core.errors import (
    AlreadyExists,
    Conflict,
    IllegalTransition,
    IntegrityError,
    InvalidInput,
    InvalidPath,
    NotFound,
    RegistryError,
)
from registry_core.names import ModelName
from registry_core.paths import ArtifactPath
from registry_core.permissions import Action
from registry_core.protocol import Document, Key
from registry_core.transfer import (
    Progress,
    VerifyingReader,
    copy_verified,
    hash_stream,
    iter_chunks,
)
from registry_core.versions import Version

__all__ = ["UPLOAD_LEASE", "Verification", "manifest_digest"]

UPLOAD_LEASE = dt.timedelta(minutes=10)
"""How long an upload holds its path without renewing; a dead upload's hold lapses then."""
RENEW_AFTER = UPLOAD_LEASE.total_seconds() / 4
"""Seconds after which a running upload renews its hold (and checks it still has it)."""


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


Holding = ModelVersion | Run
"""What holds files: a version, or a run (the same manifest and upload holds)."""


def title(entity: Holding) -> str:
    """How messages name a version or a run."""
    if isinstance(entity, Run):
        return f"run '{entity.id}'"
    return describe(entity.model, entity.version)


@attrs.frozen
class Holder:
    """Where an upload goes: the document of a draft version or of a run, how to load it,
    and the check that refuses a change to its files (a sealed version, a promoted run)."""

    key: Key
    load: Callable[[], tuple[Any, Document]]
    require: Callable[[Any, str], None]


def _holds(entity: Holding, upload: Upload) -> bool:
    return any(u.token == upload.token for u in entity.uploads)


def _lost_hold(entity: Holding, path: ArtifactPath) -> str:
    return (
        f"the upload of '{path}' to {title(entity)} lost its hold on the path (it stalled "
        "past its lease, or the target was deleted and made again); upload it again"
    )


def _clash(entity: Holding, path: ArtifactPath) -> str | None:
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

    def _version_holder(self, name: ModelName, version: Version) -> Holder:
        return Holder(
            version_key(name, version), lambda: self._version_doc(name, version), _require_draft
        )

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

        The artifact is named ``name`` (default: the file's name, normalised to NFC as
        macOS writes names in NFD) under ``subfolder``; ``name`` must already be NFC.
        """
        self._authorize(Action.CREATE)
        holder = self._version_holder(parse_name(model), parse_version(version))
        return self._upload(holder, source, name, subfolder, progress)

    def _upload(
        self,
        holder: Holder,
        source: str | os.PathLike[str] | IO[bytes],
        name: str | None,
        subfolder: str | None,
        progress: Progress | None,
    ) -> Artifact:
        """`upload` into a draft or a run: a local file's own name is made NFC, a name
        given by the caller must already be."""
        if not isinstance(source, (str, os.PathLike)):
            if name is None:
                raise InvalidInput("uploading a stream needs a name= for the artifact")
            return self._store(holder, ArtifactPath.join(subfolder, name), source, progress)
        if name is None:
            path = ArtifactPath.from_local(subfolder, Path(source).name)
        else:
            path = ArtifactPath.join(subfolder, name)
        return self._store_file(holder, source, path, progress)

    def _store_file(
        self,
        holder: Holder,
        source: str | os.PathLike[str],
        path: ArtifactPath,
        progress: Progress | None,
    ) -> Artifact:
        try:
            stream = open(source, "rb")  # noqa: SIM115 (closed by the with below)
        except OSError as error:
            shown = os.fspath(source)
            raise InvalidInput(f"cannot read {shown!r}: {error.strerror}") from error
        with stream:
            return self._store(holder, path, stream, progress)

    def _upload_dir(
        self,
        holder: Holder,
        directory: str | os.PathLike[str],
        subfolder: str | None,
        progress: Progress | None,
    ) -> list[Artifact]:
        """`upload_dir` into a draft or a run; the paths are all checked before any upload."""
        plan = _local_files(directory, subfolder)
        return [self._store_file(holder, local, path, progress) for local, path in plan]

    def _store(
        self,
        holder: Holder,
        path: ArtifactPath,
        stream: IO[bytes],
        progress: Progress | None,
        replace: Artifact | None = None,
    ) -> Artifact:
        """Hold the path, write the blob to its name, then record it in the manifest.

        The manifest names a blob only once its bytes are in place, and while the upload
        holds the path no other upload can write there: a delete and re-upload racing a
        slow upload can never leave the blob and the manifest disagreeing.

        One window stays open: between an upload's last check of its hold and the end of
        its blob commit, its version could be deleted, made again, and the same path
        uploaded anew; the late commit would then overwrite that blob. Closing it needs
        conditional blob commits, which the stores offer in different ways.
        """
        upload, package = self._hold(holder, path, replace)
        held_at = time.monotonic()
        blob = f"{package}/{path}"
        writer = self._repo.open_blob_writer(blob)
        committed = False

        def write(chunk: bytes) -> None:
            nonlocal held_at
            writer.write(chunk)
            if time.monotonic() - held_at > RENEW_AFTER:
                self._renew(holder, upload)
                held_at = time.monotonic()

        try:
            size, sha256 = hash_stream(stream, write, progress)
            artifact = Artifact(path, size, sha256)
            if time.monotonic() - held_at > RENEW_AFTER:
                self._renew(holder, upload)  # still ours before the name is written
            writer.commit()
            committed = True

            def add(current: Any) -> Any:
                holder.require(current, f"add '{path}'")
                if not _holds(current, upload):
                    raise Conflict(_lost_hold(current, path))
                kept = current.artifacts
                if replace is not None:
                    if current.artifact(path) != replace:
                        raise Conflict(f"'{path}' changed while it was being rewritten")
                    kept = tuple(a for a in kept if a.path.key != path.key)
                merged = sorted((*kept, artifact), key=lambda a: a.path.key)
                return attrs.evolve(
                    current,
                    artifacts=tuple(merged),
                    uploads=tuple(u for u in current.uploads if u.token != upload.token),
                )

            with self._atomic():
                self._update(holder.key, holder.load, add)
        except BaseException:
            if not committed:
                writer.abort()
            self._let_go(holder, upload, blob if committed else None)
            raise
        return artifact

    def _hold(
        self, holder: Holder, path: ArtifactPath, replace: Artifact | None
    ) -> tuple[Upload, str]:
        """Claim ``path`` in the draft or run for one upload; refuse if it is taken or held.

        Returns the hold and the package name of the version or run."""
        upload = Upload(path, secrets.token_hex(8), self._now() + UPLOAD_LEASE)

        def hold(current: Any) -> Any:
            holder.require(current, f"add '{path}'")
            now = self._now()
            live = tuple(u for u in current.uploads if u.expires > now)
            for other in live:
                if (
                    other.path.key == path.key
                    or path.is_within(other.path)
                    or (other.path.is_within(path))
                ):
                    raise Conflict(
                        f"'{other.path}' is being uploaded to {title(current)} by another writer; "
                        f"try again when it ends (its hold lapses by {other.expires:%H:%M} UTC "
                        "if that upload died)"
                    )
            if replace is None:
                reason = _clash(current, path)
                if reason is not None:
                    raise AlreadyExists(f"{reason} in {title(current)}")
            elif current.artifact(path) != replace:
                raise Conflict(f"'{path}' changed while it was being rewritten")
            return attrs.evolve(current, uploads=(*live, upload))

        with self._atomic():
            held = self._update(holder.key, holder.load, hold)
        return upload, held.package

    def _renew(self, holder: Holder, upload: Upload) -> None:
        """Push the hold's expiry out; `Conflict` if the upload lost it meanwhile."""
        renewed = attrs.evolve(upload, expires=self._now() + UPLOAD_LEASE)

        def renew(current: Any) -> Any:
            if not _holds(current, upload):
                raise Conflict(_lost_hold(current, upload.path))
            return attrs.evolve(
                current,
                uploads=tuple(renewed if u.token == upload.token else u for u in current.uploads),
            )

        with self._atomic():
            self._update(holder.key, holder.load, renew)

    def _let_go(self, holder: Holder, upload: Upload, blob: str | None) -> None:
        """After a failed upload: drop its hold and, if its blob was written but never made
        it into the manifest, remove the blob. Best effort; the upload's error is raised."""

        def drop(current: Any) -> Any:
            return attrs.evolve(
                current, uploads=tuple(u for u in current.uploads if u.token != upload.token)
            )

        try:
            with self._atomic():
                current = self._update(holder.key, holder.load, drop)
        except NotFound:
            current = None  # the version or run was deleted meanwhile
        except RegistryError:
            return  # the hold lapses on its own; fsck removes a stray blob
        if blob is None:
            return
        now = self._now()
        if current is not None and (
            current.artifact(upload.path) is not None
            or any(u.path.key == upload.path.key and u.expires > now for u in current.uploads)
        ):
            return  # the name belongs to the manifest or to another upload now
        with contextlib.suppress(RegistryError):
            self._repo.delete_blobs(blob)

    def upload_dir(
        self,
        model: str | ModelName,
        version: str | Version,
        directory: str | os.PathLike[str],
        *,
        subfolder: str | None = None,
        progress: Progress | None = None,
    ) -> list[Artifact]:
        """Upload every file under ``directory``, keeping its relative path (made NFC).

        Two files whose paths are the same artifact path (equal once NFC and compared
        case-insensitively) are refused before anything is uploaded.
        """
        self._authorize(Action.CREATE)
        holder = self._version_holder(parse_name(model), parse_version(version))
        return self._upload_dir(holder, directory, subfolder, progress)

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

    def _find(self, entity: Holding, path: str | ArtifactPath) -> Artifact:
        wanted = path if isinstance(path, ArtifactPath) else ArtifactPath.parse(path)
        found = entity.artifact(wanted)
        if found is None:
            raise NotFound(f"artifact '{wanted}' does not exist in {title(entity)}")
        return found

    def _open(self, entity: Holding, artifact: Artifact) -> IO[bytes]:
        return self._open_blob(f"{entity.package}/{artifact.path}", artifact)

    def _open_blob(self, blob: str, artifact: Artifact) -> IO[bytes]:
        """A stream of ``blob`` that raises `IntegrityError` at its end unless its bytes
        are ``artifact``'s size and SHA-256."""
        raw = self._repo.open_blob(blob)
        checked = VerifyingReader(raw, size=artifact.size, sha256=artifact.sha256, name=blob)
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
        files = [(f"{entity.package}/{a.path}", a) for a in chosen]
        return self._save_blobs(files, Path(dest), progress)

    def _save_blobs(
        self, files: Iterable[tuple[str, Artifact]], root: Path, progress: Progress | None
    ) -> list[Path]:
        """Write each (blob, artifact) at the artifact's path under ``root``, verified
        before it appears under its name."""
        written = []
        for blob, artifact in files:
            target = root.joinpath(*artifact.path.segments)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = _new_temp_file(target.parent)
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
        self._delete_files(self._version_holder(parse_name(model), parse_version(version)), paths)

    def _delete_files(self, holder: Holder, paths: Iterable[str]) -> None:
        """Drop ``paths`` from the manifest (all must be there), then their blobs."""
        wanted = [ArtifactPath.parse(p) for p in paths]

        def remove(current: Any) -> Any:
            holder.require(current, "delete files")
            for path in wanted:
                self._find(current, path)
            keys = {p.key for p in wanted}
            return attrs.evolve(
                current, artifacts=tuple(a for a in current.artifacts if a.path.key not in keys)
            )

        with self._atomic():
            entity = self._update(holder.key, holder.load, remove)
        for path in wanted:
            self._repo.delete_blobs(f"{entity.package}/{path}")

    def append_log(
        self, model: str | ModelName, version: str | Version, text: str, *, name: str = "run.log"
    ) -> Artifact:
        """Append UTF-8 ``text`` to the log artifact ``logs/<name>`` of a draft."""
        self._authorize(Action.UPDATE)
        if not isinstance(text, str):
            raise InvalidInput(f"log text must be a string, not {type(text).__name__}")
        holder = self._version_holder(parse_name(model), parse_version(version))
        return self._append(holder, ArtifactPath.join("logs", name), text)

    def _append(self, holder: Holder, path: ArtifactPath, text: str) -> Artifact:
        """Rewrite the file at ``path`` with ``text`` added, retrying against other
        appenders (each rewrite checks the file is still the one it read)."""
        for attempt in range(64):
            entity = holder.load()[0]
            holder.require(entity, f"append to '{path}'")
            old = entity.artifact(path)
            try:
                before = b"" if old is None else self._open(entity, old).read()
                data = io.BytesIO(before + text.encode("utf-8"))
                return self._store(holder, path, data, None, replace=old)
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


def _local_files(
    directory: str | os.PathLike[str], subfolder: str | None
) -> list[tuple[Path, ArtifactPath]]:
    """Each file under ``directory`` with its artifact path, sorted.

    Raises `InvalidPath` when two files would get the same path, e.g. ``café.txt`` written
    once in NFC and once in NFD, or ``A.txt`` and ``a.txt``.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InvalidInput(f"{str(root)!r} is not a directory")
    plan: list[tuple[Path, ArtifactPath]] = []
    seen: dict[str, Path] = {}
    for local in sorted(p for p in root.rglob("*") if p.is_file()):
        path = ArtifactPath.from_local(subfolder, local.relative_to(root).as_posix())
        first = seen.setdefault(path.key, local)
        if first is not local:
            raise InvalidPath(
                f"local files {str(first)!r} and {str(local)!r} would both be artifact path "
                f"'{path}' (paths are NFC and unique compared case-insensitively); "
                "rename one, nothing was uploaded"
            )
        plan.append((local, path))
    return plan


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
