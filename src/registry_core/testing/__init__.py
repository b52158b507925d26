"""The conformance suite every modelreg backend runs, shipped in the wheel.

Adopt it with one class (pytest collects it because its name starts with ``Test``)::

    from registry_core.testing import ConformanceTests

    class TestMyBackend(ConformanceTests):
        supports_processes = True             # other processes can open the storage

        def make_repository(self):
            return MyRepository(...)          # fresh and empty

        def repository_opener(self, repository):
            return functools.partial(MyRepository, repository.url)   # picklable

The parts can be adopted one by one: `RepositoryContractTests` (the protocol's atomic
primitives), `RegistryContractTests` (the service end to end), `RunContractTests`
(experiments, runs and promotion), `ProcessRaceTests`
(multi-process races) and `StateMachineTests` (random calls compared with the reference).
To opt out of one test, re-bind it with a mark in the subclass, never fork it; `rebind`
marks a copy, so the mark does not leak into the base class and every other backend::

    test_racing_compare_and_swap_loses_no_update = rebind(
        ConformanceTests.test_racing_compare_and_swap_loses_no_update,
        pytest.mark.skip(reason="..."))
"""

from registry_core.testing.contract import RepositoryContractTests, run_threads
from registry_core.testing.fixtures import RepositoryFixtures
from registry_core.testing.machine import RegistryStateMachine, StateMachineTests
from registry_core.testing.marks import rebind
from registry_core.testing.races import ProcessRaceTests
from registry_core.testing.registry_tests import RegistryContractTests
from registry_core.testing.rename_tests import RenameContractTests
from registry_core.testing.run_tests import RunContractTests

__all__ = [
    "ConformanceTests",
    "ProcessRaceTests",
    "RegistryContractTests",
    "RegistryStateMachine",
    "RenameContractTests",
    "RepositoryContractTests",
    "RepositoryFixtures",
    "RunContractTests",
    "StateMachineTests",
    "rebind",
    "run_threads",
]


class ConformanceTests(
    RepositoryContractTests,
    RegistryContractTests,
    RenameContractTests,
    RunContractTests,
    ProcessRaceTests,
    StateMachineTests,
):
    """Every part of the suite in one base class."""
