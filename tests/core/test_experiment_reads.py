"""Reading experiments writes nothing once ``Default`` exists, whatever the store allows."""

from __future__ import annotations

from typing import Any

import pytest

from registry_core import MemoryRepository, Registry


class FreezableRepository(MemoryRepository):
    """A memory store that fails every write once frozen, as a read-only bucket would."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen = False

    def _refuse(self, what: str) -> None:
        if self.frozen:
            raise AssertionError(f"a read wrote: {what}")

    def put_if_absent(self, key, data):  # type: ignore[no-untyped-def]
        self._refuse("put " + "/".join(key))
        return super().put_if_absent(key, data)

    def compare_and_swap(self, key, data, etag):  # type: ignore[no-untyped-def]
        self._refuse("cas " + "/".join(key))
        return super().compare_and_swap(key, data, etag)

    def delete(self, key, etag=None):  # type: ignore[no-untyped-def]
        self._refuse("delete " + "/".join(key))
        return super().delete(key, etag)

    def open_blob_writer(self, name: str) -> Any:
        self._refuse("blob " + name)
        return super().open_blob_writer(name)


@pytest.mark.parametrize("first_read", ["list", "get", "get_by_name"])
def test_reads_of_experiments_write_nothing_once_default_exists(first_read: str) -> None:
    repo = FreezableRepository()
    registry = Registry(repo)
    reads = {
        "list": lambda: [e.name for e in registry.list_experiments().items],
        "get": lambda: registry.get_experiment("0").name,
        "get_by_name": lambda: registry.get_experiment_by_name("default").name,
    }
    assert "Default" in reads[first_read]()  # the first read of a new store makes it
    fraud = registry.create_experiment("fraud")
    repo.frozen = True
    assert [e.name for e in registry.list_experiments().items] == ["Default", "fraud"]
    assert registry.get_experiment("0").name == "Default"
    assert registry.get_experiment_by_name("DEFAULT").id == "0"
    assert registry.get_experiment_by_name("Fraud") == fraud
