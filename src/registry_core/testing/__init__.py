"""The conformance suite every modelreg backend runs, shipped in the wheel.

Adopt it with one class (pytest collects it because its name starts with ``Test``)::

    from registry_core.testing import ConformanceTests

    class TestMyBackend(ConformanceTests):
        supports_processes = True             # other processes can open the storage

        def make_repository(self, tmp_path):  # or no argument; see RepositoryFixtures
            return MyRepository(tmp_path / "store")           # fresh and empty

        def repository_opener(self, repository):
            return functools.partial(MyRepository, repository.url)   # picklable

The parts can be adopted one by one: `RepositoryContractTests` (the protocol's atomic
primitives), `RegistryContractTests` (the service end to end), `RenameContractTests`,
`RunContractTests` (experiments, runs and promotion), `AccessContractTests` (the
permission matrix; a slow remote store may set ``access_cells = ACCESS_SAMPLE``),
`ReadBackContractTests` (settings, tokens and tags read back from storage, pages under
concurrent writes), `CrashContractTests` (operations killed after each storage write),
`ProcessRaceTests` (multi-process races), `KilledWriterTests` (a writer process killed
with SIGKILL) and `StateMachineTests` (random calls compared with the reference).
To opt out of one test, re-bind it with a mark in the subclass, never fork it; `rebind`
marks a copy, so the mark does not leak into the base class and every other backend::

    test_racing_compare_and_swap_loses_no_update = rebind(
        ConformanceTests.test_racing_compare_and_swap_loses_no_update,
        pytest.mark.skip(reason="..."))

Hypothesis settings come from `registry_core.testing.profiles`:
``MODELREG_CONFORMANCE_PROFILE=thorough`` runs the long profile.

Each bug below got past the suite in a backend before the test named after it existed
(``tests/thirdparty`` plants each in a sample backend and checks that its test fails):

- an etag computed from the content, so a stale compare-and-swap wins once identical
  data is rewritten: ``test_rewriting_identical_data_changes_the_etag``;
- upload temp files next to their target, listed as blobs:
  ``test_a_blob_being_written_is_never_listed``;
- ``abort()`` after ``commit()`` deleting the committed blob:
  ``test_abort_after_commit_is_a_no_op``;
- a writer killed mid-append leaving a torn record that breaks every later read:
  ``test_a_torn_write_leaves_later_reads_and_writes_working`` (hook ``tear_last_write``);
- ``get`` handing out the backend's cached object: ``test_documents_handed_out_are_copies``;
- a raw ``OSError`` or driver error escaping: ``test_storage_failures_surface_as_backend_error``
  (hook ``break_storage``) and
  ``test_a_blob_deleted_while_read_gives_its_bytes_or_a_registry_error``.

``delete(key, etag=...)`` of a missing document is a no-op on every backend:
``test_delete_with_an_etag_of_a_missing_document_is_a_no_op``.
"""

from registry_core.testing.access_tests import ACCESS_SAMPLE, AccessContractTests
from registry_core.testing.contract import RepositoryContractTests, run_threads
from registry_core.testing.crash_tests import (
    AliasAfterCrashTests,
    CrashContractTests,
    DiesAfter,
)
from registry_core.testing.fixtures import RepositoryFixtures
from registry_core.testing.kill_tests import KilledWriterTests
from registry_core.testing.machine import RegistryStateMachine, StateMachineTests
from registry_core.testing.marks import rebind
from registry_core.testing.profiles import suite_settings
from registry_core.testing.races import ProcessRaceTests
from registry_core.testing.readback_tests import ReadBackContractTests
from registry_core.testing.registry_tests import RegistryContractTests
from registry_core.testing.rename_tests import RenameContractTests
from registry_core.testing.run_tests import RunContractTests

__all__ = [
    "ACCESS_SAMPLE",
    "AccessContractTests",
    "AliasAfterCrashTests",
    "ConformanceTests",
    "CrashContractTests",
    "DiesAfter",
    "KilledWriterTests",
    "ProcessRaceTests",
    "ReadBackContractTests",
    "RegistryContractTests",
    "RegistryStateMachine",
    "RenameContractTests",
    "RepositoryContractTests",
    "RepositoryFixtures",
    "RunContractTests",
    "StateMachineTests",
    "rebind",
    "run_threads",
    "suite_settings",
]


class ConformanceTests(
    RepositoryContractTests,
    RegistryContractTests,
    RenameContractTests,
    RunContractTests,
    ReadBackContractTests,  # before the matrix: pytest collects bases last to first
    AccessContractTests,
    CrashContractTests,
    AliasAfterCrashTests,
    ProcessRaceTests,
    KilledWriterTests,
    StateMachineTests,
):
    """Every part of the suite in one base class."""
