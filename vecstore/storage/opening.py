"""Opening a store: the fast stdlib driver when it can serve, SQLAlchemy when it must.

A SQLite store at the head schema opens with :class:`~vecstore.storage.sqlite.SqliteDriver`,
a PostgreSQL one with :class:`~vecstore.storage.postgres.PostgresDriver` (no SQLAlchemy
import either way). A missing, empty or older store goes through
:class:`~vecstore.storage.engine.EngineDriver`, which creates (if asked) and migrates it;
a SQLite store is then read and written with the stdlib driver from there on.
"""

from __future__ import annotations

from vecstore.errors import StoreError
from vecstore.io.files import special_file_kind
from vecstore.storage.catalog import Catalog
from vecstore.storage.location import StoreLocation
from vecstore.storage.sqlite import SqliteDriver


def open_catalog(location: StoreLocation, *, create: bool) -> tuple[Catalog, str | None]:
    """The store's catalog, and the schema revision it was at before (migrated if older).

    Without ``create`` a store that does not exist is a
    :class:`~vecstore.errors.StoreNotFoundError`.
    """
    path = location.sqlite_path
    if path is not None and path.exists():
        kind = special_file_kind(path.stat().st_mode)
        if kind is not None:
            raise StoreError(f"{location.display()} is {kind}; a store is a regular file (give its path)")
    if path is not None:
        fast = SqliteDriver.open_if_current(path)
    else:  # (a server store at the head schema: psycopg alone, no SQLAlchemy)
        from vecstore.storage.postgres import PostgresDriver

        fast = PostgresDriver.open_if_current(location)
    if fast is not None:
        from vecstore.storage.statements import SCHEMA_HEAD

        return Catalog(fast), SCHEMA_HEAD
    from vecstore.storage.engine import EngineDriver

    engine = EngineDriver(location, create=create)
    if path is not None:  # created or migrated: read and write it fast from now on
        fast = SqliteDriver.open_if_current(path)
        if fast is not None:
            engine.close()
            return Catalog(fast), engine.upgraded_from
    return Catalog(engine), engine.upgraded_from
