"""Contract tests of the storage protocol itself: documents, atomic primitives, blobs.

These run against a bare `Repository`; `RegistryContractTests` covers the service on top.
The tests under "pins" each catch one bug that lost or corrupted data in a backend that
passed everything else (the table is in `registry_core.testing`).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import pytest

from registry_core.errors import AlreadyExists, BackendError, Conflict, NotFound, RegistryError
from registry_core.protocol import Repository, TransactionalRepository
from registry_core.testing.fixtures import RepositoryFixtures

__all__ = ["RepositoryContractTests", "run_threads"]

THREADS = 8
#: Large enough that a store streams it in several chunks.
BLOB_SIZE = 3 * 1024 * 1024
T = TypeVar("T")


def run_threads(count: int, target: Callable[[int], object]) -> list[object]:
    """Run ``target(i)`` in ``count`` threads released together; results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i)
        except Exception as error:  # collected and judged by the test
            results[i] = error

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _put_blob(repo: Repository, name: str, data: bytes) -> None:
    writer = repo.open_blob_writer(name)
    writer.write(data)
    writer.commit()


def _scribble(data: Mapping[str, Any]) -> None:
    """Change a document's data the way a careless caller would (read-only data is fine)."""
    with contextlib.suppress(TypeError, AttributeError):
        data["v"] = "scribbled"  # type: ignore[index]
    with contextlib.suppress(TypeError, AttributeError, KeyError):
        data["nested"]["list"].append("scribbled")


@contextlib.contextmanager
def _only_registry_errors(call: str) -> Iterator[None]:
    """Fail with a message naming ``call`` if it raises anything but a `RegistryError`."""
    try:
        yield
    except RegistryError:
        raise
    except Exception as error:
        pytest.fail(f"{call} raised {type(error).__name__} ({error}), not a RegistryError")


def _readable(call: str, read: Callable[[], T]) -> T:
    """``read()``, failing with a message naming ``call`` if it raises at all."""
    try:
        return read()
    except Exception as error:
        pytest.fail(f"{call} raised {type(error).__name__} ({error})")


def _reads_whole(repo: Repository, expected: Mapping[str, object], when: str) -> None:
    """Every ``("models", name)`` in ``expected`` reads back with its data, and lists."""
    for name, data in expected.items():
        doc = _readable(f"get {when}", functools.partial(repo.get, ("models", name)))
        assert doc is not None and doc.data == data, f"{name!r} {when}: {doc}"
    listed = _readable(f"list_page {when}", functools.partial(repo.list_page, ("models",)))
    assert set(expected) <= {segment for segment, _ in listed}, f"{when}: {listed}"


class RepositoryContractTests(RepositoryFixtures):
    """What every `Repository` must do; the names say the behaviour."""

    def test_get_of_a_missing_key_is_none(self, repo: Repository) -> None:
        assert repo.get(("models", "absent")) is None

    def test_put_if_absent_then_get_returns_the_same_data(self, repo: Repository) -> None:
        data = {"name": "m", "n": 1, "nested": {"list": [1, "two", None, 2.5]}, "u": "é/ü"}
        etag = repo.put_if_absent(("models", "m"), data)
        doc = repo.get(("models", "m"))
        assert doc is not None
        assert dict(doc.data) == data
        assert doc.etag == etag

    def test_put_if_absent_refuses_an_existing_key_and_keeps_it(self, repo: Repository) -> None:
        repo.put_if_absent(("models", "m"), {"v": 1})
        with pytest.raises(AlreadyExists):
            repo.put_if_absent(("models", "m"), {"v": 2})
        doc = repo.get(("models", "m"))
        assert doc is not None and doc.data["v"] == 1

    def test_compare_and_swap_with_the_current_etag_replaces(self, repo: Repository) -> None:
        etag = repo.put_if_absent(("models", "m"), {"v": 1})
        new_etag = repo.compare_and_swap(("models", "m"), {"v": 2}, etag)
        assert new_etag != etag
        doc = repo.get(("models", "m"))
        assert doc is not None and doc.data["v"] == 2 and doc.etag == new_etag

    def test_compare_and_swap_with_a_stale_etag_conflicts_and_changes_nothing(
        self, repo: Repository
    ) -> None:
        stale = repo.put_if_absent(("models", "m"), {"v": 1})
        repo.compare_and_swap(("models", "m"), {"v": 2}, stale)
        with pytest.raises(Conflict):
            repo.compare_and_swap(("models", "m"), {"v": 3}, stale)
        doc = repo.get(("models", "m"))
        assert doc is not None and doc.data["v"] == 2

    def test_compare_and_swap_of_a_missing_document_is_not_found(self, repo: Repository) -> None:
        with pytest.raises(NotFound):
            repo.compare_and_swap(("models", "m"), {"v": 1}, "1")

    def test_delete_removes_and_is_quiet_when_absent(self, repo: Repository) -> None:
        repo.put_if_absent(("models", "m"), {"v": 1})
        repo.delete(("models", "m"))
        assert repo.get(("models", "m")) is None
        repo.delete(("models", "m"))

    def test_delete_with_a_stale_etag_conflicts(self, repo: Repository) -> None:
        stale = repo.put_if_absent(("models", "m"), {"v": 1})
        fresh = repo.compare_and_swap(("models", "m"), {"v": 2}, stale)
        with pytest.raises(Conflict):
            repo.delete(("models", "m"), etag=stale)
        repo.delete(("models", "m"), etag=fresh)
        assert repo.get(("models", "m")) is None

    def test_list_page_orders_by_plain_string_order(self, repo: Repository) -> None:
        names = ["b", "a/b", "a", "a-", "a+c", "a.b", "a_b", "z9", "A"]
        for name in names:
            repo.put_if_absent(("models", name), {"name": name})
        listed = [seg for seg, _ in repo.list_page(("models",), limit=100)]
        assert listed == sorted(names)
        backwards = [seg for seg, _ in repo.list_page(("models",), limit=100, reverse=True)]
        assert backwards == sorted(names, reverse=True)

    def test_list_page_honours_bounds_prefix_and_limit(self, repo: Repository) -> None:
        for i in range(30):
            repo.put_if_absent(("versions", "m", f"k{i:03d}"), {"i": i})
        page = repo.list_page(("versions", "m"), after="k004", before="k010", limit=100)
        assert [seg for seg, _ in page] == [f"k{i:03d}" for i in range(5, 10)]
        page = repo.list_page(("versions", "m"), before="k010", limit=3, reverse=True)
        assert [seg for seg, _ in page] == ["k009", "k008", "k007"]
        page = repo.list_page(("versions", "m"), starts_with="k02", limit=100)
        assert [doc.data["i"] for _, doc in page] == list(range(20, 30))
        assert len(repo.list_page(("versions", "m"), limit=7)) == 7

    def test_list_page_sees_one_level_only_and_keeps_slashes_in_segments(
        self, repo: Repository
    ) -> None:
        repo.put_if_absent(("versions", "a", "1"), {"m": "a"})
        repo.put_if_absent(("versions", "a/b", "1"), {"m": "a/b"})
        repo.put_if_absent(("metrics", "a", "1", "x"), {"m": "metric"})
        only_a = repo.list_page(("versions", "a"), limit=100)
        assert [(seg, doc.data["m"]) for seg, doc in only_a] == [("1", "a")]
        assert [seg for seg, _ in repo.list_page(("metrics", "a"), limit=100)] == []

    def test_delete_tree_is_segment_wise(self, repo: Repository) -> None:
        repo.put_if_absent(("versions", "a", "1"), {})
        repo.put_if_absent(("versions", "a", "2"), {})
        repo.put_if_absent(("versions", "a/b", "1"), {})
        repo.put_if_absent(("versions", "ab", "1"), {})
        repo.put_if_absent(("versions", "a"), {"at": "the prefix itself"})
        repo.delete_tree(("versions", "a"))
        assert repo.get(("versions", "a")) is None
        assert repo.get(("versions", "a", "1")) is None
        assert repo.get(("versions", "a", "2")) is None
        assert repo.get(("versions", "a/b", "1")) is not None
        assert repo.get(("versions", "ab", "1")) is not None

    def test_a_blob_is_invisible_until_commit(self, repo: Repository) -> None:
        writer = repo.open_blob_writer("m/1.0.0/weights.bin")
        writer.write(b"abc")
        writer.write(b"def")
        with pytest.raises(NotFound):
            repo.open_blob("m/1.0.0/weights.bin")
        writer.commit()
        with repo.open_blob("m/1.0.0/weights.bin") as stream:
            assert stream.read() == b"abcdef"

    def test_an_aborted_blob_never_appears(self, repo: Repository) -> None:
        writer = repo.open_blob_writer("m/1.0.0/w.bin")
        writer.write(b"x" * 1000)
        writer.abort()
        writer.abort()
        with pytest.raises(NotFound):
            repo.open_blob("m/1.0.0/w.bin")
        assert list(repo.list_blobs("m")) == []

    def test_commit_replaces_an_existing_blob(self, repo: Repository) -> None:
        for payload in (b"old", b"new-and-longer"):
            writer = repo.open_blob_writer("m/1.0.0/logs/run.log")
            writer.write(payload)
            writer.commit()
        with repo.open_blob("m/1.0.0/logs/run.log") as stream:
            assert stream.read() == b"new-and-longer"

    def test_delete_blobs_removes_a_prefix_but_not_its_neighbours(self, repo: Repository) -> None:
        for name in ("m/1.0.0/a", "m/1.0.0/sub/b", "m/1.0.00x/c", "m/1.0.1/d"):
            writer = repo.open_blob_writer(name)
            writer.write(name.encode())
            writer.commit()
        repo.delete_blobs("m/1.0.0")
        assert sorted(repo.list_blobs("m")) == ["m/1.0.00x/c", "m/1.0.1/d"]
        repo.delete_blobs("m/1.0.1/d")
        assert sorted(repo.list_blobs("m")) == ["m/1.0.00x/c"]
        assert sorted(repo.list_blobs("")) == ["m/1.0.00x/c"]  # "" lists every blob

    def test_an_empty_blob_round_trips(self, repo: Repository) -> None:
        writer = repo.open_blob_writer("m/1.0.0/empty")
        writer.commit()
        with repo.open_blob("m/1.0.0/empty") as stream:
            assert stream.read() == b""

    def test_racing_creators_have_exactly_one_winner(self, repo: Repository) -> None:
        if not self.supports_threads:
            pytest.skip("backend does not support threads")
        for round_ in range(5):
            key = ("versions", "m", f"race{round_}")

            def create(i: int, key: tuple[str, ...] = key) -> str:
                return repo.put_if_absent(key, {"by": i})

            results = run_threads(THREADS, create)
            winners = [r for r in results if isinstance(r, str)]
            losers = [r for r in results if isinstance(r, AlreadyExists)]
            assert len(winners) == 1, results
            assert len(losers) == THREADS - 1, results

    def test_racing_compare_and_swap_loses_no_update(self, repo: Repository) -> None:
        if not self.supports_threads:
            pytest.skip("backend does not support threads")
        key = ("models", "counter")
        repo.put_if_absent(key, {"n": 0})
        per_thread = 10

        def increment(_: int) -> int:
            conflicts = 0
            done = 0
            while done < per_thread:
                doc = repo.get(key)
                assert doc is not None
                try:
                    repo.compare_and_swap(key, {"n": doc.data["n"] + 1}, doc.etag)
                    done += 1
                except Conflict:
                    conflicts += 1
            return conflicts

        results = run_threads(THREADS, increment)
        assert all(isinstance(r, int) for r in results), results
        doc = repo.get(key)
        assert doc is not None and doc.data["n"] == THREADS * per_thread

    def test_a_locked_read_keeps_writers_waiting_until_the_transaction_ends(
        self, repo: Repository
    ) -> None:
        if not isinstance(repo, TransactionalRepository) or not self.supports_threads:
            pytest.skip("the repository has no transactions with locked reads")
        key = ("models", "held")
        etag = repo.put_if_absent(key, {"v": 1})
        written = threading.Event()
        outcome: list[object] = []

        def write() -> None:
            try:
                outcome.append(repo.compare_and_swap(key, {"v": 2}, etag))
            except Exception as error:  # judged below
                outcome.append(error)
            written.set()

        writer = threading.Thread(target=write)
        with repo.transaction():
            held = repo.get_locked(key)
            assert held is not None and held.data == {"v": 1}
            writer.start()
            assert not written.wait(0.5), f"a write got past the locked read: {outcome}"
        writer.join(timeout=60)
        assert written.is_set() and isinstance(outcome[0], str), outcome
        doc = repo.get(key)
        assert doc is not None and doc.data == {"v": 2}

    # -- pins: one test per data-losing bug that got past everything above ------------------

    def test_rewriting_identical_data_changes_the_etag(self, repo: Repository) -> None:
        """An etag names a write, not a content: a stale compare-and-swap must lose even
        when the document was rewritten with the same data, or re-created after a delete."""
        key = ("models", "m")
        first = repo.put_if_absent(key, {"v": 1})
        second = repo.compare_and_swap(key, {"v": 1}, first)
        assert second != first, "rewriting the same data kept the etag"
        with pytest.raises(Conflict):
            repo.compare_and_swap(key, {"v": 1}, first)
        repo.delete(key, etag=second)
        third = repo.put_if_absent(key, {"v": 1})
        assert third not in (first, second), "a re-created document got an old etag back"
        with pytest.raises(Conflict):
            repo.compare_and_swap(key, {"v": 1}, second)

    def test_delete_with_an_etag_of_a_missing_document_is_a_no_op(self, repo: Repository) -> None:
        repo.delete(("models", "never"), etag="1")
        etag = repo.put_if_absent(("models", "m"), {"v": 1})
        repo.delete(("models", "m"))
        repo.delete(("models", "m"), etag=etag)
        assert repo.get(("models", "m")) is None

    def test_documents_handed_out_are_copies(self, repo: Repository) -> None:
        """Neither the dict a caller passed in nor the data it got back is the stored
        document: changing them afterwards changes nothing stored."""
        key = ("models", "m")
        given = {"v": 1, "nested": {"list": [1, 2]}}
        etag = repo.put_if_absent(key, given)
        _scribble(given)
        stored = {"v": 1, "nested": {"list": [1, 2]}}
        first = repo.get(key)
        assert first is not None and first.data == stored, "the dict passed in was kept"
        _scribble(first.data)
        for _, listed in repo.list_page(("models",)):
            _scribble(listed.data)
        again = repo.get(key)
        assert again is not None and again.data == stored, "get handed out the stored dict"
        assert [dict(d.data) for _, d in repo.list_page(("models",))] == [stored]
        swapped = {"v": 2, "nested": {"list": []}}
        repo.compare_and_swap(key, swapped, etag)
        _scribble(swapped)
        last = repo.get(key)
        assert last is not None and last.data == {"v": 2, "nested": {"list": []}}

    def test_a_blob_being_written_is_never_listed(self, repo: Repository) -> None:
        """Nothing of an upload in progress or aborted (a temp file, a part) shows up in a
        listing of blobs or documents, wherever the backend keeps it."""
        _put_blob(repo, "m/1.0.0/kept.bin", b"kept")
        new = repo.open_blob_writer("m/1.0.0/new.bin")
        replacing = repo.open_blob_writer("m/1.0.0/kept.bin")
        for writer in (new, replacing):
            writer.write(b"x" * BLOB_SIZE)
            writer.write(b"y" * 1000)

        def listed_only_what_was_committed(when: str) -> None:
            for prefix in ("", "m", "m/1.0.0"):
                listed = sorted(repo.list_blobs(prefix))
                assert listed == ["m/1.0.0/kept.bin"], f"{when}: list_blobs({prefix!r})"
            for folder in (("models",), ("versions", "m")):
                assert repo.list_page(folder) == [], f"{when}: list_page({folder!r})"

        listed_only_what_was_committed("while writing")
        new.abort()
        replacing.abort()
        listed_only_what_was_committed("after abort")
        with repo.open_blob("m/1.0.0/kept.bin") as stream:
            assert stream.read() == b"kept"

    def test_abort_after_commit_is_a_no_op(self, repo: Repository) -> None:
        """Cleanup code calls ``abort()`` in a ``finally``: after a commit it must not
        take the committed blob away."""
        writer = repo.open_blob_writer("m/1.0.0/w.bin")
        writer.write(b"committed")
        writer.commit()
        writer.abort()
        writer.abort()
        listed = list(repo.list_blobs("m"))
        assert listed == ["m/1.0.0/w.bin"], f"abort after commit left {listed}"
        with repo.open_blob("m/1.0.0/w.bin") as stream:
            assert stream.read() == b"committed"

    def test_a_blob_deleted_while_read_gives_its_bytes_or_a_registry_error(
        self, repo: Repository
    ) -> None:
        data = bytes(range(256)) * (BLOB_SIZE // 256)
        _put_blob(repo, "m/1.0.0/w.bin", data)
        with repo.open_blob("m/1.0.0/w.bin") as stream:
            head = stream.read(1024)
            repo.delete_blobs("m/1.0.0")
            try:
                rest = stream.read()
            except RegistryError:
                return
            except Exception as error:
                pytest.fail(f"reading a deleted blob raised {error!r}, not a RegistryError")
        assert head + rest == data, "a blob deleted while read gave other bytes"

    def test_storage_failures_surface_as_backend_error(self, repo: Repository) -> None:
        """Once the storage fails (see `break_storage`), every call either works or raises
        a `RegistryError`, and reading a stored document raises `BackendError`: never a
        raw `OSError` or a driver's exception."""
        repo.put_if_absent(("models", "m"), {"v": 1})
        _put_blob(repo, "m/1.0.0/w.bin", b"w")
        self.break_storage(repo)
        try:
            repo.get(("models", "m"))
        except BackendError:
            pass
        except Exception as error:
            pytest.fail(f"get on broken storage raised {error!r}, not a BackendError")
        else:
            pytest.fail("get on broken storage returned instead of raising BackendError")
        calls: dict[str, Callable[[], object]] = {
            "put_if_absent": lambda: repo.put_if_absent(("models", "n"), {"v": 1}),
            "compare_and_swap": lambda: repo.compare_and_swap(("models", "m"), {}, "1"),
            "delete": lambda: repo.delete(("models", "m")),
            "delete_tree": lambda: repo.delete_tree(("versions", "m")),
            "list_page": lambda: repo.list_page(("models",)),
            "open_blob": lambda: repo.open_blob("m/1.0.0/w.bin").close(),
            "open_blob_writer": lambda: _put_blob(repo, "m/1.0.0/x.bin", b"x"),
            "list_blobs": lambda: list(repo.list_blobs("m")),
            "delete_blobs": lambda: repo.delete_blobs("m/1.0.0"),
        }
        for name, call in calls.items():
            with _only_registry_errors(name), contextlib.suppress(RegistryError):
                call()

    def test_a_torn_write_leaves_later_reads_and_writes_working(self, repo: Repository) -> None:
        """A writer killed mid-write (see `tear_last_write`) costs at most its own write:
        what was stored before reads whole, and the next writers carry on."""
        repo.put_if_absent(("models", "a"), {"v": 1})
        etag = repo.put_if_absent(("models", "b"), {"v": 1})
        self.tear_last_write(repo)
        expected: dict[str, object] = {"a": {"v": 1}, "b": {"v": 1}}
        _reads_whole(repo, expected, "after a torn write")
        swap = functools.partial(repo.compare_and_swap, ("models", "b"), {"v": 2}, etag)
        _readable("compare_and_swap after a torn write", swap)
        _readable(
            "put_if_absent after a torn write",
            lambda: repo.put_if_absent(("models", "c"), {"v": 3}),
        )
        expected.update(b={"v": 2}, c={"v": 3})
        _reads_whole(repo, expected, "after the writes that followed a torn write")
        if self.supports_processes:
            reopened = self.repository_opener(repo)()
            try:
                _reads_whole(reopened, expected, "in a repository reopened after a torn write")
            finally:
                close = getattr(reopened, "close", None)
                if callable(close):
                    close()
