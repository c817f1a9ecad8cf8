"""Summary statistics of a set's values, kept with the set.

Filling the rows of words a set lacks (``--oov mean`` or ``random``) needs the set's mean
vector and the mean and standard deviation of all its values. They are accumulated while
the set is imported (float64 sums, block by block) and stored in its row, so building a
matrix never reads the vectors of words it does not need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SetStats:
    """The mean vector, and the mean and standard deviation of all values, of a set."""

    mean: np.ndarray  # (dim,) float64
    value_mean: float
    value_std: float

    @classmethod
    def of(cls, vectors: np.ndarray) -> SetStats:
        accumulator = StatsAccumulator(vectors.shape[1])
        accumulator.add(vectors)
        return accumulator.result()

    def to_json(self) -> str:
        return json.dumps({"mean": self.mean.tolist(), "value_mean": self.value_mean, "value_std": self.value_std})

    @classmethod
    def from_json(cls, text: str) -> SetStats:
        data = json.loads(text)
        return cls(np.asarray(data["mean"], dtype=np.float64), float(data["value_mean"]), float(data["value_std"]))


class StatsAccumulator:
    """Sums of rows and of squared values, in float64, as blocks of rows stream by."""

    def __init__(self, dim: int) -> None:
        self.rows = 0
        self._sum = np.zeros(dim, dtype=np.float64)
        self._squares = 0.0

    def add(self, vectors: np.ndarray, sign: int = 1, squares: float | None = None) -> None:
        """Add rows (``sign=-1`` takes rows back out: a repeated word's replaced vector);
        ``squares``, the sum of their squared values, when the caller has it already."""
        rows = np.asarray(vectors, dtype=np.float32).reshape(-1, self._sum.shape[0])
        self.rows += sign * rows.shape[0]
        # Summed in float64 without a float64 copy of the block.
        self._sum += sign * rows.sum(axis=0, dtype=np.float64)
        if squares is None:
            squares = float(np.einsum("ij,ij->", rows, rows, dtype=np.float64))
        self._squares += sign * squares

    def result(self) -> SetStats:
        values = self.rows * self._sum.shape[0]
        if values == 0:
            return SetStats(np.zeros_like(self._sum), 0.0, 0.0)
        mean = self._sum / self.rows
        value_mean = float(self._sum.sum() / values)
        variance = max(self._squares / values - value_mean**2, 0.0)
        return SetStats(mean, value_mean, variance**0.5)
