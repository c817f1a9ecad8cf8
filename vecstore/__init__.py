"""vecstore: import word embeddings once, query them from every project.

The public surface is small and loads lazily, so ``import vecstore`` costs nothing until
a name is used (a cold ``vecstore neighbours`` must not pay for SQLAlchemy or TensorFlow)::

    from vecstore import Store
    glove = Store().get("glove-6b-50d")
    glove.neighbours("king", k=5)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Store": "vecstore.store",
    "ImportResult": "vecstore.store",
    "EmbeddingSet": "vecstore.embeddings",
    "Neighbour": "vecstore.embeddings",
    "SetInfo": "vecstore.catalog",
    "VecstoreError": "vecstore.errors",
    "StoreError": "vecstore.errors",
    "SetNotFoundError": "vecstore.errors",
    "SetExistsError": "vecstore.errors",
    "UnknownWordError": "vecstore.errors",
    "InputFileError": "vecstore.errors",
    "InvalidArgumentError": "vecstore.errors",
    "MissingDependencyError": "vecstore.errors",
    "Vocabulary": "vecstore.vocabulary",
    "Coverage": "vecstore.matrix",
    "EmbeddingMatrix": "vecstore.matrix",
}

__all__ = [
    "Coverage",
    "EmbeddingMatrix",
    "EmbeddingSet",
    "ImportResult",
    "InputFileError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "Neighbour",
    "SetExistsError",
    "SetInfo",
    "SetNotFoundError",
    "Store",
    "StoreError",
    "UnknownWordError",
    "VecstoreError",
    "Vocabulary",
    "__version__",
]

if TYPE_CHECKING:
    from vecstore.catalog import SetInfo
    from vecstore.embeddings import EmbeddingSet, Neighbour
    from vecstore.errors import (
        InputFileError,
        InvalidArgumentError,
        MissingDependencyError,
        SetExistsError,
        SetNotFoundError,
        StoreError,
        UnknownWordError,
        VecstoreError,
    )
    from vecstore.matrix import Coverage, EmbeddingMatrix
    from vecstore.store import ImportResult, Store
    from vecstore.vocabulary import Vocabulary


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vecstore' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
