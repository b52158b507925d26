"""Error messages name the thing once, in the caller's words."""

from __future__ import annotations

import pytest

from registry_core import AlreadyExists, MemoryRepository, Registry


def test_a_taken_version_is_named_once_or_with_the_build_it_was_taken_as() -> None:
    registry = Registry(MemoryRepository())
    registry.create_model("m")
    registry.create_version("m", "1.0.0+a")
    registry.create_version("m", "2.0.0")
    with pytest.raises(AlreadyExists) as caught:
        registry.create_version("m", "2.0.0")
    assert str(caught.value) == "version '2.0.0' of model 'm' already exists"
    with pytest.raises(
        AlreadyExists, match=r"'1\.0\.0\+b' of model 'm' already exists \(as '1\.0\.0\+a'\)"
    ):
        registry.create_version("m", "1.0.0+b")
