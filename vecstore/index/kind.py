"""What an index kind is: one class per kind (the rows kind, FAISS's flat one, or a
kind of your own registered in :data:`vecstore.index.KINDS`).

A kind says what its file holds and how it is made and read: a writer fed the unit rows
as an import streams them (a kind that trains or builds a graph keeps what it needs and
builds in :meth:`IndexWriter.finish`), a loader, and an in-memory build. The folder
(:mod:`vecstore.index.folder`) does the rest for every kind: temp files, the checksum
footer, the manifest (which records the kind's name and parameters), publishing.
Answers never come from an index's vectors: queries re-score from the store's rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from vecstore.integrity import Layout

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np

if TYPE_CHECKING:
    import faiss


class IndexWriter(Protocol):
    """Writes one set's index file while its rows stream in."""

    def add(self, unit_rows: np.ndarray) -> None: ...

    def replace(self, row: int, unit_row: np.ndarray) -> None:
        """Overwrite one row already added (a repeated word given its newest vector)."""
        ...

    def finish(self, rows: int) -> None:
        """Complete the file once all ``rows`` are in."""
        ...


class IndexKind(Protocol):
    #: The kind's name, as a manifest records it (see :data:`vecstore.index.KINDS`).
    name: str
    #: Its parameters (HNSW's M, IVF's nlist...), recorded in the manifest with the name.
    params: dict[str, Any]
    #: Where the unit rows start in the file when it holds them verbatim (``check``
    #: then compares them with the stored vectors byte for byte), else None.
    rows_offset: int | None
    #: (Optional, True if absent) whether the kind writes a file of its own; the rows
    #: kind does not: the set's raw rows are its data.

    def layout(self) -> Layout:
        """The footer's file kind and how it cuts the payload into checksummed blocks."""
        ...

    def head(self, dim: int, rows: int) -> bytes:
        """The bytes the file must start with (``check`` compares them; b"" if none)."""
        ...

    def payload_size(self, count: int, dim: int) -> int | None:
        """The file's size before its footer, when the set's shape decides it (else None)."""
        ...

    def writer(self, file: BinaryIO, dim: int) -> IndexWriter: ...

    def load(self, path: Path) -> faiss.Index: ...

    def build(self, unit_rows: np.ndarray) -> faiss.Index:
        """The index of ``unit_rows``, in memory."""
        ...
