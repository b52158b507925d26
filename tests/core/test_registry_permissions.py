"""The Registry consults `authorize` on every call when opened for an actor."""

from __future__ import annotations

import io

import pytest

from registry_core import MemoryRepository, PermissionDenied, Registry, Role, Visibility


@pytest.fixture
def trusted() -> Registry:
    registry = Registry(MemoryRepository())
    registry.grant("owner", Role.OWNER)
    registry.grant("rita", Role.REPORTER)
    registry.grant("gus", Role.GUEST)
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    return registry


def test_a_guest_reads_but_cannot_write(trusted: Registry) -> None:
    guest = trusted.as_actor("gus")
    assert guest.get_model("m").name.value == "m"
    with pytest.raises(PermissionDenied, match="'gus' is guest"):
        guest.create_model("n")
    with pytest.raises(PermissionDenied):
        guest.upload("m", "1.0.0", io.BytesIO(b"x"), name="x")
    with pytest.raises(PermissionDenied):
        guest.delete_model("m")
    assert trusted.list_artifacts("m", "1.0.0") == ()


def test_a_reporter_creates_changes_and_deletes(trusted: Registry) -> None:
    reporter = trusted.as_actor("rita")
    reporter.create_model("n", "by rita")
    assert reporter.get_model("n").created_by == "rita"
    reporter.upload("m", "1.0.0", io.BytesIO(b"x"), name="x")
    reporter.delete_model("n")
    with pytest.raises(PermissionDenied):
        reporter.grant("eve", Role.OWNER)
    with pytest.raises(PermissionDenied):
        reporter.update_settings(visibility="public")


def test_private_registries_hide_from_strangers_and_public_ones_do_not(trusted: Registry) -> None:
    stranger = trusted.as_actor("eve")
    with pytest.raises(PermissionDenied):
        stranger.get_model("m")
    trusted.as_actor("owner").update_settings(visibility=Visibility.PUBLIC)
    assert stranger.get_model("m").name.value == "m"
    assert trusted.as_actor(None).list_models().items[0].name.value == "m"
    with pytest.raises(PermissionDenied):
        stranger.create_model("n")


def test_a_disabled_registry_allows_only_settings(trusted: Registry) -> None:
    owner = trusted.as_actor("owner")
    owner.update_settings(enabled=False)
    with pytest.raises(PermissionDenied, match="disabled"):
        owner.get_model("m")
    assert owner.get_settings().enabled is False
    owner.update_settings(enabled=True)
    assert owner.get_model("m").name.value == "m"


def test_revoking_takes_access_away(trusted: Registry) -> None:
    trusted.as_actor("owner").revoke("rita")
    with pytest.raises(PermissionDenied):
        trusted.as_actor("rita").get_model("m")
