"""The stdlib ``sqlite3`` driver: a SQLite store at the head schema, read and written
without SQLAlchemy.

A query must not pay SQLAlchemy's import (about half the cold-start budget of
``vecstore neighbours``, and a fifth of an import's), so a SQLite store whose schema is
at :data:`~vecstore.storage.statements.SCHEMA_HEAD` is opened here. Anything else (a
missing file, an older or newer schema) goes through :mod:`vecstore.storage.engine`,
which creates or migrates it first.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from vecstore.errors import ForeignDatabaseError, printable_path
from vecstore.storage import driver
from vecstore.storage.driver import Row, store_error
from vecstore.storage.statements import REVISION, SCHEMA_HEAD, BulkRows

#: Set on every connection, by this driver and by SQLAlchemy's (vecstore.storage.engine).
#: 64 KiB pages (new stores only): a 1 MiB chunk spans 16 pages, not 256 (~20 % faster
#: writes). WAL: readers (queries in other processes) never block on an import, and an
#: interrupted transaction is rolled back; FULL makes a commit survive power loss too
#: (measured: no slower than NORMAL for an import's single large transaction).
SYNCHRONOUS = "PRAGMA synchronous = FULL"
PRAGMAS = ("PRAGMA page_size = 65536", "PRAGMA journal_mode = WAL", SYNCHRONOUS)
#: Reads through a mapping of the first GiB, not read() into SQLite's page cache: a
#: set's word chunks (3.4 MB for GloVe) come back in half the time (writes still use
#: write(); every chunk is checked against its digest as before).
MMAP = "PRAGMA mmap_size = 1073741824"

#: How SQLAlchemy's DateTime keeps a time in SQLite (text), so both drivers write the same.
DATETIME_TEXT = "%Y-%m-%d %H:%M:%S.%f"


def bound(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters as SQLite keeps them: a datetime as SQLAlchemy's DateTime text."""
    return {k: v.strftime(DATETIME_TEXT) if isinstance(v, datetime) else v for k, v in (params or {}).items()}


class SqliteDriver:
    """A SQLite store at the head schema, through the stdlib driver."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        self.where = printable_path(path)

    @classmethod
    def open_if_current(cls, path: Path) -> SqliteDriver | None:
        """The driver for ``path``, or None when the file is missing, empty (a new store),
        or not at the head revision (the SQLAlchemy side migrates it or says why not).
        A file that is not a SQLite database, or a database of another program, is a
        :class:`StoreError` naming it."""
        if not path.is_file():
            return None
        where = printable_path(path)
        try:
            # Autocommit mode: transaction() begins its own, explicitly.
            db = sqlite3.connect(os.fsencode(path), timeout=driver.BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, "open the store", where) from None
        try:
            db.execute(SYNCHRONOUS)  # (page size and WAL are properties of the file, set when it was made)
            db.execute(MMAP)
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" not in tables:
                if tables - {"sqlite_sequence"}:
                    raise ForeignDatabaseError(where, sorted(tables))
                db.close()
                return None  # an empty database: a new store, created by the SQLAlchemy side
            (revision,) = db.execute(REVISION).fetchone() or (None,)
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

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        try:
            return _rows(self._db, sql, params)
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, "read the store", self.where) from None

    @contextmanager
    def transaction(self, action: str, lock: str | None = None) -> Iterator[_SqliteTransaction]:
        """BEGIN IMMEDIATE ... COMMIT (the write lock serialises every writer, so ``lock``
        is not needed), rolled back on any exception; a kill rolls back too."""
        try:
            _run(self._db, "BEGIN IMMEDIATE")
            try:
                with _WalFlusher(self._path) as flusher:
                    yield _SqliteTransaction(self._db, flusher)
                _run(self._db, "COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, action, self.where) from None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read in one transaction: one consistent view of the store (WAL), whatever is
        committed meanwhile."""
        try:
            self._db.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise store_error(exc, "read the store", self.where) from None
        try:
            yield
        finally:
            if self._db.in_transaction:
                self._db.execute("COMMIT")

    def integrity_check(self) -> list[str]:
        """SQLite's own check of the file's structure: [] when it is sound."""
        found = [str(r["integrity_check"]) for r in self.rows("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found

    def close(self) -> None:
        self._db.close()


class _SqliteTransaction:
    dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection, flusher: _WalFlusher) -> None:
        self._db, self._flusher = db, flusher

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return _rows(self._db, sql, params, write=True)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        _run(self._db, sql, bound(params))

    def add_row(self, bulk: BulkRows, values: Mapping[str, Any]) -> None:
        _run(self._db, bulk.sql, bound(values))

    def wrote(self, size: int) -> None:
        self._flusher.wrote(size)


def _rows(db: sqlite3.Connection, sql: str, params: Mapping[str, Any] | None, *, write: bool = False) -> list[Row]:
    cursor = _run(db, sql, bound(params)) if write else db.execute(sql, bound(params))
    rows = cursor.fetchall()
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in rows]


def _run(db: sqlite3.Connection, sql: str, params: Mapping[str, Any] | None = None) -> sqlite3.Cursor:
    """Every statement of a write transaction goes through here (one place to observe:
    the kill tests stop a process here, inside the transaction)."""
    return db.execute(sql, params or {})


class _WalFlusher:
    """Syncs the WAL to disk in the background while a large transaction writes it.

    A commit in WAL mode with ``synchronous=FULL`` waits for the disk to take everything
    the transaction wrote: for an import, the whole matrix at the very end. Syncing the
    WAL file every few MiB meanwhile (as PostgreSQL's ``wal_writer_flush_after`` and
    RocksDB's ``wal_bytes_per_sync`` do) leaves the commit only the last few MiB to wait
    for. It changes when pages reach the disk, never what the commit guarantees.
    """

    EVERY = 16 << 20

    def __init__(self, db_path: Path) -> None:
        self._fd: int | None = None
        self._pending = 0
        self._thread: threading.Thread | None = None
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
