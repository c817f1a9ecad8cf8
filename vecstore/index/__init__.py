"""A set's derived files beside the store: its search index and a raw copy of its rows.

- :mod:`~vecstore.index.folder`: the folder of derived files (manifests, publishing,
  orphans, leftovers of killed writes);
- :mod:`~vecstore.index.kind`: what an index kind provides;
- :mod:`~vecstore.index.flat`: the exact ``IndexFlatIP`` kind.

An index kind is one class (see :class:`~vecstore.index.flat.FlatIndex`), registered in
:data:`KINDS`; the manifest records the kind and its parameters, and answers are always
re-scored from the store's rows, never read back from an index.
"""

from __future__ import annotations

from vecstore.index.flat import FlatIndex
from vecstore.index.kind import IndexKind

#: Every index kind by the name its manifest records.
KINDS: dict[str, IndexKind] = {kind.name: kind for kind in (FlatIndex(),)}

#: The kind a set's index is built as.
DEFAULT_KIND = KINDS[FlatIndex.name]
