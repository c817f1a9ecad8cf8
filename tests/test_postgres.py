"""A PostgreSQL store (the SQLAlchemy backend) on a throw-away local cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import every_statement, write_lines

from vecstore import InputFileError, Store
from vecstore.storage.engine import EngineDriver


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    return postgres_database


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    with Store(postgres_url) as store:
        yield store
        for info in store.sets():
            store.remove(info.name)


def test_a_server_store_uses_sqlalchemy_and_a_local_index_cache(pg_store: Store, tmp_path: Path) -> None:
    assert pg_store.location.sqlite_path is None
    pg_store.import_file(write_lines(tmp_path / "w.txt", ["king 1 0", "queen 1 0.1", "apple 0 1"]), "w")
    assert isinstance(pg_store.open().driver, EngineDriver)
    assert pg_store.get("w").neighbours("king", k=1)[0].word == "queen"
    assert pg_store.indexes.folder.is_relative_to(tmp_path / "cache")  # the user's cache folder


def test_real_glove_in_postgres_answers_as_in_sqlite(pg_store: Store, glove_store: Path, glove_arrays) -> None:
    result = pg_store.import_builtin("glove-6b-50d", "glove")
    assert result.info.count == 400_000
    words, vectors = glove_arrays
    in_pg = pg_store.get("glove")
    assert in_pg.words == words
    assert np.array_equal(in_pg.matrix(), np.ascontiguousarray(vectors))
    with Store(glove_store) as sqlite_store:
        in_sqlite = sqlite_store.get("glove")
        for word in ("king", "frog", "paris"):
            assert in_pg.neighbours(word, k=10) == in_sqlite.neighbours(word, k=10)
    assert pg_store.import_builtin("glove-6b-50d", "glove").status == "unchanged"


def test_a_failed_import_leaves_a_server_store_unchanged(pg_store: Store, tmp_path: Path) -> None:
    pg_store.import_file(write_lines(tmp_path / "w.txt", ["a 1 2", "b 3 4"]), "w")
    before = [(s.name, s.uid, s.count) for s in pg_store.sets()]
    with pytest.raises(InputFileError, match=r"bad\.txt:2"):
        pg_store.import_file(write_lines(tmp_path / "bad.txt", ["a 1 2", "b 3"]), "w", replace=True)
    assert [(s.name, s.uid, s.count) for s in pg_store.sets()] == before
    assert pg_store.get("w").words == ["a", "b"]
    replaced = pg_store.import_file(write_lines(tmp_path / "v.txt", ["c 5 6"]), "w", replace=True)
    assert replaced.status == "replaced" and pg_store.get("w").words == ["c"]


def test_every_statement_runs_on_the_migrated_schema_in_postgres(pg_store: Store) -> None:
    """As on SQLite (tests/test_migrations.py): each statement prepared on the store the
    migrations made, here through SQLAlchemy's text() on PostgreSQL."""
    from sqlalchemy import text

    engine = pg_store.open(create=True).driver.engine  # type: ignore[attr-defined]
    statements = [s for s in every_statement() if "cast=True" not in s[0]]  # (CAST AS BLOB: SQLite only)
    for name, sql, params in [*statements, ("a column the migrations lack", "SELECT colour FROM embedding_sets", {})]:
        try:
            with engine.begin() as conn:
                conn.execute(text(f"EXPLAIN {sql}"), params).all()
        except Exception as exc:
            assert name == "a column the migrations lack" and "colour" in str(exc), f"{name}: {exc}"
        else:
            assert name != "a column the migrations lack", "EXPLAIN passed a statement on a missing column"


def test_a_collection_in_postgres_answers_as_in_sqlite(pg_store: Store, tmp_path: Path) -> None:
    words = ["the 1 0 0", "king 0.9 0.1 0", "queen 0.8 0.3 0", "frog 0 0 1", "toad 0 0.1 0.9"]
    sqlite_store = Store(tmp_path / "s.db")
    texts = ["the king", "the queen", "a frog", "a toad and a frog", "the king and the frog"]
    ids = [f"d{i}" for i in range(len(texts))]
    results = []
    for store in (pg_store, sqlite_store):
        store.import_file(write_lines(tmp_path / "w.txt", words), "w")
        report = store.add_documents("docs", ids, texts, set_name="w", pool="idf")
        assert (report.added, report.count) == (5, 5)
        assert store.add_documents("docs", ids, texts).unchanged == 5
        results.append([(h.id, round(h.score, 5)) for h in store.collection("docs").search("king", k=5)])
        assert store.remove_documents("docs", ["d4"]) == 4
        assert store.check().ok
        store.remove_collection("docs")
    assert results[0] == results[1]
