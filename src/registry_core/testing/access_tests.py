"""Contract tests of who may call what (the permission matrix), on a backend.

Every public `Registry` call is made through ``as_actor`` for each kind of caller on a
public and a private registry: allowed calls succeed, refused ones raise
`PermissionDenied` and leave every stored document (etag included) and blob as it was.
The expected answer comes from the documented rules (`registry_core.permissions`' module
docstring), written out in `expected` rather than read from its ``RULES`` table.

The walk runs every cell of `MATRIX` (7 callers, 2 visibilities) unless a backend's class
sets ``access_cells``: the rules are decided in `registry_core` before any storage call,
so a backend whose every call is a network round trip (an object store) may take
`ACCESS_SAMPLE`, one cell for each kind of answer, and still have every call checked
allowed or refused, refused ones leaving its storage as it was.
"""

from __future__ import annotations

import enum
import hashlib
import io
import itertools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from registry_core.ci import CIJob
from registry_core.errors import PermissionDenied
from registry_core.permissions import Action, Actor, Role, Visibility
from registry_core.protocol import Key, Repository
from registry_core.registry import Registry
from registry_core.testing.fixtures import RepositoryFixtures

__all__ = [
    "ACCESS_SAMPLE",
    "ACTION_ACCESS",
    "CALLERS",
    "CALLS",
    "Access",
    "AccessContractTests",
    "Call",
    "MATRIX",
    "World",
    "expected",
    "stored",
]


class Access(enum.Enum):
    """What a call does, in the words of the documented rules."""

    READ = "read"  # models, versions, artifacts, metadata, runs
    WRITE = "write"  # create, change or delete any of those
    SETTINGS_READ = "settings_read"  # read the settings (and who is a member)
    ADMIN = "admin"  # change settings, memberships or tokens
    OPEN = "open"  # checks no role: asks who a token is, or what the caller may do


def expected(access: Access, role: Role | None, visibility: Visibility, enabled: bool) -> bool:
    """The documented rules: reading needs a public registry or any membership; creating,
    changing and deleting need reporter or up; settings, memberships and tokens need
    maintainer or up; a disabled registry refuses all but settings and memberships."""
    if access is Access.OPEN:
        return True
    if not enabled and access in (Access.READ, Access.WRITE):
        return False
    if access in (Access.READ, Access.SETTINGS_READ):
        return role is not None or visibility is Visibility.PUBLIC
    if access is Access.WRITE:
        return role is not None and role >= Role.REPORTER
    return role is not None and role >= Role.MAINTAINER


#: How each permission `Action` reads in the words of `Access` (for ``may``/``require``).
ACTION_ACCESS: Mapping[Action, Access] = {
    Action.READ: Access.READ,
    Action.CREATE: Access.WRITE,
    Action.UPDATE: Access.WRITE,
    Action.DELETE: Access.WRITE,
    Action.READ_SETTINGS: Access.SETTINGS_READ,
    Action.UPDATE_SETTINGS: Access.ADMIN,
    Action.MANAGE_MEMBERS: Access.ADMIN,
}

#: The callers of the matrix: name -> (actor's user, role granted to that user).
CALLERS: Mapping[str, tuple[str | None, Role | None]] = {
    "anonymous": (None, None),
    "stranger": ("eve", None),
    **{role.name.lower(): ("ana", role) for role in Role},
}


@attrs.frozen
class World:
    """What `_world` made for the calls to work on (ids are not known in advance)."""

    token: str
    token_id: str
    experiment: str
    run: str
    doomed_run: str
    promoted_run: str
    doomed_experiment: str
    renamed_experiment: str
    folder: Path


@attrs.frozen
class Call:
    """One public Registry call made as the caller, and what it does."""

    method: str
    access: Access
    make: Callable[[Registry, World], object]


def _read_all(stream: Any) -> bytes:
    with stream:
        data: bytes = stream.read()
    return data


def _new_version(registry: Registry, world: World) -> None:
    with registry.new_version("m", "4.1.0") as draft:
        draft.log_param("lr", "0.1")


def _ci() -> CIJob:
    return CIJob(provider="github", job_id="7")


def _files(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode())
    return folder


#: Every public method that reads or writes, with arguments that succeed once allowed.
#: Each call has a target of its own, so the order of allowed calls does not matter.
CALLS: tuple[Call, ...] = (
    # -- open to anyone -------------------------------------------------------------------
    Call("authenticate", Access.OPEN, lambda r, w: r.authenticate(w.token)),
    Call("may", Access.OPEN, lambda r, w: r.may()),
    # -- reads ----------------------------------------------------------------------------
    Call("get_model", Access.READ, lambda r, w: r.get_model("m")),
    Call("list_models", Access.READ, lambda r, w: r.list_models(page_size=2)),
    Call("get_version", Access.READ, lambda r, w: r.get_version("m", "1.0.0")),
    Call("list_versions", Access.READ, lambda r, w: r.list_versions("m", page_size=2)),
    Call("count_versions", Access.READ, lambda r, w: r.count_versions("m")),
    Call("latest", Access.READ, lambda r, w: r.latest("m")),
    Call("resolve", Access.READ, lambda r, w: r.resolve("m", "^1.0.0")),
    Call("get_alias", Access.READ, lambda r, w: r.get_alias("m", "prod")),
    Call("get_metrics", Access.READ, lambda r, w: r.get_metrics("m", "1.0.0")),
    Call("list_artifacts", Access.READ, lambda r, w: r.list_artifacts("m", "1.0.0")),
    Call("open_artifact", Access.READ, lambda r, w: _read_all(r.open_artifact("m", "1.0.0", "w"))),
    Call("download", Access.READ, lambda r, w: r.download("m", "1.0.0", w.folder / "down")),
    Call("verify", Access.READ, lambda r, w: r.verify("m", "1.0.0")),
    Call("fsck", Access.READ, lambda r, w: r.fsck()),
    Call("get_experiment", Access.READ, lambda r, w: r.get_experiment(w.experiment)),
    Call("get_experiment_by_name", Access.READ, lambda r, w: r.get_experiment_by_name("exp")),
    Call("list_experiments", Access.READ, lambda r, w: r.list_experiments()),
    Call("get_run", Access.READ, lambda r, w: r.get_run(w.run)),
    Call("list_runs", Access.READ, lambda r, w: r.list_runs(w.experiment)),
    Call("get_run_metrics", Access.READ, lambda r, w: r.get_run_metrics(w.run)),
    Call("list_run_artifacts", Access.READ, lambda r, w: r.list_run_artifacts(w.run)),
    Call("open_run_artifact", Access.READ, lambda r, w: _read_all(r.open_run_artifact(w.run, "f"))),
    Call("download_run", Access.READ, lambda r, w: r.download_run(w.run, w.folder / "run")),
    # -- models, aliases and versions ---------------------------------------------------
    Call("create_model", Access.WRITE, lambda r, w: r.create_model("made", tags={"a": "b"})),
    Call("update_model", Access.WRITE, lambda r, w: r.update_model("m", description="new")),
    Call("set_model_tag", Access.WRITE, lambda r, w: r.set_model_tag("m", "new", "v")),
    Call("delete_model_tag", Access.WRITE, lambda r, w: r.delete_model_tag("m", "drop")),
    Call("rename_model", Access.WRITE, lambda r, w: r.rename_model("old-name", "new-name")),
    Call("delete_model", Access.WRITE, lambda r, w: r.delete_model("gone")),
    Call("set_alias", Access.WRITE, lambda r, w: r.set_alias("m", "stage", "1.0.0")),
    Call("delete_alias", Access.WRITE, lambda r, w: r.delete_alias("m", "old")),
    Call("create_version", Access.WRITE, lambda r, w: r.create_version("m", "4.0.0")),
    Call("new_version", Access.WRITE, _new_version),
    Call(
        "update_version", Access.WRITE, lambda r, w: r.update_version("m", "1.0.0", description="d")
    ),
    Call("publish", Access.WRITE, lambda r, w: r.publish("m", "3.1.0")),
    Call("fail", Access.WRITE, lambda r, w: r.fail("m", "3.2.0")),
    Call("deprecate", Access.WRITE, lambda r, w: r.deprecate("m", "1.1.0")),
    Call("undeprecate", Access.WRITE, lambda r, w: r.undeprecate("m", "1.2.0")),
    Call("yank", Access.WRITE, lambda r, w: r.yank("m", "1.3.0")),
    Call("delete_version", Access.WRITE, lambda r, w: r.delete_version("m", "1.4.0")),
    Call("log_param", Access.WRITE, lambda r, w: r.log_param("m", "3.0.0", "p1", 1)),
    Call("log_params", Access.WRITE, lambda r, w: r.log_params("m", "3.0.0", {"p2": 2})),
    Call("log_metric", Access.WRITE, lambda r, w: r.log_metric("m", "3.0.0", "loss", 0.5)),
    Call("log_metrics", Access.WRITE, lambda r, w: r.log_metrics("m", "3.0.0", {"auc": 0.9})),
    Call("set_tag", Access.WRITE, lambda r, w: r.set_tag("m", "1.0.0", "new", "v")),
    Call("delete_tag", Access.WRITE, lambda r, w: r.delete_tag("m", "1.0.0", "drop")),
    Call("link_ci_job", Access.WRITE, lambda r, w: r.link_ci_job("m", "1.0.0", _ci())),
    Call("upload", Access.WRITE, lambda r, w: r.upload("m", "3.0.0", io.BytesIO(b"u"), name="u")),
    Call(
        "upload_dir",
        Access.WRITE,
        lambda r, w: r.upload_dir("m", "3.0.0", _files(w.folder / "up", "d1"), subfolder="dir"),
    ),
    Call("append_log", Access.WRITE, lambda r, w: r.append_log("m", "3.0.0", "line\n")),
    Call("delete_artifacts", Access.WRITE, lambda r, w: r.delete_artifacts("m", "3.0.0", ["b"])),
    Call("fsck", Access.WRITE, lambda r, w: r.fsck(repair=True)),
    # -- experiments and runs -----------------------------------------------------------
    Call("create_experiment", Access.WRITE, lambda r, w: r.create_experiment("made")),
    Call(
        "rename_experiment",
        Access.WRITE,
        lambda r, w: r.rename_experiment(w.renamed_experiment, "renamed"),
    ),
    Call(
        "set_experiment_tag",
        Access.WRITE,
        lambda r, w: r.set_experiment_tag(w.experiment, "n", "v"),
    ),
    Call(
        "delete_experiment_tag",
        Access.WRITE,
        lambda r, w: r.delete_experiment_tag(w.experiment, "drop"),
    ),
    Call("delete_experiment", Access.WRITE, lambda r, w: r.delete_experiment(w.doomed_experiment)),
    Call("create_run", Access.WRITE, lambda r, w: r.create_run(w.experiment, name="made")),
    Call("update_run", Access.WRITE, lambda r, w: r.update_run(w.run, description="new")),
    Call("log_run_param", Access.WRITE, lambda r, w: r.log_run_param(w.run, "p1", 1)),
    Call("log_run_params", Access.WRITE, lambda r, w: r.log_run_params(w.run, {"p2": 2})),
    Call("log_run_metric", Access.WRITE, lambda r, w: r.log_run_metric(w.run, "loss", 0.5)),
    Call("log_run_metrics", Access.WRITE, lambda r, w: r.log_run_metrics(w.run, {"auc": 0.9})),
    Call("set_run_tag", Access.WRITE, lambda r, w: r.set_run_tag(w.run, "new", "v")),
    Call("delete_run_tag", Access.WRITE, lambda r, w: r.delete_run_tag(w.run, "drop")),
    Call("link_run_ci_job", Access.WRITE, lambda r, w: r.link_run_ci_job(w.run, _ci())),
    Call(
        "upload_run_artifact",
        Access.WRITE,
        lambda r, w: r.upload_run_artifact(w.run, io.BytesIO(b"u"), name="u"),
    ),
    Call(
        "upload_run_dir",
        Access.WRITE,
        lambda r, w: r.upload_run_dir(w.run, _files(w.folder / "rup", "r1"), subfolder="dir"),
    ),
    Call("append_run_log", Access.WRITE, lambda r, w: r.append_run_log(w.run, "line\n")),
    Call("delete_run_artifacts", Access.WRITE, lambda r, w: r.delete_run_artifacts(w.run, ["g"])),
    Call("delete_run", Access.WRITE, lambda r, w: r.delete_run(w.doomed_run)),
    Call("promote_run", Access.WRITE, lambda r, w: r.promote_run(w.promoted_run, "m", "6.0.0")),
    # -- settings, memberships and tokens -----------------------------------------------
    Call("get_settings", Access.SETTINGS_READ, lambda r, w: r.get_settings()),
    Call("update_settings", Access.ADMIN, lambda r, w: r.update_settings(visibility="private")),
    Call("grant", Access.ADMIN, lambda r, w: r.grant("zoe", Role.DEVELOPER)),
    Call("revoke", Access.ADMIN, lambda r, w: r.revoke("bob")),
    Call("create_token", Access.ADMIN, lambda r, w: r.create_token("bob")),
    Call("list_tokens", Access.ADMIN, lambda r, w: r.list_tokens()),
    Call("revoke_token", Access.ADMIN, lambda r, w: r.revoke_token(w.token_id)),
)


def _world(registry: Registry, folder: Path) -> World:
    """Models, versions in every state, an experiment with runs, a member and a token."""
    r = registry
    r.grant("bob", Role.GUEST)
    token = r.create_token("bob", description="ci")
    (info,) = r.list_tokens("bob")
    r.create_model("m", "the model", tags={"team": "risk", "drop": "x"})
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        r.create_version("m", version, tags={"drop": "x"}, params={"lr": "0.1"})
        if version == "1.0.0":
            r.upload("m", version, io.BytesIO(b"weights"), name="w")
            r.log_metric("m", version, "auc", 0.9)
        r.publish("m", version)
    r.deprecate("m", "1.2.0")
    r.set_alias("m", "prod", "1.0.0")
    r.set_alias("m", "old", "1.0.0")
    for version in ("3.0.0", "3.1.0", "3.2.0"):
        r.create_version("m", version)
    r.upload("m", "3.0.0", io.BytesIO(b"b"), name="b")
    for name in ("gone", "old-name"):
        r.create_model(name)
    experiment = r.create_experiment("exp", tags={"drop": "x"}).id
    run = r.create_run(experiment, name="train", tags={"drop": "x"})
    r.log_run_metric(run.id, "loss", 1.0)
    for name in ("f", "g"):
        r.upload_run_artifact(run.id, io.BytesIO(name.encode()), name=name)
    promoted = r.create_run(experiment, name="best")
    r.upload_run_artifact(promoted.id, io.BytesIO(b"p"), name="p")
    r.update_run(promoted.id, status="finished")
    return World(
        token=token,
        token_id=info.id,
        experiment=experiment,
        run=run.id,
        doomed_run=r.create_run(experiment, name="doomed").id,
        promoted_run=promoted.id,
        doomed_experiment=r.create_experiment("doomed").id,
        renamed_experiment=r.create_experiment("to-rename").id,
        folder=folder,
    )


def stored(repo: Repository) -> dict[Any, Any]:
    """Every document the registry keeps (data and etag) and every blob (its SHA-256):
    equal before and after a call exactly when the call wrote nothing."""
    found: dict[Any, Any] = {("settings",): _doc(repo, ("settings",))}

    def level(prefix: Key) -> list[str]:
        segments: list[str] = []
        after = None
        while True:
            page = repo.list_page(prefix, after=after, limit=500)
            for segment, doc in page:
                key: Key = (*prefix, segment)
                found[key] = (dict(doc.data), doc.etag)
                segments.append(segment)
                after = segment
            if len(page) < 500:
                return segments

    for flat in ("tokens", "experiment_names"):
        level((flat,))
    for model in level(("models",)):
        for version in level(("versions", model)):
            level(("metrics", model, version))
    for experiment in level(("experiments",)):
        for run in level(("runs", experiment)):
            level(("run_metrics", experiment, run))
    for blob in repo.list_blobs(""):
        with repo.open_blob(blob) as stream:
            found[blob] = hashlib.sha256(stream.read()).hexdigest()
    return found


def _doc(repo: Repository, key: Key) -> tuple[dict[str, Any], str] | None:
    doc = repo.get(key)
    return None if doc is None else (dict(doc.data), doc.etag)


def _named(call: Call) -> str:
    return f"{call.method} ({call.access.value})"


def _caller(registry: Registry, who: str, visibility: Visibility) -> tuple[Registry, Role | None]:
    user, role = CALLERS[who]
    if role is not None:
        assert user is not None
        registry.grant(user, role)
    registry.update_settings(visibility=visibility)
    return registry.as_actor(user), role


#: Every (caller, visibility) cell: what the walk runs by default.
MATRIX: Sequence[tuple[str, Visibility]] = list(itertools.product(CALLERS, Visibility))

#: One cell of `MATRIX` for each kind of answer the rules give: nothing allowed, reads as
#: an outsider of a public registry, reads as a member, writes without administration,
#: everything.
ACCESS_SAMPLE: Sequence[tuple[str, Visibility]] = [
    ("stranger", Visibility.PRIVATE),
    ("anonymous", Visibility.PUBLIC),
    ("guest", Visibility.PRIVATE),
    ("reporter", Visibility.PRIVATE),
    ("maintainer", Visibility.PUBLIC),
]

_WALK = "test_every_call_is_allowed_or_refused_by_the_documented_rules"


def _cell_ids(cells: Sequence[tuple[str, Visibility]]) -> list[str]:
    return [f"{who}-{visibility.value}" for who, visibility in cells]


class AccessContractTests(RepositoryFixtures):
    """Permissions through ``as_actor``: every public call, for each kind of caller."""

    #: The cells of the matrix the walk over every call runs on this backend.
    access_cells: ClassVar[Sequence[tuple[str, Visibility]]] = MATRIX

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Give the walk this backend's ``access_cells`` (pytest calls this hook where a
        test class defines it)."""
        if metafunc.definition.originalname == _WALK:
            cells = getattr(metafunc.cls, "access_cells", MATRIX)
            unknown = [c for c in cells if c not in MATRIX]
            if not cells or unknown:
                raise ValueError(f"access_cells must be cells of MATRIX, got {unknown or cells}")
            metafunc.parametrize(("who", "visibility"), cells, ids=_cell_ids(cells))

    def _walk(
        self,
        registry: Registry,
        repo: Repository,
        folder: Path,
        who: str,
        visibility: Visibility,
        enabled: bool = True,
    ) -> list[str]:
        """Make every call as ``who``; the calls that did not answer as expected."""
        world = _world(registry, folder)
        view, role = _caller(registry, who, visibility)
        registry.update_settings(enabled=enabled)
        wrong: list[str] = []
        allowed = [c for c in CALLS if expected(c.access, role, visibility, enabled)]
        refused = [c for c in CALLS if c not in allowed]
        # The refused calls first, with one look at the whole store before and after them
        # (a look per call costs minutes on an object store); on a change, find the call.
        before = stored(repo)
        for call in refused:
            wrong += self._refused(view, world, call)
        if stored(repo) != before:
            for call in refused:
                before = stored(repo)
                self._refused(view, world, call)
                if stored(repo) != before:
                    wrong.append(f"{_named(call)} changed stored data although refused")
        for call in allowed:
            try:
                call.make(view, world)
            except Exception as error:
                wrong.append(f"{_named(call)} failed: {type(error).__name__}: {error}")
        return wrong

    @staticmethod
    def _refused(view: Registry, world: World, call: Call) -> list[str]:
        try:
            call.make(view, world)
        except PermissionDenied:
            return []
        except Exception as error:
            return [f"{_named(call)} raised {type(error).__name__}, not PermissionDenied"]
        return [f"{_named(call)} was allowed"]

    def test_every_call_is_allowed_or_refused_by_the_documented_rules(
        self,
        registry: Registry,
        repo: Repository,
        tmp_path: Path,
        who: str,
        visibility: Visibility,
    ) -> None:
        wrong = self._walk(registry, repo, tmp_path, who, visibility)
        assert not wrong, "\n".join(wrong)

    @pytest.mark.parametrize("who", ["stranger", "reporter", "maintainer"])
    def test_a_disabled_registry_refuses_all_but_settings_and_members(
        self, registry: Registry, repo: Repository, tmp_path: Path, who: str
    ) -> None:
        wrong = self._walk(registry, repo, tmp_path, who, Visibility.PUBLIC, enabled=False)
        assert not wrong, "\n".join(wrong)

    @pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
    @pytest.mark.parametrize(("who", "visibility"), MATRIX, ids=_cell_ids(MATRIX))
    def test_may_and_require_agree_with_the_documented_rules(
        self, registry: Registry, who: str, visibility: Visibility, enabled: bool
    ) -> None:
        view, role = _caller(registry, who, visibility)
        registry.update_settings(enabled=enabled)
        answers = view.may()
        assert set(answers) == set(Action), answers
        for action, access in ACTION_ACCESS.items():
            allowed = expected(access, role, visibility, enabled)
            assert answers[action] is allowed, f"may() says {answers[action]} for {action}"
            assert view.may(action) == {action: allowed}, action
            if allowed:
                view.require(action)
            else:
                with pytest.raises(PermissionDenied):
                    view.require(action)
        assert registry.may() == dict.fromkeys(Action, True)  # trusted

    def test_a_view_keeps_its_actor_and_storage(self, registry: Registry, repo: Repository) -> None:
        view = registry.as_actor("ana")
        assert view.actor == Actor("ana") and view.repository is repo
        assert registry.actor is None and registry.as_actor(None).actor == Actor.anonymous()
