"""Document vectors: one vector per text, pooled from a set's word vectors.

Texts are tokenised as the matrix builder and :meth:`Vocabulary.fit` do (Keras
``TextVectorization``'s standardisation: ASCII lower case, punctuation stripped, split on
ASCII whitespace), and each distinct token is looked up once, as written and then lower
cased (the same case-folding fallback as the matrix). Only the rows the texts need are
read from the set, never the whole set. Unknown tokens are skipped and counted; a text
with no known token gets a zero vector and is listed in the report.

Pooling (``pool``):

- ``mean`` (default), ``sum``, ``max``, ``min``: over the known tokens' vectors, each
  occurrence counted;
- ``idf``: the mean weighted by each token's inverse document frequency,
  ``ln((1 + n) / (1 + df)) + 1`` (scikit-learn's smooth IDF, so it matches a TF-IDF
  baseline), fitted on the texts themselves unless an :class:`Idf` is given;
- ``sif``: smooth inverse frequency (Arora, Liang and Ma, 2017): the mean weighted by
  ``a / (a + p(w))``, then each vector's projection on the texts' first principal
  component removed. ``p(w)`` is the token's frequency in the texts (``sif_frequency=
  "texts"``) or, as GloVe, word2vec and fastText list words most frequent first, Zipf's
  law over the set's row order (``"rank"``, the default: it needs no corpus).

Tokens are numbered, and rows pooled, in one pass of C each (``_fastparse``, the GIL
released; sums accumulated in double): no copy of the rows is gathered. Without the C
extension the same is done with a dict and ``ufunc.reduceat`` over rows gathered a batch
of texts at a time (the gathered rows are bounded by the batch; the per-token arrays,
8 to 16 bytes a token, grow with the texts, as the vectors out do).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, printable, quoted
from vecstore.vocabulary import STRIPPED

try:
    from vecstore import _fastparse
except ImportError:  # built without a C compiler: str.split and a dict
    _fastparse = None

if TYPE_CHECKING:
    from vecstore.io.files import ProtectedFiles
    from vecstore.query import EmbeddingSet

POOLS = ("mean", "sum", "max", "min", "idf", "sif")
SIF_FREQUENCIES = ("rank", "texts")
#: Arora et al.'s weighting parameter (they found 1e-4 to 1e-3 best).
SIF_A = 1e-3
#: Bytes of gathered rows pooled at once (bounds the memory of a large corpus).
BATCH_BYTES = 64 << 20

_WHITESPACE = re.compile(r"[ \t\n\r\v\f]+")  # tf.strings.split's separator: ASCII whitespace
#: Whitespace to ``str.split`` that ``tf.strings.split`` does not split on.
_OTHER_WHITESPACE = re.compile("[\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_SEPARATOR = "\x00"  # between texts while they are standardised together (neither stripped nor split)
#: :func:`vecstore.vocabulary.standardize` on UTF-8 bytes: ASCII upper to lower case (and
#: TextVectorization's punctuation, ``STRIPPED_BYTES``, deleted).
_STANDARDIZE_BYTES = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
STRIPPED_BYTES = STRIPPED.encode("ascii")


@dataclass(frozen=True)
class Idf:
    """Inverse document frequencies: ``ln((1 + documents) / (1 + df)) + 1`` per token; a
    token never seen gets ``ln(1 + documents) + 1``."""

    documents: int
    df: Mapping[str, int]

    def weight(self, token: str) -> float:
        return math.log((1 + self.documents) / (1 + self.df.get(token, 0))) + 1

    def to_dict(self) -> dict[str, object]:
        return {"documents": self.documents, "df": dict(self.df)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Idf:
        documents, df = data.get("documents"), data.get("df")
        if not isinstance(documents, int) or documents < 0 or not isinstance(df, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and 0 <= v <= documents for k, v in df.items()):
            raise InvalidArgumentError("an IDF is {\"documents\": N, \"df\": {token: count of documents, ...}}")
        return cls(documents, df)

    @classmethod
    def read(cls, path: str | Path) -> Idf:
        """Document frequencies saved by :meth:`write` (at most
        :data:`~vecstore.limits.MAX_VOCABULARY_BYTES` of JSON)."""
        from vecstore.io.files import read_whole
        from vecstore.limits import MAX_VOCABULARY_BYTES

        try:
            return cls.from_dict(json.loads(read_whole(Path(path), MAX_VOCABULARY_BYTES, "IDF")))
        except (ValueError, RecursionError, AttributeError) as exc:  # (InvalidArgumentError: a bad shape)
            reason = exc.message if isinstance(exc, InvalidArgumentError) else str(exc)
            raise InputFileError(path, f"not an IDF file: {reason}") from None

    def write(self, path: str | Path, *, overwrite: bool = False, protected: ProtectedFiles | None = None) -> None:
        """Save the document frequencies as JSON, for later documents (:meth:`read`)."""
        from vecstore.io.files import NOTHING_PROTECTED, AtomicOutput

        with AtomicOutput(path, overwrite=overwrite, protected=protected or NOTHING_PROTECTED) as f:
            f.write(json.dumps(self.to_dict()).encode())


@dataclass
class DocumentReport:
    """What pooling found: how many tokens were known, which texts had none."""

    set_name: str
    pool: str
    documents: int
    tokens: int
    known_tokens: int
    distinct_tokens: int
    unknown_distinct: int
    case_folded: int
    empty: list[int] = field(default_factory=list)  # texts (0-based) with no known token: zero vectors
    sif_component: list[float] | None = None  # the principal component SIF removed
    seconds: dict[str, float] = field(default_factory=dict)  # tokenise, lookup (rows read), pool
    #: distinct tokens a fastText set lacks, pooled with their subword vectors (counted among known_tokens)
    from_subwords: int = 0

    @property
    def unknown_tokens(self) -> int:
        return self.tokens - self.known_tokens

    def to_dict(self) -> dict[str, object]:
        return {"set": self.set_name, "pool": self.pool, "documents": self.documents, "tokens": self.tokens,
                "known_tokens": self.known_tokens, "unknown_tokens": self.unknown_tokens,
                "distinct_tokens": self.distinct_tokens, "unknown_distinct": self.unknown_distinct,
                "from_subwords": self.from_subwords,
                "case_folded": self.case_folded, "empty": self.empty,
                "seconds": {k: round(v, 4) for k, v in self.seconds.items()}}

    def summary(self, ids: Sequence[str] | None = None) -> str:
        """One line; the documents without a known token named by ``ids`` (default: their
        1-based numbers)."""
        share = 100 * self.known_tokens / self.tokens if self.tokens else 0.0
        computed = f", {self.from_subwords:,} distinct from their subwords" if self.from_subwords else ""
        text = (f"{self.documents:,} documents, {self.tokens:,} tokens: {self.known_tokens:,} known ({share:.1f}%"
                f"{computed}), {self.unknown_tokens:,} unknown skipped ({self.unknown_distinct:,} distinct); "
                f"pool {self.pool}")
        if self.empty:
            names = [ids[i] if ids is not None else str(i + 1) for i in self.empty[:10]]
            shown = ", ".join(printable(n) for n in names) + (", ..." if len(self.empty) > 10 else "")
            text += f"; {len(self.empty):,} with no known token got zero vectors ({shown})"
        return text


@dataclass
class DocumentVectors:
    """One float32 row per text, in input order, and the report."""

    vectors: np.ndarray
    report: DocumentReport


@dataclass
class _Tokens:
    """The texts' tokens as ids into ``distinct``, and where each text's ids start."""

    distinct: list[str]
    ids: np.ndarray  # int64, every token of every text, in order
    starts: np.ndarray  # int64, len(texts) + 1
    df: np.ndarray | None = None  # int64 per distinct token: the texts it appears in (computed on demand)


def tokenize_texts(texts: Sequence[str]) -> _Tokens:
    """Every text's tokens (:func:`vecstore.vocabulary.tokenize`'s), numbered in order of
    first appearance. The texts are standardised together in one pass of C (bytes
    ``translate``) and split and numbered in one more (``_fastparse.number_tokens``, the
    GIL released); without the C extension, by ``str.split`` and a dict."""
    if not texts:
        return _Tokens([], np.empty(0, dtype=np.int64), np.zeros(1, dtype=np.int64))
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) != len(texts) - 1:  # (a text holding the separator itself)
        joined = _SEPARATOR.join(t.replace(_SEPARATOR, " ") for t in texts)
    # In UTF-8 an ASCII byte is always that character: lowering and deleting ASCII bytes
    # is the same standardisation, in C (str.translate takes 4 s for 100,000 texts).
    standard = joined.encode("utf-8", "surrogatepass").translate(_STANDARDIZE_BYTES, STRIPPED_BYTES)
    if _fastparse is not None:
        ids, starts, spans, df = _fastparse.number_tokens(standard, len(texts))
        bounds = np.frombuffer(spans, dtype=np.int64).reshape(-1, 2).tolist()
        distinct = [standard[a:b].decode("utf-8", "surrogatepass") for a, b in bounds]
        return _Tokens(distinct, np.frombuffer(ids, dtype=np.int64), np.frombuffer(starts, dtype=np.int64),
                       np.frombuffer(df, dtype=np.int64))
    text = standard.decode("utf-8", "surrogatepass")
    split = str.split if _OTHER_WHITESPACE.search(text) is None else _split_ascii
    tokens: list[str] = []
    offsets = [0]
    for part in text.split(_SEPARATOR):
        tokens += split(part)
        offsets.append(len(tokens))
    numbered = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    ids_array = np.fromiter(map(numbered.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    return _Tokens(list(numbered), ids_array, np.asarray(offsets, dtype=np.int64))


def _split_ascii(text: str) -> list[str]:
    return [token for token in _WHITESPACE.split(text) if token]


def fit_idf(texts: Sequence[str]) -> Idf:
    """The document frequency of every token of ``texts``."""
    tokens = tokenize_texts(texts)
    return Idf(len(texts), dict(zip(tokens.distinct, _document_frequency(tokens).tolist(), strict=True)))


def _document_frequency(tokens: _Tokens) -> np.ndarray:
    """The number of texts each distinct token appears in (counted in C when tokenising)."""
    if tokens.df is not None:
        return tokens.df
    lengths = np.diff(tokens.starts)
    texts = max(lengths.size, 1)
    owner = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    keys = np.sort(tokens.ids * texts + owner)  # (token, text), sorted: count each pair once
    first = np.ones(keys.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return np.bincount(keys[first] // texts, minlength=len(tokens.distinct))


def document_vectors(embedding_set: EmbeddingSet, texts: Sequence[str], *, pool: str = "mean",
                     idf: Idf | None = None, sif_frequency: str = "rank", sif_a: float = SIF_A,
                     sif_component: Sequence[float] | np.ndarray | None = None,
                     case_fold: bool = True, remove_component: bool = True) -> DocumentVectors:
    """The ``(len(texts), dim)`` float32 vectors of ``texts`` pooled from the set (see the
    module docstring for ``pool`` and its options).

    ``sif_component``: the principal component to remove instead of the texts' own (to
    embed a query as a collection's documents were); with one text and none given, no
    component is removed (one text has no principal component to speak of).
    ``remove_component=False``: SIF's weighted means only (a caller pooling a corpus in
    batches removes the corpus's component itself, see :func:`remove_principal_component`).
    """
    if pool not in POOLS:
        raise InvalidArgumentError(f"must be one of {', '.join(POOLS)}, not {quoted(pool)}", subject="pool")
    if sif_frequency not in SIF_FREQUENCIES:
        raise InvalidArgumentError(f"must be one of {', '.join(SIF_FREQUENCIES)}, not {quoted(sif_frequency)}",
                                   subject="sif_frequency")
    if not 0 < sif_a < 1:
        raise InvalidArgumentError(f"must be between 0 and 1, not {sif_a}", subject="sif_a")
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise InvalidArgumentError("texts are a sequence of str")
    started = time.perf_counter()
    tokens = tokenize_texts(texts)
    tokenised = time.perf_counter()
    rows, case_folded = _rows_of(embedding_set, tokens.distinct, case_fold)
    dim = embedding_set.dim
    known_ids = np.flatnonzero(rows >= 0)
    # The rows the texts need, each read once; id -> its place among them (or -1).
    vectors = embedding_set.vectors_of_rows(rows[known_ids])
    place = np.full(len(tokens.distinct), -1, dtype=np.int64)
    place[known_ids] = np.arange(known_ids.size)
    computed_ids = np.zeros(0, dtype=np.int64)
    if embedding_set.subwords is not None:  # (a fastText set: the tokens it lacks get their subword vectors)
        computed_ids = np.flatnonzero(rows < 0)
        if computed_ids.size:
            vectors = np.concatenate([vectors, embedding_set.subword_vectors(
                [tokens.distinct[i] for i in computed_ids.tolist()])])
            place[computed_ids] = known_ids.size + np.arange(computed_ids.size)
    looked_up = time.perf_counter()
    weights = _weights(pool, tokens, rows, embedding_set, idf, sif_frequency, sif_a)

    token_rows = place[tokens.ids]  # each token's place in `vectors`, -1: unknown
    keep = token_rows >= 0
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(tokens.starts))[keep]
    counts = np.bincount(owner, minlength=len(texts))
    token_weights = None if weights is None else weights[tokens.ids]
    if _fastparse is not None:  # one pass of C over the tokens, adding rows in place
        mode = {"max": 1, "min": 2}.get(pool, 0)
        pooled = _fastparse.pool_rows(vectors, dim, token_rows, tokens.starts, token_weights, mode)
        out = np.frombuffer(pooled, dtype=np.float32).reshape(len(texts), dim).copy()
    else:
        out = _pool_in_batches(vectors, token_rows[keep], owner, None if token_weights is None else
                               token_weights[keep], len(texts), pool)
    empty = np.flatnonzero(counts == 0)
    filled = counts > 0
    if pool == "mean":
        out[filled] /= counts[filled, None]
    elif pool in ("idf", "sif"):
        assert weights is not None
        assert token_weights is not None
        totals = np.bincount(owner, weights=token_weights[keep], minlength=len(texts))
        if pool == "idf":
            out[filled] /= totals[filled, None].astype(np.float32)
        else:
            out[filled] /= counts[filled, None]  # Arora et al.: (1/|s|) sum of a/(a + p(w)) v_w
    component = None
    if pool == "sif" and remove_component:
        component = remove_principal_component(out, None if sif_component is None else
                                               _unit(np.asarray(sif_component, dtype=np.float32), dim))
    report = DocumentReport(embedding_set.name, pool, len(texts), int(tokens.ids.size), int(keep.sum()),
                            len(tokens.distinct), int(len(tokens.distinct) - known_ids.size - computed_ids.size),
                            case_folded,
                            empty.tolist(), None if component is None else component.tolist(),
                            {"tokenise": tokenised - started, "lookup": looked_up - tokenised,
                             "pool": time.perf_counter() - looked_up}, int(computed_ids.size))
    return DocumentVectors(out, report)


def _pool_in_batches(vectors: np.ndarray, rows: np.ndarray, owner: np.ndarray, weights: np.ndarray | None,
                     texts: int, pool: str) -> np.ndarray:
    """The C pooling's result without the C extension: rows gathered a batch of texts at a
    time (at most :data:`BATCH_BYTES` of them) and reduced with ``ufunc.reduceat``."""
    dim = vectors.shape[1]
    out = np.zeros((texts, dim), dtype=np.float32)
    per_batch = max(1, BATCH_BYTES // (4 * dim))
    bounds = np.searchsorted(owner, np.arange(0, texts + 1, dtype=np.int64))  # each text's known tokens
    reduce = {"max": np.maximum, "min": np.minimum}.get(pool, np.add)
    first = 0
    while first < texts:
        last = int(np.searchsorted(bounds, bounds[first] + per_batch, side="right")) - 1
        last = min(max(last, first + 1), texts)
        lo, hi = int(bounds[first]), int(bounds[last])
        if hi > lo:
            gathered = vectors[rows[lo:hi]].astype(np.float64 if reduce is np.add else np.float32)
            if weights is not None:
                gathered *= weights[lo:hi][:, None]
            filled = np.flatnonzero(np.diff(bounds[first:last + 1]))
            out[first + filled] = reduce.reduceat(gathered, (bounds[first:last] - lo)[filled], axis=0)
        first = last
    return out


def _rows_of(embedding_set: EmbeddingSet, distinct: list[str], case_fold: bool) -> tuple[np.ndarray, int]:
    """The set's row of each distinct token (-1: unknown), with the matrix builder's case
    fallback; and how many were found lower-cased."""
    rows, folded = embedding_set.rows_case_folded(distinct, case_fold)
    return rows, len(folded)


def _weights(pool: str, tokens: _Tokens, rows: np.ndarray, embedding_set: EmbeddingSet, idf: Idf | None,
             sif_frequency: str, sif_a: float) -> np.ndarray | None:
    """A float32 weight per distinct token, for ``idf`` and ``sif`` pooling."""
    if pool == "idf":
        if idf is None:
            df = _document_frequency(tokens)
            n = tokens.starts.size - 1
            return (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        return np.asarray([idf.weight(t) for t in tokens.distinct], dtype=np.float32)
    if pool == "sif":
        if sif_frequency == "texts":
            counts = np.bincount(tokens.ids, minlength=len(tokens.distinct)).astype(np.float64)
            p = counts / max(counts.sum(), 1.0)
        else:  # Zipf's law over the set's rows, most frequent first: p(rank r) = 1 / (r * H_n)
            n = len(embedding_set)
            harmonic = math.log(n) + 0.5772156649 + 1 / (2 * n) if n else 1.0
            p = np.where(rows >= 0, 1.0 / (np.maximum(rows, 0) + 1) / harmonic, 0.0)
        return (sif_a / (sif_a + p)).astype(np.float32)
    return None


def remove_principal_component(vectors: np.ndarray, component: np.ndarray | None = None) -> np.ndarray | None:
    """Remove from each row (in place) its projection on ``component``, by default the
    rows' own first principal component (of the non-zero rows, when there are two or
    more); return the component removed. Zero rows stay zero."""
    filled = np.abs(vectors).sum(axis=1) > 0
    if component is None:
        component = _principal_component(vectors[filled]) if filled.sum() > 1 else None
    if component is not None:
        vectors[filled] -= np.outer(vectors[filled] @ component, component).astype(np.float32)
    return component


def _principal_component(vectors: np.ndarray) -> np.ndarray | None:
    """The first right singular vector of ``vectors`` (uncentred, as Arora et al.'s
    TruncatedSVD), sign fixed so its largest entry is positive."""
    if not vectors.size:
        return None
    _, _, vt = np.linalg.svd(vectors.astype(np.float64), full_matrices=False)
    component = vt[0]
    if component[np.argmax(np.abs(component))] < 0:
        component = -component
    return component.astype(np.float32)


def _unit(component: np.ndarray, dim: int) -> np.ndarray:
    if component.shape != (dim,) or not np.isfinite(component).all() or not np.linalg.norm(component):
        raise InvalidArgumentError(f"sif_component must be {dim} finite values, not all zero")
    return (component / np.linalg.norm(component)).astype(np.float32)
