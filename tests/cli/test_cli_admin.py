"""``modelreg settings ...``, ``--as``, ``verify`` and ``fsck`` through `main`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from registry_core import Registry, Role, Visibility

if TYPE_CHECKING:
    from conftest import Cli


def test_settings_show_defaults(cli: Cli) -> None:
    run = cli("settings", "show")
    assert run.out.splitlines() == ["enabled:     yes", "visibility:  private", "members:     -"]
    assert cli("settings", "show", json=True).json() == {
        "enabled": True,
        "visibility": "private",
        "members": {},
    }


def test_settings_set_grant_revoke(cli: Cli, registry: Registry) -> None:
    assert cli("settings", "set", "--visibility", "public").code == 0
    assert cli("settings", "grant", "bob", "developer").out == "bob is now developer\n"
    doc = cli("settings", "grant", "ana", "Maintainer", json=True).json()
    assert doc["members"] == {"ana": "maintainer", "bob": "developer"}
    out = cli("settings", "show").out
    assert "visibility:  public" in out
    assert "ana   maintainer" in out
    assert cli("settings", "revoke", "bob").code == 0
    settings = registry.get_settings()
    assert settings.visibility is Visibility.PUBLIC
    assert dict(settings.members) == {"ana": Role.MAINTAINER}
    run = cli("settings", "revoke", "bob")
    assert (run.code, run.err) == (1, "modelreg: error: user 'bob' is not a member\n")


def test_settings_usage_errors(cli: Cli) -> None:
    assert cli("settings", "set").code == 2
    assert cli("settings", "set", "--enabled", "maybe").code == 2
    assert cli("settings", "grant", "ana", "emperor").code == 2


def test_a_disabled_registry_refuses_work_but_not_settings(cli: Cli, registry: Registry) -> None:
    registry.grant("ana", "owner")
    assert cli("settings", "set", "--enabled", "false", user="ana").code == 0
    run = cli("model", "create", "fraud", user="ana")
    assert run.code == 1
    assert "disabled" in run.err
    assert cli("settings", "set", "--enabled", "true", user="ana").code == 0
    assert cli("model", "create", "fraud", user="ana").code == 0


def test_as_a_guest_creating_is_refused_with_permission(cli: Cli, registry: Registry) -> None:
    registry.grant("gus", "guest")
    run = cli("model", "create", "fraud", user="gus")
    assert run.code == 1
    assert run.err == (
        "modelreg: error: permission denied: user 'gus' is guest; creating needs reporter or up\n"
    )
    assert registry.list_models().items == ()


def test_as_a_reporter_creating_works_and_is_recorded(cli: Cli, registry: Registry) -> None:
    registry.grant("rita", "reporter")
    assert cli("model", "create", "fraud", user="rita").code == 0
    assert registry.get_model("fraud").created_by == "rita"
    run = cli("settings", "grant", "rita", "owner", user="rita")
    assert run.code == 1
    assert "maintainer or up" in run.err


def test_a_stranger_cannot_read_a_private_registry(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud")
    run = cli("model", "list", user="mallory")
    assert run.code == 1
    assert "not a member" in run.err


def test_verify_ok(cli: Cli, ready: tuple[str, str]) -> None:
    run = cli("verify", *ready)
    assert (run.code, run.out) == (
        0,
        "ok: fraud/1.0.0: 1 artifact checked, every SHA-256 matches\n",
    )
    doc = cli("verify", *ready, json=True).json()
    assert doc == {"package": "fraud/1.0.0", "checked": 1, "ok": True, "problems": []}


def test_verify_lists_problems_and_exits_1(
    cli: Cli, registry: Registry, ready: tuple[str, str]
) -> None:
    writer = registry.repository.open_blob_writer("fraud/1.0.0/model.bin")
    writer.write(b"tampered")
    writer.commit()
    run = cli("verify", *ready)
    assert run.code == 1
    assert run.out.startswith("fraud/1.0.0: 1 of 1 artifact failed:\n  model.bin: ")
    doc = cli("verify", *ready, json=True)
    assert doc.code == 1
    assert doc.json()["ok"] is False
    assert doc.json()["problems"][0]["path"] == "model.bin"
    registry.repository.delete_blobs("fraud/1.0.0/model.bin")
    assert "model.bin: missing" in cli("verify", *ready).out


def test_verify_an_unknown_version_is_exit_1(cli: Cli, ready: tuple[str, str]) -> None:
    run = cli("verify", "fraud", "9.9.9")
    assert (run.code, run.err) == (
        1,
        "modelreg: error: version '9.9.9' of model 'fraud' does not exist\n",
    )


def test_fsck_reports_and_repairs_an_orphan_blob(
    cli: Cli, registry: Registry, ready: tuple[str, str]
) -> None:
    run = cli("fsck")
    assert (run.code, run.out) == (0, "ok: no problems found\n")
    writer = registry.repository.open_blob_writer("fraud/9.9.9/stray.bin")
    writer.write(b"left behind")
    writer.commit()
    run = cli("fsck")
    assert run.code == 1
    assert run.out.startswith("problem: ")
    assert "stray.bin" in run.out
    doc = cli("fsck", "--repair", json=True).json()
    assert doc["ok"] is True
    assert doc["problems"] == []
    assert any("stray.bin" in line for line in doc["repaired"])
    assert cli("fsck", json=True).json() == {"ok": True, "problems": [], "repaired": []}


def test_fsck_without_registry_support_is_exit_1(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for klass in Registry.__mro__:
        if "fsck" in vars(klass):
            monkeypatch.delattr(klass, "fsck")
    run = cli("fsck")
    assert run.code == 1
    assert "no fsck" in run.err
