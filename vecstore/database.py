"""Writing a store, and reading one SQLAlchemy-side: engine, migrations, transactions.

Every change to a store is one transaction: an import writes the set row, its vector
chunks and its word chunks and commits once, so a failed or killed import leaves the
store exactly as it was (SQLite's WAL rolls an unfinished transaction back on open).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from vecstore.catalog import (
    BUSY_TIMEOUT,
    SCHEMA_HEAD,
    SET_COLUMNS,
    Chunk,
    Completion,
    SetHeader,
    SetInfo,
    SetWriter,
    completed_values,
    error_text,
    name_taken,
    saved_info,
    set_info_from_row,
    store_error,
)
from vecstore.errors import ForeignDatabaseError, StoreError, StoreNotFoundError
from vecstore.location import StoreLocation
from vecstore.schema import embedding_sets, vector_chunks, word_chunks

log = logging.getLogger("vecstore")


class Database:
    """A store opened through SQLAlchemy, migrated to the newest schema on open.

    With ``create=False`` (a command that only reads) a store that does not exist yet is
    a :class:`StoreNotFoundError`, never a new empty store.
    """

    def __init__(self, location: StoreLocation, *, create: bool = True) -> None:
        self.location = location
        self._where = location.display()
        if not create and location.sqlite_path is not None and not _holds_data(location.sqlite_path):
            raise StoreNotFoundError(self._where)
        self.engine = _create_engine(location)
        try:
            self.upgraded_from = upgrade(self.engine, self._where, create=create)
        except BaseException:
            self.engine.dispose()
            raise

    # -- reading (the Catalog protocol) -------------------------------------------------

    def revision(self) -> str | None:
        with self._connect() as conn:
            return current_revision_of(conn)

    def list_sets(self) -> list[SetInfo]:
        cols = [embedding_sets.c[c] for c in SET_COLUMNS]
        return [set_info_from_row(r) for r in self._rows(select(*cols).order_by(embedding_sets.c.name))]

    def find_set(self, name: str) -> SetInfo | None:
        cols = [embedding_sets.c[c] for c in SET_COLUMNS]
        rows = self._rows(select(*cols).where(embedding_sets.c.name == name))
        return set_info_from_row(rows[0]) if rows else None

    def word_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[Chunk]:
        return self._chunks(word_chunks, set_id, chunk_nos)

    def vector_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[Chunk]:
        return self._chunks(vector_chunks, set_id, chunk_nos)

    def _chunks(self, table, set_id: int, chunk_nos: Sequence[int] | None) -> list[Chunk]:
        query = select(table.c.chunk_no, cast(table.c.data, LargeBinary), table.c.checksum).where(
            table.c.set_id == set_id)
        if chunk_nos is not None:
            query = query.where(table.c.chunk_no.in_(list(chunk_nos)))
        return [Chunk(int(n), bytes(d), str(c)) for n, d, c in self._rows(query.order_by(table.c.chunk_no))]

    def chunk_checksums(self, set_id: int) -> tuple[dict[int, str], dict[int, str]]:
        return tuple(  # type: ignore[return-value]
            {int(n): str(c) for n, c in self._rows(select(t.c.chunk_no, t.c.checksum).where(t.c.set_id == set_id))}
            for t in (vector_chunks, word_chunks))

    def _rows(self, query) -> list:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(query).all())
        except SQLAlchemyError as exc:
            raise store_error(exc, "read the store", self._where) from None

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ------------------------------------------------------------------------

    @contextmanager
    def writing(self, header: SetHeader, uid: str, *, replace: bool = False) -> Iterator[SetWriter]:
        values = header.row_values(uid)
        try:
            with self.engine.begin() as conn:
                _lock_name(conn, header.name)
                current = self._find_in(conn, header.name)  # again, now that the name is locked
                if current is not None:
                    name_taken(current, replace)
                    _delete_set(conn, current.id)
                set_id = conn.execute(insert(embedding_sets).values(**values)).inserted_primary_key[0]
                writer = _SetWriter(conn, set_id, values, current)
                yield writer
                if writer.info is None:
                    raise RuntimeError("the set's rows were written but finish() was not called")
        except SQLAlchemyError as exc:
            raise store_error(exc, f"write set {header.name!r} to", self._where) from None

    def delete_set(self, name: str) -> SetInfo | None:
        try:
            with self.engine.begin() as conn:
                _lock_name(conn, name)
                current = self._find_in(conn, name)
                if current is not None:
                    _delete_set(conn, current.id)
                return current
        except SQLAlchemyError as exc:
            raise store_error(exc, f"remove set {name!r} from", self._where) from None

    @staticmethod
    def _find_in(conn: Connection, name: str) -> SetInfo | None:
        cols = [embedding_sets.c[c] for c in SET_COLUMNS]
        row = conn.execute(select(*cols).where(embedding_sets.c.name == name)).first()
        return set_info_from_row(row) if row else None

    def save_stats(self, info: SetInfo, stats: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(update(embedding_sets).where((embedding_sets.c.id == info.id)
                                                          & (embedding_sets.c.uid == info.uid)).values(stats=stats))
        except SQLAlchemyError as exc:
            raise store_error(exc, f"update set {info.name!r} in", self._where) from None

    def _connect(self):
        try:
            return self.engine.connect()
        except SQLAlchemyError as exc:
            raise store_error(exc, "open the store", self._where) from None


def _lock_name(conn: Connection, name: str) -> None:
    """Serialise writers of one set name on PostgreSQL (SQLite's BEGIN IMMEDIATE already
    serialises every writer): an advisory lock held until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"vecstore set {name}"})


class _SetWriter:
    def __init__(self, conn: Connection, set_id: int, values: dict[str, Any], replaced: SetInfo | None) -> None:
        self._conn, self._set_id, self._values = conn, set_id, values
        self.replaced = replaced
        self.info: SetInfo | None = None

    def add_chunk(self, chunk_no: int, vectors: bytes | memoryview, words: bytes,
                  vectors_checksum: str, words_checksum: str) -> None:
        self._conn.execute(insert(vector_chunks).values(set_id=self._set_id, chunk_no=chunk_no, data=vectors,
                                                        checksum=vectors_checksum))
        self._conn.execute(insert(word_chunks).values(set_id=self._set_id, chunk_no=chunk_no, data=words,
                                                      checksum=words_checksum))

    def _where(self):
        return (vector_chunks.c.set_id == self._set_id) & (vector_chunks.c.chunk_no == bindparam("chunk"))

    def read_chunk(self, chunk_no: int) -> bytes:
        query = select(vector_chunks.c.data).where(self._where())
        return bytes(self._conn.execute(query, {"chunk": chunk_no}).scalar_one())

    def replace_chunk(self, chunk_no: int, vectors: bytes | memoryview, checksum: str) -> None:
        self._conn.execute(update(vector_chunks).where(self._where()).values(data=vectors, checksum=checksum),
                           {"chunk": chunk_no})

    def finish(self, done: Completion) -> SetInfo:
        self._conn.execute(update(embedding_sets).where(embedding_sets.c.id == self._set_id)
                           .values(count=done.count, source_sha256=done.source_sha256, stats=done.stats,
                                   content_checksum=done.content_checksum))
        self.info = saved_info(self._set_id, completed_values(self._values, done))
        return self.info


def _holds_data(path: Path) -> bool:
    """Whether a SQLite path holds anything: a missing or empty file is no store yet."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _delete_set(conn, set_id: int) -> None:
    conn.execute(delete(vector_chunks).where(vector_chunks.c.set_id == set_id))
    conn.execute(delete(word_chunks).where(word_chunks.c.set_id == set_id))
    conn.execute(delete(embedding_sets).where(embedding_sets.c.id == set_id))


def _create_engine(location: StoreLocation) -> Engine:
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


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # the driver begins nothing itself: _sqlite_begin does
    cursor = dbapi_connection.cursor()
    # 64 KiB pages (new stores only): a 1 MiB chunk spans 16 pages, not 256 (~20 % faster writes).
    cursor.execute("PRAGMA page_size = 65536")
    # WAL: readers (queries in other processes) never block on an import, and an
    # interrupted transaction is rolled back; FULL makes a commit survive power loss too
    # (measured: no slower than NORMAL for an import's single large transaction).
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
    cursor.close()


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
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


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
        # One transaction holding the write lock from its start: a migration killed or
        # failing (a full disk) halfway leaves the store as it was; two processes opening
        # an old store at once migrate it once, the second finding it done.
        with engine.connect().execution_options(vecstore_begin="IMMEDIATE") as conn, conn.begin():
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
