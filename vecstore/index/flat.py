"""FAISS ``IndexFlatIP`` over a set's unit rows (inner product of unit vectors = cosine
similarity, exactly): the exact index of stores written before the rows kind
(:mod:`vecstore.index.exact`), still read, and replaced by it when a query meets one.

An import streams the unit rows straight into the file as they arrive, under a
hand-written ``IndexFlatIP`` header (a test pins it to what ``faiss.write_index``
writes, byte for byte), so the import never holds the matrix in memory.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from vecstore.integrity import Layout, index_layout

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np

if TYPE_CHECKING:
    import faiss

#: The header of a FAISS ``IndexFlatIP`` file, as ``faiss.write_index`` writes it: fourcc,
#: d, ntotal, two unused int64, is_trained, metric type (0 = inner product), then the
#: number of floats that follow.
FLAT_IP_HEADER = struct.Struct("<4siqqq?iQ")


def flat_ip_header(dim: int, rows: int) -> bytes:
    return FLAT_IP_HEADER.pack(b"IxFI", dim, rows, 1 << 20, 1 << 20, True, 0, rows * dim)


class FlatIndex:
    """Exact cosine search over every row (see :class:`~vecstore.index.kind.IndexKind`)."""

    name = "IndexFlatIP/cosine"
    params: ClassVar[dict[str, Any]] = {}
    rows_offset: int | None = FLAT_IP_HEADER.size
    has_file = True

    def layout(self) -> Layout:
        return index_layout()

    def head(self, dim: int, rows: int) -> bytes:
        return flat_ip_header(dim, rows)

    def payload_size(self, count: int, dim: int) -> int:
        return FLAT_IP_HEADER.size + count * dim * 4

    def writer(self, file: BinaryIO, dim: int) -> _FlatWriter:
        return _FlatWriter(file, dim)

    def load(self, path: Path) -> faiss.Index:
        """The index in ``path``, mapped rather than read: opening costs milliseconds, not a copy."""
        import faiss

        return faiss.read_index(str(path), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))

    def build(self, unit_rows: np.ndarray) -> faiss.Index:
        import faiss

        index = faiss.IndexFlatIP(unit_rows.shape[1])
        index.add(unit_rows)
        return index


class _FlatWriter:
    """The rows go to the file as they come; the header gets the row count at the end."""

    def __init__(self, file: BinaryIO, dim: int) -> None:
        self.file, self.dim = file, dim
        file.write(flat_ip_header(dim, 0))

    def add(self, unit_rows: np.ndarray) -> None:
        self.file.write(_bytes_of(unit_rows))

    def replace(self, row: int, unit_row: np.ndarray) -> None:
        self.file.flush()
        os.pwrite(self.file.fileno(), _bytes_of(unit_row), FLAT_IP_HEADER.size + row * self.dim * 4)

    def finish(self, rows: int) -> None:
        self.file.flush()
        os.pwrite(self.file.fileno(), flat_ip_header(self.dim, rows), 0)


def _bytes_of(rows: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(rows, dtype="<f4")).cast("B")


_blas_lock = threading.Lock()
_blas_users = 0
_blas_saved = 0


@contextlib.contextmanager
def blas_for_batches(queries: int) -> Iterator[None]:
    """Make FAISS's exact search use BLAS (a blocked matrix product) for a batch of
    ``queries``: below ``faiss.cvar.distance_compute_blas_threshold`` (128,000 in faiss
    1.15) it scans row by row per query, many times slower for a batch. The setting is a
    global of FAISS's: lowered while any batch runs (counted under a lock, so threads
    overlapping do not leave it lowered) and restored after the last."""
    import faiss

    global _blas_users, _blas_saved
    if queries <= 1:
        yield
        return
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved = faiss.cvar.distance_compute_blas_threshold
            faiss.cvar.distance_compute_blas_threshold = min(_blas_saved, 2)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                faiss.cvar.distance_compute_blas_threshold = _blas_saved
