"""A set's derived files beside the store: a raw copy of its rows, and indexes.

- :mod:`~vecstore.index.folder`: the folder of derived files (manifests, publishing,
  orphans, leftovers of killed writes);
- :mod:`~vecstore.index.kind`: what an index kind provides;
- :mod:`~vecstore.index.exact`: the exact search over the raw rows (the default kind,
  which needs no file of its own);
- :mod:`~vecstore.index.flat`: FAISS's ``IndexFlatIP`` of unit rows, the exact kind of
  stores written before: still read, replaced by the rows kind when a query meets it.

An index kind is one class, registered in :data:`KINDS`; the manifest records the kind
and its parameters, and answers are always re-scored from the store's rows, never read
back from an index. (The approximate kinds are :mod:`~vecstore.index.approximate`.)
"""

from __future__ import annotations

from vecstore.index.exact import RowsIndex
from vecstore.index.flat import FlatIndex
from vecstore.index.kind import IndexKind

#: Every index kind by the name its manifest records.
KINDS: dict[str, IndexKind] = {kind.name: kind for kind in (RowsIndex(), FlatIndex())}

#: The kind a set's index is built as.
DEFAULT_KIND = KINDS[RowsIndex.name]


def has_file(kind: IndexKind) -> bool:
    """Whether ``kind`` writes a file of its own (the rows kind does not)."""
    return getattr(kind, "has_file", True)
