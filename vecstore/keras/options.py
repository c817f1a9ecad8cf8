"""What a classifier's training is asked for, checked before anything is read or trained.

This module needs no Keras, so a request that cannot be honoured (a pooling that does
not exist, a flag that would be ignored) is refused before TensorFlow starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vecstore.errors import SETTINGS, InvalidArgumentError, printable, quoted
from vecstore.keras.model_dir import MAX_SEQUENCE_LENGTH

if TYPE_CHECKING:
    from vecstore.store import Store

#: mean-max: the mean and the max of the token vectors side by side (SWEM-concat, Shen et
#: al. 2018); idf-mean-max: the same, but each vector scaled by its token's inverse
#: document frequency in the training texts before the average (over the padded length,
#: as the plain mean); the others one of them, or (flatten) every position's vector.
POOLS = ("mean-max", "idf-mean-max", "average", "max", "flatten")
EMBEDDINGS = ("frozen", "trainable", "new-only", "learned")
#: The size of a learned embedding's vectors when ``dim`` is not given.
LEARNED_DIM = 16
#: The most bigram rows, and the most hidden units, a training may ask for (a hidden
#: layer's weights are its input's width times its units, and Adam keeps two more copies).
MAX_UNITS, MAX_HIDDEN = 1_000_000, 16_384
#: The hidden layer a training of at least HIDDEN_FROM_ROWS rows gets unless told.
HIDDEN_UNITS, HIDDEN_FROM_ROWS = 256, 1_000


@dataclass(frozen=True)
class TrainingOptions:
    """How to train: the model's pooling, embedding and hidden layer, and the fit's epochs,
    batches, learning rate, seed and validation. Each value is checked when the options
    are made. The defaults are the best of ``make bench-train`` on a sentiment and a topic
    corpus (docs/classifier.md has the sweep)."""

    pool: str = "mean-max"
    max_length: int | None = None  # None: fitted (the 95th percentile of the training texts' lengths)
    embeddings: str = "trainable"
    dim: int | None = None  # for embeddings="learned" (None: LEARNED_DIM)
    hidden: int | None = None  # units of a ReLU layer before the head (0: none; None: effective_hidden)
    dropout: float | None = None  # around the hidden layer, or before the head (None: effective_dropout)
    learning_rate: float = 0.001  # Adam's (0.003 fits in half the epochs, and varies more from seed to seed)
    class_weights: bool = False  # weigh each class by the inverse of its share of the training rows
    bigrams: int = 0  # the most word bigrams (seen twice or more) given trainable rows of their own
    epochs: int = 100  # at most: early stopping ends most trainings well before
    batch_size: int | None = None  # None: 32, smaller for small data (see effective_batch_size)
    seed: int = 0
    validation_split: float | None = None  # None: 0.2 from 50 rows on, else none
    early_stop: bool = True
    patience: int = 4
    #: how the rows of the training words the set lacks start: as ``embedding_matrix``'s ``oov``
    #: (zeros, random, mean, similar, subword); benchmarks/bench_oov.py --train measures them
    oov: str = "zeros"

    def __post_init__(self) -> None:
        from vecstore.matrix import OOV_POLICIES

        for value, choices, name in ((self.pool, POOLS, "pool"), (self.embeddings, EMBEDDINGS, "embeddings"),
                                     (self.oov, OOV_POLICIES, "oov")):
            if value not in choices:
                raise InvalidArgumentError(f"must be one of {', '.join(choices)}, not {quoted(value)}", subject=name)
        for value, name in ((self.epochs, "epochs"), (self.batch_size, "batch_size"), (self.dim, "dim")):
            if value is not None and value < 1:
                raise InvalidArgumentError(f"must be at least 1, not {value}", subject=name)
        for value, name, most in ((self.hidden or 0, "hidden", MAX_HIDDEN), (self.bigrams, "bigrams", MAX_UNITS)):
            if not 0 <= value <= most:
                raise InvalidArgumentError(f"must be between 0 and {most:,}, not {value}", subject=name)
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise InvalidArgumentError(f"must be at least 0 and below 1, not {self.dropout}", subject="dropout")
        if not 0 < self.learning_rate <= 1:
            raise InvalidArgumentError(f"must be above 0 and at most 1, not {self.learning_rate}",
                                       subject="learning_rate")
        if self.max_length is not None and not 1 <= self.max_length <= MAX_SEQUENCE_LENGTH:
            raise InvalidArgumentError(f"must be between 1 and {MAX_SEQUENCE_LENGTH:,}, not {self.max_length}",
                                       subject="max_length")

    def effective_hidden(self, rows: int) -> int:
        """``hidden``, or 256 units from :data:`HIDDEN_FROM_ROWS` training rows on and none
        below (the tutorial's ten rows fit best with the tutorial's model, Dense on the
        pooling; thousands gain from a hidden layer: ``make bench-train``)."""
        return self.hidden if self.hidden is not None else (HIDDEN_UNITS if rows >= HIDDEN_FROM_ROWS else 0)

    def effective_dropout(self, rows: int) -> float:
        """``dropout``, or 0.3 with a hidden layer and none without."""
        return self.dropout if self.dropout is not None else (0.3 if self.effective_hidden(rows) else 0.0)

    @property
    def learned_dim(self) -> int:
        """The vectors' size of a learned embedding."""
        return self.dim or LEARNED_DIM

    def effective_batch_size(self, rows: int) -> int:
        """``batch_size``, or 32 but small enough that an epoch makes at least five
        updates: with one update an epoch, the tutorial's ten rows get fifty updates in
        fifty epochs, too few to fit them from most seeds (measured: frozen GloVe reached
        100 % from 3 of 6 seeds with 32, from all with 2)."""
        return self.batch_size or max(1, min(32, -(-rows // 5)))

    def check(self, *, set_given: bool, validation_given: bool, save_embeddings: str | None = None,
              multi_label: bool = False) -> None:
        """Refuse what a training would ignore or could not do, before it starts: a set
        named for a learned embedding, ``dim`` for a pretrained one, a validation split
        beside validation rows, class weights for multi-label rows (Keras weighs a row
        by one class), or trained vectors to save that will not be trained."""
        learned = self.embeddings == "learned"
        if multi_label and self.class_weights:
            raise InvalidArgumentError("has no effect here (Keras weighs a row by its one class; multi-label rows "
                                       "have several)", subject="class_weights")
        if set_given and learned:
            raise InvalidArgumentError("has no effect here (a learned embedding uses no set)", subject="set_name")
        if self.oov != "zeros" and learned:
            raise InvalidArgumentError("has no effect here (a learned embedding starts from no set's rows)",
                                       subject="oov")
        if self.dim is not None and not learned:
            raise InvalidArgumentError(f"has no effect here (it is for a learned embedding, {SETTINGS})", subject="dim",
                                       settings={"embeddings": "learned"})
        if validation_given and self.validation_split is not None:
            raise InvalidArgumentError("has no effect here (the validation rows are given)",
                                       subject="validation_split")
        if save_embeddings is not None and self.embeddings == "frozen":
            raise InvalidArgumentError("with a frozen embedding: the vectors are not trained",
                                       subject="save_embeddings")


def check_unused_name(store: Store, name: str) -> None:
    """Refuse, before a training, a name for its trained vectors that a set already has."""
    from vecstore.names import check_name

    if any(s.name == check_name(name, "save_embeddings") for s in store.sets()):
        raise InvalidArgumentError(f"a set named {printable(name)} exists",
                                   hint=("new_name", "choose another name (Store.remove frees it)"))
