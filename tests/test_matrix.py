"""Embedding matrices for a vocabulary: row alignment, OOV policies, coverage, the CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import write_lines
from test_vocabulary import TUTORIAL_DOCS, TUTORIAL_WORDS
from typer.testing import CliRunner

from vecstore import InvalidArgumentError, Store
from vecstore.cli.app import app
from vecstore.vocabulary import Vocabulary

runner = CliRunner()


@pytest.fixture(scope="module")
def glove(glove_anywhere):
    """The real GloVe on each backend (SQLite, PostgreSQL): every test here that reads it runs on both."""
    return glove_anywhere



def test_tutorial_matrix_rows_are_the_real_glove_vectors(glove, glove_arrays) -> None:
    words, vectors = glove_arrays
    row_of = {w: i for i, w in enumerate(words)}
    vocab = Vocabulary.fit(TUTORIAL_DOCS)
    built = glove.embedding_matrix(vocab)
    assert built.matrix.shape == (16, 50) and built.matrix.dtype == np.float32
    assert not built.matrix[0].any() and not built.matrix[1].any()  # padding, and OOV under "zeros"
    for index in range(2, 16):
        assert np.array_equal(built.matrix[index], vectors[row_of[vocab.tokens[index]]])
    coverage = built.coverage
    assert (coverage.words, coverage.found_exact, coverage.missing) == (14, 14, [])
    assert coverage.padding_rows == [0] and coverage.oov_rows == [1]
    assert set(vocab.tokens[2:]) == TUTORIAL_WORDS


def test_tokenizer_json_rows_align_with_its_indexes(glove, glove_arrays, tmp_path: Path) -> None:
    from keras_preprocessing.text import Tokenizer

    words, vectors = glove_arrays
    row_of = {w: i for i, w in enumerate(words)}
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(TUTORIAL_DOCS)
    (tmp_path / "tok.json").write_text(tokenizer.to_json())
    built = glove.embedding_matrix(Vocabulary.read(tmp_path / "tok.json"))
    assert built.matrix.shape == (15, 50)  # the tutorial's vocab_size = 15
    assert not built.matrix[0].any()
    for word, index in tokenizer.word_index.items():
        assert np.array_equal(built.matrix[index], vectors[row_of[word]])


def test_case_folding_and_missing_words(glove) -> None:
    vocab = Vocabulary.from_tokens(["", "[UNK]", "Paris", "paris", "London", "qwxzvbnm", "KING"])
    built = glove.embedding_matrix(vocab)
    c = built.coverage
    assert (c.found_exact, c.found_case_folded, c.missing) == (1, 3, ["qwxzvbnm"])
    assert c.case_folded == {2: "paris", 4: "london", 6: "king"}
    assert np.array_equal(built.matrix[2], glove.vector("paris"))
    assert np.array_equal(built.matrix[6], glove.vector("king"))
    assert not built.matrix[5].any()
    assert built.pretrained.tolist() == [False, False, True, True, True, False, True]
    strict = glove.embedding_matrix(vocab, case_fold=False).coverage
    assert (strict.found_exact, strict.found_case_folded, len(strict.missing)) == (1, 0, 4)


def test_oov_policies_fill_missing_words_and_the_oov_row(glove) -> None:
    vocab = Vocabulary.from_tokens(["", "[UNK]", "the", "qwxzvbnm", "zzqqxxyy"])
    everything = glove.matrix().astype(np.float64)
    mean = glove.embedding_matrix(vocab, oov="mean").matrix
    np.testing.assert_allclose(mean[1], everything.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert np.array_equal(mean[3], mean[1]) and np.array_equal(mean[4], mean[1])
    assert not mean[0].any() and np.array_equal(mean[2], glove.vector("the"))
    first = glove.embedding_matrix(vocab, oov="random", seed=7).matrix
    again = glove.embedding_matrix(vocab, oov="random", seed=7).matrix
    other = glove.embedding_matrix(vocab, oov="random", seed=8).matrix
    assert np.array_equal(first, again) and not np.array_equal(first[3], other[3])
    assert not first[0].any() and np.array_equal(first[2], glove.vector("the"))
    stats = glove.stats()
    assert stats.value_mean == pytest.approx(everything.mean(), rel=1e-9)
    assert stats.value_std == pytest.approx(everything.std(), rel=1e-9)
    many = glove.embedding_matrix(Vocabulary.from_tokens([f"zz{i}qq" for i in range(4000)]), oov="random").matrix
    assert many.mean() == pytest.approx(stats.value_mean, abs=0.01)
    assert many.std() == pytest.approx(stats.value_std, rel=0.02)
    with pytest.raises(InvalidArgumentError, match="oov must be one of zeros, random, mean"):
        glove.embedding_matrix(vocab, oov="median")


@pytest.mark.parametrize("raw_copy", [True, False])
def test_only_the_vectors_the_vocabulary_needs_are_read(glove_store: Path, raw_copy: bool) -> None:
    with Store(glove_store) as store:
        glove = store.get("glove")
        expected = glove.matrix()
        asked: list[list[int] | None] = []
        original = glove._catalog.vector_chunks

        def recording(set_id, chunk_nos=None):
            asked.append(None if chunk_nos is None else list(chunk_nos))
            return original(set_id, chunk_nos)

        glove._catalog.vector_chunks = recording  # type: ignore[method-assign]
        if not raw_copy:  # as when the raw copy beside the index is missing or stale
            glove._indexes.rows = lambda info, checksums: None  # type: ignore[method-assign]
        wanted = [*range(1000), 399_999]
        built = glove.embedding_matrix(Vocabulary.from_tokens(["", "[UNK]", *(glove.words[r] for r in wanted)]))
    assert np.array_equal(built.matrix[2:], expected[wanted])
    # With the raw copy (written at import) rows are read from a mapping, none from the
    # database; without it, only the two 1 MiB chunks (of 77) holding the rows.
    assert asked == ([] if raw_copy else [[0, 399_999 // glove.info.rows_per_chunk]])


def test_stats_of_a_set_imported_before_revision_0002_are_measured_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    lines = ["a 1 2", "b 3 4", "c 5 9"]
    with Store(path) as store:
        store.import_file(write_lines(tmp_path / "v.txt", lines), "v")
        assert json.loads(store.get("v").info.stats)["mean"] == [3.0, 5.0]
    with sqlite3.connect(path) as db:  # as a store migrated from revision 0001 has it
        db.execute("UPDATE embedding_sets SET stats = NULL")
    with Store(path) as store:
        stats = store.get("v").stats()
        assert stats.mean.tolist() == [3.0, 5.0] and stats.value_mean == 4.0
    with Store(path) as store:
        assert store.get("v").info.stats is not None  # saved


def test_cli_matrix_with_a_word_list_and_missing_words(glove_store: Path, tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("\n[UNK]\nking\nQueen\nqwxzvbnm\n")
    out, missing = tmp_path / "m.npy", tmp_path / "missing.txt"
    result = runner.invoke(app, ["--store", str(glove_store), "matrix", "--vocab", str(tmp_path / "vocab.txt"),
                                 "--out", str(out), "--missing", str(missing), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["input_dim"] == 5 and report["found_exact"] == 1 and report["found_case_folded"] == 1
    assert report["missing"] == ["qwxzvbnm"] and report["rows"]["padding"] == [0] and report["rows"]["oov"] == [1]
    assert missing.read_text() == "qwxzvbnm\n"
    matrix = np.load(out)
    with Store(glove_store) as store:
        glove = store.get("glove")
        assert np.array_equal(matrix[2], glove.vector("king")) and np.array_equal(matrix[3], glove.vector("queen"))
    refused = runner.invoke(app, ["--store", str(glove_store), "matrix", "--vocab", str(tmp_path / "vocab.txt"),
                                  "--out", str(out)])
    assert refused.exit_code == 1 and refused.stderr.strip() == f"Error: {out} exists; pass --force to overwrite it"
    human = runner.invoke(app, ["--store", str(glove_store), "matrix", "--vocab", str(tmp_path / "vocab.txt"),
                                "--out", str(out), "--force"])
    assert human.exit_code == 0 and "found 2 (66.7%): 1 exactly, 1 by case folding" in human.output


def test_cli_matrix_fits_texts_and_saves_the_vocabulary(glove_store: Path, tmp_path: Path) -> None:
    (tmp_path / "docs.txt").write_text("\n".join(TUTORIAL_DOCS) + "\n")
    result = runner.invoke(app, ["--store", str(glove_store), "matrix", "--texts", str(tmp_path / "docs.txt"),
                                 "--max-tokens", "10", "--vocab-out", str(tmp_path / "vocab.txt"),
                                 "--out", str(tmp_path / "m.npy"), "--oov", "mean"])
    assert result.exit_code == 0, result.output
    vocab = Vocabulary.read(tmp_path / "vocab.txt")
    assert vocab.tokens == Vocabulary.fit(TUTORIAL_DOCS, max_tokens=10).tokens and len(vocab) == 10
    assert np.load(tmp_path / "m.npy").shape == (10, 50)


@pytest.mark.parametrize(("args", "message", "code"), [
    ([], "give the vocabulary with --vocab FILE", 2),
    (["--vocab", "v.txt", "--texts", "v.txt"], "give the vocabulary with --vocab FILE", 2),
    (["--vocab", "nope.txt"], "nope.txt: no such file", 1),
    (["--vocab", "v.txt", "--oov", "median"],
     "--oov must be one of zeros, random, mean, subword, similar, not 'median'", 2),
    (["--vocab", "v.txt", "--set", "other"], "no embedding set named 'other'", 1),
])
def test_cli_matrix_errors_are_one_line(glove_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        args: list[str], message: str, code: int) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v.txt").write_text("king\n")
    result = runner.invoke(app, ["--store", str(glove_store), "matrix", "--out", "m.npy", *args])
    assert result.exit_code == code  # (2: a usage error, a bad option value or combination)
    assert message in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "m.npy").exists()


def test_import_statistics_equal_a_float64_computation_even_for_extreme_values(tmp_path: Path) -> None:
    # The import sums squares from the norms it computes anyway; rows beyond float32's
    # squared range (1e20) or tiny ones (1e-30) take the float64 path there too.
    lines = ["a 1e20 2e20 0", "b 1e-30 2e-30 0", "c 0 0 0", "d 0.5 -0.25 3", "e 1 2 3"]
    with Store(tmp_path / "s.db") as store:
        store.import_file(write_lines(tmp_path / "x.txt", lines), "x")
        embedding_set = store.get("x")
        stats = embedding_set.stats()
        wide = embedding_set.matrix().astype(np.float64)
    np.testing.assert_allclose(stats.mean, wide.mean(axis=0), rtol=1e-12)
    assert stats.value_mean == pytest.approx(wide.mean(), rel=1e-12)
    assert stats.value_std == pytest.approx(wide.std(), rel=1e-9)
