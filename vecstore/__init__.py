"""vecstore: import word embeddings once, query them from every project.

The public surface is small and loads lazily, so ``import vecstore`` costs nothing until
a name is used (a cold ``vecstore neighbours`` must not pay for SQLAlchemy or TensorFlow)::

    from vecstore import Store
    glove = Store().get("glove-6b-50d")
    glove.neighbours("king", k=5)
"""

from __future__ import annotations

from vecstore._lazy import lazy_exports

__version__ = "0.1.0"

#: The public names, each with the module that defines it (the one list of them).
_EXPORTS = {
    "Store": "vecstore.store",
    "EmbeddingSet": "vecstore.query",
    "Neighbour": "vecstore.query",
    "SetInfo": "vecstore.storage.records",
    "ImportResult": "vecstore.importer",
    "ReadOptions": "vecstore.io.readers",
    "Vocabulary": "vecstore.vocabulary",
    "Coverage": "vecstore.matrix",
    "EmbeddingMatrix": "vecstore.matrix",
    "LabelledTexts": "vecstore.labels",
    "read_labelled": "vecstore.labels",
    "VecstoreError": "vecstore.errors",
    "StoreError": "vecstore.errors",
    "SetNotFoundError": "vecstore.errors",
    "SetExistsError": "vecstore.errors",
    "UnknownWordError": "vecstore.errors",
    "InputFileError": "vecstore.errors",
    "InvalidArgumentError": "vecstore.errors",
    "MissingDependencyError": "vecstore.errors",
}

__all__ = [*_EXPORTS, "__version__"]


__getattr__, __dir__ = lazy_exports("vecstore", globals(), _EXPORTS)
