"""Batch queries (issue 12): many words or vectors in one call give exactly the answers of
one query at a time, unknown words are reported rather than fatal, and the command
streams its answers."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from typer.testing import CliRunner

import vecstore.query
from vecstore import InvalidArgumentError
from vecstore.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def glove(glove_anywhere):
    """The real GloVe on each backend (SQLite, PostgreSQL): every test here that reads it runs on both."""
    return glove_anywhere



def test_many_words_answer_as_one_word_at_a_time(glove, monkeypatch: pytest.MonkeyPatch) -> None:
    words = glove.words
    rng = np.random.default_rng(5)
    asked = [words[i] for i in rng.choice(len(words), 60, replace=False)] + ["king", "king", "not-a-word-zz", "the"]
    monkeypatch.setattr(vecstore.query, "QUERY_BATCH", 7)  # (several batches, one cut through the duplicates)
    batch = glove.neighbours_many(asked, k=10)
    assert batch.queries == asked and batch.unknown == ["not-a-word-zz"]
    for word, hits in zip(asked, batch.results, strict=True):
        if word == "not-a-word-zz":
            assert hits is None
        else:
            assert hits == glove.neighbours(word, k=10), word  # (same words, same float scores)
    listed = batch.to_list()
    assert listed[-2] == {"word": "not-a-word-zz", "neighbours": None}
    assert listed[0]["neighbours"][0] == batch.results[0][0].to_dict()


def test_many_vectors_answer_as_one_vector_at_a_time(glove) -> None:
    vectors = np.random.default_rng(1).normal(size=(25, glove.dim)).astype(np.float32)
    batch = glove.neighbours_many(vectors=vectors, k=5)
    assert [batch.results[i] for i in range(25)] == [glove.neighbours(vector=v, k=5) for v in vectors]
    assert batch.to_list()[3]["vector"] == 3
    assert glove.neighbours_many([], k=3).results == []
    with pytest.raises(InvalidArgumentError, match=r"needs \(n, 50\)"):
        glove.neighbours_many(vectors=vectors[:, :10])
    with pytest.raises(InvalidArgumentError, match="not finite"):
        glove.neighbours_many(vectors=np.full((2, glove.dim), np.nan, dtype=np.float32))
    with pytest.raises(InvalidArgumentError, match="from 1 to"):
        glove.neighbours_many(["king"], k=0)


def test_a_batch_search_uses_blas_and_restores_faiss_setting(glove, monkeypatch: pytest.MonkeyPatch) -> None:
    import vecstore.index.exact as exact

    seen = []
    real_knn = exact._knn

    def spy(queries, unit_rows, k):  # (FAISS's exact search of one block of rows)
        seen.append((len(queries), faiss.cvar.distance_compute_blas_threshold))
        return real_knn(queries, unit_rows, k)

    monkeypatch.setattr(exact, "_knn", spy)
    before = faiss.cvar.distance_compute_blas_threshold
    glove.neighbours_many(glove.words[:30], k=3)
    blocks = -(-len(glove) // exact.BLOCK_ROWS)
    assert seen == [(30, min(before, 2))] * blocks and faiss.cvar.distance_compute_blas_threshold == before


def test_the_command_reads_words_or_vectors_and_reports_unknown_words(glove_store: Path, tmp_path: Path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("king\nzzqx\nparis\n")
    done = runner.invoke(app, ["--store", str(glove_store), "neighbours", "--input", str(words), "-k", "2", "--json"])
    assert done.exit_code == 0, done.output
    answers = json.loads(done.stdout)
    assert [a["word"] for a in answers] == ["king", "zzqx", "paris"] and answers[1]["neighbours"] is None
    assert [n["word"] for n in answers[0]["neighbours"]] == ["prince", "queen"]
    assert "1 of 3 words is not in set 'glove': zzqx" in done.stderr
    plain = runner.invoke(app, ["--store", str(glove_store), "neighbours", "--input", str(words), "-k", "2"])
    assert plain.stdout.splitlines()[0].startswith("king: prince 0.82") and "zzqx: (not in the set)" in plain.stdout
    vectors = tmp_path / "q.npy"
    np.save(vectors, np.random.default_rng(2).normal(size=(3, 50)).astype(np.float32))
    done = runner.invoke(app, ["--store", str(glove_store), "neighbours", "--vectors", str(vectors), "--json"])
    assert done.exit_code == 0, done.output
    assert [a["vector"] for a in json.loads(done.stdout)] == [0, 1, 2]
    bad = {"a text file": (words, "not a .npy file"),
           "a 1-D array": (tmp_path / "flat.npy", "expected a 2-D float array"),
           "pickled objects": (tmp_path / "objects.npy", "not a .npy array file")}
    np.save(tmp_path / "flat.npy", np.zeros(3))
    late_nan = np.ones((12, 50), dtype=np.float32)
    late_nan[11, 7] = np.nan
    np.save(tmp_path / "nan.npy", late_nan)
    np.save(tmp_path / "huge.npy", np.full((2, 50), 1e39))
    bad["a NaN in row 11"] = (tmp_path / "nan.npy", "row 11 holds a value that is not a finite number")
    bad["float64 beyond float32"] = (tmp_path / "huge.npy", "row 0 holds a value beyond float32's range")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    for name, (path, message) in bad.items():
        refused = runner.invoke(app, ["--store", str(glove_store), "neighbours", "--vectors", str(path)])
        assert refused.exit_code == 1 and message in refused.output and refused.output.count("\n") == 1, name
    both = runner.invoke(app, ["--store", str(glove_store), "neighbours", "king", "--input", str(words)])
    assert both.exit_code == 2 and "give one of" in both.output  # (options that do not go together: usage)


def test_the_batch_json_is_what_json_dumps_writes_for_any_word_and_score() -> None:
    # The batch's JSON lines are written by hand (for speed): for words holding quotes,
    # backslashes, control characters, non-ASCII and lone surrogates, and for scores JSON
    # cannot write as numbers, each line equals json.dumps of the item and parses back.
    from vecstore.cli.output import neighbours_json_lines
    from vecstore.query import BatchNeighbours, Neighbour

    odd = ['say "hi"', "back\\slash", "tab\there", "line\nfeed", "\x00\x1f\x7f", "café", "日本", "\U0001f600",
           "\udce9", "", " "]
    scores = [0.8236, -1.0, 0.0, -0.0, 1e-45, 0.1 + 0.2, float(np.float32(0.7839)), float("nan"), float("inf")]
    rng = np.random.default_rng(3)
    results: list[list[Neighbour] | None] = []
    for i in range(60):
        if i % 7 == 3:
            results.append(None)
            continue
        count = int(rng.integers(0, 4))
        results.append([Neighbour(odd[int(rng.integers(len(odd)))], scores[int(rng.integers(len(scores)))])
                        for _ in range(count)])
    for vectors in (False, True):
        queries = [f"#{i}" for i in range(60)] if vectors else [odd[i % len(odd)] for i in range(60)]
        answers = BatchNeighbours(queries, results, vectors=vectors)
        expected = answers.to_list()
        for item in expected:
            if "vector" in item:
                item["vector"] += 100
        lines = neighbours_json_lines(answers, 100)
        assert lines == [json.dumps(item, ensure_ascii=False) for item in expected]
        parsed = json.loads("[" + ",".join(lines) + "]")
        assert [p.get("word", p.get("vector")) for p in parsed] == [e.get("word", e.get("vector")) for e in expected]
