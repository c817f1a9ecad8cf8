"""Applying the Alembic migrations (``migrations/``) to a store.

Migrating is explicit: opening a store (:mod:`vecstore.storage.opening`) or
``Store.upgrade()`` runs it, nothing else does. Alembic is imported only when a
migration has to run (its import costs 0.3 s).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from vecstore.errors import ForeignDatabaseError, StoreError, StoreNotFoundError
from vecstore.storage.driver import store_error
from vecstore.storage.statements import REVISION, SCHEMA_HEAD

log = logging.getLogger("vecstore")


def migrations_dir() -> Path:
    import vecstore.migrations

    return Path(vecstore.migrations.__file__).parent


def head_revision() -> str:
    """The newest revision among the shipped migrations."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision_of(conn: Connection) -> str | None:
    """The store's Alembic revision, read with plain SQL (importing Alembic costs 0.3 s)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text(REVISION)).scalar()


def upgrade(engine: Engine, where: str, *, create: bool = True) -> str | None:
    """Apply the shipped migrations up to head; return the revision the store was at before.

    Returns the head itself when nothing had to be done. Without ``create``, a database
    holding no store yet is a :class:`StoreNotFoundError`; a SQLite file holding another
    program's tables is refused either way.
    """
    try:
        with engine.connect() as conn:
            before = current_revision_of(conn)
            tables = set(inspect(conn).get_table_names()) if before is None else set()
    except SQLAlchemyError as exc:
        raise store_error(exc, "open the store", where) from None
    if before == SCHEMA_HEAD:  # pinned to the Alembic head by tests/test_migrations.py
        return before
    if before is None:
        if engine.dialect.name == "sqlite" and tables - {"sqlite_sequence"}:
            raise ForeignDatabaseError(where, sorted(tables))
        if not create:
            raise StoreNotFoundError(where)
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    head = None
    try:
        head = head_revision()
        config = Config()
        config.set_main_option("script_location", str(migrations_dir()))
        # One transaction holding the write lock (SQLite) or an advisory lock (PostgreSQL)
        # from its start: a migration killed or failing (a full disk) halfway leaves the
        # store as it was; two processes opening a new or old store at once migrate it
        # once, the second finding it done.
        with engine.connect().execution_options(vecstore_begin="IMMEDIATE") as conn, conn.begin():
            if engine.dialect.name == "postgresql":  # (PostgreSQL's counterpart of SQLite's write lock)
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('vecstore migrate'))"))
            before = current_revision_of(conn)
            if before != SCHEMA_HEAD:
                if before is not None:
                    log.warning("migrating the store %s from schema %s to %s (once; a large store takes a while)",
                                where, before, head)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
    except CommandError as exc:
        raise StoreError(f"the store's schema is at revision {before!r}, which this vecstore does not know "
                         f"(its newest is {head!r}); upgrade vecstore ({exc})") from None
    except SQLAlchemyError as exc:
        raise store_error(exc, "migrate the store", where) from None
    return before
