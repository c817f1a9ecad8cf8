"""End to end on the real GloVe 6B 50d (400,000 words): import, exact values, exact neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import read_text

from vecstore import Store, UnknownWordError
from vecstore.cosine import normalized


def test_text_import_is_bit_identical_to_the_published_vectors(glove, glove_arrays) -> None:
    words, vectors = glove_arrays
    assert glove.info.count == 400_000 and glove.dim == 50
    assert glove.words == words
    stored = glove.matrix()
    assert stored.dtype == np.float32
    assert np.array_equal(stored.view(np.uint32), vectors.view(np.uint32))


def test_python_fallback_parser_reads_real_glove_bit_identically(glove_text: Path, glove_arrays,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import vecstore.io.readers

    monkeypatch.setattr(vecstore.io.readers, "_fastparse", None)
    parsed = read_text(glove_text)
    words, vectors = glove_arrays
    assert parsed.words == words
    assert np.array_equal(parsed.vectors.view(np.uint32), np.ascontiguousarray(vectors).view(np.uint32))


def test_builtin_import_equals_the_text_import(glove, glove_arrays) -> None:
    store = Store()
    result = store.import_builtin("glove-6b-50d")
    assert result.info.name == "glove-6b-50d" and result.info.count == 400_000
    builtin = store.get("glove-6b-50d")
    assert builtin.words == glove.words
    assert np.array_equal(builtin.matrix(), glove.matrix())
    assert store.import_builtin("glove-6b-50d").status == "unchanged"


def test_neighbours_equal_exact_numpy_cosine_for_1000_random_words(glove, glove_arrays) -> None:
    words, vectors = glove_arrays
    unit = normalized(vectors)
    rng = np.random.default_rng(20261125)
    rows = rng.choice(len(words), size=1000, replace=False)
    mismatches = []
    for start in range(0, len(rows), 100):
        batch = rows[start:start + 100]
        sims = unit[batch] @ unit.T  # exact cosine in float32
        sims[np.arange(len(batch)), batch] = -np.inf  # the word itself is excluded
        top = np.argpartition(-sims, 10, axis=1)[:, :10]
        for i, row in enumerate(batch):
            expected = top[i][np.argsort(-sims[i, top[i]], kind="stable")]
            got = glove.neighbours(words[row], k=10)
            if [h.word for h in got] != [words[j] for j in expected]:
                mismatches.append(words[row])
            np.testing.assert_allclose([h.score for h in got], sims[i, expected], atol=1e-5)
    assert mismatches == []


def test_neighbours_of_a_raw_vector(glove, glove_arrays) -> None:
    words, vectors = glove_arrays
    row = words.index("paris")
    hits = glove.neighbours(vector=vectors[row] * 3.0, k=3)  # scale does not change cosine
    assert hits[0].word == "paris" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(hits) == 3


def test_classic_analogy_and_similarity(glove, glove_arrays) -> None:
    assert glove.analogy("man", "king", "woman", k=1)[0].word == "queen"
    assert glove.analogy("paris", "france", "rome", k=1)[0].word == "italy"
    words, vectors = glove_arrays
    a, b = vectors[words.index("king")], vectors[words.index("queen")]
    assert glove.similarity("king", "queen") == pytest.approx(
        float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-6)


def test_vector_is_the_stored_row(glove, glove_arrays) -> None:
    words, vectors = glove_arrays
    for word in ("the", "king", words[-1], words[5242], words[5243]):  # chunk edges too
        assert np.array_equal(glove.vector(word), vectors[words.index(word)])


def test_unknown_word_suggests_close_spellings(glove) -> None:
    with pytest.raises(UnknownWordError) as caught:
        glove.neighbours("kingg")
    assert caught.value.suggestions[0] == "king"
    assert "'kingg' is not in set 'glove'; did you mean king" in str(caught.value)
    with pytest.raises(UnknownWordError) as caught:
        glove.vector("King")  # GloVe 6B is lower-cased: the case-folded form is offered
    assert caught.value.suggestions[0] == "king"
