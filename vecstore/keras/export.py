"""A saved classifier as a Keras model that takes raw strings, for use without vecstore.

:func:`export_model` puts a ``TextVectorization`` layer in front of the trained model: the
same vocabulary (the padding, ``[UNK]``, the words, then any bigrams), the same
standardisation (``lower_and_strip_punctuation``: :mod:`vecstore.vocabulary` reproduces
it), the same n-grams and the same padded length. Its output is one probability a label,
in the order of ``labels.json`` (a binary model's one sigmoid is widened to the two
labels' probabilities, as :meth:`~vecstore.keras.training.Classifier.predict` gives
them). Only Keras' own layers are in it (a new-only embedding becomes a plain frozen
``Embedding`` of the same matrix), so ``keras.saving.load_model(path, safe_mode=True)``
loads it where vecstore is not installed.

The export folder holds ``model.keras``, ``labels.json`` and, when asked, ``saved_model/``
(a TensorFlow SavedModel for serving, from ``Model.export``). It is written into a temp
folder beside its place and renamed into it, like a model directory; it replaces only an
export folder (its ``labels.json`` names the format), with ``overwrite``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecstore.errors import InputFileError, InvalidArgumentError
from vecstore.io.files import NOTHING_PROTECTED, ProtectedFiles, write_folder
from vecstore.keras.layers import PartlyTrainableEmbedding, keras
from vecstore.keras.model_dir import EXPORT_FORMAT, LABELS_FILE, OLD_MODEL, check_export_folder
from vecstore.keras.training import Classifier, load_classifier


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    labels: list[str]
    kind: str
    saved_model: bool


def string_model(classifier: Classifier) -> keras.Model:
    """The classifier's model behind a ``TextVectorization`` layer: raw strings in (shape
    ``(batch,)`` or ``(batch, 1)``), one probability a label out."""
    if classifier.vocabulary.oov != 1:
        raise InvalidArgumentError(f"the vocabulary {OLD_MODEL}")
    inner = _plain_layers(classifier.model)
    vectorize = keras.layers.TextVectorization(
        standardize="lower_and_strip_punctuation", split="whitespace", ngrams=2 if classifier.ngrams == 2 else None,
        output_mode="int", output_sequence_length=classifier.max_length,
        vocabulary=classifier.vocabulary.word_tokens(), name="text_vectorization")
    text = keras.Input(shape=(1,), dtype="string", name="text")
    probabilities = inner(vectorize(text))
    if classifier.kind == "binary":  # (one sigmoid: p of the second label; 1 - p is the first's)
        probabilities = keras.layers.Concatenate(name="probabilities")(
            [keras.layers.Rescaling(-1.0, offset=1.0, name="first_label")(probabilities), probabilities])
    return keras.Model(text, probabilities, name="vecstore_text_classifier")


def export_model(model_dir: str | Path, out: str | Path, *, saved_model: bool = False, overwrite: bool = False,
                 protected: ProtectedFiles = NOTHING_PROTECTED) -> ExportResult:
    """Write the export folder ``out`` for the model directory ``model_dir`` (checked
    first, as :func:`~vecstore.keras.training.load_classifier` does); never over
    ``protected`` paths (a store's own files)."""
    folder = Path(out)
    check_export_folder(Path(model_dir), folder, overwrite=overwrite, protected=protected)
    classifier = load_classifier(model_dir)  # (every file of the model directory checked, once)
    if classifier.vocabulary.oov != 1:
        raise InputFileError(Path(model_dir) / "vocabulary.txt", OLD_MODEL)
    model = string_model(classifier)
    labels = {"format": EXPORT_FORMAT, "labels": classifier.labels, "kind": classifier.kind,
              "output": "one probability a label, in this order" + (
                  "; a multi-label text has every label at least 0.5 likely" if classifier.kind == "multilabel"
                  else ""),
              "max_length": classifier.max_length, "ngrams": classifier.ngrams,
              "standardize": "lower_and_strip_punctuation", "from": str(Path(model_dir))}

    def fill(tmp: Path) -> None:
        model.save(tmp / "model.keras")
        if saved_model:
            model.export(str(tmp / "saved_model"), verbose=False)
        (tmp / LABELS_FILE).write_text(json.dumps(labels, indent=1), encoding="utf-8")

    write_folder(folder, fill, lambda: check_export_folder(Path(model_dir), folder, overwrite=overwrite,
                                                           protected=protected))  # (again: it may have changed)
    return ExportResult(folder, classifier.labels, classifier.kind, saved_model)


def _plain_layers(model: keras.Model) -> keras.Model:
    """``model`` with a :class:`PartlyTrainableEmbedding` (vecstore's own class) replaced by
    a frozen Keras ``Embedding`` of the matrix it stands for; every weight copied."""
    replaced: dict[str, Any] = {}

    def clone(layer: Any) -> Any:
        if isinstance(layer, PartlyTrainableEmbedding):
            replaced[layer.name] = layer.embeddings
            return keras.layers.Embedding(layer.input_dim, layer.output_dim, trainable=False, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    plain = keras.models.clone_model(model, clone_function=clone)
    for layer in plain.layers:
        if layer.name in replaced:
            layer.set_weights([replaced[layer.name]])
        elif layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return plain
