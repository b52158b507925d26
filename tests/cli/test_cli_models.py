"""``modelreg model ...`` and ``modelreg alias ...`` through `main`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from registry_core import Registry

if TYPE_CHECKING:
    from conftest import Cli


def test_model_create_prints_a_confirmation_and_stores_description_and_tags(
    cli: Cli, registry: Registry
) -> None:
    run = cli("model", "create", "fraud", "--description", "Card fraud", "--tag", "team=risk")
    assert (run.code, run.out, run.err) == (0, "created model 'fraud'\n", "")
    model = registry.get_model("fraud")
    assert model.description == "Card fraud"
    assert dict(model.tags) == {"team": "risk"}


def test_model_create_quiet_prints_only_the_name(cli: Cli) -> None:
    assert cli("model", "create", "fraud", quiet=True).out == "fraud\n"


def test_model_create_json_is_the_model(cli: Cli) -> None:
    doc = cli("model", "create", "fraud", "--tag", "b=2", "--tag", "a=1", json=True).json()
    assert doc["name"] == "fraud"
    assert list(doc["tags"]) == ["a", "b"]  # mappings come sorted
    assert doc["created_at"].endswith("+00:00")


def test_creating_an_existing_model_fails_with_one_line(cli: Cli) -> None:
    cli("model", "create", "fraud")
    run = cli("model", "create", "FRAUD")
    assert run.code == 1
    assert run.err.startswith("modelreg: error: model 'fraud' already exists")
    assert run.err.count("\n") == 1


def test_an_invalid_model_name_is_exit_1(cli: Cli) -> None:
    run = cli("model", "create", "bad//name")
    assert run.code == 1
    assert "modelreg: error:" in run.err


def test_model_list_shows_a_table_and_json(cli: Cli, registry: Registry) -> None:
    for name in ("beta", "alpha", "other/gamma"):
        registry.create_model(name, "desc " + name)
    run = cli("model", "list")
    lines = run.out.splitlines()
    assert lines[0].split() == ["NAME", "ALIASES", "UPDATED", "DESCRIPTION"]
    assert [line.split()[0] for line in lines[1:]] == ["alpha", "beta", "other/gamma"]
    doc = cli("model", "list", "--prefix", "OTHER/", json=True).json()
    assert [m["name"] for m in doc["items"]] == ["other/gamma"]
    assert doc["next_page_token"] is None


def test_model_list_pages_and_all(cli: Cli, registry: Registry) -> None:
    for i in range(5):
        registry.create_model(f"m{i}")
    first = cli("model", "list", "--page-size", "2", json=True).json()
    assert [m["name"] for m in first["items"]] == ["m0", "m1"]
    token = first["next_page_token"]
    second = cli("model", "list", "--page-size", "2", "--page-token", token, json=True).json()
    assert [m["name"] for m in second["items"]] == ["m2", "m3"]
    run = cli("model", "list", "--page-size", "2")
    assert "pass --all" in run.err
    every = cli("model", "list", "--page-size", "2", "--all", json=True).json()
    assert len(every["items"]) == 5
    assert every["next_page_token"] is None


def test_a_page_size_out_of_range_is_a_usage_error(cli: Cli) -> None:
    run = cli("model", "list", "--page-size", "0")
    assert run.code == 2
    assert "1 to 1000" in run.err


def test_model_show_has_fields_aliases_and_latest(cli: Cli, ready: tuple[str, str]) -> None:
    cli("alias", "set", "fraud", "production", "1.0.0")
    run = cli("model", "show", "fraud")
    assert run.code == 0
    assert "latest:       1.0.0" in run.out
    assert "production -> 1.0.0" in run.out
    doc = cli("model", "show", "fraud", json=True).json()
    assert doc["latest"] == "1.0.0"
    assert doc["aliases"] == {"production": "1.0.0"}
    assert doc["name"] == "fraud"


def test_showing_an_unknown_model_is_exit_1_with_one_line(cli: Cli) -> None:
    run = cli("model", "show", "nope")
    assert run.code == 1
    assert run.out == ""
    assert run.err == "modelreg: error: model 'nope' does not exist\n"


def test_model_update_changes_description_and_tags(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud", tags={"old": "1"})
    run = cli(
        "model", "update", "fraud", "--description", "new", "--tag", "k=v", "--delete-tag", "old"
    )
    assert run.code == 0
    model = registry.get_model("fraud")
    assert (model.description, dict(model.tags)) == ("new", {"k": "v"})


def test_model_update_without_a_change_is_a_usage_error(cli: Cli, registry: Registry) -> None:
    registry.create_model("fraud")
    run = cli("model", "update", "fraud")
    assert run.code == 2
    assert "nothing to change" in run.err


def test_model_delete_without_yes_and_no_terminal_refuses_with_exit_2(
    cli: Cli, registry: Registry, stdin: Callable[..., None]
) -> None:
    registry.create_model("fraud")
    stdin(b"y\n", tty=False)
    run = cli("model", "delete", "fraud")
    assert run.code == 2
    assert "pass --yes" in run.err
    assert registry.get_model("fraud")


def test_model_delete_asks_at_a_terminal(
    cli: Cli, registry: Registry, stdin: Callable[..., None]
) -> None:
    registry.create_model("fraud")
    stdin(b"n\n", tty=True)
    run = cli("model", "delete", "fraud")
    assert run.code == 1
    assert "[y/N]" in run.err
    assert "aborted" in run.err
    stdin(b"y\n", tty=True)
    assert cli("model", "delete", "fraud").code == 0
    assert [m.name for m in registry.list_models()] == []


def test_model_delete_with_aliases_needs_force(cli: Cli, ready: tuple[str, str]) -> None:
    cli("alias", "set", "fraud", "production", "1.0.0")
    run = cli("model", "delete", "fraud", "--yes")
    assert run.code == 1
    assert "aliases" in run.err
    run = cli("model", "delete", "fraud", "--force", "--yes", json=True)
    assert run.json() == {"deleted": {"model": "fraud"}}


def test_alias_set_show_delete(cli: Cli, registry: Registry, ready: tuple[str, str]) -> None:
    run = cli("alias", "set", "fraud", "champion", "1.0.0")
    assert run.out == "alias 'champion' of model 'fraud' -> 1.0.0\n"
    assert cli("alias", "show", "fraud", "champion").out == "1.0.0\n"
    doc = cli("alias", "show", "fraud", "champion", json=True).json()
    assert (doc["version"], doc["state"]) == ("1.0.0", "ready")
    assert cli("alias", "delete", "fraud", "champion", json=True).json()["aliases"] == {}
    run = cli("alias", "show", "fraud", "champion")
    assert run.code == 1
    assert "alias 'champion' does not exist" in run.err


def test_an_alias_on_a_draft_is_refused(cli: Cli, draft: tuple[str, str]) -> None:
    run = cli("alias", "set", "fraud", "production", "1.0.0")
    assert run.code == 1
    assert "ready" in run.err
