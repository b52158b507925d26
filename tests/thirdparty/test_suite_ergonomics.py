"""What an outsider meets adopting the suite: profiles, temp folders, entry points."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from logstore import LogRepository

from registry_backends import _open, open_registry, register_backend
from registry_core import MemoryRepository, Registry
from registry_core.errors import RegistryError
from registry_core.testing import RepositoryFixtures, profiles, suite_settings


@pytest.fixture
def profile_named() -> Iterator[Any]:
    """Load a profile for one test, then put the project's back."""
    before = profiles._active_profile() or "default"
    yield settings.load_profile
    settings.load_profile(before)


@pytest.mark.parametrize(
    ("value", "examples"), [("thorough", 300), ("modelreg-thorough", 300), ("Quick", 40)]
)
def test_the_environment_variable_picks_the_suite_profile(
    monkeypatch: pytest.MonkeyPatch, value: str, examples: int
) -> None:
    monkeypatch.setenv(profiles.ENVIRONMENT_VARIABLE, value)
    chosen = suite_settings()
    assert chosen.max_examples == examples and chosen.deadline is None


def test_an_unknown_profile_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(profiles.ENVIRONMENT_VARIABLE, "ci")
    with pytest.raises(ValueError, match="choose quick or thorough"):
        suite_settings()


def test_without_the_variable_the_projects_own_profile_is_followed(
    monkeypatch: pytest.MonkeyPatch, profile_named: Any
) -> None:
    monkeypatch.delenv(profiles.ENVIRONMENT_VARIABLE, raising=False)
    settings.register_profile("outsider-ci", max_examples=7, deadline=1000)
    profile_named("outsider-ci")
    chosen = suite_settings()
    assert chosen.max_examples == 7 and chosen.deadline is None
    assert settings().deadline is not None, "the project's own profile was changed"
    profile_named("default")
    assert suite_settings().max_examples == settings.get_profile(profiles.QUICK).max_examples


class _Folders(RepositoryFixtures):
    seen: list[Path]

    def make_repository(self, tmp_path: Path) -> LogRepository:
        self.seen.append(tmp_path)
        assert list(tmp_path.iterdir()) == []
        return LogRepository(tmp_path / "store")


def test_make_repository_gets_a_new_folder_each_time_and_it_is_removed() -> None:
    suite = _Folders()
    suite.seen = []
    first, second = suite.fresh_repository(), suite.fresh_repository()
    assert suite.seen[0] != suite.seen[1] and all(p.is_dir() for p in suite.seen)
    suite.discard_repository(first)
    suite.discard_repository(second)
    assert not any(p.exists() for p in suite.seen)


def test_a_make_repository_without_arguments_still_works() -> None:
    class Plain(RepositoryFixtures):
        def make_repository(self) -> MemoryRepository:
            return MemoryRepository()

    suite = Plain()
    repository = suite.fresh_repository()
    assert isinstance(repository, MemoryRepository)
    suite.discard_repository(repository)


@pytest.fixture
def scheme() -> Iterator[Any]:
    """`register_backend` for one test (as an entry point would register it), forgotten
    afterwards so that other tests see the known schemes unchanged."""
    added: list[str] = []

    def register(name: str, target: str) -> None:
        register_backend(name, target)
        added.append(name)

    yield register
    for name in added:
        _open._REGISTERED.pop(name, None)


def test_the_sample_backend_opens_through_its_entry_point(tmp_path: Path, scheme: Any) -> None:
    scheme("logstore", "logstore:open_logstore")
    open_registry(f"logstore://{tmp_path}/reg").create_model("m")
    models = open_registry(f"logstore://{tmp_path}/reg").list_models().items
    assert [str(model.name) for model in models] == ["m"]


def open_as_registry(url: str, **options: Any) -> Registry:
    """A factory with the classic mistake: it returns a Registry, not a Repository."""
    return Registry(MemoryRepository())


def test_an_entry_point_returning_a_registry_gets_a_clear_error(scheme: Any) -> None:
    scheme("mistaken", f"{__name__}:open_as_registry")
    with pytest.raises(RegistryError, match="not a Repository"):
        open_registry("mistaken://x")
