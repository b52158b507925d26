"""The package format (see `registry_backends.package`): the manifest as a `Package`,
the tar headers an export writes, and the reader that checks an archive's structure
member by member (regular files only, each named once by the manifest, none outside it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tarfile
from collections.abc import Iterator, Mapping
from typing import IO, Any, cast

import attrs

from registry_core import (
    Artifact,
    ArtifactPath,
    CIJob,
    IntegrityError,
    InvalidInput,
    Metric,
    Model,
    ModelName,
    ModelVersion,
    RegistryError,
    SchemaError,
    Version,
    VersionState,
)
from registry_core._artifacts import manifest_digest
from registry_core.convert import dump_time, load_float, load_time, unstructure
from registry_core.limits import check_description, check_key, check_value

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "Package",
    "header",
    "open_archive",
    "padding",
]

FORMAT = "modelreg-package"
FORMAT_VERSION = 1
MANIFEST_NAME = "modelreg-package.json"
FILES = "files/"
_MAX_MANIFEST = 512 * 2**20
_TIMES = ("created_at", "updated_at", "published_at", "created_by", "updated_by")

PathLike = str | os.PathLike[str]


@attrs.frozen(kw_only=True)
class Package:
    """What a package's manifest says: the version, its model, metrics and files."""

    model: ModelName
    model_description: str = ""
    model_tags: Mapping[str, str] = attrs.field(factory=dict)
    version: Version
    state: VersionState
    description: str = ""
    params: Mapping[str, str] = attrs.field(factory=dict)
    tags: Mapping[str, str] = attrs.field(factory=dict)
    ci_job: CIJob | None = None
    manifest_sha256: str
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None = None
    created_by: str | None = None
    updated_by: str | None = None
    metrics: tuple[Metric, ...] = ()
    files: tuple[Artifact, ...] = ()

    @property
    def size(self) -> int:
        """Bytes of all files."""
        return sum(f.size for f in self.files)

    @property
    def logs(self) -> tuple[str, ...]:
        """The version's log files: its files under ``logs/``."""
        return tuple(f.path.value for f in self.files if f.path.segments[0] == "logs")

    @classmethod
    def of(cls, model: Model, version: ModelVersion, metrics: list[Metric]) -> Package:
        """The package of ``version`` of ``model`` with its metric history."""
        return cls(
            model=version.model,
            model_description=model.description,
            model_tags=dict(model.tags),
            version=version.version,
            state=version.state,
            description=version.description,
            params=dict(version.params),
            tags=dict(version.tags),
            ci_job=version.ci_job,
            manifest_sha256=version.manifest_sha256 or manifest_digest(version.artifacts),
            created_at=version.created_at,
            updated_at=version.updated_at,
            published_at=version.published_at,
            created_by=version.created_by,
            updated_by=version.updated_by,
            metrics=tuple(metrics),
            files=version.artifacts,
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict (what `manifest_bytes` writes)."""
        version = {
            "version": str(self.version),
            "state": self.state.value,
            "description": self.description,
            "params": dict(self.params),
            "tags": dict(self.tags),
            "ci_job": None if self.ci_job is None else unstructure(self.ci_job),
            "manifest_sha256": self.manifest_sha256,
            "created_at": dump_time(self.created_at),
            "updated_at": dump_time(self.updated_at),
            "published_at": None if self.published_at is None else dump_time(self.published_at),
            "created_by": self.created_by,
            "updated_by": self.updated_by,
        }
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": {
                "name": str(self.model),
                "description": self.model_description,
                "tags": dict(self.model_tags),
            },
            "version": version,
            "metrics": [unstructure(m) for m in self.metrics],
            "logs": list(self.logs),
            "files": [
                {"path": f.path.value, "size": f.size, "sha256": f.sha256} for f in self.files
            ],
        }

    def manifest_bytes(self) -> bytes:
        """The manifest member's bytes: deterministic JSON (sorted keys, no spaces)."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8") + b"\n"

    def content(self) -> dict[str, Any]:
        """What an import must find equal in a version already there: everything of the
        version but its times and users (an import makes new ones); metrics as a set."""
        data = self.to_json()
        found = {k: v for k, v in data["version"].items() if k not in _TIMES}
        found["files"] = data["files"]
        found["metrics"] = sorted(json.dumps(m, sort_keys=True) for m in data["metrics"])
        return found

    @classmethod
    def from_json(cls, data: Any) -> Package:
        """The package a manifest describes; `InvalidInput` (`SchemaError` for a newer
        format) when it is not one this modelreg writes."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InvalidInput(f"the manifest is not a {FORMAT} manifest")
        found = data.get("format_version")
        if found != FORMAT_VERSION:
            if isinstance(found, int) and found > FORMAT_VERSION:
                raise SchemaError(
                    f"the package has format version {found}; this modelreg reads "
                    f"{FORMAT_VERSION}; upgrade modelreg"
                )
            raise InvalidInput(f"the manifest has an unknown format version {found!r}")
        try:
            package = _parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            if isinstance(error, RegistryError):
                raise
            raise InvalidInput(
                f"the manifest is malformed: {type(error).__name__}: {error}"
            ) from None
        if data.get("logs", []) != list(package.logs):
            raise InvalidInput("the manifest's 'logs' are not its files under logs/")
        return package


def _parse(data: dict[str, Any]) -> Package:
    """`Package.from_json` after the format check; raises on any malformed field."""
    model, version = _dict(data["model"]), _dict(data["version"])
    state = VersionState(version["state"])
    if not state.is_sealed:
        raise InvalidInput(f"a package holds a sealed version, not a {state.value} one")
    files = tuple(
        Artifact(ArtifactPath.parse(f["path"]), _int(f["size"]), f["sha256"])
        for f in map(_dict, data["files"])
    )
    keys = [f.path.key for f in files]
    if len(set(keys)) != len(keys):
        raise InvalidInput("the manifest names a file twice (paths compare case-insensitively)")
    if keys != sorted(keys):
        raise InvalidInput("the manifest's files are not sorted by path")
    digest = version["manifest_sha256"]
    if digest != manifest_digest(files):
        raise IntegrityError(
            "the manifest's files do not match its manifest_sha256: the manifest was changed"
        )
    ci = version.get("ci_job")
    published = version.get("published_at")
    return Package(
        model=ModelName.parse(model["name"]),
        model_description=check_description(model.get("description", "")),
        model_tags=_strings("tag", model.get("tags", {})),
        version=Version.parse(version["version"]),
        state=state,
        description=check_description(version.get("description", "")),
        params=_strings("param", version.get("params", {})),
        tags=_strings("tag", version.get("tags", {})),
        ci_job=None if ci is None else CIJob(**_dict(ci)),
        manifest_sha256=digest,
        created_at=_time(version["created_at"]),
        updated_at=_time(version["updated_at"]),
        published_at=None if published is None else _time(published),
        created_by=version.get("created_by"),
        updated_by=version.get("updated_by"),
        metrics=tuple(_metric(m) for m in data["metrics"]),
        files=files,
    )


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _strings(kind: str, value: Any) -> dict[str, str]:
    return {check_key(kind, k): check_value(kind, k, v) for k, v in _dict(value).items()}


def _time(value: Any) -> dt.datetime:
    when = load_time(value)
    if when.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return when


def _metric(value: Any) -> Metric:
    point = _dict(value)
    number = point["value"]
    if isinstance(number, bool) or not isinstance(number, (int, float, str)):
        raise TypeError(f"metric value {number!r} is not a number")
    key = check_key("metric", point["key"])
    return Metric(key, load_float(number), _int(point["step"]), _time(point["timestamp"]))


def header(name: str, size: int, mtime: int) -> bytes:
    """A regular file's tar header (pax records only for a long or non-ASCII name)."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def padding(size: int) -> bytes:
    return bytes(-size % tarfile.BLOCKSIZE)


class Archive:
    """An open package: its manifest, then its files, each member's structure checked."""

    def __init__(self, path: PathLike) -> None:
        self.shown = os.fspath(path)
        try:
            self.tar = tarfile.open(path, mode="r:")  # noqa: SIM115 (closed by close())
        except (OSError, tarfile.TarError, EOFError) as error:
            raise InvalidInput(f"cannot read {self.shown!r} as a package: {_why(error)}") from error

    def close(self) -> None:
        self.tar.close()

    def _next(self) -> tarfile.TarInfo | None:
        try:
            return self.tar.next()
        except (OSError, tarfile.TarError, EOFError) as error:
            raise InvalidInput(
                f"{self.shown!r} is not a whole tar archive: {_why(error)}"
            ) from error

    def _stream(self, member: tarfile.TarInfo) -> IO[bytes]:
        stream = self.tar.extractfile(member)
        assert stream is not None  # a regular file, checked by _check
        return cast("IO[bytes]", _Reader(stream, self.shown))

    def manifest(self) -> Package:
        member = self._next()
        if member is None or member.name != MANIFEST_NAME:
            raise InvalidInput(
                f"{self.shown!r} is not a modelreg package: its first member must be "
                f"{MANIFEST_NAME}"
            )
        self._check(member)
        if member.size > _MAX_MANIFEST:
            raise InvalidInput(f"the manifest of {self.shown!r} is larger than 512 MiB")
        with self._stream(member) as stream:
            raw = stream.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError as error:
            raise InvalidInput(f"the manifest of {self.shown!r} is not JSON: {error}") from None
        return Package.from_json(data)

    def files(self, package: Package) -> Iterator[tuple[Artifact, IO[bytes]]]:
        """Each file of the archive with the manifest entry it must match, in archive
        order; `IntegrityError` for a file the manifest does not name, one given twice,
        and (at the end) one missing."""
        expected = {FILES + f.path.value: f for f in package.files}
        seen: set[str] = set()
        while (member := self._next()) is not None:
            self._check(member)
            name = member.name
            if name in seen or name == MANIFEST_NAME:
                raise IntegrityError(
                    f"{self.shown!r} holds {name!r} twice; the package was changed"
                )
            artifact = expected.get(name)
            if artifact is None:
                raise IntegrityError(
                    f"{self.shown!r} holds {name!r}, which its manifest does not name; the "
                    "package was changed"
                )
            seen.add(member.name)
            with self._stream(member) as stream:
                yield artifact, stream
        missing = sorted(set(expected) - seen)
        if missing:
            raise IntegrityError(
                f"{self.shown!r} lacks {', '.join(m[len(FILES) :] for m in missing)}, named in "
                "its manifest; the package is incomplete"
            )

    def _check(self, member: tarfile.TarInfo) -> None:
        """Refuse a member that is no regular file, or whose name leaves the package."""
        name = member.name
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or "\\" in name or ":" in parts[0]:
            raise InvalidInput(
                f"{self.shown!r} holds {name!r}, a path outside the package (absolute or "
                "with '..'); refused"
            )
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            kind = (
                "a symbolic link"
                if member.issym()
                else "a hard link"
                if member.islnk()
                else "a directory"
                if member.isdir()
                else "a device or other special file"
            )
            raise InvalidInput(
                f"{self.shown!r} holds {name!r}, {kind}; a package holds regular files only"
            )


class _Reader:
    """A member's stream whose read errors (a truncated archive) are `InvalidInput`."""

    def __init__(self, stream: IO[bytes], shown: str) -> None:
        self._stream = stream
        self._shown = shown

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except (OSError, tarfile.TarError, EOFError) as error:
            raise InvalidInput(f"{self._shown!r} is cut short: {_why(error)}") from error

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()


def _why(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


@contextlib.contextmanager
def open_archive(path: PathLike) -> Iterator[Archive]:
    archive = Archive(path)
    try:
        yield archive
    finally:
        archive.close()
