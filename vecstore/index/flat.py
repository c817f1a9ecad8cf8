"""The exact index: FAISS ``IndexFlatIP`` over a set's unit rows (inner product of unit
vectors = cosine similarity, exactly).

An import streams the unit rows straight into the file as they arrive, under a
hand-written ``IndexFlatIP`` header (a test pins it to what ``faiss.write_index``
writes, byte for byte), so the import never holds the matrix in memory.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar

import numpy as np

from vecstore.integrity import Layout, index_layout

if TYPE_CHECKING:
    import faiss

#: The header of a FAISS ``IndexFlatIP`` file, as ``faiss.write_index`` writes it: fourcc,
#: d, ntotal, two unused int64, is_trained, metric type (0 = inner product), then the
#: number of floats that follow.
FLAT_IP_HEADER = struct.Struct("<4siqqq?iQ")


def flat_ip_header(dim: int, rows: int) -> bytes:
    return FLAT_IP_HEADER.pack(b"IxFI", dim, rows, 1 << 20, 1 << 20, True, 0, rows * dim)


class FlatIndex:
    """Exact cosine search. One class per index kind: what its file holds, how it is
    written while rows stream in, how it is read back and searched."""

    #: The kind as the manifest records it (with :attr:`params`).
    name = "IndexFlatIP/cosine"
    params: ClassVar[dict[str, object]] = {}
    #: The file's payload is the unit rows, verbatim, after :data:`FLAT_IP_HEADER`:
    #: ``check`` compares them with the stored vectors byte for byte.
    rows_offset: int | None = FLAT_IP_HEADER.size

    def layout(self) -> Layout:
        return index_layout()

    def head(self, dim: int, rows: int) -> bytes:
        """The file's bytes before its rows."""
        return flat_ip_header(dim, rows)

    def payload_size(self, count: int, dim: int) -> int:
        return FLAT_IP_HEADER.size + count * dim * 4

    # -- writing, as rows stream in ---------------------------------------------------------

    def begin(self, file: BinaryIO, dim: int) -> None:
        file.write(self.head(dim, 0))

    def add(self, file: BinaryIO, unit_rows: np.ndarray) -> None:
        file.write(_bytes_of(unit_rows))

    def replace(self, file: BinaryIO, row: int, dim: int, unit_row: np.ndarray) -> None:
        """Overwrite one row already added (a repeated word given its newest vector)."""
        file.flush()
        os.pwrite(file.fileno(), _bytes_of(unit_row), FLAT_IP_HEADER.size + row * dim * 4)

    def end(self, file: BinaryIO, dim: int, rows: int) -> None:
        """The final header, now that the row count is known."""
        file.flush()
        os.pwrite(file.fileno(), self.head(dim, rows), 0)

    # -- reading ------------------------------------------------------------------------------

    def load(self, path: Path) -> faiss.Index:
        """The index in ``path``, mapped rather than read: opening costs milliseconds, not a copy."""
        import faiss

        return faiss.read_index(str(path), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))

    def build(self, unit_rows: np.ndarray) -> faiss.Index:
        """The index of ``unit_rows``, in memory."""
        import faiss

        index = faiss.IndexFlatIP(unit_rows.shape[1])
        index.add(unit_rows)
        return index


def _bytes_of(rows: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(rows, dtype="<f4")).cast("B")
