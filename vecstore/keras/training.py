"""Training a text classifier from a stored set, and predicting with what it saved.

The model is the tutorial's, generalised: token indexes -> an ``Embedding`` (seeded from
the set: frozen, trainable, or trainable only for the words the set lacks; or learned
from scratch) -> pooling (``flatten`` over ``max_length`` tokens, ``average`` or ``max``)
-> a ``Dense`` head decided by the labels (:mod:`vecstore.labels`): one sigmoid
(binary), a softmax (multiclass), or one sigmoid per label (multilabel).

The vocabulary is fitted on the training texts as the tutorial's Keras ``Tokenizer`` did:
index 0 is padding, the words follow by frequency, and words unknown at prediction time
are dropped. A :class:`Classifier` saves the model with everything prediction needs (the
vocabulary, the preprocessing, the label names, the set it was seeded from) and a
checksum of each file; loading refuses a missing or altered file.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, quoted
from vecstore.keras.layers import keras
from vecstore.labels import LabelledTexts
from vecstore.vocabulary import Vocabulary, tokenize

if TYPE_CHECKING:
    from vecstore.importer import ImportResult
    from vecstore.query import EmbeddingSet
    from vecstore.store import Store

POOLS = ("flatten", "average", "max")
EMBEDDINGS = ("frozen", "trainable", "new-only", "learned")
#: The files of a model directory (each checksummed in ``checksums.json``).
MODEL_FILES = ("model.keras", "vocabulary.txt", "classifier.json", "report.json")


@dataclass(frozen=True)
class TrainingOptions:
    pool: str = "average"
    max_length: int | None = None  # None: fitted (the 95th percentile of the training texts' lengths)
    embeddings: str = "trainable"  # (the best on real reviews: benchmarks/bench_train.py)
    dim: int = 16  # for embeddings="learned"
    epochs: int = 30
    batch_size: int | None = None  # None: 32, smaller for small data (see effective_batch_size)
    seed: int = 0
    validation_split: float | None = None  # None: 0.2 from 50 rows on, else none
    early_stop: bool = True
    patience: int = 4

    def __post_init__(self) -> None:
        for value, choices, name in ((self.pool, POOLS, "pool"), (self.embeddings, EMBEDDINGS, "embeddings")):
            if value not in choices:
                raise InvalidArgumentError(f"must be one of {', '.join(choices)}, not {quoted(value)}", subject=name)
        for value, name in ((self.epochs, "epochs"), (self.batch_size, "batch_size"), (self.dim, "dim")):
            if value is not None and value < 1:
                raise InvalidArgumentError(f"must be at least 1, not {value}", subject=name)
        if self.max_length is not None and self.max_length < 1:
            raise InvalidArgumentError(f"must be at least 1, not {self.max_length}", subject="max_length")


    def effective_batch_size(self, rows: int) -> int:
        """``batch_size``, or 32 but small enough that an epoch makes at least five
        updates: with one update an epoch, the tutorial's ten rows get fifty updates in
        fifty epochs, too few to fit them from most seeds (measured: frozen GloVe reached
        100 % from 3 of 6 seeds with 32, from all with 2)."""
        return self.batch_size or max(1, min(32, -(-rows // 5)))


@dataclass
class Metrics:
    """Accuracy, and per label its precision, recall, F1 and support; the confusion
    matrix (rows: true labels, columns: predicted) for single-label data."""

    rows: int
    accuracy: float
    per_label: dict[str, dict[str, float]]
    confusion: list[list[int]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metrics(names: list[str], kind: str, truth: np.ndarray, probabilities: np.ndarray,
            threshold: float = 0.5) -> Metrics:
    if kind == "multilabel":
        predicted = probabilities >= threshold
        actual = truth.astype(bool)
        accuracy = float(np.mean(np.all(predicted == actual, axis=1))) if len(actual) else 0.0
    else:
        predicted_class = _classes(kind, probabilities)
        actual_class = truth.astype(np.int64)
        accuracy = float(np.mean(predicted_class == actual_class)) if len(actual_class) else 0.0
        predicted = np.eye(len(names), dtype=bool)[predicted_class]
        actual = np.eye(len(names), dtype=bool)[actual_class]
    per_label = {}
    for i, name in enumerate(names):
        tp = int(np.sum(predicted[:, i] & actual[:, i]))
        precision = tp / max(int(predicted[:, i].sum()), 1)
        recall = tp / max(int(actual[:, i].sum()), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(actual[:, i].sum())}
    confusion = None
    if kind != "multilabel":
        confusion = np.zeros((len(names), len(names)), dtype=np.int64)
        np.add.at(confusion, (truth.astype(np.int64), _classes(kind, probabilities)), 1)
        confusion = confusion.tolist()
    return Metrics(len(truth), accuracy, per_label, confusion)


def _classes(kind: str, probabilities: np.ndarray) -> np.ndarray:
    if kind == "binary":
        return (probabilities[:, 0] >= 0.5).astype(np.int64)
    return np.argmax(probabilities, axis=1)


@dataclass
class TrainingReport:
    kind: str
    labels: list[str]
    rows: int
    validation_rows: int
    max_length: int
    max_length_fitted: bool
    batch_size: int
    vocabulary_size: int
    embeddings: str
    pool: str
    set_name: str | None
    coverage: dict[str, Any] | None  # Coverage.to_dict() of the set over the vocabulary
    parameters: dict[str, int]
    epochs_run: int
    history: dict[str, list[float]]
    training: dict[str, Any]
    validation: dict[str, Any] | None
    seconds: float
    summary: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Classifier:
    """A trained model with everything prediction needs."""

    def __init__(self, model: keras.Model, vocabulary: Vocabulary, labels: list[str], kind: str, max_length: int,
                 set_identity: dict[str, str] | None, report: TrainingReport | None) -> None:
        self.model, self.vocabulary, self.labels, self.kind = model, vocabulary, labels, kind
        self.max_length, self.set_identity, self.report = max_length, set_identity, report

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.vocabulary.encode(texts, self.max_length)

    def known_tokens(self, texts: list[str]) -> np.ndarray:
        """How many tokens of each text the model sees (known words, within the first
        ``max_length``): a text with none is classified from padding alone."""
        return np.count_nonzero(self.encode(texts), axis=1)

    def predict(self, texts: list[str]) -> np.ndarray:
        """The probability of each label for each text, (texts, labels), float32: the
        texts prepared exactly as in training."""
        out = np.asarray(self.model.predict(self.encode(texts), verbose=0), dtype=np.float32)
        if self.kind == "binary":  # one sigmoid: the probability of the second label
            out = np.concatenate([1 - out, out], axis=1)
        return out

    def evaluate(self, data: LabelledTexts) -> Metrics:
        if data.names != self.labels and not set(n for labels in data.labels for n in labels) <= set(self.labels):
            raise InvalidArgumentError(f"the data's labels ({', '.join(data.names)}) are not the model's "
                                       f"({', '.join(self.labels)})")
        relabelled = LabelledTexts(data.texts, data.labels, self.labels, self.kind, data.lines, data.source)
        probabilities = self.predict(data.texts)
        return metrics(self.labels, self.kind, relabelled.targets(),
                       probabilities[:, 1:] if self.kind == "binary" else probabilities)

    def save_embeddings(self, store: Store, name: str) -> ImportResult:
        """Store the model's trained word vectors as set ``name`` (padding dropped), its
        parent the set the model was seeded from."""
        layer = self.model.get_layer("embedding")
        weights = layer.embeddings if hasattr(layer, "trainable_rows") else np.asarray(
            layer.get_weights()[0], dtype=np.float32)
        rows = self.vocabulary.word_indexes()
        model_bytes = "\n".join(self.vocabulary.tokens).encode() + np.asarray(weights).tobytes()
        return store.import_vectors(name, [self.vocabulary.tokens[i] for i in rows], np.asarray(weights)[rows],
                                    source=f"vecstore train ({len(rows):,} words)",
                                    source_sha256=hashlib.sha256(model_bytes).hexdigest(), format="keras",
                                    parent_uid=(self.set_identity or {}).get("uid"))

    def save(self, model_dir: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model directory (see the module docstring) and its checksums."""
        folder = Path(model_dir)
        if folder.exists() and any(folder.iterdir()) and not overwrite:
            raise InvalidArgumentError(f"{folder} exists and is not empty; pass overwrite=True to replace it",
                                       hint=("overwrite", "pass overwrite=True to replace it"))
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder / "model.keras")
        (folder / "vocabulary.txt").write_text("".join(t + "\n" for t in self.vocabulary.tokens), encoding="utf-8")
        (folder / "classifier.json").write_text(json.dumps({
            "format": "vecstore-classifier/1", "kind": self.kind, "labels": self.labels,
            "max_length": self.max_length, "standardize": "lower_and_strip_punctuation",
            "set": self.set_identity}, indent=1), encoding="utf-8")
        (folder / "report.json").write_text(json.dumps(self.report.to_dict() if self.report else {}, indent=1),
                                            encoding="utf-8")
        sums = {name: _sha256(folder / name) for name in MODEL_FILES}
        (folder / "checksums.json").write_text(json.dumps(sums, indent=1), encoding="utf-8")
        return folder


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_classifier(model_dir: str | Path) -> Classifier:
    """A saved classifier, every file checked against its checksum first; the model
    loaded with ``safe_mode=True``."""
    folder = Path(model_dir)
    try:
        sums = json.loads((folder / "checksums.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputFileError(folder / "checksums.json", f"cannot read the model's checksums ({exc})") from None
    for name in MODEL_FILES:
        path = folder / name
        if not path.is_file():
            raise InputFileError(path, "missing: the model directory is incomplete")
        if _sha256(path) != sums.get(name):
            raise InputFileError(path, "does not match its checksum: the model directory was altered")
    settings = json.loads((folder / "classifier.json").read_text(encoding="utf-8"))
    tokens = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
    model = keras.saving.load_model(folder / "model.keras", compile=False, safe_mode=True)
    return Classifier(model, Vocabulary.from_tokens(tokens, "word list"), list(settings["labels"]), settings["kind"],
                      int(settings["max_length"]), settings.get("set"), None)


def train_classifier(data: LabelledTexts, embedding_set: EmbeddingSet | None, options: TrainingOptions | None = None,
                     *, validation: LabelledTexts | None = None,
                     on_epoch: Callable[[int, int, dict[str, float]], None] | None = None) -> Classifier:
    """Train on ``data`` (split for validation unless ``validation`` is given or the data
    is small), from ``embedding_set`` (None with ``embeddings="learned"``).

    ``on_epoch(epoch, epochs, figures)`` is called after each epoch (1-based) with its
    loss and accuracy, and the validation's when there is a validation set."""
    from vecstore.keras.layers import PartlyTrainableEmbedding
    from vecstore.matrix import build_matrix

    options = options or TrainingOptions()
    if (embedding_set is None) != (options.embeddings == "learned"):
        raise InvalidArgumentError("embeddings='learned' needs no set; the others need one", subject="embeddings")
    started = time.perf_counter()
    keras.utils.set_random_seed(options.seed)
    train, held = data, validation
    split = options.validation_split if options.validation_split is not None else (0.2 if len(data) >= 50 else None)
    if held is None and split:
        train, held = data.split(split, seed=options.seed)
    fitted = Vocabulary.fit(train.texts)
    vocabulary = Vocabulary.from_tokens(["", *fitted.word_tokens()], "fitted")  # padding only: unknown words dropped
    lengths = [len(tokenize(t)) for t in train.texts]
    max_length = options.max_length or max(1, int(np.percentile(lengths, 95)))
    x = vocabulary.encode(train.texts, max_length)
    y = train.targets()
    coverage = None
    if embedding_set is None:
        embedding = keras.layers.Embedding(len(vocabulary), options.dim, name="embedding")
    else:
        built = build_matrix(embedding_set, vocabulary)
        coverage = built.coverage.to_dict()
        dim = built.matrix.shape[1]
        if options.embeddings == "new-only":
            new_rows = [i for i in range(1, len(vocabulary)) if not built.pretrained[i]]
            embedding = PartlyTrainableEmbedding(len(vocabulary), dim, new_rows, mask_zero=False, name="embedding")
            embedding.set_matrix(built.matrix)
        else:
            embedding = keras.layers.Embedding(len(vocabulary), dim, trainable=options.embeddings == "trainable",
                                               embeddings_initializer=keras.initializers.Constant(built.matrix),
                                               name="embedding")
    pooled = {"flatten": keras.layers.Flatten(), "average": keras.layers.GlobalAveragePooling1D(),
              "max": keras.layers.GlobalMaxPooling1D()}[options.pool]
    outputs = 1 if data.kind == "binary" else len(data.names)
    activation = "softmax" if data.kind == "multiclass" else "sigmoid"
    loss = {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy",
            "multilabel": "binary_crossentropy"}[data.kind]
    model = keras.Sequential([keras.Input((max_length,), dtype="int32"), embedding, pooled,
                              keras.layers.Dense(outputs, activation=activation, name="head")])
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss, metrics=["accuracy"])
    callbacks: list[keras.callbacks.Callback] = []
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: on_epoch(
            epoch + 1, options.epochs, {k: float(v) for k, v in (logs or {}).items()})))
    fit_validation = None
    if held is not None and len(held):
        fit_validation = (vocabulary.encode(held.texts, max_length), _relabel(held, data).targets())
        if options.early_stop:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=options.patience,
                                                           restore_best_weights=True))
    batch_size = options.effective_batch_size(len(train))
    history = model.fit(x, y, epochs=options.epochs, batch_size=batch_size, validation_data=fit_validation,
                        callbacks=callbacks, shuffle=True, verbose=0)
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    set_identity = None if embedding_set is None else {"name": embedding_set.name, "uid": embedding_set.info.uid,
                                                       "content_checksum": embedding_set.info.content_checksum}
    classifier = Classifier(model, vocabulary, data.names, data.kind, max_length, set_identity, None)
    train_metrics = classifier.evaluate(_relabel(train, data))
    held_metrics = classifier.evaluate(_relabel(held, data)) if held is not None and len(held) else None
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    classifier.report = TrainingReport(
        data.kind, data.names, len(train), 0 if held is None else len(held), max_length, options.max_length is None,
        batch_size,
        len(vocabulary), options.embeddings, options.pool, None if embedding_set is None else embedding_set.name,
        coverage, {"trainable": trainable, "frozen": frozen}, len(history.history["loss"]),
        {k: [float(v) for v in vs] for k, vs in history.history.items()}, train_metrics.to_dict(),
        None if held_metrics is None else held_metrics.to_dict(), time.perf_counter() - started, "\n".join(lines))
    return classifier


def _relabel(part: LabelledTexts, whole: LabelledTexts) -> LabelledTexts:
    """``part`` with ``whole``'s label names (a split may miss a rare label)."""
    return LabelledTexts(part.texts, part.labels, whole.names, whole.kind, part.lines, part.source)
