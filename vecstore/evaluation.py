"""Word-embedding evaluation: analogy accuracy and word-pair similarity correlation.

The two public functions reproduce gensim 4's ``KeyedVectors.evaluate_word_analogies``
and ``KeyedVectors.evaluate_word_pairs`` (with ``dummy4unknown=False``), so that
numbers reported by vecstore can be compared one to one with published gensim
figures, without gensim, scipy or a Python loop over the vocabulary:

* Only the first ``restrict_vocab`` rows are used (rows are in frequency order).
* With ``case_insensitive=True`` file words and vocabulary words are upper-cased; when
  several casings of a word are in the restricted vocabulary the most frequent one
  (the lowest row) stands for it, as gensim's ``reversed(ok_keys)`` rule does.
* Analogy files are split into sections by ``: name`` lines; lines that are not four
  words are skipped; questions with a word outside the restricted vocabulary are
  skipped and counted as out-of-vocabulary.
* Pair files skip ``#`` comment lines, split each line on ``delimiter`` into two words
  and a score, and report Spearman and Pearson correlations of the gold scores with
  the cosine similarities.

The analogy search is batched: every question becomes one query vector, computed
with the same float32/float64 steps as gensim's ``most_similar`` so that it is bit
for bit the same, and all queries are searched at once in a FAISS inner-product
index over the unit-length rows. The few best candidates of each query are then
re-scored exactly as gensim scores them (raw row dot query, divided by the row
norm) so that near-ties are ordered as gensim orders them.

Deliberate differences, all where gensim would fail instead of returning a result:
blank lines before the first section header are skipped (gensim raises), a file
with no analogy question raises :class:`InputFileError` (gensim divides by zero),
and fewer than two usable pairs give NaN correlations (scipy raises). One where gensim
returns a meaningless result: a human score that is not finite (``nan``, ``1e999``) is an
error naming its line (gensim's correlations come out NaN).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, quoted
from vecstore.limits import MAX_BENCHMARK_BYTES

__all__ = [
    "TOTAL_SECTION_NAME",
    "AnalogyReport",
    "SectionScore",
    "SimilarityReport",
    "evaluate_analogies",
    "evaluate_similarity",
]

#: Name of the aggregate section, as gensim names it.
TOTAL_SECTION_NAME = "Total accuracy"

# gensim asks most_similar for topn=5 and most_similar fetches topn + len(question
# words) = 8 candidates before dropping the three question rows. Fetching the same
# eight keeps the case where case variants of the question words crowd the top
# (e.g. "Paris" next to "paris") identical to gensim, not only the lowercase case.
_GENSIM_TOPN = 5
_CANDIDATES = _GENSIM_TOPN + 3

# Queries per FAISS search call: bounds the candidate/re-score arrays' memory.
_QUERY_BATCH = 4096

PathLike = str | os.PathLike[str]


def _json_float(value: float) -> float | None:
    """NaN/inf are not JSON; report them as null."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class SectionScore:
    """Analogy results of one section of the question file (or of all of them).

    ``accuracy`` is ``correct / (correct + incorrect)`` and 0.0 when the section had no
    in-vocabulary question, which is what gensim reports for such a section.
    """

    name: str
    correct: int
    incorrect: int
    accuracy: float

    @classmethod
    def from_counts(cls, name: str, correct: int, incorrect: int) -> SectionScore:
        """Build a score from counts, with gensim's 0.0 accuracy for an empty section."""
        answered = correct + incorrect
        return cls(name, correct, incorrect, correct / answered if answered else 0.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the fields."""
        return asdict(self)


@dataclass(frozen=True)
class AnalogyReport:
    """Result of :func:`evaluate_analogies`.

    ``sections`` are in file order (including sections with no answered question);
    ``total`` is gensim's "Total accuracy" over all of them. ``questions`` counts the
    well-formed four-word lines, ``oov`` those skipped because a word is outside the
    restricted vocabulary, ``skipped_lines`` the malformed (not four words) lines, and
    ``oov_ratio`` is ``100 * oov / questions`` (a percentage, as gensim logs it).
    """

    sections: list[SectionScore]
    total: SectionScore
    questions: int
    oov: int
    skipped_lines: int
    oov_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; sections become a list of dicts."""
        return {
            "sections": [s.to_dict() for s in self.sections],
            "total": self.total.to_dict(),
            "questions": self.questions,
            "oov": self.oov,
            "skipped_lines": self.skipped_lines,
            "oov_ratio": self.oov_ratio,
        }


@dataclass(frozen=True)
class SimilarityReport:
    """Result of :func:`evaluate_similarity`.

    ``spearman`` and ``pearson`` correlate the gold scores with the model's cosine
    similarities over the ``pairs`` in-vocabulary pairs (NaN when undefined: fewer
    than two pairs or a constant column). ``oov`` pairs had a word outside the
    restricted vocabulary, ``skipped_lines`` were malformed (comments are not
    counted), and ``oov_ratio`` is ``100 * oov / (pairs + oov)``, a percentage.
    """

    spearman: float
    pearson: float
    pairs: int
    oov: int
    skipped_lines: int
    oov_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; an undefined (NaN) correlation becomes None."""
        return {
            "spearman": _json_float(self.spearman),
            "pearson": _json_float(self.pearson),
            "pairs": self.pairs,
            "oov": self.oov,
            "skipped_lines": self.skipped_lines,
            "oov_ratio": self.oov_ratio,
        }


# --------------------------------------------------------------------------- input


def _read_lines(path: PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, decoded line)``, newline included.

    The file is read in binary and decoded per line, like gensim reads analogy files,
    so a decoding error can name its line.
    """
    from vecstore.io.files import read_whole

    parts = read_whole(Path(path), MAX_BENCHMARK_BYTES, "benchmark").split(b"\n")
    for line_no, raw in enumerate(parts, start=1):
        if line_no == len(parts) and not raw:
            return  # the final newline ends the last line
        try:
            yield line_no, raw.decode("utf-8") + ("\n" if line_no < len(parts) else "")
        except UnicodeDecodeError as exc:
            raise InputFileError(
                path, f"not valid UTF-8 ({exc.reason} at byte {exc.start} of the line)", line=line_no
            ) from None


def _universal_lines(text: str) -> list[str]:
    """Split one physical line as Python's text mode does (``\\r\\n`` and ``\\r`` end lines).

    gensim reads pair files in text mode, so a stray ``\\r`` starts a new line there.
    """
    if "\r" not in text:
        return [text]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _checked_matrix(words: Sequence[str], vectors: np.ndarray, restrict_vocab: int) -> tuple[np.ndarray, int]:
    """Validate the inputs; return the float32 C-contiguous restricted rows and their count."""
    matrix = np.asarray(vectors)
    if matrix.ndim != 2:
        raise InvalidArgumentError(f"vectors must be a 2-D array, got shape {matrix.shape}")
    if len(words) != matrix.shape[0]:
        raise InvalidArgumentError(f"{len(words)} words for {matrix.shape[0]} vector rows")
    if restrict_vocab < 0:
        raise InvalidArgumentError(f"must be >= 0, not {restrict_vocab}", subject="restrict_vocab")
    limit = min(restrict_vocab, matrix.shape[0])
    # gensim stores float32 rows in C order; its norms and dot products are computed on
    # that layout, and the float results depend on it (e.g. for a Fortran-order input).
    return np.ascontiguousarray(matrix[:limit], dtype=np.float32), limit


def _vocabulary(words: Sequence[str], limit: int, case_insensitive: bool) -> tuple[list[str], dict[str, int]]:
    """Return the lookup keys of the first ``limit`` rows and a key -> row map.

    When several rows share a key (casings of one word) the lowest row wins: gensim
    builds its dict from ``reversed(ok_keys)`` so the most frequent casing is set last.
    """
    keys = [w.upper() for w in words[:limit]] if case_insensitive else list(words[:limit])
    return keys, dict(zip(reversed(keys), range(limit - 1, -1, -1), strict=True))


# ------------------------------------------------------------------------ analogies


def _unit_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row norms and unit rows exactly as gensim computes them (float32 ``v / ||v||``)."""
    norms = np.linalg.norm(rows, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = rows / norms[:, np.newaxis]
    return norms, unit


def _query_vectors(unit: np.ndarray, ia: np.ndarray, ib: np.ndarray, ic: np.ndarray) -> np.ndarray:
    """3CosAdd queries ``unit(b) + unit(c) - unit(a)``, normalised, as gensim builds them.

    gensim's ``get_mean_vector`` accumulates b, c, a in that order into a float32 array,
    divides by the total weight 3 in float64, and ``matutils.unitvec`` scales by the
    float64 reciprocal of BLAS ``dnrm2`` (x87 extended precision on x86-64, hence the
    long double sum here) before casting back to float32. Each step is mirrored so
    that the query is the same bits as gensim's.
    """
    summed = (unit[ib] + unit[ic]) - unit[ia]
    mean = summed.astype(np.float64) / 3.0
    norm = np.sqrt(np.sum(np.square(mean.astype(np.longdouble)), axis=1)).astype(np.float64)
    with np.errstate(divide="ignore"):
        scale = np.where(norm > 0.0, 1.0 / norm, 1.0)  # unitvec leaves a zero vector as is
    return np.ascontiguousarray((mean * scale[:, np.newaxis]).astype(np.float32))


def _ranked_candidates(
    rows: np.ndarray, norms: np.ndarray, unit: np.ndarray, ia: np.ndarray, ib: np.ndarray, ic: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """For each question, the row ids of its best candidates, best first (-1 = none).

    FAISS finds the top candidates by cosine; they are then re-scored as gensim's
    ``most_similar`` scores (float32 ``dot(row, query) / norm(row)``, whose batched
    matmul uses the same BLAS gemv kernel as gensim's full-matrix product) and sorted,
    ties going to the lower (more frequent) row.
    """
    import faiss

    count, dim = rows.shape
    k = min(_CANDIDATES, count)
    index = faiss.IndexFlatIP(dim)
    searchable = np.where(np.isfinite(unit), unit, np.float32(0.0))  # zero-norm rows
    index.add(np.ascontiguousarray(searchable, dtype=np.float32))
    ranked = np.empty((len(ia), k), dtype=np.int64)
    for start in range(0, len(ia), _QUERY_BATCH):
        stop = start + _QUERY_BATCH
        queries = _query_vectors(unit, ia[start:stop], ib[start:stop], ic[start:stop])
        _, labels = index.search(queries, k)
        valid = labels >= 0
        safe = np.where(valid, labels, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.matmul(rows[safe], queries[:, :, np.newaxis])[:, :, 0] / norms[safe]
        scores = np.where(valid, scores, -np.inf)
        order = np.lexsort((safe, -scores), axis=-1)  # NaN scores sort last, as in gensim
        ranked[start:stop] = np.where(
            np.take_along_axis(valid, order, axis=-1), np.take_along_axis(labels, order, axis=-1), -1
        )
        if progress is not None:
            progress(min(stop, len(ia)), len(ia))
    return ranked


def evaluate_analogies(
    path: PathLike,
    words: Sequence[str],
    vectors: np.ndarray,
    *,
    restrict_vocab: int = 300_000,
    case_insensitive: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> AnalogyReport:
    """Score the embedding on an analogy file (``a b c d``: a is to b as c is to d).

    Agrees with gensim 4's ``KeyedVectors.evaluate_word_analogies`` (3CosAdd, skipping
    out-of-vocabulary questions) so results are comparable with the literature.

    Args:
        path: UTF-8 file of ``: section`` header lines and four-word question lines,
            e.g. word2vec's ``questions-words.txt``.
        words: ``words[i]`` is the word of row ``i`` of ``vectors``.
        vectors: ``(n, dim)`` float32 rows, most frequent word first.
        restrict_vocab: only the first rows are used, both to accept a question and as
            answer candidates; limits the search to frequent, well-trained words.
        case_insensitive: compare upper-cased words (the file's casing and the model's
            need not match); the most frequent casing of a word stands for it.
        progress: called with (questions answered, questions to answer) as the search goes.

    Raises:
        InputFileError: unreadable or non-UTF-8 file, a question line before the first
            section header, or no four-word question at all.
        InvalidArgumentError: ``words`` and ``vectors`` do not match, or a negative
            ``restrict_vocab``.
    """
    rows, limit = _checked_matrix(words, vectors, restrict_vocab)
    keys, vocab = _vocabulary(words, limit, case_insensitive)

    section_names: list[str] = []
    question_section: list[int] = []  # per in-vocabulary question
    question_words: list[tuple[str, str, str, str]] = []
    questions = oov = skipped = 0
    for line_no, line in _read_lines(path):
        if line.startswith(": "):
            section_names.append(line.lstrip(": ").strip())
            continue
        if not section_names:
            if not line.strip():
                skipped += 1
                continue
            raise InputFileError(path, "analogy question before the first ': section' header", line=line_no)
        tokens = line.split()
        if len(tokens) != 4:
            skipped += 1
            continue
        if case_insensitive:
            tokens = [t.upper() for t in tokens]
        questions += 1
        if not all(t in vocab for t in tokens):
            oov += 1
            continue
        question_section.append(len(section_names) - 1)
        question_words.append((tokens[0], tokens[1], tokens[2], tokens[3]))

    if questions == 0:
        raise InputFileError(path, "no analogy questions (lines of four words under ': section' headers)")

    correct = [0] * len(section_names)
    incorrect = [0] * len(section_names)
    if question_words:
        ia = np.fromiter((vocab[q[0]] for q in question_words), dtype=np.int64, count=len(question_words))
        ib = np.fromiter((vocab[q[1]] for q in question_words), dtype=np.int64, count=len(question_words))
        ic = np.fromiter((vocab[q[2]] for q in question_words), dtype=np.int64, count=len(question_words))
        norms, unit = _unit_rows(rows)
        ranked = _ranked_candidates(rows, norms, unit, ia, ib, ic, progress).tolist()
        input_rows = list(zip(ia.tolist(), ib.tolist(), ic.tolist(), strict=True))
        for n, (a, b, c, expected) in enumerate(question_words):
            inputs = input_rows[n]
            # gensim: most_similar drops the question rows and keeps the top 5; the first
            # of those whose key is not a question word (another casing of one is skipped
            # too) is the answer, and if none qualifies the last one examined stands.
            answers = [row for row in ranked[n] if row >= 0 and row not in inputs][:_GENSIM_TOPN]
            predicted = None
            ignore = {a, b, c}
            for row in answers:
                predicted = keys[row]
                if predicted in vocab and predicted not in ignore:
                    break
            if predicted == expected:
                correct[question_section[n]] += 1
            else:
                incorrect[question_section[n]] += 1

    sections = [SectionScore.from_counts(name, correct[i], incorrect[i]) for i, name in enumerate(section_names)]
    total = SectionScore.from_counts(TOTAL_SECTION_NAME, sum(correct), sum(incorrect))
    return AnalogyReport(
        sections=sections,
        total=total,
        questions=questions,
        oov=oov,
        skipped_lines=skipped,
        oov_ratio=oov / questions * 100,
    )


# ----------------------------------------------------------------------- similarity


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks (scipy's 'average')."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts_group = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.append(starts[1:], len(values))
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = ((starts + 1 + ends) / 2.0)[group]
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r in float64 (NaN if undefined), computed the way scipy's pearsonr does."""
    if len(x) < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return math.nan
    # r is scale-free: scaling to at most 1 keeps sums of huge scores (1e308) from overflowing
    x, y = (v / np.max(np.abs(v)) if np.max(np.abs(v)) > 1.0 else v for v in (x, y))
    xm = x - x.mean()
    ym = y - y.mean()
    xnorm = float(np.linalg.norm(xm))
    ynorm = float(np.linalg.norm(ym))
    if xnorm == 0.0 or ynorm == 0.0:
        return math.nan
    return float(np.clip(np.dot(xm / xnorm, ym / ynorm), -1.0, 1.0))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: Pearson's r of the average ranks (NaN if undefined)."""
    if len(x) < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return math.nan
    return _pearson(_average_ranks(x), _average_ranks(y))


def _unitvec_rows(rows: np.ndarray) -> np.ndarray:
    """gensim's ``matutils.unitvec`` per float32 row: float64 scale by 1/dnrm2, back to float32."""
    wide = rows.astype(np.float64)
    norm = np.sqrt(np.sum(np.square(wide.astype(np.longdouble)), axis=1)).astype(np.float64)
    with np.errstate(divide="ignore"):
        scale = np.where(norm > 0.0, 1.0 / norm, 1.0)  # a zero vector is returned unchanged
    return (wide * scale[:, np.newaxis]).astype(np.float32)


def evaluate_similarity(
    path: PathLike,
    words: Sequence[str],
    vectors: np.ndarray,
    *,
    restrict_vocab: int = 300_000,
    case_insensitive: bool = True,
    delimiter: str = "\t",
) -> SimilarityReport:
    """Correlate the embedding's cosine similarities with human word-pair judgements.

    Agrees with gensim 4's ``KeyedVectors.evaluate_word_pairs`` (pairs with an
    out-of-vocabulary word skipped) so results are comparable with the literature.

    Args:
        path: UTF-8 file of ``word1<delimiter>word2<delimiter>score`` lines; lines
            starting with ``#`` are comments. E.g. WordSim-353 or SimLex-999.
        words: ``words[i]`` is the word of row ``i`` of ``vectors``.
        vectors: ``(n, dim)`` float32 rows, most frequent word first.
        restrict_vocab: only pairs of words among the first rows are scored.
        case_insensitive: compare upper-cased words; the most frequent casing wins.
        delimiter: field separator; the words are not stripped (as in gensim).

    Raises:
        InputFileError: unreadable or non-UTF-8 file, or no usable in-vocabulary pair.
        InvalidArgumentError: ``words`` and ``vectors`` do not match, a negative
            ``restrict_vocab`` or an empty delimiter.
    """
    if not delimiter:
        raise InvalidArgumentError("delimiter must not be empty")
    rows, limit = _checked_matrix(words, vectors, restrict_vocab)
    _, vocab = _vocabulary(words, limit, case_insensitive)

    gold: list[float] = []
    pair_rows: list[tuple[int, int]] = []
    oov = skipped = 0
    for line_no, physical in _read_lines(path):
        for line in _universal_lines(physical):
            if line.startswith("#"):
                continue
            fields = line.split(delimiter)
            if len(fields) != 3:
                skipped += 1
                continue
            score_text = fields[2]
            if case_insensitive:
                fields = [f.upper() for f in fields]
            a, b, _ = fields
            try:
                score = float(score_text)
            except ValueError:
                skipped += 1
                continue
            if not math.isfinite(score):  # gensim would return a NaN correlation
                raise InputFileError(path, f"the score {quoted(score_text.strip())} is not a finite number",
                                     line=line_no)
            if a not in vocab or b not in vocab:
                oov += 1
                continue
            gold.append(score)
            pair_rows.append((vocab[a], vocab[b]))

    if not gold:
        raise InputFileError(path, f"no usable word pair: {skipped} malformed line(s), {oov} pair(s) out of vocabulary")

    used = sorted({row for pair in pair_rows for row in pair})
    position = {row: i for i, row in enumerate(used)}
    unit = _unitvec_rows(rows[used])
    # One 1-D float32 np.dot per pair: the same BLAS sdot gensim's similarity() calls, so
    # the similarities (and therefore their ties and ranks) are bit-identical to gensim's.
    model = np.array([float(np.dot(unit[position[a]], unit[position[b]])) for a, b in pair_rows], dtype=np.float64)
    gold_array = np.asarray(gold, dtype=np.float64)
    return SimilarityReport(
        spearman=_spearman(gold_array, model),
        pearson=_pearson(gold_array, model),
        pairs=len(gold),
        oov=oov,
        skipped_lines=skipped,
        oov_ratio=oov / (len(gold) + oov) * 100,
    )
