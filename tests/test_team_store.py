"""A team on one PostgreSQL store: indexes built once and fetched by every other machine,
a reader role, and imports running at once. Each "machine" is a cache folder of its own
(``XDG_CACHE_HOME``), as each person's is."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest
from conftest import write_lines

from vecstore import Store, StoreError
from vecstore.index import shared
from vecstore.storage import engine

rng = np.random.default_rng(7)
CENTRES = rng.normal(size=(40, 16))
VECTORS = (CENTRES[rng.integers(0, 40, 6_000)] + 0.3 * rng.normal(size=(6_000, 16))).astype(np.float32)
WORDS = [f"p{i}" for i in range(len(VECTORS))]


def on_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> Path:
    cache = tmp_path / f"machine-{name}"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def cached_index(store: Store, kind: str) -> Path:
    return store.indexes.approximate_paths(store.get("points").info.uid, kind)[0]


@pytest.fixture
def team(postgres_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A server store holding the points, and their hnsw index built and shared by machine a."""
    on_machine(monkeypatch, tmp_path, "a")
    with Store(postgres_database) as store:
        store.import_vectors("points", WORDS, VECTORS, source="synthetic clusters", source_sha256="0" * 64)
        store.build_index("points", "hnsw")
    return postgres_database


def test_an_index_built_on_one_machine_is_fetched_not_rebuilt_on_another(
        team: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with Store(team) as a:
        built = cached_index(a, "hnsw").read_bytes()
        answers_a = [a.get("points").neighbours(w, k=10) for w in WORDS[:50]]
    on_machine(monkeypatch, tmp_path, "b")

    def no_build(*_args, **_kwargs):
        raise AssertionError("machine b built the index instead of fetching it")

    monkeypatch.setattr("vecstore.index.approximate.ApproximateKind.build", no_build)
    with Store(team) as b:
        assert not cached_index(b, "hnsw").exists()
        listed = b.index_reports("points")  # (what the store keeps, listed without fetching it)
        assert [(r.kind, r.chosen) for r in listed] == [("flat", False), ("hnsw", True)] and listed[1].file_size > 0
        assert not cached_index(b, "hnsw").exists()
        points = b.get("points")
        answers_b = [points.neighbours(w, k=10) for w in WORDS[:50]]
        assert points.approximate_index()[0].short == "hnsw"
        assert cached_index(b, "hnsw").read_bytes() == built  # byte for byte what a built
        assert answers_b == answers_a
    # The cache serves the next process: nothing fetched again.
    monkeypatch.setattr(shared, "_download", lambda *_a: (_ for _ in ()).throw(AssertionError("fetched again")))
    with Store(team) as b:
        assert b.get("points").approximate_index()[0].short == "hnsw"


def test_a_rebuild_anywhere_replaces_every_cached_copy(team: str, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    on_machine(monkeypatch, tmp_path, "b")
    with Store(team) as b:
        b.get("points").approximate_index()
        first = hashlib.sha256(cached_index(b, "hnsw").read_bytes()).hexdigest()
        b.build_index("points", "hnsw", {"M": "16"})  # b builds again, with other parameters
    on_machine(monkeypatch, tmp_path, "a")
    with Store(team) as a:
        kind, _ = a.get("points").approximate_index()
        assert kind.params["M"] == 16
        assert hashlib.sha256(cached_index(a, "hnsw").read_bytes()).hexdigest() != first


def test_a_damaged_copy_in_the_cache_is_fetched_again(team: str, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    on_machine(monkeypatch, tmp_path, "b")
    with Store(team) as b:
        b.get("points").approximate_index()
        path = cached_index(b, "hnsw")
        good = path.read_bytes()
        damaged = bytearray(good)
        damaged[len(damaged) // 2] ^= 0xFF
        path.write_bytes(bytes(damaged))
    monkeypatch.setattr("vecstore.index.approximate.ApproximateKind.build",
                        lambda *_a, **_k: (_ for _ in ()).throw(AssertionError("rebuilt")))
    with Store(team) as b:
        assert b.get("points").approximate_index()[0].short == "hnsw"
        assert cached_index(b, "hnsw").read_bytes() == good


@pytest.mark.parametrize("damage", ["chunk", "sha256", "size", "manifest"])
def test_a_damaged_copy_in_the_store_is_never_used(team: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture, damage: str) -> None:
    plain = team.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as db:
        if damage == "chunk":
            db.execute("UPDATE shared_index_chunks SET data = set_byte(data, 100, (get_byte(data, 100) + 1) % 256) "
                       "WHERE chunk_no = 0")
        elif damage == "sha256":
            db.execute("UPDATE shared_indexes SET sha256 = repeat('0', 64)")
        elif damage == "size":
            db.execute("UPDATE shared_indexes SET size = size + 1")
        else:
            db.execute("UPDATE shared_indexes SET manifest = '[]'")
    on_machine(monkeypatch, tmp_path, "b")
    with caplog.at_level(logging.WARNING, logger="vecstore"), Store(team) as b:
        points = b.get("points")
        assert points.approximate_index() is None  # searched exactly, not through a bad file
        assert points.neighbours("p1", k=3) == points.neighbours("p1", k=3, exact=True)
        assert not cached_index(b, "hnsw").exists()
        assert not [p for p in b.indexes.folder.iterdir() if "tmp" in p.name]
        found = b.check()
        assert not found.ok and any("its shared hnsw index in the store" in f.message for f in found.findings)
        assert b.check(repair=True).ok and b.check().ok  # (the bad copy removed: the next build shares one)
        assert b.open().shared_indexes(points.info.id) == []
    assert "not using the shared hnsw index of points" in caplog.text


def test_removing_an_index_or_its_set_removes_the_shared_copy(team: str) -> None:
    plain = team.replace("postgresql+psycopg://", "postgresql://")

    def kept() -> tuple[int, int]:
        with psycopg.connect(plain) as db:
            return (db.execute("SELECT count(*) FROM shared_indexes").fetchone()[0],
                    db.execute("SELECT count(*) FROM shared_index_chunks").fetchone()[0])

    assert kept()[0] == 1 and kept()[1] >= 1
    with Store(team) as store:
        store.remove_index("points", "hnsw")  # (IndexNotFoundError if it had none)
        assert kept() == (0, 0)
        store.build_index("points", "ivf")
        assert kept()[0] == 1
        store.remove("points")
    assert kept() == (0, 0)


def test_a_reader_role_queries_and_fetches_but_cannot_write(team: str, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The README's team recipe: a reader needs CONNECT and SELECT, nothing else."""
    plain = team.replace("postgresql+psycopg://", "postgresql://")
    database = team.rsplit("/", 1)[1]
    with psycopg.connect(plain, autocommit=True) as db:
        db.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') THEN "
                   "CREATE ROLE reader LOGIN; END IF; END $$")
        db.execute(f"GRANT CONNECT ON DATABASE {database} TO reader")
        db.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    as_reader = team.replace("://vecstore@", "://reader@")
    on_machine(monkeypatch, tmp_path, "reader")
    with Store(as_reader) as store:
        points = store.get("points")
        assert points.approximate_index()[0].short == "hnsw"  # fetched with SELECT alone
        assert points.neighbours("p1", k=3)
        with caplog.at_level(logging.WARNING, logger="vecstore"):
            store.build_index("points", "ivf")  # built and kept here; the store cannot take it
        assert "the ivf index of points is kept on this machine only" in caplog.text
    with Store(as_reader) as store:  # (its own build is newer than the store's hnsw: it answers here)
        assert store.get("points").approximate_index()[0].short == "ivf"
        assert [(r.kind, r.chosen) for r in store.index_reports("points")] == [("flat", False), ("ivf", True),
                                                                              ("hnsw", False)]
    with Store(as_reader) as store, pytest.raises(StoreError, match="permission denied"):
        store.import_file(write_lines(tmp_path / "w.txt", ["a 1 2"]), "w")
    with Store(team) as store:
        assert [s.name for s in store.sets()] == ["points"]


def import_process(url: str, path: Path, name: str, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    command = [str(Path(sys.executable).with_name("vecstore")), "--store", url, "import", str(path), "--name", name]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def big_text(path: Path, seed: int) -> Path:
    """A text file that takes a while to import (so that two imports overlap)."""
    values = np.random.default_rng(seed).normal(size=(60_000, 50)).round(4)
    with path.open("w") as f:
        for i, row in enumerate(values):
            f.write(f"w{i} " + " ".join(map(str, row)) + "\n")
    return path


def test_imports_at_once_different_names_both_land_the_same_name_one_wins(postgres_database: str,
                                                                          tmp_path: Path) -> None:
    first, second = big_text(tmp_path / "one.txt", 1), big_text(tmp_path / "two.txt", 2)
    runs = [import_process(postgres_database, first, "one", tmp_path / "c1"),
            import_process(postgres_database, second, "two", tmp_path / "c2")]
    assert [p.wait(timeout=300) for p in runs] == [0, 0], [p.stderr.read() for p in runs]
    runs = [import_process(postgres_database, first, "same", tmp_path / "c1"),
            import_process(postgres_database, second, "same", tmp_path / "c2")]
    codes = [p.wait(timeout=300) for p in runs]
    errors = [p.stderr.read() for p in runs]
    assert sorted(codes) == [0, 1], errors
    loser = errors[codes.index(1)]
    assert "'same'" in loser and ("already" in loser or "another process" in loser), loser
    assert len(loser.strip().splitlines()) == 1 and "Traceback" not in loser
    with Store(postgres_database) as store:
        assert [(s.name, s.count) for s in store.sets()] == [("one", 60_000), ("same", 60_000), ("two", 60_000)]
        winner = [first, second][codes.index(0)]
        assert store.get("same").vector("w5").tolist() == store.get(
            "one" if winner == first else "two").vector("w5").tolist()


def test_copy_and_insert_write_the_same_set(postgres_database: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """COPY (the default on PostgreSQL) and one INSERT a row store the same chunks."""
    path = big_text(tmp_path / "w.txt", 3)
    with Store(postgres_database) as store:
        store.import_file(path, "by_copy")
        monkeypatch.setattr(engine, "USE_COPY", False)
        store.import_file(path, "by_insert")
        a, b = store.get("by_copy"), store.get("by_insert")
        assert a.words == b.words and np.array_equal(a.matrix(), b.matrix())
        assert store.check().ok  # (every chunk's checksum, and each set's content checksum)


def test_a_writer_role_imports_builds_and_shares_with_table_rights_alone(postgres_database: str,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    """The README's team recipe: the owner made the tables; a writer needs CONNECT, the four
    table rights and the sequences, no right to create anything."""
    plain = postgres_database.replace("postgresql+psycopg://", "postgresql://")
    database = postgres_database.rsplit("/", 1)[1]
    Store(postgres_database).upgrade()  # (the owner: creates the tables)
    with psycopg.connect(plain, autocommit=True) as db:
        db.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'writer') THEN "
                   "CREATE ROLE writer LOGIN; END IF; END $$")
        db.execute(f"GRANT CONNECT ON DATABASE {database} TO writer")
        db.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO writer")
        db.execute("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO writer")
    as_writer = postgres_database.replace("://vecstore@", "://writer@")
    on_machine(monkeypatch, tmp_path, "writer")
    with Store(as_writer) as store:
        store.import_vectors("points", WORDS, VECTORS, source="synthetic clusters", source_sha256="0" * 64)
        store.build_index("points", "ivf")
        assert [s.kind for s in store.open().shared_indexes(store.get("points").info.id)] == ["ivf"]
        store.add_documents("notes", ["a", "b"], ["p1 p2", "p3"], set_name="points")
        assert store.collection("notes").search("p1", k=1)[0].id == "a"
        assert store.check().ok
        store.remove_collection("notes")
        store.remove("points")
        assert store.sets() == []


def test_clients_opening_a_new_server_store_at_once_create_it_once(postgres_database: str) -> None:
    """Each opening migrates an empty database; at once, they wait for one another."""
    import threading

    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            with Store(postgres_database) as store:
                store.upgrade()
        except BaseException as exc:  # (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    from vecstore.storage.statements import SCHEMA_HEAD

    assert Store(postgres_database).upgrade() == (SCHEMA_HEAD, SCHEMA_HEAD)


def test_an_index_removed_on_one_machine_goes_from_every_cache(team: str, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    on_machine(monkeypatch, tmp_path, "b")
    with Store(team) as b:
        assert b.get("points").approximate_index()[0].short == "hnsw"
        b.add_documents("notes", ["a", "b", "c"], ["p1 p2", "p3", "p4 p5"], set_name="points")
        b.build_index("notes", "hnsw", {"M": "8"}, collection=True)
    on_machine(monkeypatch, tmp_path, "a")
    with Store(team) as a:
        a.remove_index("points", "hnsw")  # (each raises IndexNotFoundError if it had none)
        a.remove_index("notes", "hnsw", collection=True)
    on_machine(monkeypatch, tmp_path, "b")
    with Store(team) as b:
        assert b.get("points").approximate_index() is None and not cached_index(b, "hnsw").exists()
        b.add_documents("notes", ["d"], ["p6"])  # (its rebuild must not bring the removed index back)
        assert [r.kind for r in b.index_reports() if r.collection] == ["flat"]
        assert b.open().shared_indexes(b.collection("notes").vectors().info.id) == []


def test_a_fetch_that_cannot_write_or_meets_a_new_share_still_answers(team: str, monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    on_machine(monkeypatch, tmp_path, "b")

    def disk_full(*_args) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m, caplog.at_level(logging.WARNING, logger="vecstore"), Store(team) as b:
        m.setattr(shared, "_write_chunks", disk_full)
        points = b.get("points")
        assert points.approximate_index() is None  # (searched exactly)
        assert points.neighbours("p1", k=3) == points.neighbours("p1", k=3, exact=True)
        assert not [p for p in b.indexes.folder.iterdir() if "tmp" in p.name]
    assert "cannot fetch the shared hnsw index of points" in caplog.text and "No space left" in caplog.text
    real, calls = shared._download, []

    def shared_again_meanwhile(catalog, folder, info, found) -> None:
        if not calls:  # another machine shares a new build while this one reads the old
            calls.append(found.id)
            with Store(team) as other:
                other.build_index("points", "hnsw", {"M": "16"})
            raise shared.DerivedFileError("its chunk 1 is missing from the store")
        real(catalog, folder, info, found)

    monkeypatch.setattr(shared, "_download", shared_again_meanwhile)
    with Store(team) as b:
        assert b.get("points").approximate_index()[0].params["M"] == 16


def test_a_failed_copy_is_one_line_and_leaves_the_store_unchanged(postgres_database: str, tmp_path: Path) -> None:
    # The server refuses the vectors' COPY part-way (a trigger: deterministic, where a
    # statement timeout raced a COPY that can finish in 20 ms).
    import psycopg

    from vecstore.storage.postgres import dsn_of

    path = big_text(tmp_path / "w.txt", 4)
    with Store(postgres_database) as store:
        store.upgrade()
    with psycopg.connect(dsn_of(postgres_database), autocommit=True) as db:
        db.execute("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.chunk_no >= 1 THEN "
                   "RAISE EXCEPTION 'refused chunk %', NEW.chunk_no; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON vector_chunks FOR EACH ROW EXECUTE FUNCTION refuse()")
    with Store(postgres_database) as store, pytest.raises(StoreError, match="refused chunk 1"):
        store.import_file(path, "w")
    done = subprocess.run([str(Path(sys.executable).with_name("vecstore")), "--store", postgres_database, "import",
                           str(path)], capture_output=True, text=True)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "refused chunk 1" in done.stderr, done.stderr
    with Store(postgres_database) as store:
        assert store.sets() == []
