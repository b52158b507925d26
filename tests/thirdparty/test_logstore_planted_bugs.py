"""Each pin of the suite catches its bug: the pin passes on the sample backend and fails
on the copy with that one bug planted (`planted`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import planted
import pytest
import test_logstore_conformance as adoption
from logstore import LogRepository

from registry_core.protocol import Repository

#: Bug planted -> the suite's test that catches it (the table of the README's section
#: "Writing a backend" and of `registry_core.testing`).
CAUGHT_BY = {
    planted.ContentEtags: "test_rewriting_identical_data_changes_the_etag",
    planted.TempBesideTarget: "test_a_blob_being_written_is_never_listed",
    planted.AbortDeletesCommitted: "test_abort_after_commit_is_a_no_op",
    planted.TornTailBreaksReads: "test_a_torn_write_leaves_later_reads_and_writes_working",
    planted.CachedDocuments: "test_documents_handed_out_are_copies",
    planted.RawOSErrors: "test_storage_failures_surface_as_backend_error",
}


def _run_pin(backend: type[LogRepository], pin: str) -> None:
    """Run the suite's test ``pin`` once on a fresh ``backend``, as pytest would."""

    class Suite(adoption.TestLogStore):
        def make_repository(self, tmp_path: Path) -> Repository:
            return backend(tmp_path / "store")

        def repository_opener(self, repository: Any) -> Any:
            return lambda: backend(repository.root)

    suite = Suite()
    repository = suite.fresh_repository()
    try:
        getattr(suite, pin)(repository)
    finally:
        suite.discard_repository(repository)


@pytest.mark.parametrize(
    ("bug", "pin"), list(CAUGHT_BY.items()), ids=[bug.__name__ for bug in CAUGHT_BY]
)
def test_the_pin_catches_the_planted_bug(bug: type[LogRepository], pin: str) -> None:
    _run_pin(LogRepository, pin)
    with pytest.raises((AssertionError, pytest.fail.Exception)) as caught:
        _run_pin(bug, pin)
    assert "skip" not in str(caught.value).lower(), caught.value


def test_the_docs_name_each_pin() -> None:
    import registry_core.testing

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for pin in CAUGHT_BY.values():
        assert pin in (registry_core.testing.__doc__ or ""), pin
        assert pin in readme, pin
