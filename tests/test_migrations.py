"""The schema: Alembic migrations are the one definition; the statements and the fast reader are\npinned to them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import every_statement, write_lines
from sqlalchemy import create_engine

from vecstore import Store, StoreError
from vecstore.errors import StoreNotFoundError
from vecstore.storage.migrate import head_revision
from vecstore.storage.sqlite import SqliteDriver
from vecstore.storage.statements import SCHEMA_HEAD


def test_fast_reader_revision_is_the_alembic_head() -> None:
    assert head_revision() == SCHEMA_HEAD


def test_every_statement_runs_on_the_migrated_schema(tmp_path: Path) -> None:
    """The migrations are the schema's one definition: every statement the code runs is
    prepared on a store they made (an unknown table or column fails here)."""
    path = tmp_path / "s.db"
    Store(path).upgrade()
    statements = every_statement()
    assert len(statements) > 20
    with sqlite3.connect(path) as db:
        for name, sql, params in statements:
            try:
                db.execute(f"EXPLAIN {sql}", params).fetchall()
            except sqlite3.Error as exc:
                raise AssertionError(f"{name}: {exc}: {sql}") from None


def test_a_statement_on_a_column_the_migrations_lack_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).upgrade()
    with sqlite3.connect(path) as db, pytest.raises(sqlite3.OperationalError, match="no such column"):
        db.execute("EXPLAIN SELECT colour FROM embedding_sets WHERE name = :name", {"name": "x"})


def test_reading_never_creates_a_store_and_the_first_write_does(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "s.db"
    with pytest.raises(StoreNotFoundError, match=f"no store at {path}"):
        Store(path).sets()
    assert not path.parent.exists()
    assert not Store(path).exists()
    assert Store(path).upgrade() == (None, SCHEMA_HEAD)
    assert Store(path).sets() == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_HEAD,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_reader_declines_a_store_at_another_revision(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).upgrade()
    assert SqliteDriver.open_if_current(path) is not None
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffff'")
    assert SqliteDriver.open_if_current(path) is None
    with pytest.raises(StoreError, match="schema is at revision 'ffff', which this vecstore does not know"):
        Store(path).sets()


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database " * 100)
    with pytest.raises(StoreError, match=f"^{path} is not a readable vecstore store \\(file is not a database\\)"):
        Store(path).sets()


def test_a_store_at_revision_0001_is_migrated_and_keeps_its_sets(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from vecstore.storage.migrate import migrations_dir

    path = tmp_path / "old.db"
    with Store(path) as store:
        (tmp_path / "v.txt").write_text("a 1 2\nb 3 4\n")
        store.import_file(tmp_path / "v.txt", "v")
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")  # as a store written by the previous vecstore
    engine.dispose()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        assert "stats" not in [r[1] for r in db.execute("PRAGMA table_info(embedding_sets)")]
    with Store(path) as store:  # opening migrates it
        embedding_set = store.get("v")
        assert embedding_set.info.stats is None and embedding_set.info.parent_uid is None
        assert embedding_set.vector("b").tolist() == [3.0, 4.0]
        assert embedding_set.stats().mean.tolist() == [2.0, 3.0]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_HEAD,)


MIGRATE_THEN_DIE = """
import os, signal, sys
import vecstore.integrity as integrity
real, seen = integrity.chunk_digest, []
def digest_then_die(*args, **kwargs):
    seen.append(1)
    if len(seen) == 2:  # halfway through 0003's copy of the chunks (after the vectors, before the words)
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
integrity.chunk_digest = digest_then_die
from vecstore import Store
Store(sys.argv[1]).sets()
"""


def test_a_migration_killed_halfway_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from alembic import command
    from alembic.config import Config

    from vecstore.storage.migrate import migrations_dir

    path = tmp_path / "old.db"
    with Store(path) as store:
        store.import_file(write_lines(tmp_path / "v.txt", [f"w{i} {i} 1 2" for i in range(30_000)]), "v")
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")  # as a store written before the checksums
    engine.dispose()
    with sqlite3.connect(path) as db:
        tables = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    killed = subprocess.run([sys.executable, "-c", MIGRATE_THEN_DIE, str(path)])
    assert killed.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as db:  # nothing of the half-done migration: the same tables, revision 0002
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)
        assert sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")) == tables
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Store(path) as store:  # the next open migrates it, whole
        assert store.get("v").vector("w7").tolist() == [7.0, 1.0, 2.0]
        assert store.check().ok
