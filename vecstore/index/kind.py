"""What an index kind is: one class per kind (flat now; HNSW and IVF next)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import numpy as np

from vecstore.integrity import Layout

if TYPE_CHECKING:
    import faiss


class IndexKind(Protocol):
    #: The kind's name, as a manifest records it (a manifest of another kind is stale).
    name: str
    #: Its parameters (HNSW's M, IVF's nlist...), recorded in the manifest with the name.
    params: dict[str, Any]
    #: Where the unit rows start in the file, when it holds them verbatim (``check``
    #: compares them with the stored vectors), else None.
    rows_offset: int | None

    def layout(self) -> Layout:
        """How the file's footer cuts its payload into checksummed blocks."""
        ...

    def head(self, dim: int, rows: int) -> bytes:
        """The file's bytes before its rows (what ``check`` expects there)."""
        ...

    def payload_size(self, count: int, dim: int) -> int: ...

    def begin(self, file: BinaryIO, dim: int) -> None:
        """Start the file of an import (rows follow through :meth:`add`)."""
        ...

    def add(self, file: BinaryIO, unit_rows: np.ndarray) -> None: ...

    def replace(self, file: BinaryIO, row: int, dim: int, unit_row: np.ndarray) -> None: ...

    def end(self, file: BinaryIO, dim: int, rows: int) -> None:
        """Complete the file once every row is in (a kind that trains or builds a graph
        does it here)."""
        ...

    def load(self, path: Path) -> faiss.Index: ...

    def build(self, unit_rows: np.ndarray) -> faiss.Index: ...
