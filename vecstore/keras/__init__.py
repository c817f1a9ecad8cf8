"""The Keras 3 bridge: embedding layers seeded from a stored set, and trained
embeddings stored back as sets.

- :func:`embedding_layer`, :class:`PartlyTrainableEmbedding` (:mod:`vecstore.keras.layers`);
- :func:`import_keras`, :func:`read_embedding` (:mod:`vecstore.keras.trained`);
- :func:`train_classifier`, :func:`load_classifier`, :class:`TrainingOptions`,
  :class:`Classifier` (:mod:`vecstore.keras.training`);
- :func:`tune_classifier` (:mod:`vecstore.keras.tuning`), :func:`export_model`
  (:mod:`vecstore.keras.export`).

This package is the only part of vecstore that imports Keras (and so TensorFlow), and
only when a name that needs it is used: importing the package costs nothing, and
``import_keras`` says "unchanged" without starting TensorFlow.
"""

from __future__ import annotations

from vecstore._lazy import lazy_exports

_EXPORTS = {
    "embedding_layer": "vecstore.keras.layers",
    "PartlyTrainableEmbedding": "vecstore.keras.layers",
    "LAYER_NAME_PREFIX": "vecstore.keras.naming",
    "TRAINABLE_CHOICES": "vecstore.keras.layers",
    "import_keras": "vecstore.keras.trained",
    "read_embedding": "vecstore.keras.trained",
    "TrainedEmbedding": "vecstore.keras.trained",
    "train_classifier": "vecstore.keras.training",
    "load_classifier": "vecstore.keras.training",
    "TrainingOptions": "vecstore.keras.options",
    "Classifier": "vecstore.keras.training",
    "tune_classifier": "vecstore.keras.tuning",
    "export_model": "vecstore.keras.export",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports("vecstore.keras", globals(), _EXPORTS)
