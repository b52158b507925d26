"""The sample backend adopts the conformance suite, exactly as the README shows."""

import functools
import os

from logstore import LogRepository

from registry_core.testing import ConformanceTests


class TestLogStore(ConformanceTests):
    supports_processes = True  # another process can open the same folder

    def make_repository(self, tmp_path):  # a new empty folder, removed after the test
        return LogRepository(tmp_path / "store")

    def repository_opener(self, repository):
        return functools.partial(LogRepository, repository.root)  # picklable

    def break_storage(self, repository):  # optional: the folder replaced by a file
        os.replace(repository.root, repository.root.with_name("moved"))
        repository.root.write_text("not a folder")

    def tear_last_write(self, repository):  # optional: a writer killed mid-append
        with open(repository.root / "documents.jsonl", "ab") as log:
            log.write(b'{"key": ["models", "torn"], "data": {"v"')
