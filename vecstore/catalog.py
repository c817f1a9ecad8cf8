"""Reading and writing a store's rows, through stdlib sqlite3 or SQLAlchemy.

A query must not pay SQLAlchemy's import (about half the cold-start budget of
``vecstore neighbours``, and a fifth of an import's), so a SQLite store whose schema is
at :data:`SCHEMA_HEAD` is read and written with the stdlib ``sqlite3``
(:class:`SqliteCatalog`). Anything else (an older or newer schema, a missing file, a
server URL) goes through :class:`vecstore.database.Database`, which migrates first and
uses SQLAlchemy Core on the tables of :mod:`vecstore.schema`. The schema has one
definition, the Alembic migrations; both backends run the same tests against it, and a
test pins :data:`SCHEMA_HEAD` to the Alembic head.

Writers are serialised per set name: the name is looked up again inside the write
transaction (which holds SQLite's write lock, or a PostgreSQL advisory lock on the
name), so two imports of one name at once either replace one another in turn or the
second is told the name was taken meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from vecstore.errors import (
    DamagedStoreError,
    ForeignDatabaseError,
    SetExistsError,
    StoreBusyError,
    StoreError,
    printable_path,
)

#: The Alembic revision the stdlib reader understands; see tests/test_migrations.py.
SCHEMA_HEAD = "0003"

#: Seconds a writer waits for another writer's transaction before giving up.
BUSY_TIMEOUT = 30.0


@dataclass(frozen=True)
class SetInfo:
    """One embedding set's row: what it is, where it came from, its content checksum."""

    id: int
    uid: str
    name: str
    dim: int
    count: int
    rows_per_chunk: int
    format: str
    source: str
    source_sha256: str
    created_at: datetime
    parent_uid: str | None = None
    stats: str | None = None  # JSON, see vecstore.stats.SetStats
    content_checksum: str = ""
    read_options: str | None = None  # JSON of the options that shaped the set

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "count": self.count,
            "dim": self.dim,
            "format": self.format,
            "source": self.source,
            "sha256": self.source_sha256,
            "created_at": self.created_at.isoformat(),
            "uid": self.uid,
            "parent_uid": self.parent_uid,
            "content_checksum": self.content_checksum,
            "read_options": json.loads(self.read_options) if self.read_options else {},
        }


SET_COLUMNS = ("id", "uid", "name", "dim", "count", "rows_per_chunk", "format", "source",
               "source_sha256", "created_at", "parent_uid", "stats", "content_checksum", "read_options")


def set_info_from_row(row: Sequence[object]) -> SetInfo:
    """Build a :class:`SetInfo` from the columns in :data:`SET_COLUMNS` order."""
    values = dict(zip(SET_COLUMNS, row, strict=True))
    created = values["created_at"]
    if isinstance(created, str):  # sqlite3 returns SQLAlchemy's DateTime text
        created = datetime.fromisoformat(created)
    assert isinstance(created, datetime)
    if created.tzinfo is None:  # SQLite keeps no zone; vecstore writes UTC
        created = created.replace(tzinfo=UTC)
    optional = {k: None if values[k] is None else str(values[k]) for k in ("parent_uid", "stats", "read_options")}
    return SetInfo(int(values["id"]), str(values["uid"]), str(values["name"]), int(values["dim"]),
                   int(values["count"]), int(values["rows_per_chunk"]), str(values["format"]),
                   str(values["source"]), str(values["source_sha256"]), created,
                   content_checksum=str(values["content_checksum"] or ""), **optional)


#: Rows per chunk are chosen so a chunk of vectors is about this many bytes.
CHUNK_BYTES = 1 << 20


def rows_per_chunk(dim: int) -> int:
    return max(1, CHUNK_BYTES // (4 * dim))


def new_uid() -> str:
    """32 random hex digits naming one import (and its derived files)."""
    return os.urandom(16).hex()


@dataclass(frozen=True)
class Chunk:
    """One stored chunk: its number, bytes, and the checksum recorded when it was written."""

    number: int
    data: bytes
    checksum: str


@dataclass(frozen=True)
class SetHeader:
    """What is known of a set before its rows are: the row written first, completed by
    :meth:`SetWriter.finish` with the count, checksums and statistics."""

    name: str
    dim: int
    format: str
    source: str
    parent_uid: str | None = None
    read_options: str | None = None

    def row_values(self, uid: str) -> dict[str, Any]:
        """The set's row, ``created_at`` a naive UTC datetime (SQLite keeps no zone)."""
        return {"uid": uid, "name": self.name, "dim": self.dim, "count": 0,
                "rows_per_chunk": rows_per_chunk(self.dim), "format": self.format,
                "source": printable_path(self.source), "source_sha256": "",
                "created_at": datetime.now(UTC).replace(tzinfo=None), "parent_uid": self.parent_uid,
                "stats": None, "content_checksum": "", "read_options": self.read_options}


@dataclass(frozen=True)
class Completion:
    """What :meth:`SetWriter.finish` records once every row is written."""

    count: int
    source_sha256: str
    content_checksum: str
    stats: str | None = None


class SetWriter(Protocol):
    """Writes one set's chunks inside the transaction opened by ``Catalog.writing``."""

    #: The set this write replaces (found by name inside the transaction), if any.
    replaced: SetInfo | None

    def add_chunk(self, chunk_no: int, vectors: bytes | memoryview, words: bytes,
                  vectors_checksum: str, words_checksum: str) -> None: ...

    def read_chunk(self, chunk_no: int) -> bytes: ...

    def replace_chunk(self, chunk_no: int, vectors: bytes | memoryview, checksum: str) -> None: ...

    def finish(self, done: Completion) -> SetInfo:
        """Complete the set's row; the transaction commits when the ``writing`` block ends."""
        ...


def saved_info(set_id: int, values: dict[str, Any]) -> SetInfo:
    return SetInfo(id=int(set_id), created_at=values["created_at"].replace(tzinfo=UTC),
                   **{k: v for k, v in values.items() if k != "created_at"})


def completed_values(values: dict[str, Any], done: Completion) -> dict[str, Any]:
    return dict(values, count=done.count, source_sha256=done.source_sha256, stats=done.stats,
                content_checksum=done.content_checksum)


def name_taken(current: SetInfo, replace: bool) -> None:
    """Inside a write transaction: a set of the name exists now. Without ``replace`` it
    was imported by another process since this import looked (it would have said so
    then), which is an error a person can act on."""
    if not replace:
        raise SetExistsError(current.name, current.source, "was imported by another process while this one ran")


class Catalog(Protocol):
    """What the library needs from a store's database."""

    def list_sets(self) -> list[SetInfo]: ...

    def find_set(self, name: str) -> SetInfo | None: ...

    def word_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[Chunk]: ...

    def chunk_checksums(self, set_id: int) -> tuple[dict[int, str], dict[int, str]]:
        """The recorded checksum of each vector chunk and of each word chunk, by number
        (no chunk data is read)."""
        ...

    def vector_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[Chunk]: ...

    def writing(self, header: SetHeader, uid: str, *, replace: bool = False) -> AbstractContextManager[SetWriter]:
        """A transaction that inserts the set's row and lets the rows be written; with
        ``replace`` it first removes the set of that name found inside the transaction.
        It commits when the block ends normally, rolls back otherwise."""
        ...

    def delete_set(self, name: str) -> SetInfo | None:
        """Remove the set called ``name`` now; return it (None if there was none)."""
        ...

    def save_stats(self, info: SetInfo, stats: str) -> None:
        """Record statistics computed after the import (sets from before revision 0002)."""
        ...

    def revision(self) -> str | None: ...

    def close(self) -> None: ...


def error_text(exc: BaseException) -> str:
    """The driver's own words for a database error: one line, without SQLAlchemy's
    statement dump or its "Background on this error" link."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line for line in str(orig).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(orig).__name__
    text = text.split("(Background on this error at:")[0].strip()
    return text if len(text) <= 200 else text[:200] + "..."


def store_error(exc: BaseException, action: str, location: str) -> StoreError:
    """A database error as the :class:`StoreError` a person can act on."""
    text = error_text(exc)
    low = text.lower()
    if "database is locked" in low or "database is busy" in low or "database table is locked" in low:
        return StoreBusyError(location, BUSY_TIMEOUT)
    if "not a database" in low or "malformed" in low or "file is encrypted" in low:
        return DamagedStoreError(location, text)
    return StoreError(f"cannot {action} {location}: {text}")


class SqliteCatalog:
    """Reads and writes a SQLite store at :data:`SCHEMA_HEAD` with the stdlib driver."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        self._where = printable_path(path)

    @classmethod
    def open_if_current(cls, path: Path) -> SqliteCatalog | None:
        """The backend for ``path``, or None when the file is missing, empty (a new store),
        or not at the head revision (the SQLAlchemy side migrates it or says why not).
        A file that is not a SQLite database, or a database of another program, is a
        :class:`StoreError` naming it."""
        if not path.is_file():
            return None
        where = printable_path(path)
        try:
            # Autocommit mode: writing() opens its own explicit transaction.
            db = sqlite3.connect(os.fsencode(path), timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, "open the store", where) from None
        try:
            # As vecstore.database sets them (WAL itself is a property of the file).
            db.execute("PRAGMA synchronous = FULL")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" not in tables:
                if tables - {"sqlite_sequence"}:
                    raise ForeignDatabaseError(where, sorted(tables))
                db.close()
                return None  # an empty database: a new store, created by the SQLAlchemy side
            (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or (None,)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise store_error(exc, "open the store", where) from None
        except BaseException:
            db.close()
            raise
        if revision != SCHEMA_HEAD:
            db.close()
            return None
        return cls(db, path)

    def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, "read the store", self._where) from None

    def revision(self) -> str | None:
        rows = self._all("SELECT version_num FROM alembic_version")
        return rows[0][0] if rows else None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read in one transaction: one consistent view of the store (WAL), whatever is
        committed meanwhile."""
        try:
            self._db.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, "read the store", self._where) from None
        try:
            yield
        finally:
            if self._db.in_transaction:
                self._db.execute("COMMIT")

    def integrity_check(self) -> list[str]:
        """SQLite's own check of the file's structure: [] when it is sound."""
        rows = self._all("PRAGMA integrity_check")
        return [] if [r[0] for r in rows] == ["ok"] else [str(r[0]) for r in rows]

    def list_sets(self) -> list[SetInfo]:
        rows = self._all(f"SELECT {', '.join(SET_COLUMNS)} FROM embedding_sets ORDER BY name")
        return [set_info_from_row(r) for r in rows]

    def find_set(self, name: str) -> SetInfo | None:
        rows = self._all(f"SELECT {', '.join(SET_COLUMNS)} FROM embedding_sets WHERE name = ?", (name,))
        return set_info_from_row(rows[0]) if rows else None

    def word_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[Chunk]:
        return self._chunks("word_chunks", set_id, chunk_nos)

    def vector_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[Chunk]:
        return self._chunks("vector_chunks", set_id, chunk_nos)

    def _chunks(self, table: str, set_id: int, chunk_nos: Sequence[int] | None) -> list[Chunk]:
        # (CAST: a chunk changed by hand into TEXT still reads as bytes, and fails its checksum)
        sql = f"SELECT chunk_no, CAST(data AS BLOB), checksum FROM {table} WHERE set_id = ?"
        params = [set_id]
        if chunk_nos is not None:
            sql += f" AND chunk_no IN ({', '.join('?' * len(chunk_nos))})"
            params += list(chunk_nos)
        return [Chunk(int(n), bytes(d), str(c)) for n, d, c in self._all(sql + " ORDER BY chunk_no", params)]

    def chunk_checksums(self, set_id: int) -> tuple[dict[int, str], dict[int, str]]:
        return tuple(  # type: ignore[return-value]
            {int(n): str(c) for n, c in self._all(f"SELECT chunk_no, checksum FROM {table} WHERE set_id = ?",
                                                  (set_id,))}
            for table in ("vector_chunks", "word_chunks"))

    @contextmanager
    def _transaction(self, action: str) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (a kill rolls back too)."""
        try:
            _run(self._db, "BEGIN IMMEDIATE")
            try:
                yield
                _run(self._db, "COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, action, self._where) from None

    @contextmanager
    def writing(self, header: SetHeader, uid: str, *, replace: bool = False) -> Iterator[SetWriter]:
        values = header.row_values(uid)
        row = dict(values, created_at=values["created_at"].strftime("%Y-%m-%d %H:%M:%S.%f"))
        with self._transaction(f"write set {header.name!r} to"):
            current = self.find_set(header.name)  # again, now that this transaction holds the lock
            if current is not None:
                name_taken(current, replace)
                self._delete(current.id)
            cursor = _run(self._db, f"INSERT INTO embedding_sets ({', '.join(row)}) "
                                    f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
            assert cursor.lastrowid is not None
            with _WalFlusher(self._path) as flusher:
                writer = _SqliteSetWriter(self._db, cursor.lastrowid, values, flusher, current)
                yield writer
            if writer.info is None:
                raise RuntimeError("the set's rows were written but finish() was not called")

    def delete_set(self, name: str) -> SetInfo | None:
        with self._transaction(f"remove set {name!r} from"):
            current = self.find_set(name)
            if current is not None:
                self._delete(current.id)
        return current

    def save_stats(self, info: SetInfo, stats: str) -> None:
        with self._transaction(f"update set {info.name!r} in"):
            _run(self._db, "UPDATE embedding_sets SET stats = ? WHERE id = ? AND uid = ?", [stats, info.id, info.uid])

    def _delete(self, set_id: int) -> None:
        for table in ("vector_chunks", "word_chunks"):
            _run(self._db, f"DELETE FROM {table} WHERE set_id = ?", [set_id])
        _run(self._db, "DELETE FROM embedding_sets WHERE id = ?", [set_id])

    def close(self) -> None:
        self._db.close()


class _WalFlusher:
    """Syncs the WAL to disk in the background while a large transaction writes it.

    A commit in WAL mode with ``synchronous=FULL`` waits for the disk to take everything
    the transaction wrote: for an import, the whole matrix at the very end. Syncing the
    WAL file every few MiB meanwhile (as PostgreSQL's ``wal_writer_flush_after`` and
    RocksDB's ``wal_bytes_per_sync`` do) leaves the commit only the last few MiB to wait
    for. It changes when pages reach the disk, never what the commit guarantees.
    """

    EVERY = 16 << 20

    def __init__(self, db_path: Path | None) -> None:
        self._fd: int | None = None
        self._pending = 0
        self._thread: threading.Thread | None = None
        if db_path is not None:
            with contextlib.suppress(OSError):  # no WAL file yet, or not readable: no early syncs
                self._fd = os.open(f"{os.fsdecode(db_path)}-wal", os.O_RDONLY)

    def __enter__(self) -> _WalFlusher:
        return self

    def wrote(self, size: int) -> None:
        self._pending += size
        if self._fd is None or self._pending < self.EVERY or (self._thread and self._thread.is_alive()):
            return
        self._pending = 0
        self._thread = threading.Thread(target=self._sync, args=(self._fd,), name="vecstore-wal-sync", daemon=True)
        self._thread.start()

    @staticmethod
    def _sync(fd: int) -> None:
        with contextlib.suppress(OSError):  # only an early start: the commit syncs regardless
            os.fdatasync(fd)

    def __exit__(self, *_exc: object) -> None:
        if self._thread is not None:
            self._thread.join()
        if self._fd is not None:
            os.close(self._fd)


class _SqliteSetWriter:
    def __init__(self, db: sqlite3.Connection, set_id: int, values: dict[str, Any], flusher: _WalFlusher,
                 replaced: SetInfo | None) -> None:
        self._db, self._set_id, self._values, self._flusher = db, set_id, values, flusher
        self.replaced = replaced
        self.info: SetInfo | None = None

    def add_chunk(self, chunk_no: int, vectors: bytes | memoryview, words: bytes,
                  vectors_checksum: str, words_checksum: str) -> None:
        _run(self._db, "INSERT INTO vector_chunks (set_id, chunk_no, data, checksum) VALUES (?, ?, ?, ?)",
             [self._set_id, chunk_no, vectors, vectors_checksum])
        _run(self._db, "INSERT INTO word_chunks (set_id, chunk_no, data, checksum) VALUES (?, ?, ?, ?)",
             [self._set_id, chunk_no, words, words_checksum])
        self._flusher.wrote(memoryview(vectors).nbytes + len(words))

    def read_chunk(self, chunk_no: int) -> bytes:
        (data,) = self._db.execute("SELECT data FROM vector_chunks WHERE set_id = ? AND chunk_no = ?",
                                   [self._set_id, chunk_no]).fetchone()
        return bytes(data)

    def replace_chunk(self, chunk_no: int, vectors: bytes | memoryview, checksum: str) -> None:
        _run(self._db, "UPDATE vector_chunks SET data = ?, checksum = ? WHERE set_id = ? AND chunk_no = ?",
             [vectors, checksum, self._set_id, chunk_no])

    def finish(self, done: Completion) -> SetInfo:
        _run(self._db, "UPDATE embedding_sets SET count = ?, source_sha256 = ?, stats = ?, content_checksum = ? "
                       "WHERE id = ?",
             [done.count, done.source_sha256, done.stats, done.content_checksum, self._set_id])
        self.info = saved_info(self._set_id, completed_values(self._values, done))
        return self.info


def _run(db: sqlite3.Connection, sql: str, params: Sequence[Any] = (), *, many: bool = False) -> sqlite3.Cursor:
    """Every write statement of :class:`SqliteCatalog` goes through here (one place to observe)."""
    return db.executemany(sql, params) if many else db.execute(sql, params)
