"""Reading and writing a store's rows, through stdlib sqlite3 or SQLAlchemy.

A query must not pay SQLAlchemy's import (about half the cold-start budget of
``vecstore neighbours``, and a fifth of an import's), so a SQLite store whose schema is
at :data:`SCHEMA_HEAD` is read and written with the stdlib ``sqlite3``
(:class:`SqliteCatalog`). Anything else (an older or newer schema, a missing file, a
server URL) goes through :class:`vecstore.database.Database`, which migrates first and
uses SQLAlchemy Core on the tables of :mod:`vecstore.schema`. The schema has one
definition, the Alembic migrations; both backends run the same tests against it, and a
test pins :data:`SCHEMA_HEAD` to the Alembic head.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vecstore.errors import StoreError

#: The Alembic revision the stdlib reader understands; see tests/test_migrations.py.
SCHEMA_HEAD = "0002"


@dataclass(frozen=True)
class SetInfo:
    """One embedding set's row: what it is and where it came from."""

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
        }


def set_info_from_row(row: Sequence[object]) -> SetInfo:
    """Build a :class:`SetInfo` from the columns in :data:`SET_COLUMNS` order."""
    created = row[9]
    if isinstance(created, str):  # sqlite3 returns SQLAlchemy's DateTime text
        created = datetime.fromisoformat(created)
    assert isinstance(created, datetime)
    if created.tzinfo is None:  # SQLite keeps no zone; vecstore writes UTC
        created = created.replace(tzinfo=UTC)
    return SetInfo(int(row[0]), str(row[1]), str(row[2]), int(row[3]), int(row[4]), int(row[5]),
                   str(row[6]), str(row[7]), str(row[8]), created,
                   None if row[10] is None else str(row[10]), None if row[11] is None else str(row[11]))


SET_COLUMNS = ("id", "uid", "name", "dim", "count", "rows_per_chunk", "format", "source",
               "source_sha256", "created_at", "parent_uid", "stats")

#: Rows per chunk are chosen so a chunk of vectors is about this many bytes.
CHUNK_BYTES = 1 << 20


def rows_per_chunk(dim: int) -> int:
    return max(1, CHUNK_BYTES // (4 * dim))


def new_uid() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class SetHeader:
    """What is known of a set before its rows are: the row written first, completed by
    :meth:`SetWriter.finish` with the count and the source's sha256."""

    name: str
    dim: int
    format: str
    source: str
    parent_uid: str | None = None

    def row_values(self, uid: str) -> dict[str, Any]:
        """The set's row, ``created_at`` a naive UTC datetime (SQLite keeps no zone)."""
        return {"uid": uid, "name": self.name, "dim": self.dim, "count": 0,
                "rows_per_chunk": rows_per_chunk(self.dim), "format": self.format, "source": self.source,
                "source_sha256": "", "created_at": datetime.now(UTC).replace(tzinfo=None),
                "parent_uid": self.parent_uid, "stats": None}


@dataclass(frozen=True)
class NewSet:
    """A whole set in memory: words in row order and their float32 vectors."""

    name: str
    words: Sequence[str]
    vectors: np.ndarray
    format: str
    source: str
    source_sha256: str

    def chunks(self) -> Iterator[tuple[int, memoryview, bytes]]:
        """(chunk number, float32 rows, ``\n``-joined UTF-8 words) for each chunk, in order."""
        vectors = np.ascontiguousarray(self.vectors, dtype="<f4")
        per_chunk = rows_per_chunk(vectors.shape[1])
        for number, start in enumerate(range(0, vectors.shape[0], per_chunk)):
            # memoryview: the driver reads the rows in place, no copy of the matrix
            yield (number, memoryview(vectors[start:start + per_chunk]),
                   "\n".join(self.words[start:start + per_chunk]).encode())


class SetWriter(Protocol):
    """Writes one set's chunks inside the transaction opened by ``Catalog.writing``."""

    def add_chunk(self, chunk_no: int, vectors: bytes | memoryview, words: bytes) -> None: ...

    def read_chunk(self, chunk_no: int) -> bytes: ...

    def replace_chunk(self, chunk_no: int, vectors: bytes | memoryview) -> None: ...

    def finish(self, count: int, sha256: str, stats: str | None = None) -> SetInfo:
        """Complete the set's row; the transaction commits when the ``writing`` block ends."""
        ...


def write_whole_set(catalog: Catalog, new: NewSet, *, replace: SetInfo | None = None,
                    uid: str | None = None) -> SetInfo:
    """Write a set held in memory through ``catalog.writing`` (one transaction)."""
    from vecstore.stats import SetStats

    header = SetHeader(new.name, int(new.vectors.shape[1]), new.format, new.source)
    with catalog.writing(header, uid or new_uid(), replace=replace) as writer:
        for number, vectors, words in new.chunks():
            writer.add_chunk(number, vectors, words)
        return writer.finish(int(new.vectors.shape[0]), new.source_sha256, SetStats.of(new.vectors).to_json())


def saved_info(set_id: int, values: dict[str, Any]) -> SetInfo:
    return SetInfo(id=int(set_id), created_at=values["created_at"].replace(tzinfo=UTC),
                   **{k: v for k, v in values.items() if k != "created_at"})


class Catalog(Protocol):
    """What the library needs from a store's database."""

    def list_sets(self) -> list[SetInfo]: ...

    def find_set(self, name: str) -> SetInfo | None: ...

    def word_chunks(self, set_id: int) -> list[bytes]: ...

    def vector_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[tuple[int, bytes]]: ...

    def writing(self, header: SetHeader, uid: str, *,
                replace: SetInfo | None = None) -> AbstractContextManager[SetWriter]:
        """A transaction that removes ``replace``, inserts the set's row and lets the rows
        be written; it commits when the block ends normally, rolls back otherwise."""
        ...

    def delete_set(self, info: SetInfo) -> None: ...

    def save_stats(self, info: SetInfo, stats: str) -> None:
        """Record statistics computed after the import (sets from before revision 0002)."""
        ...

    def close(self) -> None: ...


class SqliteCatalog:
    """Reads and writes a SQLite store at :data:`SCHEMA_HEAD` with the stdlib driver."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None = None) -> None:
        self._db = connection
        self._path = path

    @classmethod
    def open_if_current(cls, path: Path) -> SqliteCatalog | None:
        """The backend for ``path``, or None when the file is missing or not at the head revision."""
        if not path.is_file():
            return None
        try:
            # Autocommit mode: write_set opens its own explicit transaction.
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            # As vecstore.database sets them (WAL itself is a property of the file).
            db.execute("PRAGMA synchronous = FULL")
            (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or (None,)
        except sqlite3.DatabaseError:
            # Not at the head (or not a store yet): the SQLAlchemy side migrates or reports it.
            return None
        if revision != SCHEMA_HEAD:
            db.close()
            return None
        return cls(db, path)

    def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the store: {exc}") from exc

    def list_sets(self) -> list[SetInfo]:
        rows = self._all(f"SELECT {', '.join(SET_COLUMNS)} FROM embedding_sets ORDER BY name")
        return [set_info_from_row(r) for r in rows]

    def find_set(self, name: str) -> SetInfo | None:
        rows = self._all(f"SELECT {', '.join(SET_COLUMNS)} FROM embedding_sets WHERE name = ?", (name,))
        return set_info_from_row(rows[0]) if rows else None

    def word_chunks(self, set_id: int) -> list[bytes]:
        rows = self._all("SELECT data FROM word_chunks WHERE set_id = ? ORDER BY chunk_no", (set_id,))
        return [bytes(r[0]) for r in rows]

    def vector_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[tuple[int, bytes]]:
        if chunk_nos is None:
            sql, params = "SELECT chunk_no, data FROM vector_chunks WHERE set_id = ? ORDER BY chunk_no", [set_id]
        else:
            marks = ", ".join("?" * len(chunk_nos))
            sql = ("SELECT chunk_no, data FROM vector_chunks"
                   f" WHERE set_id = ? AND chunk_no IN ({marks}) ORDER BY chunk_no")
            params = [set_id, *chunk_nos]
        return [(int(n), bytes(d)) for n, d in self._all(sql, params)]

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
            raise StoreError(f"cannot {action}: {exc}") from exc

    @contextmanager
    def writing(self, header: SetHeader, uid: str, *, replace: SetInfo | None = None) -> Iterator[SetWriter]:
        values = header.row_values(uid)
        row = dict(values, created_at=values["created_at"].strftime("%Y-%m-%d %H:%M:%S.%f"))
        with self._transaction(f"write set {header.name!r}"):
            if replace is not None:
                self._delete(replace.id)
            cursor = _run(self._db, f"INSERT INTO embedding_sets ({', '.join(row)}) "
                                    f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
            assert cursor.lastrowid is not None
            with _WalFlusher(self._path) as flusher:
                writer = _SqliteSetWriter(self._db, cursor.lastrowid, values, flusher)
                yield writer
            if writer.info is None:
                raise RuntimeError("the set's rows were written but finish() was not called")

    def write_set(self, new: NewSet, *, replace: SetInfo | None = None, uid: str | None = None) -> SetInfo:
        return write_whole_set(self, new, replace=replace, uid=uid)

    def delete_set(self, info: SetInfo) -> None:
        with self._transaction(f"remove set {info.name!r}"):
            self._delete(info.id)

    def save_stats(self, info: SetInfo, stats: str) -> None:
        with self._transaction(f"update set {info.name!r}"):
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
                self._fd = os.open(f"{db_path}-wal", os.O_RDONLY)

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
    def __init__(self, db: sqlite3.Connection, set_id: int, values: dict[str, Any], flusher: _WalFlusher) -> None:
        self._db, self._set_id, self._values, self._flusher = db, set_id, values, flusher
        self.info: SetInfo | None = None

    def add_chunk(self, chunk_no: int, vectors: bytes | memoryview, words: bytes) -> None:
        _run(self._db, "INSERT INTO vector_chunks (set_id, chunk_no, data) VALUES (?, ?, ?)",
             [self._set_id, chunk_no, vectors])
        _run(self._db, "INSERT INTO word_chunks (set_id, chunk_no, data) VALUES (?, ?, ?)",
             [self._set_id, chunk_no, words])
        self._flusher.wrote(memoryview(vectors).nbytes + len(words))

    def read_chunk(self, chunk_no: int) -> bytes:
        (data,) = self._db.execute("SELECT data FROM vector_chunks WHERE set_id = ? AND chunk_no = ?",
                                   [self._set_id, chunk_no]).fetchone()
        return bytes(data)

    def replace_chunk(self, chunk_no: int, vectors: bytes | memoryview) -> None:
        _run(self._db, "UPDATE vector_chunks SET data = ? WHERE set_id = ? AND chunk_no = ?",
             [vectors, self._set_id, chunk_no])

    def finish(self, count: int, sha256: str, stats: str | None = None) -> SetInfo:
        _run(self._db, "UPDATE embedding_sets SET count = ?, source_sha256 = ?, stats = ? WHERE id = ?",
             [count, sha256, stats, self._set_id])
        self.info = saved_info(self._set_id, dict(self._values, count=count, source_sha256=sha256, stats=stats))
        return self.info


def _run(db: sqlite3.Connection, sql: str, params: Sequence[Any] = (), *, many: bool = False) -> sqlite3.Cursor:
    """Every write statement of :class:`SqliteCatalog` goes through here (one place to observe)."""
    return db.executemany(sql, params) if many else db.execute(sql, params)
