"""Keras 3 layers seeded from a stored set.

:func:`embedding_layer` returns a Keras ``Embedding`` whose rows are the set's vectors
for a vocabulary (frozen, fully trainable, or trainable only for the words the set
lacks, :class:`PartlyTrainableEmbedding`), with the coverage report. Importing this
module imports Keras (and so TensorFlow), quietly: TensorFlow's native start-up lines are
kept off stderr unless ``TF_CPP_MIN_LOG_LEVEL`` is set (:func:`vecstore.native.tensorflow_quiet`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore.errors import (
    InvalidArgumentError,
    MissingDependencyError,
    SetChoiceError,
    quoted,
)
from vecstore.keras.naming import LAYER_NAME_PREFIX
from vecstore.native import tensorflow_quiet

try:
    with tensorflow_quiet():  # (its native start-up lines, unless TF_CPP_MIN_LOG_LEVEL asks for them)
        import keras
        from keras import ops

        ops.convert_to_tensor([0.0])  # (the device probe runs on first use: here, inside the quiet block)
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("Keras features need TensorFlow: pip install 'vecstore[keras]'") from exc

if TYPE_CHECKING:
    from vecstore.matrix import Coverage
    from vecstore.query import EmbeddingSet
    from vecstore.store import Store
    from vecstore.vocabulary import Vocabulary


TRAINABLE_CHOICES = (False, True, "new")


@keras.saving.register_keras_serializable(package="vecstore")
class PartlyTrainableEmbedding(keras.layers.Layer):
    """An embedding whose pretrained rows are frozen and whose other rows train.

    Two weights: ``pretrained`` (input_dim x dim, not trainable; zeros in the new rows)
    and ``new_rows`` (one trainable row per index in ``trainable_rows``). A lookup adds
    the token's pretrained row and, for a new word, its trainable row; every other
    index reads a constant zero row instead, so no gradient ever reaches a pretrained
    vector. :attr:`embeddings` is the sum, the matrix the layer stands for.
    """

    def __init__(self, input_dim: int, output_dim: int, trainable_rows: Sequence[int], *,
                 mask_zero: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.trainable_rows = [int(i) for i in trainable_rows]
        self.mask_zero = bool(mask_zero)
        slots = np.zeros(self.input_dim, dtype="int32")  # 0: the constant zero row
        slots[self.trainable_rows] = np.arange(1, len(self.trainable_rows) + 1, dtype="int32")
        self._slots = slots

    def build(self, input_shape: Any = None) -> None:
        self.pretrained = self.add_weight(shape=(self.input_dim, self.output_dim), initializer="zeros",
                                          trainable=False, name="pretrained")
        self.new_rows = self.add_weight(shape=(len(self.trainable_rows), self.output_dim), initializer="zeros",
                                        trainable=True, name="new_rows")
        self.built = True

    def call(self, inputs: Any) -> Any:
        ids = ops.cast(inputs, "int32")
        zero_then_new = ops.concatenate([ops.zeros((1, self.output_dim), dtype=self.new_rows.dtype),
                                         self.new_rows], axis=0)
        slots = ops.take(ops.convert_to_tensor(self._slots), ids, axis=0)
        return ops.take(self.pretrained, ids, axis=0) + ops.take(zero_then_new, slots, axis=0)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return ops.not_equal(inputs, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*input_shape, self.output_dim)

    @property
    def embeddings(self) -> np.ndarray:
        """The matrix the layer stands for: pretrained rows plus the trained new rows."""
        matrix = np.array(ops.convert_to_numpy(self.pretrained), dtype=np.float32)
        matrix[self.trainable_rows] += ops.convert_to_numpy(self.new_rows)
        return matrix

    def set_matrix(self, matrix: np.ndarray) -> None:
        """Seed from a full matrix: its new rows start the trainable ones."""
        if not self.built:
            self.build()
        frozen = np.array(matrix, dtype=np.float32)
        frozen[self.trainable_rows] = 0.0
        self.pretrained.assign(frozen)
        self.new_rows.assign(np.asarray(matrix, dtype=np.float32)[self.trainable_rows])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "trainable_rows": self.trainable_rows, "mask_zero": self.mask_zero}


def embedding_layer(store_or_set: Store | EmbeddingSet, vocabulary: Vocabulary | Sequence[str] | Any, *,
                    trainable: bool | str = False, mask_zero: bool = True, oov: str = "zeros",
                    case_fold: bool = True, seed: int = 0, set_name: str | None = None,
                    name: str | None = None) -> tuple[keras.layers.Layer, Coverage]:
    """A Keras 3 embedding layer seeded with the set's vectors for ``vocabulary``, and the
    coverage report.

    ``vocabulary``: a :class:`~vecstore.vocabulary.Vocabulary`, a token list in index
    order (``TextVectorization.get_vocabulary()``), or a ``TextVectorization`` layer.
    ``trainable``: ``False`` (frozen), ``True`` (every row trains) or ``"new"`` (only the
    rows of words the set lacks, and the OOV row, train; see
    :class:`PartlyTrainableEmbedding`). ``oov``, ``case_fold`` and ``seed`` are those of
    :func:`vecstore.matrix.build_matrix`. The layer is named ``vecstore_<set uid>``
    unless ``name`` is given, which lets ``import-keras`` record the parent set.
    """
    from vecstore.matrix import build_matrix

    if trainable not in TRAINABLE_CHOICES:
        raise InvalidArgumentError(f"must be False, True or 'new', not {quoted(trainable)}", subject="trainable")
    from vecstore.vocabulary import Vocabulary

    embedding_set = _the_set(store_or_set, set_name)
    vocab = Vocabulary.of(vocabulary)
    built = build_matrix(embedding_set, vocab, oov=oov, case_fold=case_fold, seed=seed)
    input_dim, dim = built.matrix.shape
    name = name or f"{LAYER_NAME_PREFIX}{embedding_set.info.uid}"
    if trainable == "new":
        special = {i for i in (vocab.padding,) if i is not None}
        new_rows = [i for i in range(input_dim) if not built.pretrained[i] and i not in special]
        layer = PartlyTrainableEmbedding(input_dim, dim, new_rows, mask_zero=mask_zero, name=name)
        layer.set_matrix(built.matrix)
    else:
        layer = keras.layers.Embedding(input_dim, dim, mask_zero=mask_zero, trainable=bool(trainable), name=name)
        layer.build()
        layer.set_weights([built.matrix])
    return layer, built.coverage


def _the_set(store_or_set: Store | EmbeddingSet, set_name: str | None) -> EmbeddingSet:
    from vecstore.query import EmbeddingSet

    if isinstance(store_or_set, EmbeddingSet):
        return store_or_set
    try:
        return store_or_set.pick(set_name)
    except SetChoiceError as exc:
        raise SetChoiceError(exc.available, "pass set_name=, or the set itself (store.get(name)), "
                                            "to choose one") from None
