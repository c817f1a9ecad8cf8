"""``--oov similar`` (issue 19): a word a set lacks gets a vector from the known words whose
character n-grams look most alike; on the real GloVe it is far closer to the true vector
of a held-out word than zeros, random or the mean vector are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import vecstore.lookalike as lookalike
from vecstore.cli.app import app
from vecstore.subwords import ngram_buckets

runner = CliRunner()


def test_held_out_glove_words_are_rebuilt_close_to_their_true_vectors(glove) -> None:
    words, matrix = glove.words, glove.matrix()
    held = np.sort(np.random.default_rng(4).choice(np.arange(1_000, 50_000), 300, replace=False))
    rebuilt, found = lookalike.lookalike_vectors(glove, [words[i] for i in held], leave_out=held)
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    got = np.asarray(found)
    assert got.mean() > 0.9
    cosine = (rebuilt[got] * unit[held][got]).sum(axis=1) / np.linalg.norm(rebuilt[got], axis=1)
    mean = glove.stats().mean
    baseline = unit[held] @ (mean / np.linalg.norm(mean))
    assert cosine.mean() > 0.3 and cosine.mean() > baseline.mean() + 0.25, (cosine.mean(), baseline.mean())
    typical = np.sqrt((matrix.astype(np.float64) ** 2).sum(axis=1).mean())
    assert np.allclose(np.linalg.norm(rebuilt[got], axis=1), typical, rtol=0.01)  # (the set's typical length)
    assert not rebuilt[~got].any()


def test_the_c_pass_finds_what_the_python_one_finds(glove) -> None:
    words = glove.words[:20_000]
    asked = ["goverment", "kingz", "unhappyness", "naïve", "日本語", "x", "internationalisation", "ab", "the",
             "zzzzzzzzzzz"]
    from vecstore import _fastparse

    rows, scores = _fastparse.lookalikes("\n".join(words).encode(), len(words), "\n".join(asked).encode(), len(asked),
                                         lookalike.MINN, lookalike.MAXN, lookalike.BUCKETS, lookalike.LOOKALIKES, b"")
    rows = np.frombuffer(rows, dtype=np.int64).reshape(len(asked), -1)
    scores = np.frombuffer(scores, dtype=np.float32).reshape(len(asked), -1)
    expected_rows, expected_scores = lookalike._lookalikes_python(words, asked, np.zeros(0, dtype=np.uint8))
    assert (rows == expected_rows).all() and np.allclose(scores, expected_scores, atol=1e-7)
    assert words[rows[0, 0]] in ("government", "goverment")  # (the misspelling's closest look-alikes)
    for i, word in enumerate(asked):  # (every look-alike shares an n-gram with the word asked)
        mine = set(ngram_buckets(word, lookalike.MINN, lookalike.MAXN, lookalike.BUCKETS))
        for row in rows[i][rows[i] >= 0]:
            assert mine & set(ngram_buckets(words[row], lookalike.MINN, lookalike.MAXN, lookalike.BUCKETS))


def test_matrix_oov_similar_counts_what_it_made_and_what_stayed_missing(glove, glove_store: Path,
                                                                       tmp_path: Path) -> None:
    vocabulary = ["king", "Paris", "presidentt", "kingdomz", "\U0001f600"]
    assert not any(w in glove for w in vocabulary[2:])
    built = glove.embedding_matrix(vocabulary, oov="similar")
    report = built.coverage
    assert (report.found_exact, report.found_case_folded, report.found_similar, report.missing) == (
        1, 1, 2, ["\U0001f600"])
    assert not built.matrix[4].any() and built.matrix[2].any()
    best = glove.neighbours(vector=built.matrix[2], k=3)
    assert "president" in [h.word for h in best]
    texts = tmp_path / "t.txt"
    texts.write_text("the presidentt said\n", encoding="utf-8")
    done = runner.invoke(app, ["--store", str(glove_store), "matrix", "--set", "glove", "--texts", str(texts),
                               "--out", str(tmp_path / "m.npy"), "--oov", "similar"])
    assert done.exit_code == 0, done.output
    assert "1 more made from known words that look alike" in done.output and "missing 0" in done.output


@pytest.mark.parametrize("bad", [-1, 0])
def test_lookalikes_refuses_inconsistent_arguments(bad: int) -> None:
    from vecstore import _fastparse

    with pytest.raises(ValueError, match="inconsistent"):
        _fastparse.lookalikes(b"a\nb", 2, b"a", 1, 4, 5, 1 << 20, bad, b"")


def test_the_c_and_python_passes_agree_on_long_words_line_breaks_and_held_out_rows(glove) -> None:
    words = [*glove.words[:5_000], "x" * 1_500 + "ing"]
    asked = ["y" * 1_100 + "ing", "runn\ning", "walkingg", "talkin"]
    held = [words.index("running"), words.index("walking")]
    from vecstore import _fastparse

    skip = np.zeros(len(words), dtype=np.uint8)
    skip[held] = 1
    cleaned = [w.replace("\n", " ") for w in asked]
    rows, scores = _fastparse.lookalikes("\n".join(words).encode(), len(words), "\n".join(cleaned).encode(),
                                         len(cleaned), lookalike.MINN, lookalike.MAXN, lookalike.BUCKETS,
                                         lookalike.LOOKALIKES, skip.tobytes())
    rows = np.frombuffer(rows, dtype=np.int64).reshape(len(asked), -1)
    scores = np.frombuffer(scores, dtype=np.float32).reshape(len(asked), -1)
    expected_rows, expected_scores = lookalike._lookalikes_python(words, cleaned, skip)
    assert (rows == expected_rows).all() and np.allclose(scores, expected_scores, atol=1e-7)
    assert (rows[0] == -1).all()  # (a word over 1 KiB has no look-alikes, and is none)
    assert not set(held) & set(rows[rows >= 0].tolist()) and len(words) - 1 not in rows
