"""Embedding matrices for a model's vocabulary, built from a stored set.

Row i of the matrix is the vector of the token the model's input index i stands for
(:class:`vecstore.vocabulary.Vocabulary`); the padding row is zeros; the OOV row and the
rows of words the set lacks are filled by the ``oov`` policy. Only the vectors of the
vocabulary's words are read from the store (the chunks that hold them), never the whole
set: a 20,000-word vocabulary against GloVe's 400,000 words takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore.errors import InvalidArgumentError, quoted
from vecstore.io.files import NOTHING_PROTECTED, AtomicOutput, ProtectedFiles, check_output

if TYPE_CHECKING:
    from vecstore.query import EmbeddingSet
    from vecstore.vocabulary import Vocabulary

OOV_POLICIES = ("zeros", "random", "mean", "subword", "similar")


@dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary a set covers, and what each row of the matrix holds."""

    set_name: str
    vocabulary_kind: str
    input_dim: int
    dim: int
    words: int
    found_exact: int
    found_case_folded: int
    missing: list[str]
    padding_rows: list[int]
    oov_rows: list[int]
    oov_policy: str
    case_fold: bool
    # index -> the set's word that filled it, for words found only by case folding
    case_folded: dict[int, str] = field(default_factory=dict)
    #: words the set lacks whose rows hold their fastText subword vectors (oov "subword")
    found_subword: int = 0
    #: words the set lacks whose rows are made from known words that look alike (oov "similar")
    found_similar: int = 0

    @property
    def found(self) -> int:
        return self.found_exact + self.found_case_folded

    def to_dict(self) -> dict[str, object]:
        return {
            "set": self.set_name,
            "vocabulary": self.vocabulary_kind,
            "input_dim": self.input_dim,
            "dim": self.dim,
            "words": self.words,
            "found_exact": self.found_exact,
            "found_case_folded": self.found_case_folded,
            "found_subword": self.found_subword,
            "found_similar": self.found_similar,
            "missing_count": len(self.missing),
            "missing": self.missing,
            "coverage": self.found / self.words if self.words else 0.0,
            "rows": {"padding": self.padding_rows, "oov": self.oov_rows,
                     "missing_filled_with": self.oov_policy},
        }

    def summary(self) -> str:
        """A few lines for people."""
        share = f"{100 * self.found / self.words:.1f}%" if self.words else "-"
        lines = [
            f"matrix ({self.input_dim}, {self.dim}) from set {self.set_name!r} for a {self.vocabulary_kind} "
            f"vocabulary of {self.words} words",
            f"  found {self.found} ({share}): {self.found_exact} exactly, {self.found_case_folded} by case folding"
            + (f"; {self.found_subword} more computed from their subwords" if self.found_subword else "")
            + (f"; {self.found_similar} more made from known words that look alike" if self.found_similar else ""),
            f"  missing {len(self.missing)}: rows filled with {self.oov_policy}"
            + (f" (e.g. {', '.join(map(repr, self.missing[:5]))})" if self.missing else ""),
            f"  padding rows {self.padding_rows or 'none'}; OOV rows {self.oov_rows or 'none'}"
            + (f" ({'zeros' if self.oov_policy in ('subword', 'similar') else self.oov_policy})"
               if self.oov_rows else ""),
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class EmbeddingMatrix:
    """The matrix, its coverage report, and which rows hold the set's vectors."""

    matrix: np.ndarray  # (input_dim, dim) float32
    coverage: Coverage
    pretrained: np.ndarray  # (input_dim,) bool: True where the row is a stored vector
    set_uid: str


def save_matrix(built: EmbeddingMatrix, out: str | Path, missing: str | Path | None = None, *,
                overwrite: bool = False, protected: ProtectedFiles = NOTHING_PROTECTED) -> None:
    """Write the matrix as ``.npy`` (and the missing words, one per line, to ``missing``);
    each file appears complete or not at all, and an existing one is kept unless
    ``overwrite`` (both are checked before either is written)."""
    outputs = [Path(out)] + ([Path(missing)] if missing is not None else [])
    for path in outputs:
        check_output(path, overwrite=overwrite, protected=protected)
    with AtomicOutput(outputs[0], overwrite=overwrite, protected=protected, compress=False) as f:
        np.save(f, built.matrix, allow_pickle=False)
    if missing is not None:
        with AtomicOutput(outputs[1], overwrite=overwrite, protected=protected, compress=False) as f:
            f.write("".join(word + "\n" for word in built.coverage.missing).encode())


def build_matrix(embedding_set: EmbeddingSet, vocabulary: Vocabulary | Sequence[str] | Any, *, oov: str = "zeros",
                 case_fold: bool = True, seed: int = 0) -> EmbeddingMatrix:
    """The ``(len(vocabulary), dim)`` float32 matrix whose row i is the set's vector of
    vocabulary index i. ``vocabulary``: anything :meth:`Vocabulary.of` takes (a
    Vocabulary, a file, a ``TextVectorization`` layer, a token list in index order).

    ``oov`` fills the OOV row and the rows of words the set lacks: ``zeros``, ``random``
    (normal, seeded, with the mean and standard deviation of all the set's values) or
    ``mean`` (the set's mean vector); ``subword``, for a set imported from a fastText
    ``.bin``, gives each missing word the vector fastText computes from its character
    n-grams (the OOV row stays zeros); ``similar``, for any set, a vector from the known
    words whose character n-grams look most alike (:mod:`vecstore.lookalike`). With
    ``case_fold`` a word not found as written is looked up lower-cased (``Paris`` ->
    ``paris``). The padding row is zeros.
    """
    if oov not in OOV_POLICIES:
        raise InvalidArgumentError(f"must be one of {', '.join(OOV_POLICIES)}, not {quoted(oov)}", subject="oov")
    from vecstore.vocabulary import Vocabulary

    vocabulary = Vocabulary.of(vocabulary)
    indexes = np.asarray(vocabulary.word_indexes(), dtype=np.int64)
    tokens = [vocabulary.tokens[i] for i in indexes]
    rows, folded_at = embedding_set.rows_case_folded(tokens, case_fold)
    folded = {int(indexes[i]): lower for i, lower in folded_at.items()}
    present = rows >= 0
    exact = present.copy()
    exact[list(folded_at)] = False
    dim = embedding_set.dim
    matrix = np.zeros((len(vocabulary), dim), dtype=np.float32)
    matrix[indexes[present]] = embedding_set.vectors_of_rows(rows[present])
    filled = np.concatenate([indexes[~present], np.asarray([vocabulary.oov] if vocabulary.oov is not None else [],
                                                           dtype=np.int64)])
    subword = np.zeros(len(indexes), dtype=bool)
    if oov == "subword":  # (a fastText set: the vectors fastText gives the words it lacks; OOV row zeros)
        unseen = np.flatnonzero(~present)
        if embedding_set.subwords is None:
            raise InvalidArgumentError(f"needs a set imported from a fastText .bin; {embedding_set.info.subject} "
                                       "has no subword model (zeros, random or mean fill its missing words)",
                                       subject="oov")
        if unseen.size:
            computed, had = embedding_set.subword_vectors_found([tokens[i] for i in unseen])
            matrix[indexes[unseen]] = computed
            subword[unseen[np.asarray(had, dtype=bool)]] = True
    elif oov == "similar":  # (any set: from the known words whose character n-grams look alike; OOV row zeros)
        unseen = np.flatnonzero(~present)
        if unseen.size:
            computed, had = embedding_set.lookalike_vectors([tokens[i] for i in unseen])
            matrix[indexes[unseen]] = computed
            subword[unseen[np.asarray(had, dtype=bool)]] = True
    elif filled.size and oov != "zeros":
        stats = embedding_set.stats()
        if oov == "mean":
            matrix[filled] = stats.mean.astype(np.float32)
        else:
            rng = np.random.default_rng(seed)
            matrix[filled] = rng.normal(stats.value_mean, stats.value_std, size=(filled.size, dim))
    pretrained = np.zeros(len(vocabulary), dtype=bool)
    pretrained[indexes[present]] = True
    coverage = Coverage(
        set_name=embedding_set.name, vocabulary_kind=vocabulary.kind, input_dim=len(vocabulary), dim=dim,
        words=int(indexes.size), found_exact=int(exact.sum()), found_case_folded=len(folded),
        missing=[tokens[i] for i in np.flatnonzero(~present & ~subword)],
        found_subword=int(subword.sum()) if oov == "subword" else 0,
        found_similar=int(subword.sum()) if oov == "similar" else 0,
        padding_rows=[vocabulary.padding] if vocabulary.padding is not None else [],
        oov_rows=[vocabulary.oov] if vocabulary.oov is not None else [],
        oov_policy=oov, case_fold=case_fold, case_folded=folded)
    return EmbeddingMatrix(matrix, coverage, pretrained, embedding_set.info.uid)
