"""A PostgreSQL store at the head schema, through psycopg alone (no SQLAlchemy).

As the stdlib driver serves SQLite stores (:mod:`vecstore.storage.sqlite`), this one
serves a server store whose schema is current: a cold query then pays psycopg's import
and one connection, not SQLAlchemy's start-up and Alembic's look at the schema (half a
second together). A store that is missing, empty, older or newer goes through
:class:`~vecstore.storage.engine.EngineDriver`, which creates, migrates or refuses it.
The statements are the same (:mod:`vecstore.storage.statements`): their ``:name``
parameters are turned into psycopg's ``%(name)s`` once each.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from vecstore.storage.driver import LOCK_WRITERS, BulkCopy, Row, copy_data, store_error, writers_lock
from vecstore.storage.location import StoreLocation
from vecstore.storage.statements import REVISION, SCHEMA_HEAD, BulkRows

_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


@functools.lru_cache(maxsize=512)
def _psycopg_sql(sql: str) -> str:
    """``sql`` with ``:name`` parameters as psycopg's ``%(name)s`` (and ``%`` doubled)."""
    return _PARAMETER.sub(r"%(\1)s", sql.replace("%", "%%"))


def dsn_of(url: str) -> str:
    """A SQLAlchemy URL as libpq takes it (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


class PostgresDriver:
    """A server store at the head schema, through one psycopg connection."""

    dialect = "postgresql"

    def __init__(self, connection: Any, where: str) -> None:
        self._db = connection
        self.where = where

    @classmethod
    def open_if_current(cls, location: StoreLocation) -> PostgresDriver | None:
        """The driver for a server store at the head revision, or None (missing tables, or
        another revision: the SQLAlchemy side creates, migrates or refuses it; and a URL
        of another driver than psycopg's)."""
        if not re.match(r"^postgres(ql)?(\+psycopg)?://", location.url):
            return None
        try:
            import psycopg
        except ImportError:
            return None
        where = location.display()
        try:
            db = psycopg.connect(dsn_of(location.url), autocommit=True)
        except psycopg.Error as exc:
            raise store_error(exc, "open the store", where) from None
        try:
            found = db.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
            revision = db.execute(REVISION).fetchone() if found and found[0] else None
        except psycopg.Error as exc:
            db.close()
            raise store_error(exc, "open the store", where) from None
        if revision is None or revision[0] != SCHEMA_HEAD:
            db.close()
            return None
        return cls(db, where)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        import psycopg

        try:
            return _rows(self._db, sql, params)
        except psycopg.Error as exc:
            raise store_error(exc, "read the store", self.where) from None

    @contextmanager
    def transaction(self, action: str, lock: str | None = None) -> Iterator[_PostgresTransaction]:
        """One transaction, holding an advisory lock on ``lock`` (writers of one set name
        are serialised, as the SQLAlchemy driver does); rolled back on any error."""
        import psycopg

        try:
            with self._db.transaction():
                if lock is not None:
                    self._db.execute(_psycopg_sql(LOCK_WRITERS), writers_lock(lock))
                tx = _PostgresTransaction(self._db)
                with tx.copy.ended():
                    yield tx
        except psycopg.Error as exc:
            raise store_error(exc, action, self.where) from None

    def snapshot(self) -> nullcontext[None]:
        return nullcontext()  # (as the SQLAlchemy driver: each read one statement)

    def integrity_check(self) -> list[str]:
        return []  # a server checks its own files

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._db.close()


class _PostgresTransaction:
    dialect = "postgresql"

    def __init__(self, db: Any) -> None:
        self._db = db
        self.copy = BulkCopy()  # (its COPY stream: ended by the transaction)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        self.copy.end()
        return _rows(self._db, sql, params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.copy.end()
        self._db.execute(_psycopg_sql(sql), params or {})

    def add_row(self, bulk: BulkRows, values: Mapping[str, Any]) -> None:
        self.copy.write(self._db, bulk, values)

    def copy_data(self, statement: str, data: Iterable[bytes]) -> None:
        self.copy.end()
        copy_data(self._db, statement, data)

    def wrote(self, size: int) -> None:
        pass


def _rows(db: Any, sql: str, params: Mapping[str, Any] | None) -> list[Row]:
    cursor = db.execute(_psycopg_sql(sql), params or {})
    if cursor.description is None:
        return []
    names = [d.name for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

