"""Backends with transactions get one per mutating operation, never around a file upload."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

from registry_core import MemoryRepository, Registry


class SpyRepository(MemoryRepository):
    """Records how deep in a transaction each write happens."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.transactions = 0
        self.writes_outside: list[str] = []
        self.blob_bytes_inside = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.depth += 1
        self.transactions += self.depth == 1
        try:
            yield
        finally:
            self.depth -= 1

    def put_if_absent(self, key, data):  # type: ignore[no-untyped-def]
        if not self.depth:
            self.writes_outside.append("put " + "/".join(key))
        return super().put_if_absent(key, data)

    def compare_and_swap(self, key, data, etag):  # type: ignore[no-untyped-def]
        if not self.depth:
            self.writes_outside.append("cas " + "/".join(key))
        return super().compare_and_swap(key, data, etag)

    def open_blob_writer(self, name):  # type: ignore[no-untyped-def]
        writer = super().open_blob_writer(name)
        write = writer.write

        def spying_write(chunk: bytes) -> None:
            self.blob_bytes_inside += len(chunk) if self.depth else 0
            write(chunk)

        writer.write = spying_write  # type: ignore[method-assign]
        return writer


def test_every_document_write_happens_inside_a_transaction() -> None:
    repo = SpyRepository()
    registry = Registry(repo)
    registry.create_model("m")
    with registry.new_version("m", "1.0.0") as draft:
        draft.upload(io.BytesIO(b"x" * 10_000), name="w.bin")
        draft.log_params({"lr": 0.1})
        draft.log_metric("loss", 0.5)
        draft.set_tag("k", "v")
    registry.set_alias("m", "prod", "1.0.0")
    registry.grant("ana", "reporter")
    registry.delete_model("m", force=True)
    assert repo.writes_outside == []
    assert repo.transactions >= 9


def test_upload_bytes_stream_outside_any_transaction() -> None:
    repo = SpyRepository()
    registry = Registry(repo)
    registry.create_model("m")
    registry.create_version("m", "1.0.0")
    registry.upload("m", "1.0.0", io.BytesIO(b"y" * 3_000_000), name="big.bin")
    assert repo.blob_bytes_inside == 0
    assert registry.list_artifacts("m", "1.0.0")[0].size == 3_000_000
