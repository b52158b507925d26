"""The Registry's artifact operations: streaming uploads, verified reads, logs, verify."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import io
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
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


_Opener = Callable[[], AbstractContextManager[IO[bytes]]]
"""Opens one file of an upload when its turn comes (a folder's files are opened in turn)."""


@attrs.frozen
class _Hold:
    """One upload's claim on its paths: an `Upload` entry per path, all with one token,
    so that they are renewed, released or lapse together."""

    token: str
    expires: dt.datetime
    paths: tuple[ArtifactPath, ...]
    package: str = ""  # the version's or run's, once the hold is in place

    @property
    def uploads(self) -> tuple[Upload, ...]:
        return tuple(Upload(path, self.token, self.expires) for path in self.paths)

    @property
    def named(self) -> str:
        return _named(self.paths)

    def blob(self, path: ArtifactPath) -> str:
        return f"{self.package}/{path}"


def _named(paths: Sequence[ArtifactPath], package: str = "") -> str:
    """How messages name what an upload holds: the path, or the first and a count."""
    first, more = f"{package}/{paths[0]}" if package else str(paths[0]), len(paths) - 1
    return f"'{first}'" if not more else f"'{first}' and {more} more file{'s' * (more > 1)}"


def lapsed_uploads(entity: Holding, now: dt.datetime) -> list[tuple[str, str]]:
    """The uploads into ``entity`` whose holds lapsed by ``now``, one per upload (all
    the paths of a folder share a token): its token, and how a message names it."""
    paths: dict[str, list[ArtifactPath]] = {}
    for upload in entity.uploads:
        if upload.expires <= now:
            paths.setdefault(upload.token, []).append(upload.path)
    return [(token, _named(held, entity.package)) for token, held in paths.items()]


def _holds(entity: Holding, token: str) -> bool:
    return any(u.token == token for u in entity.uploads)


def _lost_hold(entity: Holding, named: str) -> str:
    return (
        f"the upload of {named} to {title(entity)} lost its hold (it stalled past its "
        "lease, or the target was deleted and made again); upload it again"
    )


class _Taken:
    """Paths in use, indexed so that a new path's clash with any of them is found in a
    few dict lookups (its own key and its folders'), not by a walk over all of them."""

    def __init__(self, paths: Iterable[ArtifactPath]) -> None:
        self._files: dict[str, ArtifactPath] = {}
        self._folders: dict[str, ArtifactPath] = {}  # folder key -> a path inside it
        for path in paths:
            self.add(path)

    def add(self, path: ArtifactPath) -> None:
        key = path.key
        self._files.setdefault(key, path)
        for folder in _folders(key):
            self._folders.setdefault(folder, path)

    def clash(self, path: ArtifactPath) -> tuple[str, ArtifactPath] | None:
        """How ``path`` clashes with a path in use, and which: ``"same"`` (equal keys),
        ``"inside"`` (``path`` lies under that one) or ``"holds"`` (that one lies under
        ``path``); `None` if it is free."""
        key = path.key
        if key in self._files:
            return "same", self._files[key]
        for folder in _folders(key):
            if folder in self._files:
                return "inside", self._files[folder]
        if key in self._folders:
            return "holds", self._folders[key]
        return None

    def why_not(self, path: ArtifactPath) -> str | None:
        """Why ``path`` cannot join these files: taken, or a file where a folder is (or back)."""
        found = self.clash(path)
        if found is None:
            return None
        how, other = found
        if how == "same":
            return f"artifact '{other}' already exists"
        if how == "inside":
            return f"'{other}' is a file, so '{path}' cannot be inside it"
        return f"'{path}' is a folder holding '{other}'"


def _folders(key: str) -> Iterable[str]:
    """The keys of the folders above the path with key ``key``, outermost first."""
    at = key.find("/")
    while at != -1:
        yield key[:at]
        at = key.find("/", at + 1)


def _open_local(source: str | os.PathLike[str]) -> IO[bytes]:
    try:
        return open(source, "rb")
    except OSError as error:
        raise InvalidInput(f"cannot read {os.fspath(source)!r}: {error.strerror}") from error


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
            return self._store_one(holder, ArtifactPath.join(subfolder, name), source, progress)
        if name is None:
            path = ArtifactPath.from_local(subfolder, Path(source).name)
        else:
            path = ArtifactPath.join(subfolder, name)
        with _open_local(source) as stream:  # unreadable: refused before any write
            return self._store_one(holder, path, stream, progress)

    def _upload_dir(
        self,
        holder: Holder,
        directory: str | os.PathLike[str],
        subfolder: str | None,
        progress: Progress | None,
    ) -> list[Artifact]:
        """`upload_dir` into a draft or a run, all or nothing (see `_store`)."""
        plan = _local_files(directory, subfolder)
        if not plan:
            holder.require(holder.load()[0], f"upload {str(directory)!r} into it")
            return []
        sources = [(path, functools.partial(_open_local, local)) for local, path in plan]
        return self._store(holder, sources, progress)

    def _store_one(
        self,
        holder: Holder,
        path: ArtifactPath,
        stream: IO[bytes],
        progress: Progress | None,
        replace: Artifact | None = None,
    ) -> Artifact:
        """`_store` of one stream, which stays open for its owner."""
        return self._store(
            holder, [(path, lambda: contextlib.nullcontext(stream))], progress, replace
        )[0]

    def _store(
        self,
        holder: Holder,
        sources: Sequence[tuple[ArtifactPath, _Opener]],
        progress: Progress | None,
        replace: Artifact | None = None,
    ) -> list[Artifact]:
        """Hold every path in one write, write each blob to its name, then record them all
        in the manifest in one more: all or nothing, in two document writes (and a blob
        commit per file) however many files.

        The manifest names a blob only once its bytes are in place, and while the upload
        holds a path no other upload can write there: a delete and re-upload racing a slow
        upload can never leave a blob and the manifest disagreeing. If anything fails
        before the manifest takes the files (a bad file, a lost hold, an interrupt), the
        holds are dropped and the blobs written so far removed, so stored data is as it was.

        One window stays open: between an upload's last check of its hold and the end of
        its blob commit, its version could be deleted, made again, and the same path
        uploaded anew; the late commit would then overwrite that blob. Closing it needs
        conditional blob commits, which the stores offer in different ways.
        """
        hold = self._hold(holder, [path for path, _ in sources], replace)
        held_at = time.monotonic()

        def keep_hold() -> None:
            nonlocal held_at
            if time.monotonic() - held_at > RENEW_AFTER:
                self._renew(holder, hold)
                held_at = time.monotonic()

        written: list[ArtifactPath] = []  # committed blobs no manifest names yet
        artifacts: list[Artifact] = []
        try:
            for path, opener in sources:
                with opener() as stream:
                    size, sha256 = self._write_blob(hold.blob(path), stream, progress, keep_hold)
                written.append(path)
                artifacts.append(Artifact(path, size, sha256))
            self._record(holder, hold, artifacts, replace)
        except BaseException:
            self._let_go(holder, hold, written)
            raise
        return artifacts

    def _write_blob(
        self, blob: str, stream: IO[bytes], progress: Progress | None, keep_hold: Callable[[], None]
    ) -> tuple[int, str]:
        """Stream ``stream`` into the blob ``blob``, hashing it; commit it while the upload
        still holds its path. Returns (size, sha256)."""
        writer = self._repo.open_blob_writer(blob)

        def write(chunk: bytes) -> None:
            writer.write(chunk)
            keep_hold()

        try:
            size, sha256 = hash_stream(stream, write, progress)
            keep_hold()  # still ours before the name is written
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return size, sha256

    def _hold(
        self, holder: Holder, paths: Sequence[ArtifactPath], replace: Artifact | None
    ) -> _Hold:
        """Claim ``paths`` in the draft or run for one upload; refuse if any is taken or
        held by another upload. ``replace``: the one path is rewritten, and must still be
        that artifact."""
        hold = _Hold(secrets.token_hex(8), self._now() + UPLOAD_LEASE, tuple(paths))

        def claim(current: Any) -> Any:
            holder.require(current, f"add {hold.named}")
            now = self._now()
            live = tuple(u for u in current.uploads if u.expires > now)
            held = _Taken(u.path for u in live)
            for path in paths:
                clash = held.clash(path)
                if clash is not None:
                    other = next(u for u in live if u.path.key == clash[1].key)
                    raise Conflict(
                        f"'{other.path}' is being uploaded to {title(current)} by another writer; "
                        f"try again when it ends (its hold lapses by {other.expires:%H:%M} UTC "
                        "if that upload died)"
                    )
            if replace is None:
                files = _Taken(a.path for a in current.artifacts)
                for path in paths:
                    reason = files.why_not(path)
                    if reason is not None:
                        raise AlreadyExists(f"{reason} in {title(current)}")
            elif current.artifact(paths[0]) != replace:
                raise Conflict(f"'{paths[0]}' changed while it was being rewritten")
            return attrs.evolve(current, uploads=(*live, *hold.uploads))

        with self._atomic():
            held = self._update(holder.key, holder.load, claim)
        return attrs.evolve(hold, package=held.package)

    def _record(
        self,
        holder: Holder,
        hold: _Hold,
        artifacts: Sequence[Artifact],
        replace: Artifact | None,
    ) -> None:
        """Add the written files to the manifest and drop their holds, in one write."""

        def add(current: Any) -> Any:
            holder.require(current, f"add {hold.named}")
            if not _holds(current, hold.token):
                raise Conflict(_lost_hold(current, hold.named))
            kept = current.artifacts
            if replace is not None:
                if current.artifact(replace.path) != replace:
                    raise Conflict(f"'{replace.path}' changed while it was being rewritten")
                kept = tuple(a for a in kept if a.path.key != replace.path.key)
            merged = sorted((*kept, *artifacts), key=lambda a: a.path.key)
            return attrs.evolve(
                current,
                artifacts=tuple(merged),
                uploads=tuple(u for u in current.uploads if u.token != hold.token),
            )

        with self._atomic():
            self._update(holder.key, holder.load, add)

    def _renew(self, holder: Holder, hold: _Hold) -> None:
        """Push the holds' expiry out; `Conflict` if the upload lost them meanwhile."""
        expires = self._now() + UPLOAD_LEASE

        def renew(current: Any) -> Any:
            if not _holds(current, hold.token):
                raise Conflict(_lost_hold(current, hold.named))
            return attrs.evolve(
                current,
                uploads=tuple(
                    attrs.evolve(u, expires=expires) if u.token == hold.token else u
                    for u in current.uploads
                ),
            )

        with self._atomic():
            self._update(holder.key, holder.load, renew)

    def _let_go(self, holder: Holder, hold: _Hold, written: Sequence[ArtifactPath]) -> None:
        """After a failed upload: drop its holds and remove the blobs it wrote that never
        made it into the manifest. Best effort; the upload's error is raised."""

        def drop(current: Any) -> Any:
            return attrs.evolve(
                current, uploads=tuple(u for u in current.uploads if u.token != hold.token)
            )

        try:
            with self._atomic():
                current = self._update(holder.key, holder.load, drop)
        except NotFound:
            current = None  # the version or run was deleted meanwhile
        except RegistryError:
            return  # the holds lapse on their own; fsck removes stray blobs
        taken: set[str] = set()
        if current is not None:  # names that belong to the manifest or to another upload now
            now = self._now()
            taken.update(a.path.key for a in current.artifacts)
            taken.update(u.path.key for u in current.uploads if u.expires > now)
        for path in written:
            if path.key not in taken:
                with contextlib.suppress(RegistryError):
                    self._repo.delete_blobs(hold.blob(path))

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
                return self._store_one(holder, path, data, None, replace=old)
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
    taken = _Taken(())
    for local in sorted(p for p in root.rglob("*") if p.is_file()):
        path = ArtifactPath.from_local(subfolder, local.relative_to(root).as_posix())
        clash = taken.clash(path)
        if clash is not None:
            first = next(str(there) for there, other in plan if other == clash[1])
            if clash[0] == "same":
                why = (
                    f"would both be artifact path '{path}' (paths are NFC and unique "
                    "compared case-insensitively)"
                )
            else:
                why = (
                    f"would be artifact paths '{clash[1]}' and '{path}', a file and a folder "
                    "of one name (compared case-insensitively)"
                )
            raise InvalidPath(
                f"local files {first!r} and {str(local)!r} {why}; rename one, nothing was uploaded"
            )
        taken.add(path)
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
