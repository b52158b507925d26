"""`SqlRepository`: the storage protocol on SQLAlchemy Core, with real transactions.

Races resolve in the database, never by reading and then writing in Python:
``put_if_absent`` is ``INSERT ... ON CONFLICT DO NOTHING`` (PostgreSQL, SQLite) or
``INSERT IGNORE`` (MySQL/MariaDB) judged by its row count, and ``compare_and_swap`` is
``UPDATE ... SET rev = rev + 1 WHERE id = :id AND rev = :rev``. An etag is ``"<id>.<rev>"``:
the row id names one incarnation of a key (ids are never reused), so a document deleted
and created again never matches an etag of its predecessor.

`transaction()` makes the Registry's operations atomic: the outermost call begins a
transaction on a connection bound to the calling thread, nested calls join it, and every
protocol call the thread makes meanwhile runs on that connection (`_session.Sessions`).
Outside a transaction, each call runs in a short transaction of its own.

Reads use the document column (one query, one row per document); every write also
rewrites the root's projected child rows in the same transaction (`_rows.RowWriter`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import sqlalchemy as sa

from registry_backends.files import FilesRepository
from registry_backends.sql import schema as s
from registry_backends.sql._engine import Target
from registry_backends.sql._keys import (
    ROUTES,
    SEP,
    Listing,
    bounds,
    joined,
    listing,
    locate,
    locate_for_write,
    storable_key,
)
from registry_backends.sql._project import project_columns
from registry_backends.sql._rows import RowWriter
from registry_backends.sql._session import Sessions
from registry_backends.sql._statements import (
    count_level,
    find_id,
    get_row,
    get_row_locked,
    key_params,
    level,
    swap,
)
from registry_core.errors import AlreadyExists, BackendError, Conflict, InvalidInput, NotFound
from registry_core.protocol import BlobWriter, Document, Key

__all__ = ["SqlRepository"]


def _dump(data: Mapping[str, Any]) -> str:
    """Compact JSON; UTF-8 as is unless the text holds a lone surrogate (then escaped)."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"a document must be JSON-ready: {error}") from error
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    return text


_decode = json.JSONDecoder().raw_decode  # json.loads minus its whitespace handling


def _load(key_text: str, text: str, row_id: int, rev: int) -> Document:
    try:
        data, _ = _decode(text)
    except ValueError:
        try:
            data = json.loads(text)  # written by another tool: leading whitespace...
        except ValueError as error:
            raise BackendError(f"document {key_text!r} is not valid JSON") from error
    if not isinstance(data, dict):
        raise BackendError(f"document {key_text!r} holds {type(data).__name__}, not an object")
    return Document(data, f"{row_id}.{rev}")


def _marked_deleting(text: str) -> bool:
    """Whether the document ``text`` holds ``"deleting": true`` (decoded only when it
    mentions the word)."""
    return '"deleting"' in text and _load("", text, 0, 0).data.get("deleting") is True


def _parse_etag(etag: object) -> tuple[int, int] | None:
    if not isinstance(etag, str):
        return None
    row_id, dot, rev = etag.partition(".")
    if not dot or not row_id.isdigit() or not rev.isdigit():
        return None
    return int(row_id), int(rev)


def _show(key: Key) -> str:
    return "/".join(map(str, key))


class SqlRepository:
    """A `Repository` in a SQL database, blobs in a folder or an fsspec store.

    Open one with `registry_backends.sql.open_sql`; share it between threads freely.
    """

    def __init__(self, engine: sa.Engine, target: Target, blobs: FilesRepository) -> None:
        self._engine = engine
        self._target = target
        self._blobs = blobs
        self._sessions = Sessions(engine, target.secrets, synchronous=target.synchronous)
        self._rows = RowWriter(engine, self._sessions.execute)
        self._use = self._sessions.use
        self._read = self._sessions.read
        #: SQLite in WAL: readers never wait for writers (registry_core.protocol).
        self.quick_reads = engine.dialect.name == "sqlite"
        #: SQLite: a small write is as quick as a read unless another writer holds the
        #: file (registry_core.protocol); a database server's writes take a round trip.
        self.writes_unless_busy: Callable[[], contextlib.AbstractContextManager[None]] | None = (
            self._sessions.writes_unless_busy if self.quick_reads else None
        )

    def __repr__(self) -> str:
        return f"SqlRepository({self.url!r}, artifacts={self._blobs.root!r})"

    @property
    def url(self) -> str:
        """The database URL with its password hidden."""
        return self._target.display

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine, for queries over the projected tables."""
        return self._engine

    def close(self) -> None:
        """Close every pooled connection (the repository reconnects if used again)."""
        self._sessions.close()
        self._engine.dispose()

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One database transaction for this thread's calls; nested calls join it.

        The Registry wraps each mutating operation in it (see `RegistryBase._atomic`).
        """
        return self._sessions.transaction()

    # -- documents ------------------------------------------------------------------------

    def get(self, key: Key) -> Document | None:
        where = locate(key)
        if where is None:
            return None
        rows = self._read("reading a document", get_row(where.table), key_params(where.where))
        return _load(_show(key), rows[0][2], rows[0][0], rows[0][1]) if rows else None

    def get_locked(self, key: Key) -> Document | None:
        """`get`, and the row stays as read until the transaction ends: ``SELECT ... FOR
        SHARE`` on PostgreSQL, ``LOCK IN SHARE MODE`` on MySQL/MariaDB, and on SQLite the
        transaction's write lock (``BEGIN IMMEDIATE``) already keeps every writer out."""
        if not self._sessions.in_transaction:
            raise BackendError("get_locked holds a row for a transaction: call it inside one")
        where = locate(key)
        if where is None:
            return None
        rows = self._read(
            "reading a document", get_row_locked(where.table), key_params(where.where)
        )
        return _load(_show(key), rows[0][2], rows[0][0], rows[0][1]) if rows else None

    def put_if_absent(self, key: Key, data: Mapping[str, Any]) -> str:
        where = locate_for_write(key)
        table = where.table
        values = {
            **where.where,
            **project_columns(table.name, data),
            "rev": 1,
            "doc": _dump(data),
        }
        with self._use(f"creating {_show(key)!r}", write=True) as conn:
            row_id = self._rows.create(conn, table, values, data)
        if row_id is None:
            raise AlreadyExists(f"document {_show(key)!r} already exists")
        return f"{row_id}.1"

    def compare_and_swap(self, key: Key, data: Mapping[str, Any], etag: str) -> str:
        where = locate_for_write(key)
        table = where.table
        text = _dump(data)
        ident = _parse_etag(etag)
        params = key_params(where.where)
        with self._use(f"updating {_show(key)!r}", write=True) as conn:
            if ident is not None:
                row_id, rev = ident
                values = {f"p_{c}": v for c, v in project_columns(table.name, data).items()}
                values.update(params, p_doc=text, p_id=row_id, p_rev=rev)
                if self._sessions.execute(conn, swap(table), values).rowcount == 1:
                    self._rows.write_children(conn, table, row_id, data, replace=True)
                    return f"{row_id}.{rev + 1}"
            exists = self._sessions.execute(conn, find_id(table), params).row
        if exists is None:
            raise NotFound(f"document {_show(key)!r} does not exist")
        raise Conflict(f"document {_show(key)!r} was changed by another writer")

    def delete(self, key: Key, etag: str | None = None) -> None:
        where = locate(key)
        if where is None:
            return
        table = where.table
        condition = where.clause()
        if etag is not None:
            ident = _parse_etag(etag) or (-1, -1)
            condition = sa.and_(condition, table.c.id == ident[0], table.c.rev == ident[1])
        with self._use(f"deleting {_show(key)!r}", write=True) as conn:
            if self._rows.delete_roots(conn, table, condition) or etag is None:
                return
            exists = conn.execute(find_id(table), key_params(where.where)).first()
        if exists is not None:
            raise Conflict(f"document {_show(key)!r} was changed by another writer")

    def delete_tree(self, prefix: Key) -> None:
        if not isinstance(prefix, tuple) or not all(isinstance(p, str) for p in prefix):
            raise InvalidInput(f"a key prefix is a tuple of strings, not {prefix!r}")
        if not storable_key(prefix):
            return  # no stored key holds a control character or a lone surrogate
        doomed = [
            (
                route.table,
                sa.and_(
                    sa.true(),
                    *(
                        route.table.c[col] == seg
                        for col, seg in zip(route.columns, prefix[1:], strict=False)
                    ),
                ),
            )
            for (collection, depth), route in ROUTES.items()
            if not prefix or (prefix[0] == collection and len(prefix) <= depth)
        ]
        doomed.append(self._documents_under(prefix))
        with self._use(f"deleting everything under {_show(prefix)!r}", write=True) as conn:
            for table, condition in doomed:
                self._rows.delete_roots(conn, table, condition)

    def _documents_under(self, prefix: Key) -> tuple[sa.Table, sa.ColumnElement[bool]]:
        docs = s.documents
        if not prefix:
            return docs, sa.true()
        below = joined(prefix)  # every key under the prefix has a parent starting so
        itself = sa.and_(docs.c.parent == joined(prefix[:-1]), docs.c.name == prefix[-1])
        deeper = sa.and_(docs.c.parent >= below, docs.c.parent < below[:-1] + chr(ord(SEP) + 1))
        return docs, sa.or_(deeper, itself)

    # -- listing --------------------------------------------------------------------------

    def list_page(
        self,
        prefix: Key,
        *,
        after: str | None = None,
        before: str | None = None,
        starts_with: str | None = None,
        limit: int = 100,
        reverse: bool = False,
    ) -> list[tuple[str, Document]]:
        """Keyset pagination on the key column, served by its index."""
        if prefix == ():
            return self._list_top(after, before, starts_with, limit, reverse)
        place = listing(prefix)
        if place is None:
            return []
        rows = self._query_level(
            place, after, before, starts_with, limit if limit >= 0 else None, reverse
        )
        if limit < 0:  # what slicing with a negative limit gives, as MemoryRepository does
            rows = rows[:limit]
        name = _show(prefix)
        return [(seg, _load(f"{name}/{seg}", doc, i, rev)) for seg, i, rev, doc in rows]

    def count_documents(self, prefix: Key) -> int:
        """The optional count of `registry_core.protocol`: one ``COUNT`` on the models and
        versions tables (their ``deleting`` column is projected); the documents of other
        tables are read and looked at."""
        if prefix == ():
            found = self._list_top(None, None, None, sys.maxsize, False)
            return sum(1 for _, doc in found if doc.data.get("deleting") is not True)
        place = listing(prefix)
        if place is None:
            return 0
        if "deleting" not in place.table.c:
            rows = self._query_level(place, None, None, None, None, False)
            return sum(1 for *_, text in rows if not _marked_deleting(text))
        statement = count_level(place.table, tuple(place.where))
        return int(self._read("counting documents", statement, key_params(place.where))[0][0])

    def _query_level(
        self,
        place: Listing,
        after: str | None,
        before: str | None,
        starts_with: str | None,
        limit: int | None,
        reverse: bool,
    ) -> list[tuple[str, int, int, str]]:
        """(segment, id, rev, doc) rows in segment order; ``limit`` None for all."""
        shape = bounds(after, before, starts_with)
        if shape is None or limit == 0:
            return []
        query = level(
            place.table,
            tuple(place.where),
            place.segment,
            after=shape.after,
            before=shape.before,
            starts=shape.starts,
            reverse=reverse,
            limited=limit is not None,
        )
        params: dict[str, object] = {**key_params(place.where), **shape.params}
        if limit is not None:
            params["p_limit"] = limit
        rows = self._read("listing documents", query, params)
        if rows and not isinstance(rows[0][0], str):  # VARBINARY keys on MySQL: bytes
            return [(bytes(r[0]).decode("utf-8"), r[1], r[2], r[3]) for r in rows]
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def _list_top(
        self,
        after: str | None,
        before: str | None,
        starts_with: str | None,
        limit: int,
        reverse: bool,
    ) -> list[tuple[str, Document]]:
        """Keys of one segment: the settings row (``("settings",)``) and documents."""
        found = self._query_level(
            Listing(s.documents, {"parent": ""}, "name"), after, before, starts_with, None, False
        )
        settings = self._read("reading the settings", get_row(s.settings), {"k_singleton": 1})
        row = settings[0] if settings else None
        if row is not None and (
            (after is None or after < "settings")
            and (before is None or before > "settings")
            and (starts_with is None or "settings".startswith(starts_with))
        ):
            found.append(("settings", row[0], row[1], row[2]))
        found.sort(key=lambda item: item[0], reverse=reverse)
        return [(seg, _load(seg, doc, i, rev)) for seg, i, rev, doc in found[:limit]]

    # -- blobs: the files backend's, in the artifact store -----------------------------------

    def open_blob_writer(self, name: str) -> BlobWriter:
        return self._blobs.open_blob_writer(name)

    def open_blob(self, name: str) -> IO[bytes]:
        return self._blobs.open_blob(name)

    def copy_blob(self, source: str, target: str) -> None:
        """The optional copy of `registry_core.protocol`: the artifact store's (a hard link
        in a folder, server-side in S3 and GCS); the database is not involved."""
        self._blobs.copy_blob(source, target)

    def delete_blobs(self, prefix: str) -> None:
        self._blobs.delete_blobs(prefix)

    def list_blobs(self, prefix: str) -> Iterator[str]:
        return self._blobs.list_blobs(prefix)

    def temp_files(self, older_than_seconds: float) -> list[str]:
        """Leftovers of interrupted uploads in the artifact store (for fsck)."""
        return self._blobs.temp_files(older_than_seconds)

    def remove_temp_files(self, older_than_seconds: float) -> list[str]:
        return self._blobs.remove_temp_files(older_than_seconds)
