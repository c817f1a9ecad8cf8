"""Reading a store: the sets and their chunks, through stdlib sqlite3 or SQLAlchemy.

A query must not pay SQLAlchemy's import (about half the cold-start budget of
``vecstore neighbours``), so a SQLite store whose schema is at :data:`SCHEMA_HEAD` is read
with the stdlib ``sqlite3``. Anything else (an older or newer schema, a missing file, a
server URL) goes through :class:`vecstore.database.Database`, which migrates first and
reads with SQLAlchemy Core on the tables of :mod:`vecstore.schema`. Both readers run the
same test suite, and a test pins :data:`SCHEMA_HEAD` to the Alembic head.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

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


class Catalog(Protocol):
    """What the query side needs from a store."""

    def list_sets(self) -> list[SetInfo]: ...

    def find_set(self, name: str) -> SetInfo | None: ...

    def word_chunks(self, set_id: int) -> list[bytes]: ...

    def vector_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[tuple[int, bytes]]: ...

    def close(self) -> None: ...


class SqliteCatalog:
    """Reads a SQLite store at :data:`SCHEMA_HEAD` with the stdlib driver."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    @classmethod
    def open_if_current(cls, path: Path) -> SqliteCatalog | None:
        """The reader for ``path``, or None when the file is missing or not at the head revision."""
        if not path.is_file():
            return None
        try:
            db = sqlite3.connect(path, timeout=30)
            db.execute("PRAGMA query_only = ON")
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

    def close(self) -> None:
        self._db.close()
