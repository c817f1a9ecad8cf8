"""What a driver gives the catalog, and how database errors are told to a person.

Three drivers run the statements of :mod:`vecstore.storage.statements`: the stdlib
``sqlite3`` one (:mod:`vecstore.storage.sqlite`), psycopg's for a current server store
(:mod:`vecstore.storage.postgres`) and the SQLAlchemy one (:mod:`vecstore.storage.engine`).
Each returns rows as dicts by column name and turns a database error into a
:class:`~vecstore.errors.StoreError` naming the store; the two on PostgreSQL share
:class:`BulkCopy`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from vecstore.errors import DamagedStoreError, StoreBusyError, StoreError
from vecstore.storage.statements import BulkRows

#: Seconds a writer waits for another writer's transaction before giving up.
BUSY_TIMEOUT = 30.0

Row = dict[str, Any]


#: PostgreSQL: hold a lock on a set name's writers until the transaction ends (SQLite's
#: BEGIN IMMEDIATE already serialises every writer); both PostgreSQL drivers take it.
LOCK_WRITERS = "SELECT pg_advisory_xact_lock(hashtext(:lock))"


def writers_lock(name: str) -> dict[str, str]:
    """:data:`LOCK_WRITERS`'s parameters for the writers of set ``name``."""
    return {"lock": f"vecstore {name}"}


class BulkCopy:
    """psycopg's binary ``COPY ... FROM STDIN`` into one table at a time, on a psycopg
    connection (the PostgreSQL driver's own, or the one SQLAlchemy holds): rows stream
    until :meth:`end`, which must come before the connection's next statement."""

    def __init__(self) -> None:
        self._open: tuple[BulkRows, contextlib.ExitStack, Any] | None = None

    def write(self, connection: Any, bulk: BulkRows, values: Mapping[str, Any]) -> None:
        """Add one row of ``bulk``'s table (a COPY of another table is ended first)."""
        if self._open is None or self._open[0] != bulk:
            self.end()
            stack = contextlib.ExitStack()
            cursor = stack.enter_context(connection.cursor())
            copy = stack.enter_context(cursor.copy(bulk.copy))
            copy.set_types(list(bulk.types))
            self._open = (bulk, stack, copy)
        self._open[2].write_row([values[c] for c in bulk.columns])

    @contextmanager
    def ended(self) -> Iterator[None]:
        """Around a transaction's statements: the COPY in progress finished when they are
        done, abandoned when they raise."""
        try:
            yield
        except BaseException:
            self.end(failed=True)
            raise
        self.end()

    def end(self, *, failed: bool = False) -> None:
        """Finish a COPY in progress; ``failed``: abandon it instead (the transaction is
        rolled back, and the error that failed the write is the one to report)."""
        if self._open is not None:
            stack, self._open = self._open[1], None
            if not failed:
                stack.close()
                return
            with contextlib.suppress(Exception):
                stack.__exit__(*sys.exc_info())


def copy_data(connection: Any, statement: str, data: Iterable[bytes]) -> None:
    """Stream ``data``, already in the format ``statement`` (a ``COPY ... FROM STDIN``)
    names, through psycopg's COPY on ``connection``."""
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for block in data:
            copy.write(block)


class Transaction(Protocol):
    """Statements run inside one write transaction. A database error raised by a
    statement leaves the ``transaction()`` block, which rolls back and raises it as a
    :class:`~vecstore.errors.StoreError`."""

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]: ...

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def add_row(self, bulk: BulkRows, values: Mapping[str, Any]) -> None:
        """Add one row to ``bulk``'s table: an ``INSERT`` on SQLite; on PostgreSQL a row
        of a ``COPY`` that streams until the transaction's next statement."""
        ...

    def wrote(self, size: int) -> None:
        """``size`` bytes were written (lets the SQLite driver sync its WAL early)."""
        ...

    #: "sqlite" or "postgresql", as the driver's.
    dialect: str


class Driver(Protocol):
    #: "sqlite" or "postgresql" (the statements differ only where the dialects do).
    dialect: str

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a read statement on its own; its rows."""
        ...

    def transaction(self, action: str, lock: str | None = None) -> AbstractContextManager[Transaction]:
        """One write transaction, holding the write lock (SQLite) or an advisory lock on
        ``lock`` (PostgreSQL) from its start; committed when the block ends, rolled back
        on any error. ``action`` words the error (``"write set 'x' to"``)."""
        ...

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads in the block see one consistent state of the store."""
        ...

    def integrity_check(self) -> list[str]:
        """The database's own check of its files: [] when sound (or not available)."""
        ...

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
