"""Operations interleaved at their most awkward moment on a store without transactions
(the in-memory reference), one step forced between two of another's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from registry_core import MemoryRepository, NotFound, Registry
from registry_core.protocol import Key


class _DeleteBeforeTheBatch(MemoryRepository):
    """Deletes version m 1.0.0 through another Registry right before the next metric
    batch is stored: a `delete_version` that ran after `log_metrics` read the version."""

    armed = False

    def put_if_absent(self, key: Key, data: Mapping[str, Any]) -> str:
        if self.armed and key[0] == "metrics":
            self.armed = False
            Registry(self).delete_version("m", "1.0.0", force=True)
        return super().put_if_absent(key, data)


def test_a_metric_batch_that_lands_after_its_version_was_deleted_is_taken_back() -> None:
    repo = _DeleteBeforeTheBatch()
    registry = Registry(repo)
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    repo.armed = True
    with pytest.raises(NotFound, match="deleted while its metrics were being logged"):
        registry.log_metric("m", "1.0.0", "loss", 0.5)
    registry.create_version("m", "1.0.0")  # the same number again: a new version
    assert registry.get_metrics("m", "1.0.0") == []
