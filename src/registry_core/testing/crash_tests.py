"""Crash injection: each multi-step operation killed after each of its storage writes.

`DiesAfter` wraps a backend's repository and lets ``k`` storage writes through; the
``k+1``-th and every call after it raise `BackendError`, as if the process had died
there (nothing more is written, not even clean-up). `CrashContractTests` runs every
listed operation that way for k = 0, 1, 2, ... until the operation completes, and after
each death checks, through a new `Registry` over the same storage:

- readers see the state from before the operation or the state after it, never a mix;
- ``fsck(repair=True)`` (with every upload hold and claim lapsed) leaves a clean store
  whose state is still the old or the new one;
- calling the operation again then finishes it, and the end state is the one the
  reference model (`registry_core.testing.reference`) gives for the operation.

Both states are computed by the reference, not by the Registry, so an operation whose
completed result is wrong fails here too.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import io
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from registry_core.errors import BackendError
from registry_core.protocol import BlobWriter, Repository
from registry_core.registry import Registry
from registry_core.testing.fixtures import RepositoryFixtures
from registry_core.testing.reference import ModelView, Reference, VersionView, view
from registry_core.versions import Version

__all__ = [
    "OPERATIONS",
    "AliasAfterCrashTests",
    "CrashContractTests",
    "DiesAfter",
    "kill_in_fresh_stores",
    "kill_points",
]

#: The calls of `Repository` (and its optional extras) that change storage.
WRITES = frozenset(
    {"put_if_absent", "compare_and_swap", "delete", "delete_tree", "delete_blobs", "copy_blob"}
)


class DiesAfter:
    """Delegates to a repository for ``writes`` storage writes; then the process "dies":
    that write and every later call raise `BackendError`, and nothing more is written.
    A blob's ``commit`` counts as a write; bytes written before it are not (they are
    invisible until the commit)."""

    def __init__(self, inner: Repository, writes: int) -> None:
        self._inner = inner
        self._left = writes
        self.dead = False

    def _spend(self) -> None:
        if self.dead or self._left == 0:
            self.dead = True
            raise BackendError("the process died")
        self._left -= 1

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            if name in WRITES:
                self._spend()
            elif self.dead:
                raise BackendError("the process died")
            return found(*args, **kwargs)

        return call

    def open_blob_writer(self, name: str) -> BlobWriter:
        if self.dead:
            raise BackendError("the process died")
        writer = self._inner.open_blob_writer(name)
        outer = self

        class Dying:
            def write(self, chunk: bytes) -> None:
                if outer.dead:
                    raise BackendError("the process died")
                writer.write(chunk)

            def commit(self) -> None:
                outer._spend()
                writer.commit()

            def abort(self) -> None:
                if not outer.dead:  # a dead process cleans nothing up
                    writer.abort()

        return Dying()


# -- the operations ------------------------------------------------------------------------

#: The same calls go to a `Registry` and to the `Reference`; ``p`` prefixes every name,
#: so that each k gets models of its own in one repository.
Step = Callable[[Any, str], object]
_WEIGHTS = b"weights " * 4096


def _file(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def _draft(api: Any, p: str) -> None:
    """A model with a ready 1.0.0 holding two files, and a draft 1.1.0 with one."""
    api.create_model(f"{p}m", "fraud detector")
    api.create_version(f"{p}m", "1.0.0")
    api.upload(f"{p}m", "1.0.0", _file(_WEIGHTS), name="model/weights.bin")
    api.upload(f"{p}m", "1.0.0", _file(b"flavors: {}\n"), name="MLmodel")
    api.publish(f"{p}m", "1.0.0")
    api.create_version(f"{p}m", "1.1.0")
    api.upload(f"{p}m", "1.1.0", _file(b"draft bytes"), name="model/weights.bin")


def _aliased(api: Any, p: str) -> None:
    _draft(api, p)
    api.set_alias(f"{p}m", "prod", "1.0.0")
    api.create_model(f"{p}other")  # a neighbour that nothing may touch
    api.create_version(f"{p}other", "1.0.0")
    api.upload(f"{p}other", "1.0.0", _file(b"neighbour"), name="f")


@functools.cache
def _tree() -> Path:
    """A local folder of three files, one in a subfolder, for `upload_dir` (made once)."""
    root = Path(tempfile.mkdtemp(prefix="modelreg-crash-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "tokenizer").mkdir()
    (root / "config.json").write_bytes(b'{"layers": 2}')
    (root / "tokenizer" / "vocab.txt").write_bytes(b"a\nb\n")
    (root / "weights.bin").write_bytes(_WEIGHTS)
    return root


class Operation(NamedTuple):
    """``setup`` builds the state before; ``run`` is the operation that gets killed."""

    setup: Step
    run: Step
    renames: tuple[str, str] | None = None  # the reference has no rename: (old, new)


def _nothing(api: Any, p: str) -> None:
    return None


OPERATIONS: dict[str, Operation] = {
    "create_model": Operation(_nothing, lambda api, p: api.create_model(f"{p}m", "about")),
    "create_version": Operation(_draft, lambda api, p: api.create_version(f"{p}m", "2.0.0-rc.1")),
    "create_published_version": Operation(
        _draft, lambda api, p: api.create_version(f"{p}m", "2.0.0", publish=True)
    ),
    "upload": Operation(
        _draft,
        lambda api, p: api.upload(f"{p}m", "1.1.0", _file(_WEIGHTS * 2), name="data/big.bin"),
    ),
    "upload_dir": Operation(
        _draft, lambda api, p: api.upload_dir(f"{p}m", "1.1.0", _tree(), subfolder="data")
    ),
    "upload_small": Operation(
        _draft, lambda api, p: api.upload(f"{p}m", "1.1.0", _file(b"cfg"), name="MLmodel")
    ),
    "publish": Operation(_draft, lambda api, p: api.publish(f"{p}m", "1.1.0")),
    "delete_version": Operation(
        _aliased, lambda api, p: api.delete_version(f"{p}m", "1.0.0", force=True)
    ),
    "delete_draft_version": Operation(_draft, lambda api, p: api.delete_version(f"{p}m", "1.1.0")),
    "delete_model": Operation(_aliased, lambda api, p: api.delete_model(f"{p}m", force=True)),
    "rename_model": Operation(
        _aliased, lambda api, p: api.rename_model(f"{p}m", f"{p}n"), renames=("m", "n")
    ),
}


# -- what readers see ------------------------------------------------------------------------


class World(NamedTuple):
    models: tuple[tuple[ModelView, tuple[VersionView, ...]], ...]


def _listed(api: Any, method: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    if isinstance(api, Reference):
        pages = getattr(api, method)(*args, page_size=1000, **kwargs)
        return tuple(item for page in pages for item in page.items)
    items: list[Any] = []
    token = None
    while True:
        page = getattr(api, method)(*args, page_size=1000, page_token=token, **kwargs)
        items.extend(view(page.items))
        token = page.next_page_token
        if token is None:
            return tuple(items)


def world(api: Any, prefix: str) -> World:
    """Every model under ``prefix`` with all its versions, as the reference shows them."""
    models = _listed(api, "list_models", prefix)
    return World(tuple((m, _listed(api, "list_versions", m.name)) for m in models))


def _renamed(before: World, old: str, new: str) -> World:
    """``before`` with model ``old`` under the name ``new`` (the reference cannot rename)."""

    def name(value: str) -> str:
        return new if value == old else value

    models = [
        (m._replace(name=name(m.name)), tuple(v._replace(model=name(v.model)) for v in vs))
        for m, vs in before.models
    ]
    return World(tuple(sorted(models, key=lambda pair: pair[0].name)))


def expected_worlds(operation: Operation, prefix: str) -> tuple[World, World]:
    """(before, after) of ``operation``, by the reference."""
    reference = Reference()
    operation.setup(reference, prefix)
    before = world(reference, prefix)
    if operation.renames is not None:
        old, new = operation.renames
        return before, _renamed(before, prefix + old, prefix + new)
    operation.run(reference, prefix)
    return before, world(reference, prefix)


#: Operations known to leave a torn state on a store without transactions, with why. On
#: such a store the test is an expected failure that must fail (and must pass elsewhere).
KNOWN_TORN: dict[str, str] = {}


def _later(when: dt.datetime) -> dt.datetime:
    return when


class CrashContractTests(RepositoryFixtures):
    """Every operation in `OPERATIONS`, killed after each of its storage writes."""

    @pytest.mark.parametrize("name", sorted(OPERATIONS))
    def test_an_operation_killed_after_any_write_leaves_the_old_or_the_new_state(
        self, name: str, repo: Repository
    ) -> None:
        known = KNOWN_TORN.get(name) if getattr(repo, "transaction", None) is None else None
        try:
            self._kill_at_every_write(OPERATIONS[name], name, repo)
        except AssertionError:
            if known is None:
                raise
            pytest.xfail(known)
        assert known is None, f"{name} passed: drop it from KNOWN_TORN ({known})"

    def _kill_at_every_write(self, operation: Operation, name: str, first: Repository) -> None:
        """For each kill point k: a new repository (fsck's cost stays that of one model)."""
        kill_in_fresh_stores(
            self, first, lambda repo, k: self._kill_after(operation, name, repo, k)
        )

    def _kill_after(self, operation: Operation, name: str, repo: Repository, k: int) -> bool:
        """Kill the operation after write ``k`` and check; whether it finished instead."""
        registry = Registry(repo)
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
        after = Registry(repo, clock=functools.partial(_later, later))  # every hold lapsed
        prefix = f"k{k}-"
        old, new = expected_worlds(operation, prefix)
        operation.setup(registry, prefix)
        assert world(registry, prefix) == old, "the setup differs from the reference"
        dying = DiesAfter(repo, k)
        with contextlib.suppress(BackendError):
            operation.run(Registry(dying), prefix)
        if not dying.dead:
            assert world(registry, prefix) == new, "the operation differs from the reference"
            assert k >= 1
            return True
        seen = world(registry, prefix)
        assert seen in (old, new), f"{name} killed after write {k}: a torn state {seen}"
        report = after.fsck(repair=True)
        assert after.fsck().ok, (name, k, report, after.fsck())
        seen = world(registry, prefix)
        assert seen in (old, new), f"{name} killed after write {k}, then fsck: {seen}"
        if seen == old:
            operation.run(after, prefix)
        assert world(registry, prefix) == new, f"{name} killed after write {k}, run again"
        return False


def kill_points(stride: int, attempt: Callable[[int], bool]) -> int:
    """Call ``attempt(k)`` (kill the operation after ``k`` storage writes; True when it
    finished instead) for k = 0, ``stride``, twice ``stride``, ... until it finishes; with a
    stride over 1, then also the k before that one if it was skipped, which is the kill
    before the operation's last write (or its end). Returns the first k that finished."""
    if stride < 1:
        raise ValueError(f"kill_stride must be 1 or more, not {stride!r}")
    tried = -1
    for k in range(0, 201, stride):
        if attempt(k):
            if k - 1 > tried:
                attempt(k - 1)
            return k
        tried = k
    raise AssertionError("an operation made more than 200 storage writes")


def kill_in_fresh_stores(
    suite: RepositoryFixtures, first: Repository, attempt: Callable[[Repository, int], bool]
) -> int:
    """`kill_points` at the suite's ``kill_stride``, calling ``attempt(repository, k)``
    with ``first`` for k = 0 and a new repository of the suite's for every other k
    (discarded afterwards), so that each try's fsck costs that of one model."""

    def each(k: int) -> bool:
        repo = first if k == 0 else suite.fresh_repository()
        try:
            return attempt(repo, k)
        finally:
            if k:
                suite.discard_repository(repo)

    return kill_points(suite.kill_stride, each)


def _killed_forced_delete(repo: Repository, model: str, k: int) -> bool:
    """Kill ``delete_version(model, "1.0.0", force=True)`` after ``k`` writes; whether
    it died (else it finished)."""
    dying = DiesAfter(repo, k)
    with contextlib.suppress(BackendError):
        Registry(dying).delete_version(model, "1.0.0", force=True)
    return dying.dead


class AliasAfterCrashTests(RepositoryFixtures):
    """What a killed forced delete meant to take away stays away, and no further."""

    def test_a_version_made_again_after_a_killed_forced_delete_gets_no_old_alias(
        self, repo: Repository
    ) -> None:
        registry = Registry(repo)
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
        after = Registry(repo, clock=functools.partial(_later, later))

        def attempt(k: int) -> bool:
            model = f"k{k}-m"
            registry.create_model(model)
            registry.create_version(model, "1.0.0", publish=True)
            registry.set_alias(model, "prod", "1.0.0")
            registry.set_alias(model, "stable", "1.0.0")
            if not _killed_forced_delete(repo, model, k):
                return True
            after.fsck(repair=True)
            shown = registry.get_model(model).aliases
            if registry.list_versions(model).items:  # the delete never took effect
                assert set(shown) == {"prod", "stable"}, (k, shown)
                return False
            assert not shown, (k, shown)
            registry.create_version(model, "1.0.0", publish=True)
            assert not registry.get_model(model).aliases, k  # the old aliases stay gone
            registry.set_alias(model, "prod", "1.0.0")  # and one set anew is shown
            assert registry.get_model(model).aliases == {"prod": Version.parse("1.0.0")}, k
            assert registry.resolve(model, "prod").version == Version.parse("1.0.0")
            return False

        kill_points(self.kill_stride, attempt)

    def test_a_killed_rename_finishes_after_the_new_model_is_changed(
        self, repo: Repository
    ) -> None:
        """Killed once the new name shows, then the new model updated: fsck still takes
        the old name away (and never gives it back beside the new one)."""
        kill_in_fresh_stores(
            self, repo, lambda each, k: not self._rename_killed_then_changed(each, k)
        )

    @staticmethod
    def _rename_killed_then_changed(repo: Repository, k: int) -> bool:
        """Whether the rename died after write ``k`` (else it finished)."""
        registry = Registry(repo)
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
        after = Registry(repo, clock=functools.partial(_later, later))
        old, new = f"k{k}-m", f"k{k}-n"
        _aliased(registry, f"k{k}-")
        dying = DiesAfter(repo, k)
        with contextlib.suppress(BackendError):
            Registry(dying).rename_model(old, new)
        if not dying.dead:
            return False
        names = {m.name.value for m in registry.list_models(f"k{k}-").items}
        if new in names:
            registry.update_model(new, description="changed after the rename")
        after.fsck(repair=True)
        names = {m.name.value for m in registry.list_models(f"k{k}-").items}
        assert names in ({old, f"k{k}-other"}, {new, f"k{k}-other"}), (k, names)
        return True
