"""The exact index: cosine search over a set's raw rows as stored, with no copy of them.

A set's derived rows file (``<uid>.rows``, its vectors as the store holds them, each
block checked against the database's own chunk digests) serves the exact search, the
matrices and every re-scoring alike: one copy of the rows beside the store. The search
divides each row's dot product by the row's norm as it goes, so no unit-length copy is
kept.

- A few queries (a cold ``vecstore neighbours``): one pass of C over the mapped rows
  (``_fastparse.cosine_top``: the dot and the row's norm share the read, a bounded heap
  keeps the k best), no FAISS: importing FAISS costs a cold query more than the search.
- A batch: FAISS's exact search (a blocked matrix product, BLAS) over the unit rows of a
  block of rows at a time, the blocks' best merged: memory stays bounded whatever the set.
"""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from vecstore.cosine import normalized
from vecstore.integrity import Layout

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np

try:
    from vecstore import _fastparse
except ImportError:  # built without a C compiler: numpy does the same in two passes
    _fastparse = None

#: Queries the C pass answers at once; a larger batch goes through BLAS.
FEW_QUERIES = 2
#: Rows a batch's exact search normalises and searches at a time (64 MiB of 256 dims).
BLOCK_ROWS = 1 << 16


class ExactSearch:
    """Exact cosine search over float32 rows (any length, zero rows score 0), with the
    search interface of a FAISS index: ``ntotal``, ``d`` and ``search(queries, k)``; and
    :meth:`search_one`, a single query in plain Python lists (no numpy on that path).

    ``rows`` is any C-contiguous buffer of ``count`` x ``dim`` float32: the mapped raw rows
    (a memoryview), or an array.
    """

    def __init__(self, rows: Any, count: int | None = None, dim: int | None = None) -> None:
        if count is None or dim is None:
            count, dim = rows.shape
        self._buffer = rows
        self.ntotal, self.d = count, dim

    @property
    def rows(self) -> np.ndarray:
        """The rows as a (count, dim) float32 array over the same memory (no copy)."""
        return np.frombuffer(self._buffer, dtype=np.float32, count=self.ntotal * self.d).reshape(self.ntotal, self.d)

    def search(self, unit_queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for each unit query: (scores, rows), float32 and int64,
        ``(queries, k)``, best first; -1 (and -inf) where the set has fewer than k rows."""
        queries = np.ascontiguousarray(unit_queries, dtype=np.float32).reshape(-1, self.d)
        k = max(1, int(k))
        if not len(queries) or self.ntotal == 0:
            return (np.full((len(queries), k), -np.inf, dtype=np.float32),
                    np.full((len(queries), k), -1, dtype=np.int64))
        if len(queries) <= FEW_QUERIES:
            return self._scan(queries, k)
        return self._blocks(queries, k)

    def search_one(self, unit_query: Any, k: int) -> tuple[list[int], list[float]]:
        """The ``k`` best rows of one unit query (a buffer of ``d`` float32): (rows,
        scores), best first, padded with -1 and -inf as :meth:`search` pads. Through the C
        pass without numpy (what a cold ``vecstore neighbours`` runs)."""
        k = max(1, int(k))
        if _fastparse is None or self.ntotal == 0:
            scores, rows = self.search(np.frombuffer(unit_query, dtype=np.float32), k)
            return rows[0].tolist(), scores[0].tolist()
        ids, scores = _fastparse.cosine_top(self._buffer, self.d, unit_query, k)
        return array("q", ids).tolist(), array("f", scores).tolist()

    def _scan(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if _fastparse is not None:
            ids, scores = _fastparse.cosine_top(self._buffer, self.d, queries, k)
            shape = (len(queries), k)
            return np.frombuffer(scores, dtype=np.float32).reshape(shape), np.frombuffer(ids, np.int64).reshape(shape)
        return self._blocks(queries, k)

    def _blocks(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from vecstore.index.flat import blas_for_batches

        best_scores, best_rows, table = [], [], self.rows
        with blas_for_batches(len(queries)):
            for start in range(0, self.ntotal, BLOCK_ROWS):
                unit = normalized(table[start:start + BLOCK_ROWS])
                scores, rows = _knn(queries, unit, min(k, len(unit)))
                best_scores.append(scores)
                best_rows.append(np.where(rows >= 0, rows + start, -1))
        scores, rows = np.concatenate(best_scores, axis=1), np.concatenate(best_rows, axis=1)
        order = np.lexsort((rows, -scores), axis=-1)[:, :k]  # (best first; ties to the lower row)
        scores, rows = np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)
        if scores.shape[1] < k:  # (fewer rows than k: padded as FAISS pads)
            pad = k - scores.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
        return scores.astype(np.float32), rows.astype(np.int64)


def _knn(queries: np.ndarray, unit_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's exact inner-product search of ``queries`` over ``unit_rows`` (BLAS), or
    numpy's where FAISS is missing."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency
        scores = queries @ unit_rows.T
        rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, rows, axis=1), rows
    return faiss.knn(queries, np.ascontiguousarray(unit_rows), k, metric=faiss.METRIC_INNER_PRODUCT)


class RowsIndex:
    """The exact kind (see :class:`~vecstore.index.kind.IndexKind`): no file of its own,
    the set's raw rows are its data, so the kind's writer and file are never used."""

    name = "rows/cosine"
    params: ClassVar[dict[str, Any]] = {}
    rows_offset: int | None = None
    #: Whether the kind writes a file of its own beside the raw rows.
    has_file = False

    def layout(self) -> Layout:  # pragma: no cover - never called for a kind without a file
        raise NotImplementedError("the rows kind has no file")

    def head(self, dim: int, rows: int) -> bytes:
        return b""

    def payload_size(self, count: int, dim: int) -> int | None:
        return None

    def writer(self, file: BinaryIO, dim: int) -> Any:  # pragma: no cover - see has_file
        raise NotImplementedError("the rows kind has no file")

    def load(self, path: Path) -> Any:  # pragma: no cover - see has_file
        raise NotImplementedError("the rows kind has no file")

    def build(self, unit_rows: np.ndarray) -> ExactSearch:
        return ExactSearch(np.ascontiguousarray(unit_rows, dtype=np.float32))
