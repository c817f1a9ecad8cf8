"""Vectors for words a set without subwords lacks, from the known words that look alike.

``matrix --oov similar`` (``embedding_matrix(..., oov="similar")``) for sets like GloVe,
which keep no n-gram rows. After Magnitude (Patel, Sands, Callison-Burch and Apidianaki
2018, "Magnitude: A Fast, Efficient Universal Vector Embedding Utility Package"), which
gives an unseen word a vector from the known words sharing its character n-grams, this
is done as follows:

1. the word's character n-grams, 4 and 5 characters of ``<word>`` (fastText's cut and
   hash, :mod:`vecstore.subwords`, into 2^20 buckets), as a set (3-grams measured a mean
   cosine of 0.413 against 0.398, at 2.4 times the cost: 47 ms against 20 for 2,000
   words);
2. the :data:`LOOKALIKES` known words (among the set's first :data:`KNOWN_ROWS`) whose
   n-grams are most like its own (the distinct n-grams both have, over the asked word's
   distinct n-grams plus the known word's n-gram count less those shared: Jaccard, with
   a known word's repeated n-gram counted twice), found in one pass of C over the known
   words, on both cores, through an inverted list of the asked words' n-grams
   (``_fastparse.lookalikes``);
3. the word's direction is their unit vectors weighted by that likeness, summed; its
   length the set's typical norm (the root mean square of its rows, from the stored
   statistics).

A word none of whose n-grams occurs in the set gets no vector (it stays missing). The
quality is measured by ``benchmarks/bench_oov.py``: GloVe words held out, rebuilt this
way, compared with their true vectors (docs/keras.md has the figures).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vecstore.subwords import ngram_buckets

if TYPE_CHECKING:
    import numpy as np

    from vecstore.query import EmbeddingSet
else:
    from vecstore._lazy import numpy as np

try:
    from vecstore import _fastparse
except ImportError:  # built without a C compiler: the Python loop below
    _fastparse = None

MINN, MAXN, BUCKETS = 4, 5, 1 << 20
#: How many look-alike known words make an unseen word's vector.
LOOKALIKES = 10
#: The known words looked among: the set's first rows. Embedding files list their words by
#: frequency, and past the first 100,000 GloVe's are mostly rare strings (names, codes,
#: e-mail addresses). Measured on GloVe 6B 50d with 2,000 held-out words and 3- to 5-grams:
#: the first 100,000 gave a mean cosine of 0.413 to the true vectors in 50 ms, the first
#: 200,000 0.439 in 90 ms, all 400,000 0.420 in 164 ms, the first 50,000 0.339.
KNOWN_ROWS = 100_000


def lookalike_vectors(embedding_set: EmbeddingSet, words: Sequence[str], *,
                      leave_out: Sequence[int] = ()) -> tuple[np.ndarray, list[bool]]:
    """The vectors of ``words`` (none of which need be in the set) from the set's known
    words that look most alike, float32, one row a word; and whether each got one.
    ``leave_out``: rows not to learn from (a held-out evaluation's)."""
    words = [w.replace("\n", " ") for w in words]  # (a line break cannot be in a known word: as a space)
    dim, count = embedding_set.dim, min(len(embedding_set), KNOWN_ROWS)
    out = np.zeros((len(words), dim), dtype=np.float32)
    if not words or not count:
        return out, [False] * len(words)
    skip = np.zeros(count if len(leave_out) else 0, dtype=np.uint8)
    if len(leave_out):
        left = np.asarray(leave_out, dtype=np.int64)
        skip[left[left < count]] = 1
    if _fastparse is not None:
        asked = "\n".join(words).encode("utf-8", "surrogatepass")
        rows_bytes, scores_bytes = _fastparse.lookalikes(embedding_set.set_words.joined(), count, asked, len(words),
                                                         MINN, MAXN, BUCKETS, LOOKALIKES, skip.tobytes())
        rows = np.frombuffer(rows_bytes, dtype=np.int64).reshape(len(words), LOOKALIKES)
        scores = np.frombuffer(scores_bytes, dtype=np.float32).reshape(len(words), LOOKALIKES)
    else:
        rows, scores = _lookalikes_python(embedding_set.words[:count], words, skip)
    found = (rows >= 0).any(axis=1)
    used, places = np.unique(np.where(rows >= 0, rows, 0), return_inverse=True)
    vectors = embedding_set.vectors_of_rows(used).astype(np.float64)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-30)
    weights = np.where(rows >= 0, scores, 0).astype(np.float64)  # (a row of -1 weighs nothing)
    directions = np.einsum("nm,nmd->nd", weights, vectors[places.reshape(rows.shape)])
    norms = np.linalg.norm(directions, axis=1)
    found &= (norms > 0) & np.isfinite(norms)
    stats = embedding_set.stats()
    typical = math.sqrt(dim * (stats.value_std ** 2 + stats.value_mean ** 2))
    out[found] = directions[found] * (typical / norms[found])[:, None]
    return out, found.tolist()


#: Words longer than this (UTF-8 bytes) have no look-alikes and are none (as in the C).
MAX_WORD_BYTES = 1024


def _grams(word: str) -> list[int]:
    if len(word.encode("utf-8", "surrogatepass")) > MAX_WORD_BYTES:
        return []
    return ngram_buckets(word, MINN, MAXN, BUCKETS)


def _lookalikes_python(known: list[str], words: list[str], skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_fastparse.lookalikes`` without the C extension (slow: seconds for GloVe)."""
    asked = [set(_grams(w)) for w in words]
    best: list[list[tuple[float, int]]] = [[] for _ in words]
    for row, word in enumerate(known):
        if len(skip) and skip[row]:
            continue
        cut = _grams(word)
        grams = set(cut)
        for i, wanted in enumerate(asked):
            shared = len(grams & wanted)
            if shared:  # (float32, as the C computes it, so that ties fall the same way)
                best[i].append((-float(np.float32(shared) / np.float32(len(wanted) + len(cut) - shared)), row))
    rows = np.full((len(words), LOOKALIKES), -1, dtype=np.int64)
    scores = np.zeros((len(words), LOOKALIKES), dtype=np.float32)
    for i, found in enumerate(best):
        for j, (score, row) in enumerate(sorted(found)[:LOOKALIKES]):
            rows[i, j], scores[i, j] = row, -score
    return rows, scores
