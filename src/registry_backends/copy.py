"""``copy(src, dst)``: a whole registry from any backend to any other, exactly.

The copy works on the storage protocol (`registry_core.protocol.Repository`), not on the
Registry's calls: every backend speaks it, and its documents already hold every field as
it was (states, timestamps, CI links, manifests and seals), so nothing is re-created with
a new time or a new id. What is copied, in this order:

1. ``("settings",)``: visibility and memberships first, so that a private registry never
   shows its data in a destination that is still public by default.
2. ``("tokens", ...)`` with ``tokens=True`` (only hashes are stored).
3. Each experiment: for each run its blobs, its ``run_metrics`` batches, then the run;
   then the experiment's name claims (``experiment_names``) and the experiment itself.
4. Each model: for each version its blobs, its ``metrics`` batches, then the version;
   then the model document (which holds the aliases) last.

Blobs before the document that names them in its manifest, and a model after all its
versions: a copy killed anywhere leaves nothing that points at what is not there. An
alias never names a missing version, and until its document lands a model is neither
listed nor found by name (`Registry.get_version` of an exact version does find a version
that landed before its model). Do not run ``fsck(repair=True)`` on a destination while a
copy into it runs or lies interrupted: fsck counts blobs as referenced only under listed
models and experiments, and deletes the others (the next copy puts them back).

Runs go before models: a draft made by a promotion is judged by fsck from its run, so the
run should be there first; a run names its version only as text (``promoted_to``).

Rules:

* Documents in flight are skipped and reported: marked ``deleting``, ``creating``,
  ``renaming_to`` or ``renaming_from``, or holding a live upload (a version or run being
  uploaded to, or promoted into). A model or experiment in flight is skipped whole.
  A draft is copied as a draft.
* Only blobs a manifest names are copied, streamed in 1 MiB chunks, and their size and
  SHA-256 are checked against the manifest before the writer commits; a mismatch aborts
  the writer and raises `IntegrityError`. A blob already in the destination is kept if
  its size and hash match. ``workers`` blobs of a model (experiment) move at once, each
  in its own thread, and beside them one of `LARGE` size or more, so memory stays flat; a
  member's document waits for its own blobs only. On a failure the blobs not started
  are dropped and the running ones end before `copy` raises.
* Never overwrite: what the destination holds is read from its listings. A document
  written there but left out of its listings by a crash is written again, which puts it
  back (``put_if_absent``). A document already there with equal data is "unchanged";
  with other data it is a conflict, and nothing more of that model (experiment) is
  copied. Every document of a model is compared before the first write, so a conflict
  leaves the destination's model as it was. Metric batches are append-only: new ones of
  a version already copied are added.

A `Registry` given as source needs ``read`` (and ``manage_members`` for tokens); one given
as destination must be trusted (no actor) or its actor must be the destination's owner.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import attrs

from registry_backends._open import is_missing_local, local_path, open_registry
from registry_core import Registry
from registry_core.convert import load_time
from registry_core.errors import (
    AlreadyExists,
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from registry_core.permissions import Action, Role
from registry_core.protocol import Key, Repository

__all__ = ["CopyProgress", "CopyReport", "copy"]

CHUNK = 2**20
#: Blobs from this size on move one at a time, in one thread of their own: an object
#: store's writer buffers a few parts of each (S3: up to 64 MiB), and each thread's
#: allocator keeps what it once held, so large blobs in four threads would keep 256 MiB.
LARGE = 8 * CHUNK
_PAGE = 500
_IN_FLIGHT = ("deleting", "creating", "renaming_to", "renaming_from")

Where = Repository | Registry | str


@attrs.frozen
class CopyProgress:
    """How far a copy is: versions finished of those found, and blob bytes written
    (counted as they stream, so a large blob moves the figure while it is copied)."""

    versions_done: int
    versions_total: int
    bytes_done: int


@attrs.frozen
class CopyReport:
    """What a copy did (or, with ``dry_run``, would do), one line per document kind:
    settings, tokens, experiments, runs, models and versions, by name."""

    copied: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    bytes_copied: int = 0
    blobs_copied: int = 0
    dry_run: bool = False

    @property
    def changed_nothing(self) -> bool:
        """Whether the destination was (or, in a dry run, would be) left as it was."""
        return not self.copied and not self.blobs_copied

    def __str__(self) -> str:
        verb = "would copy" if self.dry_run else "copied"
        files = "1 file" if self.blobs_copied == 1 else f"{self.blobs_copied} files"
        lines = [
            f"{verb} {len(self.copied)}, unchanged {len(self.unchanged)}, skipped "
            f"{len(self.skipped)}, conflicts {len(self.conflicts)}; {files}, "
            f"{self.bytes_copied} bytes"
        ]
        if self.changed_nothing and not self.conflicts:
            lines.append("nothing to copy: the destination already holds everything")
        for title, items in (
            (verb, self.copied),
            ("skipped (in flight)", self.skipped),
            ("conflict (not overwritten)", self.conflicts),
        ):
            lines.extend(f"  {title}: {item}" for item in items)
        return "\n".join(lines)


class _Clash(Exception):
    """A document of the destination differs from the source's: stop that group."""


@attrs.frozen
class _Member:
    """A version or a run: blobs, then metric batches, then its document."""

    label: str
    key: Key
    data: Mapping[str, Any]
    metrics: Key  # the prefix of its metric batches
    package: str  # where its blobs live
    is_version: bool


@attrs.frozen
class _Group:
    """A model or an experiment: its members, then its own documents (``heads``)."""

    label: str
    heads: tuple[tuple[Key, Mapping[str, Any]], ...]
    members: tuple[_Member, ...]


def copy(
    src: Where,
    dst: Where,
    *,
    models: str | None = None,
    tokens: bool = False,
    dry_run: bool = False,
    progress: Callable[[CopyProgress], None] | None = None,
    workers: int = 4,
) -> CopyReport:
    """Copy every model, version, experiment and run (and the settings; the tokens with
    ``tokens``) from ``src`` into ``dst``: repositories, registries or registry URLs.

    ``models`` keeps only models whose name starts with it (case-insensitively) and then
    copies neither settings, tokens nor experiments. ``dry_run`` writes nothing and
    reports what would be copied. ``workers`` blobs are copied at once. Safe to run again
    after a crash or a conflict.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise InvalidInput(f"workers must be a whole number from 1 to 64, not {workers!r}")
    source = _open(src, tokens, destination=False, dry_run=dry_run)
    target = _open(dst, tokens, destination=True, dry_run=dry_run)
    small = ThreadPoolExecutor(workers, thread_name_prefix="modelreg-copy")
    large = ThreadPoolExecutor(1, thread_name_prefix="modelreg-copy-large")
    run = _Copy(source, target, dry_run, progress, small, large)
    try:
        _run(run, models, tokens)
    finally:  # on a failure, drop the blobs not started and wait for the running ones
        for pool in (small, large):
            pool.shutdown(wait=True, cancel_futures=True)
    return CopyReport(
        tuple(run.copied),
        tuple(run.unchanged),
        tuple(run.skipped),
        tuple(run.conflicts),
        run.byte_count,
        run.blobs,
        dry_run,
    )


def _run(run: _Copy, models: str | None, tokens: bool) -> None:
    groups: list[_Group] = []
    if models is None:
        run.flat(("settings",), "settings")
        if tokens:
            for segment, data in _docs(run.source, ("tokens",)):
                run.flat(("tokens", segment), f"token {data.get('id')} of {data.get('user')!r}")
        groups.extend(run.experiments())
    groups.extend(run.models(models))
    run.total = sum(m.is_version for g in groups for m in g.members)
    for group in groups:
        run.group(group)


def _open(where: Where, tokens: bool, *, destination: bool, dry_run: bool) -> Repository:
    """The repository behind ``where``, after checking a registry's actor may use it.

    A local folder or SQLite file that does not exist is not made: as the source it is
    `NotFound` (a mistyped path would copy nothing), as the destination of a dry run an
    empty registry stands in for it (everything would be copied)."""
    if isinstance(where, str):
        if is_missing_local(where):
            if not destination:
                raise NotFound(f"no registry at {where!r}: {local_path(where)!r} does not exist")
            if dry_run:
                return open_registry("memory://").repository
        return open_registry(where).repository
    if not isinstance(where, Registry):
        return where
    actor = where.actor
    if actor is not None and destination:
        if where.get_settings().role_of(actor) is not Role.OWNER:
            raise PermissionDenied(
                f"copying into a registry needs its owner; user {actor.user!r} is not"
            )
    elif actor is not None:
        where.require(Action.READ)
        where.require(Action.READ_SETTINGS)
        if tokens:
            where.require(Action.MANAGE_MEMBERS)
    return where.repository


def _docs(repo: Repository, prefix: Key, starts: str | None = None) -> Iterator[tuple[str, Any]]:
    """Every document one level under ``prefix``, a page at a time; one deleted between
    the listing and the read (a lazy files listing raises `Conflict`) is left out."""
    after = None
    while True:
        page = repo.list_page(prefix, after=after, starts_with=starts, limit=_PAGE)
        for segment, doc in page:
            after = segment
            try:
                data = doc.data
            except Conflict:
                continue
            yield segment, data
        if len(page) < _PAGE:
            return


def _in_flight(data: Mapping[str, Any], now: dt.datetime) -> str | None:
    """Why the document is in the middle of a change, or None when it is at rest."""
    for mark in _IN_FLIGHT:
        if data.get(mark):
            return mark
    if any(load_time(u["expires"]) > now for u in data.get("uploads") or ()):
        return "an upload is running"
    promoting = data.get("promoting")
    if promoting and load_time(promoting["expires"]) > now:
        return "a promotion is running"
    return None


@attrs.define
class _Copy:
    """One copy: where from and to, and the tally the report is made of."""

    source: Repository
    target: Repository
    dry_run: bool
    progress: Callable[[CopyProgress], None] | None
    small: ThreadPoolExecutor
    large: ThreadPoolExecutor
    now: dt.datetime = attrs.Factory(lambda: dt.datetime.now(dt.timezone.utc))
    copied: list[str] = attrs.Factory(list)
    unchanged: list[str] = attrs.Factory(list)
    skipped: list[str] = attrs.Factory(list)
    conflicts: list[str] = attrs.Factory(list)
    byte_count: int = 0
    blobs: int = 0
    streamed: int = 0
    done: int = 0
    total: int = 0
    lock: threading.Lock = attrs.Factory(threading.Lock)
    index: dict[Key, dict[str, Mapping[str, Any]]] = attrs.Factory(dict)

    def report(self) -> None:
        if self.progress is not None:
            with self.lock:
                self.progress(CopyProgress(self.done, self.total, self.streamed))

    def moved(self, chunk: bytes) -> None:
        """Count a chunk written to the destination (from any worker)."""
        with self.lock:
            self.streamed += len(chunk)
        self.report()

    # -- reading the source --------------------------------------------------------------

    def members(self, prefix: Key, *, versions: bool) -> tuple[_Member, ...]:
        found = []
        for segment, data in _docs(self.source, prefix):
            key = (*prefix, segment)
            if versions:
                label = f"version {data['model']}@{data['version']}"
                package, metrics = f"{data['model']}/{data['version']}", ("metrics", *key[1:])
            else:
                label = f"run {data['id']}"
                package = f".modelreg/runs/{data['experiment_id']}/{data['id']}"
                metrics = ("run_metrics", *key[1:])
            if self.in_flight(label, data):
                continue
            found.append(_Member(label, key, data, metrics, package, versions))
        return tuple(found)

    def in_flight(self, label: str, data: Mapping[str, Any]) -> bool:
        """Whether the document is mid-change (then it is recorded as skipped)."""
        why = _in_flight(data, self.now)
        if why is not None:
            self.skipped.append(f"{label} ({why})")
        return why is not None

    def models(self, prefix: str | None) -> Iterator[_Group]:
        starts = prefix.lower() if prefix else None
        for segment, data in list(_docs(self.source, ("models",), starts)):
            label = f"model {data['name']}"
            if self.in_flight(label, data):
                continue
            members = self.members(("versions", segment), versions=True)
            yield _Group(label, ((("models", segment), data),), members)

    def experiments(self) -> Iterator[_Group]:
        claims: dict[str, list[tuple[Key, Any]]] = {}
        for segment, data in _docs(self.source, ("experiment_names",)):
            claims.setdefault(str(data.get("id")), []).append((("experiment_names", segment), data))
        for segment, data in list(_docs(self.source, ("experiments",))):
            label = f"experiment {data['name']!r} ({segment})"
            if self.in_flight(label, data):
                continue
            members = self.members(("runs", segment), versions=False)
            heads = (*claims.get(segment, ()), (("experiments", segment), data))
            yield _Group(label, heads, members)

    # -- writing the destination ---------------------------------------------------------

    def missing(self, key: Key, data: Mapping[str, Any]) -> bool:
        """True when ``key`` must be written, False when it holds ``data`` already;
        `_Clash` when it holds something else.

        What is there is read from the destination's listing, not by key: on an object
        store a crash can leave a document written but not yet in the listing's index,
        and only writing it again (`put`) puts it back in the listings."""
        if len(key) == 1:
            doc = self.target.get(key)
            there = None if doc is None else doc.data
        else:
            there = self.listed(key[:-1]).get(key[-1])
        if there is None:
            return True
        if dict(there) != dict(data):
            raise _Clash(f"{'/'.join(key)} differs in the destination")
        return False

    def listed(self, prefix: Key) -> Mapping[str, Mapping[str, Any]]:
        """The destination's documents under ``prefix``, listed once per copy (a group's
        are forgotten when it is done)."""
        found = self.index.get(prefix)
        if found is None:
            found = self.index[prefix] = dict(_docs(self.target, prefix))
        return found

    def put(self, key: Key, data: Mapping[str, Any]) -> None:
        """Create the document. One that is there already must hold the same data (its
        store puts it back in the listings if a crash had left it out)."""
        try:
            self.target.put_if_absent(key, data)
        except AlreadyExists:
            there = self.target.get(key)
            if there is not None and dict(there.data) != dict(data):
                raise _Clash(f"{'/'.join(key)} differs in the destination") from None

    def flat(self, key: Key, label: str) -> None:
        """Copy one stand-alone document (settings, a token)."""
        doc = self.source.get(key)
        if doc is None:
            return
        try:
            if not self.missing(key, doc.data):
                self.unchanged.append(label)
                return
            if not self.dry_run:
                self.put(key, doc.data)
        except _Clash as clash:
            self.conflicts.append(f"{label}: {clash}")
            return
        self.copied.append(label)

    def group(self, group: _Group) -> None:
        """Compare every document of the group with the destination before writing any,
        then write what is missing: members (blobs, metrics, document), then the heads."""
        start = self.done
        try:
            heads = [(key, data) for key, data in group.heads if self.missing(key, data)]
            plans = [(m, *self.plan(m)) for m in group.members]
            moving = [self.start(m, write_doc, recheck=bool(heads)) for m, write_doc, _ in plans]
            for (member, write_doc, batches), blobs in zip(plans, moving, strict=True):
                wrote = self.finish(member, write_doc, batches, blobs)
                (self.copied if wrote else self.unchanged).append(member.label)
                self.done += member.is_version
                self.report()
            for key, data in heads if not self.dry_run else ():
                self.put(key, data)
        except _Clash as clash:
            self.forget(group)
            self.conflicts.append(f"{group.label}: {clash}; nothing more of it copied")
            self.done = start + sum(m.is_version for m in group.members)
            self.report()
            return
        self.forget(group)
        (self.copied if heads else self.unchanged).append(group.label)

    def forget(self, group: _Group) -> None:
        """Drop the listings of the group's members (those of its heads are shared)."""
        for member in group.members:
            self.index.pop(member.key[:-1], None)
            self.index.pop(member.metrics, None)

    def plan(self, member: _Member) -> tuple[bool, list[tuple[Key, Any]]]:
        """Whether the member's document is missing in the destination, and which of its
        metric batches are; `_Clash` if any differs."""
        batches = [
            ((*member.metrics, segment), data)
            for segment, data in _docs(self.source, member.metrics)
            if self.missing((*member.metrics, segment), data)
        ]
        return self.missing(member.key, member.data), batches

    def start(self, member: _Member, write_doc: bool, *, recheck: bool) -> list[Future[bool]]:
        """Hand the member's blobs to the workers; each future tells whether it copied.

        The blobs of a member whose document is already there are checked again only while
        its model (experiment) document is missing: fsck counts only blobs under listed
        models as referenced, so ``fsck(repair=True)`` on an interrupted copy deletes them.
        Once the model is there a second run reads no blob."""
        artifacts = member.data.get("artifacts", ()) if write_doc or recheck else ()
        if self.dry_run:
            if write_doc:
                self.byte_count += sum(int(a["size"]) for a in artifacts)
                self.blobs += len(artifacts)
            return []
        return [
            (self.large if int(a["size"]) >= LARGE else self.small).submit(
                self.blob, f"{member.package}/{a['path']}", int(a["size"]), a["sha256"]
            )
            for a in artifacts
        ]

    def finish(
        self,
        member: _Member,
        write_doc: bool,
        batches: list[tuple[Key, Any]],
        blobs: list[Future[bool]],
    ) -> bool:
        """Wait for the member's blobs, then write its metric batches and its document;
        whether anything was (would be) written."""
        copied = [future.result() for future in blobs]
        if self.dry_run:
            return write_doc or bool(batches)
        for key, data in batches:
            self.put(key, data)
        if write_doc:
            self.put(member.key, member.data)
        return write_doc or bool(batches) or any(copied)

    def blob(self, name: str, size: int, sha256: str) -> bool:
        """Stream the blob unless the destination holds it already with this size and
        hash; whether it did. `IntegrityError` (the writer aborted) on a mismatch."""
        try:
            with self.target.open_blob(name) as there:
                if _digest(there) == (size, sha256):
                    return False
        except NotFound:
            pass
        writer = self.target.open_blob_writer(name)

        def write(chunk: bytes) -> None:
            writer.write(chunk)
            self.moved(chunk)

        try:
            try:
                with self.source.open_blob(name) as stream:
                    got = _digest(stream, write)
            except NotFound as error:
                raise IntegrityError(
                    f"blob '{name}' is in a manifest but not in the source"
                ) from error
            if got != (size, sha256):
                raise IntegrityError(
                    f"blob '{name}' does not match its manifest: {got[0]} bytes with SHA-256 "
                    f"{got[1]}, expected {size} bytes with SHA-256 {sha256}; not copied"
                )
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        with self.lock:
            self.byte_count += size
            self.blobs += 1
        return True


def _digest(stream: Any, sink: Callable[[bytes], None] | None = None) -> tuple[int, str]:
    """Size and SHA-256 of a stream read in `CHUNK` pieces, each also passed to ``sink``."""
    hasher, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        hasher.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink(chunk)
    return size, hasher.hexdigest()
