"""The SQLAlchemy driver: PostgreSQL stores, and creating or migrating any store.

It runs the same statements as the stdlib driver (:mod:`vecstore.storage.statements`),
through ``text()``. Importing it costs SQLAlchemy's start-up, which a query on a SQLite
store at the head schema never pays (:mod:`vecstore.storage.opening`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from vecstore.errors import StoreError, StoreNotFoundError
from vecstore.storage import driver
from vecstore.storage.driver import LOCK_WRITERS, BulkCopy, Row, copy_data, error_text, store_error, writers_lock
from vecstore.storage.location import StoreLocation
from vecstore.storage.sqlite import PRAGMAS, bound
from vecstore.storage.statements import BulkRows

#: Whether bulk rows go through PostgreSQL's COPY (False: one INSERT each, the path before
#: COPY; ``benchmarks/bench_postgres.py`` measures one against the other).
USE_COPY = True


class EngineDriver:
    """A store opened through SQLAlchemy, migrated to the head schema on open.

    With ``create=False`` (a command that only reads) a store that does not exist yet is
    a :class:`StoreNotFoundError`, never a new empty store.
    """

    def __init__(self, location: StoreLocation, *, create: bool = True) -> None:
        from vecstore.storage.migrate import upgrade

        self.where = location.display()
        if not create and location.sqlite_path is not None and not _holds_data(location.sqlite_path):
            raise StoreNotFoundError(self.where)
        self.engine = make_engine(location)
        self.dialect = self.engine.dialect.name
        try:
            #: The revision the store was at before it was opened (the head if it was current).
            self.upgraded_from = upgrade(self.engine, self.where, create=create)
        except BaseException:
            self.engine.dispose()
            raise

    def _bound(self, params: Mapping[str, Any] | None) -> Mapping[str, Any]:
        return bound(params) if self.dialect == "sqlite" else (params or {})

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        try:
            with self.engine.connect() as conn:
                return [dict(r) for r in conn.execute(text(sql), self._bound(params)).mappings()]
        except SQLAlchemyError as exc:
            raise store_error(exc, "read the store", self.where) from None

    @contextmanager
    def transaction(self, action: str, lock: str | None = None) -> Iterator[_EngineTransaction]:
        try:
            with self.engine.connect().execution_options(vecstore_begin="IMMEDIATE") as conn, conn.begin():
                if lock is not None and self.dialect == "postgresql":
                    conn.execute(text(LOCK_WRITERS), writers_lock(lock))
                tx = _EngineTransaction(conn, self._bound, copy=USE_COPY and self.dialect == "postgresql")
                with tx.copy.ended():
                    yield tx
        except SQLAlchemyError as exc:
            raise store_error(exc, action, self.where) from None
        except Exception as exc:
            if not _driver_error(exc):  # (COPY runs on psycopg itself: its errors are not SQLAlchemy's)
                raise
            raise store_error(exc, action, self.where) from None

    def snapshot(self) -> nullcontext[None]:
        return nullcontext()  # (each read is one statement; `check` re-reads a set it finds changed)

    def integrity_check(self) -> list[str]:
        return []  # a server checks its own files

    def close(self) -> None:
        self.engine.dispose()


class _EngineTransaction:
    def __init__(self, conn: Connection, binder: Any, *, copy: bool = False) -> None:
        self._conn, self._bound, self._use_copy = conn, binder, copy
        self.dialect = conn.dialect.name
        self.copy = BulkCopy()  # (its COPY stream: ended by the transaction)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        self.copy.end()
        return [dict(r) for r in self._conn.execute(text(sql), self._bound(params)).mappings()]

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.copy.end()
        self._conn.execute(text(sql), self._bound(params))

    def add_row(self, bulk: BulkRows, values: Mapping[str, Any]) -> None:
        if not self._use_copy:
            self.execute(bulk.sql, values)
            return
        # psycopg's COPY, on the connection (and so in the transaction) SQLAlchemy holds.
        self.copy.write(self._conn.connection.dbapi_connection, bulk, values)

    def copy_data(self, statement: str, data: Iterable[bytes]) -> None:
        self.copy.end()
        copy_data(self._conn.connection.dbapi_connection, statement, data)

    def wrote(self, size: int) -> None:
        pass


def _driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the database driver's own error (psycopg's, raised by a COPY)."""
    return any(cls.__module__.split(".")[0] == "psycopg" and cls.__name__ == "Error" for cls in type(exc).__mro__)


def _holds_data(path: Path) -> bool:
    """Whether a SQLite path holds anything: a missing or empty file is no store yet."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def make_engine(location: StoreLocation) -> Engine:
    """The SQLAlchemy engine of a store, with vecstore's SQLite settings."""
    if location.sqlite_path is not None:
        try:
            location.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {location.sqlite_path.parent}: {exc}") from exc
    try:
        engine = create_engine(location.url)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot open the store {location.display()}: {error_text(exc)}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(conn: Connection) -> None:
    """Begin every transaction explicitly (SQLAlchemy's recipe for pysqlite, whose own
    handling sends no BEGIN before DDL, so a migration killed halfway would keep half its
    schema changes). ``vecstore_begin="IMMEDIATE"`` takes the write lock at once."""
    conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('vecstore_begin', '')}".strip())


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver begins nothing itself: _sqlite_begin does
    cursor = dbapi_connection.cursor()
    for pragma in (*PRAGMAS, f"PRAGMA busy_timeout = {int(driver.BUSY_TIMEOUT * 1000)}"):
        cursor.execute(pragma)
    cursor.close()
