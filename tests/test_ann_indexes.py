"""Approximate indexes (issue 12): each kind is built from the stored rows, measured,
persisted with a manifest and a checksummed footer, used by queries (which still print
exact cosines), checked, rebuilt when damaged, and a build that dies changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vecstore import InvalidArgumentError, Store
from vecstore.ann import build_approximate
from vecstore.cli.app import app
from vecstore.index.approximate import TUNING_LIMITS

runner = CliRunner()
RNG = np.random.default_rng(12)
CENTRES = RNG.normal(size=(200, 32)).astype(np.float32)
VECTORS = (CENTRES[RNG.integers(0, 200, 20_000)] + 0.35 * RNG.normal(size=(20_000, 32))).astype(np.float32)
WORDS = [f"w{i}" for i in range(len(VECTORS))]
FLOORS = {"hnsw": 0.95, "ivf": 0.95, "ivfpq": 0.90}


@pytest.fixture(scope="module")
def clustered_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ann") / "store.db"
    with Store(path) as store:
        store.import_vectors("points", WORDS, VECTORS, source="synthetic clusters", source_sha256="0" * 64)
    return path


@pytest.fixture
def points_store(clustered_store: Path, tmp_path: Path, backend: str) -> str:
    """A writable store holding the points: a copy of the SQLite one, or (on PostgreSQL)
    the default store, a fresh server database, with the points imported."""
    if backend == "postgresql":
        with Store() as store:
            store.import_vectors("points", WORDS, VECTORS, source="synthetic clusters", source_sha256="0" * 64)
            return store.location.url
    import shutil

    shutil.copy(clustered_store, tmp_path / "store.db")
    shutil.copytree(clustered_store.with_name("store.db.indexes"), tmp_path / "store.db.indexes")
    return str(tmp_path / "store.db")


def index_folder(location: str) -> Path:
    return Store(location).indexes.folder


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int, exclude: int | None = None) -> list[str]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ (query / np.linalg.norm(query))
    if exclude is not None:
        scores[exclude] = -np.inf
    return [WORDS[i] for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.mark.both_backends
@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivfpq"])
def test_each_kind_is_built_measured_persisted_and_used(points_store: str, kind: str) -> None:
    path = points_store
    with Store(path) as store:
        report = store.build_index("points", kind)
        assert report.recall_at_10 >= FLOORS[kind] and report.recall_sample == 1_000 and report.chosen
        listed = {r.kind: r for r in store.index_reports("points")}
        assert listed[kind].chosen and not listed["flat"].chosen and listed[kind].recall_at_10 == report.recall_at_10
    folder = index_folder(path)
    manifest = json.loads(next(folder.glob(f"*.{kind}.json")).read_text())
    assert manifest["recall_at_10"] == report.recall_at_10 and manifest["params"] == report.params
    with Store(path) as store:  # (a fresh process: loaded from disk, checked)
        points = store.get("points")
        assert points.approximate_index()[0].short == kind
        words = WORDS[:200]
        batch = points.neighbours_many(words, k=10)
        agree = 0
        for i, word in enumerate(words):
            hits = points.neighbours(word, k=10)
            assert hits == batch.results[i]  # (a batch answers as single queries do)
            stored = points.vectors_of_rows(points.rows_of([h.word for h in hits]))
            unit = stored / np.linalg.norm(stored, axis=1, keepdims=True)
            query = VECTORS[i] / np.linalg.norm(VECTORS[i])
            assert np.allclose([h.score for h in hits], unit @ query, atol=1e-6)  # (printed scores are exact)
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            agree += len({h.word for h in hits} & set(exact_top(VECTORS, VECTORS[i], 10, exclude=i)))
        assert agree / 2000 >= FLOORS[kind] - 0.05
        exact = points.neighbours(words[0], k=10, exact=True)
        assert [h.word for h in exact] == exact_top(VECTORS, VECTORS[0], 10, exclude=0)
        assert store.check().ok
        store.remove_index("points", kind)
        assert [r.kind for r in store.index_reports("points")] == ["flat"]


@pytest.mark.parametrize("edit", ["efSearch", "recall_at_10", "params"])
def test_an_edited_manifest_fails_its_index_as_a_flipped_byte_would(points_store: str, edit: str) -> None:
    """The footer binds the manifest's facts (they seed the block digests): an efSearch,
    a recall or a build parameter edited by hand is found by check and rebuilt, never used."""
    path = points_store
    with Store(path) as store:
        store.build_index("points", "hnsw", {"M": "8"})
    manifest_path = next(index_folder(path).glob("*.hnsw.json"))
    manifest = json.loads(manifest_path.read_text())
    changed = {"efSearch": {"search": {"efSearch": 7}}, "recall_at_10": {"recall_at_10": 1.0},
               "params": {"params": {**manifest["params"], "efConstruction": 81}}}[edit]
    manifest_path.write_text(json.dumps({**manifest, **changed}))
    with Store(path) as store:
        report = store.check()
        assert not report.ok and any("hnsw.faiss" in f.message and "fails its checksum" in f.message
                                     for f in report.findings), [f.line() for f in report.findings]
        points = store.get("points")
        assert points.approximate_index()[0].search == manifest["search"]  # (rebuilt with what it was built with)
        assert store.check().ok


@pytest.mark.both_backends
def test_a_damaged_index_is_found_by_check_and_rebuilt_by_a_query(points_store: str) -> None:
    path = points_store
    with Store(path) as store:
        store.build_index("points", "ivf", {"nlist": "64"})
    index_file = next(index_folder(path).glob("*.ivf.faiss"))
    data = bytearray(index_file.read_bytes())
    data[len(data) // 3] ^= 0xFF
    index_file.write_bytes(bytes(data))
    with Store(path) as store:
        report = store.check()
        assert not report.ok and any("ivf.faiss" in f.message and "checksum" in f.message for f in report.findings)
        points = store.get("points")
        assert points.neighbours("w1", k=5)  # (answers, after building the index again with its parameters)
        assert points.approximate_index()[0].params == {"nlist": 64}
        assert store.check().ok
    index_file.write_bytes(bytes(data))  # (damaged again: this time check repairs it)
    with Store(path) as store:
        assert store.check(repair=True).ok and store.check().ok
        assert [r.kind for r in store.index_reports("points")] == ["flat", "ivf"]


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivfpq"])
def test_an_index_whose_scores_disagree_with_the_stored_rows_is_rebuilt_and_never_printed(
        points_store: str, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    # An index that passes its checksums but scores hits unlike the stored rows (built
    # from other vectors, a FAISS bug): the warm single query, the cold one and a batch
    # all answer with the exact cosines of the stored rows; hnsw and ivf, whose scores
    # are cosines, are rebuilt; ivfpq's scores are approximate and only re-ranked.
    with Store(points_store) as store:
        store.build_index("points", kind)
        points = store.get("points")
        points.neighbours("w0", k=10, exact=False)  # (loaded)
        index = points.approximate_index()[1]
        real = index.search

        def off_by_a_tenth(x, k, **kw):
            scores, ids = real(x, k, **kw)
            return scores - 0.1, ids

        index.search = off_by_a_tenth
        asked = ["w1", "w2", "w3"]
        caplog.clear()
        singles = [points.neighbours(w, k=10, exact=False) for w in asked]
        batch = points.neighbours_many(asked, k=10, exact=False).results
        rebuilt = "disagrees with its stored vectors; rebuilding it" in caplog.text
        assert rebuilt == (kind != "ivfpq"), caplog.text
        unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
        for word, single, many in zip(asked, singles, batch, strict=True):
            row = WORDS.index(word)
            assert single == many and len(single) == 10
            for hit in single:
                assert abs(hit.score - float(unit[row] @ unit[WORDS.index(hit.word)])) < 1e-5


@pytest.mark.both_backends
def test_a_build_that_dies_leaves_the_previous_index_in_use(points_store: str) -> None:
    path = points_store
    with Store(path) as store:
        first = store.build_index("points", "hnsw", {"M": "8"})
        folder = index_folder(path)
        before = {p.name: p.read_bytes() for p in folder.iterdir()}

        def dies(done: int, total: int) -> None:
            if done > 5_000:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            build_approximate(store.get("points"), "hnsw", {"M": "16"}, progress=dies)
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
        assert store.get("points").approximate_index()[0].params == first.params


@pytest.mark.both_backends
def test_parameters_are_checked_and_named(points_store: str) -> None:
    path = points_store
    cases = {("--kind", "hnsw", "--param", "nlist=4"): "--param takes M, efConstruction, efSearch for hnsw",
             ("--kind", "hnsw", "--param", "M=2"): "--param M must be from 4 to 256, not 2",
             ("--kind", "ivf", "--param", "nlist=x"): "--param nlist must be a whole number, not 'x'",
             ("--kind", "ivfpq", "--param", "m=7"): "--param m must divide the set's 32 dimensions",
             ("--kind", "annoy",): ("--kind must be one of flat, hnsw, ivf, ivfpq, pgvector-hnsw, "
                                                      "pgvector-ivfflat")}
    for extra, message in cases.items():
        refused = runner.invoke(app, ["--store", str(path), "index", "build", "points", *extra])
        assert refused.exit_code == 2 and message in refused.output and refused.output.count("\n") == 1, extra
    exact_only = runner.invoke(app, ["--store", str(path), "neighbours", "w1", "--search-param", "efSearch=10"])
    assert exact_only.exit_code == 2 and "--search-param is for an approximate index" in exact_only.output
    built = runner.invoke(app, ["--store", str(path), "index", "build", "points", "--kind", "ivf", "--param",
                                "nlist=32", "--json"])
    assert built.exit_code == 0, built.output
    assert json.loads(built.stdout)["params"] == {"nlist": 32}
    wrong = runner.invoke(app, ["--store", str(path), "neighbours", "w1", "--search-param", "efSearch=10"])
    assert wrong.exit_code == 2 and "--search-param takes nprobe for the ivf index" in wrong.output
    wide = runner.invoke(app, ["--store", str(path), "neighbours", "w1", "--search-param", "nprobe=32", "--json"])
    exact = runner.invoke(app, ["--store", str(path), "neighbours", "w1", "--exact", "--json"])
    assert json.loads(wide.stdout) == json.loads(exact.stdout)  # (every list probed: the exact answer)
    listed = runner.invoke(app, ["--store", str(path), "index", "list"])
    assert "* points  ivf  nlist=32, nprobe=" in listed.stdout and "  points  flat  exact" in listed.stdout
    removed = runner.invoke(app, ["--store", str(path), "index", "remove", "points", "--kind", "ivf"])
    assert removed.exit_code == 0 and "removed the ivf index of points" in removed.stdout
    with pytest.raises(InvalidArgumentError, match="the flat index stays"):
        Store(path).remove_index("points", "flat")


def test_a_collection_keeps_its_index_across_adds(glove_store: Path, tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "store.db"
    shutil.copy(glove_store, path)
    words = ["king", "queen", "paris", "france", "music", "film", "river", "bank", "money", "school"]
    texts = [f"the {a} and the {b}" for a in words for b in words]
    with Store(path) as store:
        store.add_documents("notes", [str(i) for i in range(len(texts))], texts, set_name="glove")
        store.build_index("notes", "hnsw", {"M": "8"}, collection=True)
        store.add_documents("notes", ["extra"], ["the king of france"])
        kinds = {r.kind: r for r in store.index_reports() if r.collection}
        assert kinds["hnsw"].chosen and kinds["hnsw"].params["M"] == 8
        assert store.collection("notes").search("king of france", k=1)[0].id == "extra"
        notes = store.collection("notes")
        exact = notes.search("the river bank", k=10, exact=True)
        assert notes.search("the river bank", k=10, search={"efSearch": "512"}) == exact  # (a wide search: exact)
        assert notes.similar("extra", k=5, exact=True) == notes.similar("extra", k=5, search={"efSearch": "512"})
    wide = runner.invoke(app, ["--store", str(path), "docs", "search", "notes", "the river bank", "-k", "10",
                               "--search-param", "efSearch=512", "--json"])
    every_row = runner.invoke(app, ["--store", str(path), "docs", "search", "notes", "the river bank", "-k", "10",
                                    "--exact", "--json"])
    assert wide.exit_code == every_row.exit_code == 0 and json.loads(wide.stdout) == json.loads(every_row.stdout)
    wrong = runner.invoke(app, ["--store", str(path), "docs", "similar", "notes", "--id", "extra",
                                "--search-param", "nprobe=4"])
    assert wrong.exit_code == 2 and "--search-param takes efSearch for the hnsw index" in wrong.output


@pytest.mark.both_backends
def test_small_sets_and_large_k_are_answered_in_full() -> None:
    with Store() as store:
        store.import_vectors("small", WORDS[:300], VECTORS[:300], source="synthetic", source_sha256="1" * 64)
        with pytest.raises(InvalidArgumentError, match=r"set 'small' has 300 rows, and an ivfpq index needs 9,984 "
                                                       r"to train its 8-bit codes"):
            store.build_index("small", "ivfpq")
        store.build_index("small", "ivf", {"nlist": "7", "nprobe": "1"})
        small = store.get("small")
        assert small.approximate_index()[0].short == "ivf"
        wide = small.neighbours("w0", k=100)  # (one probed list holds fewer than 100: answered exactly)
        assert wide == small.neighbours("w0", k=100, exact=True) and len(wide) == 100
        many = small.neighbours_many(WORDS[:5], k=299)
        assert all(len(hits) == 299 for hits in many.results)


def test_batches_shrink_with_k_and_the_blas_setting_survives_overlaps() -> None:
    import faiss

    from vecstore.index.flat import blas_for_batches
    from vecstore.query import BATCH_HITS, QUERY_BATCH, query_batch

    assert query_batch(10) == QUERY_BATCH and query_batch(10_000) == BATCH_HITS // 10_001
    before = faiss.cvar.distance_compute_blas_threshold
    with blas_for_batches(5):
        with blas_for_batches(5):
            lowered = faiss.cvar.distance_compute_blas_threshold
        assert faiss.cvar.distance_compute_blas_threshold == lowered == min(before, 2)
    assert faiss.cvar.distance_compute_blas_threshold == before


@pytest.mark.both_backends
def test_a_build_widens_the_search_until_its_recall_reaches_the_target(points_store: str) -> None:
    """Defaults too narrow for a set are widened at build time, measured step by step; a
    query-time parameter the user gave is never changed."""
    with Store(points_store) as store:
        report = store.build_index("points", "hnsw", {"M": "6", "efConstruction": "16", "efSearch": "1"})
        assert report.search == {"efSearch": 1} and len(report.tuning) == 1  # (given: kept, whatever its recall)
        narrow = report.recall_at_10
        report = store.build_index("points", "hnsw", {"M": "6", "efConstruction": "16"})  # (a poor graph)
        steps = report.tuning
        assert steps[0]["search"] == {"efSearch": 64} and len(steps) >= 2
        assert [s["search"]["efSearch"] for s in steps] == [64 * 2 ** i for i in range(len(steps))]
        assert report.recall_at_10 == steps[-1]["recall_at_10"] >= 0.95 > steps[-2]["recall_at_10"]
        assert report.recall_at_10 > narrow
        listed = {r.kind: r for r in store.index_reports("points")}["hnsw"]
        assert listed.search == report.search and listed.tuning == steps
        assert store.get("points").approximate_index()[0].search == report.search  # (queries use it)
        hopeless = store.build_index("points", "hnsw", {"M": "4", "efConstruction": "8"})
        assert hopeless.search["efSearch"] == TUNING_LIMITS["efSearch"]  # (widened as far as it goes, and said)
        assert hopeless.recall_at_10 == hopeless.tuning[-1]["recall_at_10"]
    shown = runner.invoke(app, ["--store", points_store, "index", "list"])
    assert f"(from {hopeless.tuning[0]['recall_at_10']:.3f} at efSearch=64)" in shown.stdout
    manifest_path = next(index_folder(points_store).glob("*.hnsw.json"))
    manifest_path.write_text(json.dumps({**json.loads(manifest_path.read_text()), "tuning": ["junk"]}))
    shown = runner.invoke(app, ["--store", points_store, "index", "list"])  # (an edited manifest: no traceback)
    assert shown.exit_code == 0 and "(from" not in shown.stdout
