"""Cosine similarity as inner products of unit vectors: the normalisation every index,
query and evaluation shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows (all-zero rows stay zero).

    Squared norms are summed in float32 (fast); rows whose sum overflows (values beyond
    about 1e19) or underflows to zero while not zero are redone in float64.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    flat = vectors.reshape(-1, vectors.shape[-1])
    with np.errstate(over="ignore", under="ignore"):
        norms = np.sqrt(np.einsum("ij,ij->i", flat, flat))
    if norms.size and norms.min() >= 1e-18 and norms.max() < np.inf:  # (the usual rows: what unit_rows gives them)
        return np.ascontiguousarray(flat / norms[:, None]).reshape(vectors.shape)
    return unit_rows(vectors)[0]


def squared_sum(vectors: np.ndarray) -> float:
    """The sum of all squared values (float64), as :func:`unit_rows` measures it, without
    making the unit rows."""
    flat = np.asarray(vectors, dtype=np.float32).reshape(-1, np.shape(vectors)[-1])
    with np.errstate(over="ignore", under="ignore"):
        squares = np.einsum("ij,ij->i", flat, flat)
    unsafe = ~np.isfinite(squares) | ((squares < 1e-36) & flat.any(axis=1))
    if unsafe.any():  # (overflowed or underflowed in float32: those rows again in float64)
        wide = flat[unsafe].astype(np.float64)
        return float(squares[~unsafe].sum(dtype=np.float64) + np.einsum("ij,ij->", wide, wide))
    return float(squares.sum(dtype=np.float64))


def unit_rows(vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`normalized` rows, and the sum of all squared values (float64) it measured on
    the way (an import's statistics need it: one pass instead of two)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    flat = vectors.reshape(-1, vectors.shape[-1])
    with np.errstate(over="ignore", under="ignore"):
        squares = np.einsum("ij,ij->i", flat, flat)
    norms = np.sqrt(squares)
    unsafe = ~np.isfinite(norms)
    tiny = np.flatnonzero(norms < 1e-18)  # zero rows, or rows whose squares underflowed
    if tiny.size:
        unsafe[tiny] = flat[tiny].any(axis=1)
    if unsafe.any():
        wide = flat[unsafe].astype(np.float64)
        wide_norms = np.linalg.norm(wide, axis=1)
        total = float(squares[~unsafe].sum(dtype=np.float64) + (wide_norms**2).sum())
        norms[unsafe] = wide_norms  # (the division below uses these float64 norms)
        out = flat / np.where(norms == 0, 1.0, norms)[:, None]
        out[unsafe] = (wide / wide_norms[:, None]).astype(np.float32)
    else:
        total = float(squares.sum(dtype=np.float64))
        norms[norms == 0] = 1.0
        out = flat / norms[:, None]
    return np.ascontiguousarray(out, dtype=np.float32).reshape(vectors.shape), total
