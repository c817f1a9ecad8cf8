"""Trained embeddings read back from Keras model files, and stored as sets.

:func:`import_keras` stores the trained embedding of a ``.keras`` or ``.h5`` model as a
set of the store (through :meth:`vecstore.store.Store.import_vectors`), recording the
model file's sha256 and the set it was seeded from. The cheap checks come first:
TensorFlow is imported (by :func:`read_embedding`) only when the model must be read.
The bridge depends on the store; the store knows nothing of Keras.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, listed, printable, quoted
from vecstore.keras.naming import PARENT_IN_NAME
from vecstore.names import check_name

if TYPE_CHECKING:
    from vecstore.importer import ImportResult
    from vecstore.store import Store
    from vecstore.vocabulary import Vocabulary



def import_keras(store: Store, model: str | os.PathLike[str], vocabulary: Vocabulary | str | os.PathLike[str] | Any,
                 name: str, *, layer: str | None = None, parent: str | None = None,
                 replace: bool = False) -> ImportResult:
    """Store the trained embedding of a Keras model file (``.keras`` or ``.h5``) as set
    ``name`` of ``store``: row i of the layer is the vector of vocabulary index i; the
    padding and OOV rows are dropped. The set records the model file's sha256 and its
    parent set: ``parent`` (a set name), or the set a ``vecstore_<uid>`` layer was
    seeded from.
    """
    import time

    from vecstore.importer import ImportResult, same_source_or_raise
    from vecstore.io.readers import file_sha256
    from vecstore.vocabulary import Vocabulary

    path = Path(model)
    name = check_name(name)
    vocab = Vocabulary.of(vocabulary)  # a Vocabulary, a file, a TextVectorization layer or a token list
    started = time.perf_counter()
    if not path.is_file():
        raise InputFileError(path, "no such model file")
    store.refuse_own_file(path)
    sha256 = file_sha256(path)
    existing = store.open(create=True).find_set(name)
    if existing is not None and not replace:  # (told before TensorFlow starts)
        same_source_or_raise(existing, sha256)
        return ImportResult(existing, "unchanged", time.perf_counter() - started)
    parent_uid = store.get(parent).info.uid if parent is not None else None
    trained = read_embedding(path, layer)
    rows, _dim = trained.weights.shape
    if rows != len(vocab):
        raise InvalidArgumentError(f"{path}: layer {quoted(trained.layer_name)} has {rows} rows but the "
                                   f"{vocab.kind} vocabulary has {len(vocab)} indexes: is it the model's "
                                   "vocabulary?")
    keep = vocab.word_indexes()
    words = [vocab.tokens[i] for i in keep]
    if any("\n" in w or "\r" in w for w in words):
        raise InvalidArgumentError("a vocabulary token holds a line break, which a set's word cannot")
    if parent_uid is None and trained.parent_uid is not None:
        parent_uid = next((s.uid for s in store.sets() if s.uid == trained.parent_uid), None)
    try:
        return store.import_vectors(name, words, trained.weights[keep], source=f"{path.resolve()}#"
                                    f"{trained.layer_name}", source_sha256=sha256, format="keras",
                                    parent_uid=parent_uid, replace=replace)
    except InvalidArgumentError as exc:
        raise InputFileError(path, str(exc)) from None


@dataclass(frozen=True)
class TrainedEmbedding:
    """The weights of one embedding layer of a model file."""

    layer_name: str
    weights: np.ndarray  # (input_dim, dim) float32
    parent_uid: str | None  # the set it was seeded from, if its name says so


def read_embedding(path: str | Path, layer: str | None = None) -> TrainedEmbedding:
    """The embedding weights of the model saved at ``path`` (``.keras`` or ``.h5``),
    loaded with ``safe_mode=True``; ``layer`` names the layer when the model has several."""
    from vecstore.keras.layers import PartlyTrainableEmbedding, keras, ops  # TensorFlow starts here

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such model file")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds for a file it cannot load
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = first_line if len(first_line) <= 200 else first_line[:200] + "..."
        raise InputFileError(path, f"cannot load the model: {printable(text)}") from None
    candidates = [lay for lay in _all_layers(model)
                  if isinstance(lay, (keras.layers.Embedding, PartlyTrainableEmbedding))]
    if layer is not None:
        chosen = [lay for lay in candidates if lay.name == layer]
        if not chosen:
            names = listed([lay.name for lay in candidates]) or "none"
            raise InputFileError(path, f"no embedding layer named {quoted(layer)} (embedding layers: {names})")
    elif len(candidates) != 1:
        if not candidates:
            raise InputFileError(path, "the model has no embedding layer")
        raise InputFileError(path, f"the model has {len(candidates)} embedding layers "
                                   f"({listed([lay.name for lay in candidates])})",
                             hint=("layer", "pass layer= to choose one"))
    else:
        chosen = candidates
    found = chosen[0]
    if isinstance(found, PartlyTrainableEmbedding):
        weights = found.embeddings
    else:
        weights = np.array(ops.convert_to_numpy(found.embeddings), dtype=np.float32)
    match = PARENT_IN_NAME.fullmatch(found.name)
    return TrainedEmbedding(found.name, weights, match.group(1) if match else None)


def _all_layers(model: Any) -> list[Any]:
    """Every layer of a model, nested models included."""
    found = []
    for lay in getattr(model, "layers", []):
        found.append(lay)
        if hasattr(lay, "layers"):
            found.extend(_all_layers(lay))
    return found
