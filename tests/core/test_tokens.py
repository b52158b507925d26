"""API tokens map to users; only hashes are stored; the user's role still decides."""

from __future__ import annotations

import json

import pytest

from registry_core import InvalidInput, MemoryRepository, NotFound, PermissionDenied, Registry


@pytest.fixture
def registry() -> Registry:
    registry = Registry(MemoryRepository())
    registry.grant("mia", "maintainer")
    registry.grant("rita", "reporter")
    return registry


def test_a_token_authenticates_as_its_user(registry: Registry) -> None:
    token = registry.create_token("rita", description="ci pipeline")
    actor = registry.authenticate(token)
    assert actor.user == "rita"
    as_rita = registry.as_actor(actor)
    as_rita.create_model("m")
    assert as_rita.get_model("m").created_by == "rita"


def test_only_the_hash_is_stored(registry: Registry) -> None:
    token = registry.create_token("rita")
    stored = json.dumps(
        [doc.data for _, doc in registry.repository.list_page(("tokens",), limit=10)]
    )
    assert token not in stored and token[4:] not in stored


def test_unknown_malformed_and_revoked_tokens_are_refused(registry: Registry) -> None:
    token = registry.create_token("rita")
    with pytest.raises(PermissionDenied):
        registry.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B"))
    with pytest.raises(PermissionDenied):
        registry.authenticate("Bearer nonsense")
    (info,) = registry.list_tokens("rita")
    assert registry.revoke_token(info.id).user == "rita"
    with pytest.raises(PermissionDenied, match="revoked"):
        registry.authenticate(token)
    with pytest.raises(NotFound):
        registry.revoke_token(info.id)
    with pytest.raises(InvalidInput):
        registry.revoke_token("../../x")


def test_managing_tokens_needs_maintainer(registry: Registry) -> None:
    with pytest.raises(PermissionDenied):
        registry.as_actor("rita").create_token("rita")
    token = registry.as_actor("mia").create_token("rita")
    assert [t.user for t in registry.as_actor("mia").list_tokens()] == ["rita"]
    registry.revoke("rita")  # membership gone: the token still names rita, who may do nothing
    with pytest.raises(PermissionDenied):
        registry.as_actor(registry.authenticate(token)).list_models()
