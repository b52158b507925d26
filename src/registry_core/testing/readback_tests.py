"""Contract tests of the registry's own records, read back from storage, on a backend.

Settings, memberships, tokens, tags and descriptions are written through one `Registry`
and read back through another over the same repository, so the answer comes from storage;
a refused call leaves every stored document and blob as it was (`access_tests.stored`).
Listings are paged while other threads insert and delete.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from registry_core.ci import CIJob
from registry_core.errors import InvalidInput, NotFound, PermissionDenied, RegistryError
from registry_core.permissions import Action, Actor, Role, Visibility
from registry_core.protocol import Repository
from registry_core.registry import Registry
from registry_core.testing.access_tests import _read_all, stored
from registry_core.testing.contract import run_threads
from registry_core.testing.fixtures import RepositoryFixtures
from registry_core.versions import Version

__all__ = ["ReadBackContractTests"]


class ReadBackContractTests(RepositoryFixtures):
    """The registry's records read back from storage, and pages read whole while others
    write."""

    # -- settings, memberships and tokens, read back from storage -------------------------

    def test_settings_and_memberships_are_stored(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.update_settings(visibility="public", enabled=False)
        registry.grant("ana", "developer")
        registry.grant("bob", Role.GUEST)
        registry.grant("ana", Role.MAINTAINER)  # a second grant replaces the role
        registry.revoke("bob")
        read = Registry(repo).get_settings()
        assert (read.enabled, read.visibility) == (False, Visibility.PUBLIC)
        assert dict(read.members) == {"ana": Role.MAINTAINER}
        assert isinstance(read.members["ana"], Role)
        registry.update_settings(enabled=True)
        again = Registry(repo).get_settings()
        assert (again.enabled, again.visibility) == (True, Visibility.PUBLIC)
        assert Registry(repo).as_actor("ana").may(Action.MANAGE_MEMBERS)[Action.MANAGE_MEMBERS]

    def test_bad_settings_and_memberships_are_refused_and_store_nothing(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.grant("ana", Role.REPORTER)
        before = stored(repo)
        refusals: list[tuple[type[RegistryError], Callable[[], object]]] = [
            (InvalidInput, lambda: registry.update_settings(visibility="secret")),
            (InvalidInput, lambda: registry.update_settings(enabled="yes")),  # type: ignore[arg-type]
            (InvalidInput, lambda: registry.grant("", Role.GUEST)),
            (InvalidInput, lambda: registry.grant("x\n", Role.GUEST)),
            (InvalidInput, lambda: registry.grant("zoe", "admin")),
            (NotFound, lambda: registry.revoke("nobody")),
        ]
        for error, refused in refusals:
            with pytest.raises(error):
                refused()
        assert stored(repo) == before
        assert dict(Registry(repo).get_settings().members) == {"ana": Role.REPORTER}

    def test_tokens_are_stored_and_revoked(self, registry: Registry, repo: Repository) -> None:
        registry.grant("mia", Role.MAINTAINER)
        registry.grant("dev", Role.DEVELOPER)
        token = registry.as_actor("mia").create_token("dev", description="pipeline")
        other = registry.create_token("mia")
        reader = Registry(repo)
        assert reader.authenticate(token) == Actor("dev")
        assert reader.authenticate(other) == Actor("mia")
        (info,) = reader.list_tokens("dev")
        assert (info.user, info.description, info.created_by) == ("dev", "pipeline", "mia")
        assert token not in repr(stored(repo))  # only its hash is kept
        assert sorted(t.user for t in reader.list_tokens()) == ["dev", "mia"]
        assert reader.as_actor(reader.authenticate(token)).create_model("by-token").created_by == (
            "dev"
        )
        assert registry.revoke_token(info.id) == info
        with pytest.raises(PermissionDenied):
            Registry(repo).authenticate(token)
        assert [t.user for t in Registry(repo).list_tokens()] == ["mia"]
        assert Registry(repo).authenticate(other) == Actor("mia")

    def test_bad_token_calls_are_refused_and_store_nothing(
        self, registry: Registry, repo: Repository
    ) -> None:
        token = registry.create_token("ana")
        before = stored(repo)
        refusals: list[tuple[type[RegistryError], Callable[[], object]]] = [
            (InvalidInput, lambda: registry.create_token("")),
            (InvalidInput, lambda: registry.create_token("ana", description="x" * 10_001)),
            (InvalidInput, lambda: registry.revoke_token("not-hex")),
            (NotFound, lambda: registry.revoke_token("0" * 16)),
            (PermissionDenied, lambda: registry.authenticate(token[:-2])),
            (PermissionDenied, lambda: registry.authenticate("mrt_" + "A" * 43)),
        ]
        for error, refused in refusals:
            with pytest.raises(error):
                refused()
        assert stored(repo) == before
        assert Registry(repo).authenticate(token) == Actor("ana")

    # -- tags and descriptions, read back from storage ------------------------------------

    def test_model_tags_and_description_are_stored(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.grant("rita", Role.REPORTER)
        registry.create_model("m", "first", tags={"team": "risk", "stage": "dev"})
        registry.set_model_tag("m", "stage", "prod")  # replaces
        registry.set_model_tag("m", "owner", "ana")
        registry.delete_model_tag("m", "team")
        last = registry.as_actor("rita").update_model("m", description="second")
        assert registry.update_model("m") == last  # no description: nothing changes
        read = Registry(repo).get_model("m")
        assert read == last
        assert (dict(read.tags), read.description) == ({"stage": "prod", "owner": "ana"}, "second")
        assert (read.created_by, read.updated_by) == (None, "rita")
        assert Registry(repo).list_models().items == (read,)

    def test_version_tags_and_description_are_stored(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.grant("rita", Role.REPORTER)
        registry.create_model("m")
        registry.create_version("m", "1.0.0", tags={"a": "1", "b": "2"}, publish=True)
        registry.set_tag("m", "1.0.0", "a", "one")
        registry.set_tag("m", "1.0.0", "c", "3")
        registry.delete_tag("m", "1.0.0", "b")
        last = registry.as_actor("rita").update_version("m", "1.0.0", description="sealed, yet")
        read = Registry(repo).get_version("m", "1.0.0")
        assert read == last
        assert (dict(read.tags), read.description) == ({"a": "one", "c": "3"}, "sealed, yet")
        assert read.updated_by == "rita"
        assert Registry(repo).list_versions("m").items == (read,)

    def test_bad_tags_and_descriptions_are_refused_and_store_nothing(
        self, registry: Registry, repo: Repository
    ) -> None:
        registry.create_model("m", tags={"k": "v"})
        registry.create_version("m", "1.0.0", tags={"k": "v"})
        before = stored(repo)
        refusals: list[Callable[[], object]] = [
            lambda: registry.set_model_tag("m", "", "v"),
            lambda: registry.set_model_tag("m", " k", "v"),
            lambda: registry.set_model_tag("m", "k", "x" * 5_001),
            lambda: registry.set_model_tag("m", "k", 5),  # type: ignore[arg-type]
            lambda: registry.set_model_tag("nope", "k", "v"),
            lambda: registry.set_model_tag("bad name!", "k", "v"),
            lambda: registry.delete_model_tag("m", "missing"),
            lambda: registry.update_model("m", description="x" * 10_001),
            lambda: registry.update_model("m", description=7),  # type: ignore[arg-type]
            lambda: registry.set_tag("m", "1.0.0", "k\x00", "v"),
            lambda: registry.set_tag("m", "1.0.0", "k", "x" * 5_001),
            lambda: registry.set_tag("m", "9.9.9", "k", "v"),
            lambda: registry.set_tag("m", "1.0", "k", "v"),
            lambda: registry.delete_tag("m", "1.0.0", "missing"),
            lambda: registry.update_version("m", "1.0.0", description="x" * 10_001),
            lambda: registry.update_version("m", "1.0.0", description=None),  # type: ignore[arg-type]
            lambda: registry.delete_alias("m", "none"),
        ]
        for index, refused in enumerate(refusals):
            with pytest.raises(RegistryError):
                refused()
            assert stored(repo) == before, f"refused call {index} changed stored data"
        assert dict(Registry(repo).get_model("m").tags) == {"k": "v"}

    def test_aliases_and_ci_links_are_stored(self, registry: Registry, repo: Repository) -> None:
        registry.create_model("m")
        registry.create_version("m", "1.0.0", publish=True)
        registry.set_alias("m", "prod", "1.0.0")
        registry.set_alias("m", "stage", "1.0.0")
        registry.delete_alias("m", "prod")
        job = CIJob(provider="gitlab", job_id="42", commit="abc", ref="main")
        registry.link_ci_job("m", "1.0.0", job)
        reader = Registry(repo)
        assert dict(reader.get_model("m").aliases) == {"stage": Version.parse("1.0.0")}
        with pytest.raises(NotFound):
            reader.get_alias("m", "prod")
        assert reader.get_version("m", "1.0.0").ci_job == job

    def test_run_ci_links_and_uploaded_folders_are_stored(
        self, registry: Registry, repo: Repository, tmp_path: Path
    ) -> None:
        run = registry.create_run(name="train")
        job = CIJob(provider="github", job_id="9", pipeline_id="3")
        registry.link_run_ci_job(run.id, job)
        (tmp_path / "src" / "sub").mkdir(parents=True)
        (tmp_path / "src" / "a.txt").write_bytes(b"aa")
        (tmp_path / "src" / "sub" / "b.txt").write_bytes(b"bbb")
        made = registry.upload_run_dir(run.id, tmp_path / "src", subfolder="model")
        assert sorted(str(a.path) for a in made) == ["model/a.txt", "model/sub/b.txt"]
        reader = Registry(repo)
        assert reader.get_run(run.id).ci_job == job
        assert reader.list_run_artifacts(run.id) == tuple(sorted(made, key=lambda a: a.path.key))
        assert _read_all(reader.open_run_artifact(run.id, "model/sub/b.txt")) == b"bbb"
        with pytest.raises(InvalidInput):
            registry.link_run_ci_job(run.id, {"provider": "github"})  # type: ignore[arg-type]
        assert Registry(repo).get_run(run.id).ci_job == job

    # -- pages while others write ---------------------------------------------------------

    def test_model_pages_stay_whole_while_others_insert_and_delete(
        self, registry: Registry
    ) -> None:
        kept = [f"k{i:03d}" for i in range(0, 60, 2)]
        doomed = [f"k{i:03d}" for i in range(1, 60, 2)]
        added = [f"k{i:03d}x" for i in range(0, 60, 2)]  # between kept and doomed ones
        for name in kept + doomed:
            registry.create_model(name)
        listing = _Listing(
            functools.partial(registry.list_models, page_size=3),
            lambda model: model.name.value,
            order=str.lower,
        )
        listing.race((registry.delete_model, registry.create_model), doomed, added, kept)

    def test_version_pages_stay_whole_while_others_insert_and_delete(
        self, registry: Registry
    ) -> None:
        registry.create_model("m")
        kept = [f"1.{i}.0" for i in range(0, 60, 2)]
        for version in kept:
            registry.create_version("m", version)
        writers: tuple[Callable[[str], object], Callable[[str], object]] = (
            lambda v: registry.delete_version("m", v),
            lambda v: registry.create_version("m", v),
        )
        for order, patch in (("precedence", 1), ("-precedence", 2)):
            if patch == 1:
                doomed = [f"1.{i}.0" for i in range(1, 60, 2)]
            else:
                doomed = [f"1.{i}.0-rc.1" for i in range(0, 60, 2)]  # just below kept ones
            for version in doomed:
                registry.create_version("m", version)
            added = [f"1.{i}.{patch}" for i in range(0, 60, 2)]
            listing = _Listing(
                functools.partial(registry.list_versions, "m", order=order, page_size=3),
                lambda version: str(version.version),
                order=_precedence,
                reverse=order.startswith("-"),
            )
            listing.race(writers, doomed, added, kept)
            kept = sorted(kept + added, key=_precedence)


def _precedence(version: str) -> Any:
    return Version.parse(version).precedence_key


@attrs.frozen
class _Listing:
    """A paged listing, read whole while threads write between its pages."""

    read: Callable[..., Any]  # page_token= -> a `Page`
    label: Callable[[Any], str]
    order: Callable[[str], Any]
    reverse: bool = False

    def whole(self, between: Callable[[], None] = lambda: None) -> list[str]:
        """Every item, page by page, calling ``between`` after each page."""
        found: list[str] = []
        token = None
        while True:
            page = self.read(page_token=token)
            found += [self.label(item) for item in page.items]
            between()
            token = page.next_page_token
            if token is None:
                return found[::-1] if self.reverse else found

    def race(
        self,
        writers: tuple[Callable[[str], object], Callable[[str], object]],
        doomed: list[str],
        added: list[str],
        kept: list[str],
    ) -> None:
        """Page through while two threads delete ``doomed`` and two insert ``added``, each
        let through one write per page read (so the writes land during the listing):
        every listing is in order with no item twice, holds every ``kept`` item and
        nothing that never existed; the listing after the writers is what is left."""
        delete, insert = writers
        work = [(delete, doomed[0::2]), (delete, doomed[1::2])]
        work += [(insert, added[0::2]), (insert, added[1::2])]
        gate = threading.Semaphore(0)
        done = [False] * len(work)
        listings: list[list[str]] = []

        def let_through() -> None:
            for _ in work:
                gate.release()

        def part(i: int) -> object:
            if i == len(work):  # the reader, until the writers are done
                try:
                    while not all(done):
                        listings.append(self.whole(let_through))
                finally:
                    for _ in range(len(doomed) + len(added)):
                        gate.release()
                return None
            write, items = work[i]
            try:
                for item in items:
                    assert gate.acquire(timeout=60), "the reader stopped"
                    write(item)
            finally:
                done[i] = True
            return None

        errors = [r for r in run_threads(len(work) + 1, part) if isinstance(r, Exception)]
        assert not errors, f"a thread failed: {errors!r}"
        existed = set(kept) | set(doomed) | set(added)
        for found in listings:
            assert found == sorted(set(found), key=self.order), f"out of order or twice: {found}"
            assert set(kept) <= set(found), f"missing: {sorted(set(kept) - set(found))}"
            assert set(found) <= existed, f"never existed: {sorted(set(found) - existed)}"
        assert self.whole() == sorted(kept + added, key=self.order)
