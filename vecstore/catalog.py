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

import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vecstore.errors import StoreError

#: The Alembic revision the stdlib reader understands; see tests/test_migrations.py.
SCHEMA_HEAD = "0001"


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

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "count": self.count,
            "dim": self.dim,
            "format": self.format,
            "source": self.source,
            "sha256": self.source_sha256,
            "created_at": self.created_at.isoformat(),
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
                   str(row[6]), str(row[7]), str(row[8]), created)


SET_COLUMNS = ("id", "uid", "name", "dim", "count", "rows_per_chunk", "format", "source",
               "source_sha256", "created_at")

#: Rows per chunk are chosen so a chunk of vectors is about this many bytes.
CHUNK_BYTES = 1 << 20


def rows_per_chunk(dim: int) -> int:
    return max(1, CHUNK_BYTES // (4 * dim))


def new_uid() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class NewSet:
    """A validated set ready to be written: words in row order and their float32 vectors."""

    name: str
    words: Sequence[str]
    vectors: np.ndarray
    format: str
    source: str
    source_sha256: str

    def row_values(self, uid: str) -> dict[str, Any]:
        """The set's row, ``created_at`` a naive UTC datetime (SQLite keeps no zone)."""
        count, dim = self.vectors.shape
        return {"uid": uid, "name": self.name, "dim": dim, "count": count, "rows_per_chunk": rows_per_chunk(dim),
                "format": self.format, "source": self.source, "source_sha256": self.source_sha256,
                "created_at": datetime.now(UTC).replace(tzinfo=None)}

    def chunks(self) -> Iterator[tuple[int, memoryview, bytes]]:
        """(chunk number, float32 rows, ``\n``-joined UTF-8 words) for each chunk, in order."""
        vectors = np.ascontiguousarray(self.vectors, dtype="<f4")
        per_chunk = rows_per_chunk(vectors.shape[1])
        for number, start in enumerate(range(0, vectors.shape[0], per_chunk)):
            # memoryview: the driver reads the rows in place, no copy of the matrix
            yield (number, memoryview(vectors[start:start + per_chunk]),
                   "\n".join(self.words[start:start + per_chunk]).encode())


def saved_info(set_id: int, values: dict[str, Any]) -> SetInfo:
    return SetInfo(id=int(set_id), created_at=values["created_at"].replace(tzinfo=UTC),
                   **{k: v for k, v in values.items() if k != "created_at"})


class Catalog(Protocol):
    """What the library needs from a store's database."""

    def list_sets(self) -> list[SetInfo]: ...

    def find_set(self, name: str) -> SetInfo | None: ...

    def word_chunks(self, set_id: int) -> list[bytes]: ...

    def vector_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[tuple[int, bytes]]: ...

    def write_set(self, new: NewSet, *, replace: SetInfo | None = None, uid: str | None = None) -> SetInfo:
        """Insert ``new`` (removing ``replace`` first) in one transaction; return its row."""
        ...

    def delete_set(self, info: SetInfo) -> None: ...

    def close(self) -> None: ...


class SqliteCatalog:
    """Reads and writes a SQLite store at :data:`SCHEMA_HEAD` with the stdlib driver."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

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
        return cls(db)

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

    def write_set(self, new: NewSet, *, replace: SetInfo | None = None, uid: str | None = None) -> SetInfo:
        values = new.row_values(uid or new_uid())
        row = dict(values, created_at=values["created_at"].strftime("%Y-%m-%d %H:%M:%S.%f"))
        columns = ", ".join(row)
        try:
            _run(self._db, "BEGIN IMMEDIATE")
            try:
                if replace is not None:
                    self._delete(replace.id)
                cursor = _run(self._db, f"INSERT INTO embedding_sets ({columns}) VALUES ({', '.join('?' * len(row))})",
                              list(row.values()))
                set_id = cursor.lastrowid
                chunks = list(new.chunks())
                _run(self._db, "INSERT INTO vector_chunks (set_id, chunk_no, data) VALUES (?, ?, ?)",
                     [(set_id, n, vectors) for n, vectors, _ in chunks], many=True)
                _run(self._db, "INSERT INTO word_chunks (set_id, chunk_no, data) VALUES (?, ?, ?)",
                     [(set_id, n, words) for n, _, words in chunks], many=True)
                _run(self._db, "COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot write set {new.name!r}: {exc}") from exc
        assert set_id is not None
        return saved_info(set_id, values)

    def delete_set(self, info: SetInfo) -> None:
        try:
            _run(self._db, "BEGIN IMMEDIATE")
            try:
                self._delete(info.id)
                _run(self._db, "COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot remove set {info.name!r}: {exc}") from exc

    def _delete(self, set_id: int) -> None:
        for table in ("vector_chunks", "word_chunks"):
            _run(self._db, f"DELETE FROM {table} WHERE set_id = ?", [set_id])
        _run(self._db, "DELETE FROM embedding_sets WHERE id = ?", [set_id])

    def close(self) -> None:
        self._db.close()


def _run(db: sqlite3.Connection, sql: str, params: Sequence[Any] = (), *, many: bool = False) -> sqlite3.Cursor:
    """Every write statement of :class:`SqliteCatalog` goes through here (one place to observe)."""
    return db.executemany(sql, params) if many else db.execute(sql, params)
