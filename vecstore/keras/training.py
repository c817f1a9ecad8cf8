"""Training a text classifier from a stored set, and predicting with what it saved.

The model is the tutorial's, generalised: token indexes -> an ``Embedding`` (seeded from
the set: frozen, trainable, or trainable only for the words the set lacks; or learned
from scratch) -> pooling (``mean-max``, the mean and the max side by side; the same with
the mean IDF-weighted; ``average``; ``max``; or ``flatten`` over ``max_length`` tokens)
-> a ReLU layer with dropout around it (from 1,000 training rows on, unless told) -> a
``Dense`` head decided by the labels (:mod:`vecstore.labels`): one sigmoid (binary), a
softmax (multiclass), or one sigmoid per label (multilabel).

The vocabulary is fitted on the training texts as ``TextVectorization.adapt`` does:
index 0 is padding, 1 is ``[UNK]`` (every word unknown at prediction time maps to it),
the words follow by frequency, then any bigrams; so the exported model
(:mod:`vecstore.keras.export`) prepares text with Keras' own layer exactly as here.
A :class:`Classifier` saves the model with everything prediction needs (the
vocabulary, the preprocessing, the label names, the set it was seeded from) and a
checksum of each file (:mod:`vecstore.keras.model_dir`); loading refuses a missing or
altered file.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, counted, listed, printable, quoted
from vecstore.keras.layers import keras
from vecstore.keras.model_dir import MAX_SEQUENCE_LENGTH, read_model_dir, write_model_dir
from vecstore.keras.options import TrainingOptions
from vecstore.labels import LabelledTexts
from vecstore.vocabulary import Vocabulary, ngram_tokens, tokenize, word_pairs

if TYPE_CHECKING:
    from vecstore.importer import ImportResult
    from vecstore.query import EmbeddingSet
    from vecstore.store import Store

#: The most token indexes (rows x length) one training holds in memory: 2 GiB of int64.
MAX_TOKEN_CELLS = 1 << 28

#: The most labels a confusion matrix is kept and printed for (it has their square).
MAX_CONFUSION_LABELS = 100


@dataclass
class Metrics:
    """Accuracy and macro-F1 (the mean F1 over the labels that occur in the rows or the
    predictions, as scikit-learn's ``f1_score(average="macro")`` counts single-label rows:
    on imbalanced data it weighs a rare label as much as a common one), per label precision, recall, F1 and
    support; the confusion matrix (rows: true labels, columns: predicted) for single-label
    data."""

    rows: int
    accuracy: float
    per_label: dict[str, dict[str, float]]
    confusion: list[list[int]] | None = None
    macro_f1: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metrics(names: list[str], kind: str, truth: np.ndarray, probabilities: np.ndarray,
            threshold: float = 0.5) -> Metrics:
    """Accuracy (multi-label: a row counts only with every label right), per label
    precision, recall, F1 and support, and the confusion matrix up to
    :data:`MAX_CONFUSION_LABELS` labels; counted without one-hot copies of the rows."""
    n = len(names)
    if kind == "multilabel":
        predicted = probabilities >= threshold
        actual = truth.astype(bool)
        accuracy = float(np.mean(np.all(predicted == actual, axis=1))) if len(actual) else 0.0
        hits = np.sum(predicted & actual, axis=0)
        said, present = np.sum(predicted, axis=0), np.sum(actual, axis=0)
    else:
        predicted_class = _classes(kind, probabilities)
        actual_class = truth.astype(np.int64)
        right = predicted_class == actual_class
        accuracy = float(np.mean(right)) if len(actual_class) else 0.0
        hits = np.bincount(actual_class[right], minlength=n)
        said, present = np.bincount(predicted_class, minlength=n), np.bincount(actual_class, minlength=n)
    per_label = {}
    occurring = []
    for i, name in enumerate(names):
        precision = int(hits[i]) / max(int(said[i]), 1)
        recall = int(hits[i]) / max(int(present[i]), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(present[i])}
        if said[i] or present[i]:
            occurring.append(f1)
    confusion = None
    if kind != "multilabel" and n <= MAX_CONFUSION_LABELS:
        confusion = np.bincount(actual_class * n + predicted_class, minlength=n * n).reshape(n, n).tolist()
    return Metrics(len(truth), accuracy, per_label, confusion, float(np.mean(occurring)) if occurring else 0.0)


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
    validation_from: str  # a split of the data, a file, or "none: why"
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
    embedding_shape: list[int] = field(default_factory=list)  # (the matrix: vocabulary size, dimensions)
    options: dict[str, Any] = field(default_factory=dict)  # the TrainingOptions it trained with
    warnings: list[str] = field(default_factory=list)  # what the caller should hear (few rows of a label)
    bigrams: int = 0  # rows of word pairs in the vocabulary (after the words)
    trials: list[dict[str, Any]] = field(default_factory=list)  # tune_classifier's, best first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Prediction:
    """One text's predicted labels: (label, probability) pairs, most likely first."""

    text: str
    labels: list[tuple[str, float]]
    known_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "known_tokens": self.known_tokens,
                "labels": [{"label": label, "probability": prob} for label, prob in self.labels]}


class Classifier:
    """A trained model with everything prediction needs."""

    def __init__(self, model: keras.Model, vocabulary: Vocabulary, labels: list[str], kind: str, max_length: int,
                 set_identity: dict[str, str] | None, report: TrainingReport | None, *, ngrams: int = 1,
                 separator: str | None = None) -> None:
        self.model, self.vocabulary, self.labels, self.kind = model, vocabulary, labels, kind
        self.max_length, self.set_identity, self.report = max_length, set_identity, report
        self.ngrams, self.separator = ngrams, separator

    def encode(self, texts: list[str]) -> np.ndarray:
        """The model's input: each text's token indexes (words, then bigrams when the
        model has them), unknown ones the OOV index, padded or cut to ``max_length``."""
        return self.vocabulary.encode(texts, self.max_length, self.ngrams)

    def known_tokens(self, texts: list[str]) -> np.ndarray:
        """How many tokens of each text the model knows (within the first ``max_length``):
        a text with none is classified from padding and the OOV row alone."""
        ids = self.encode(texts)
        unknown = self.vocabulary.special_indexes
        return np.count_nonzero(~np.isin(ids, unknown), axis=1) if unknown else np.count_nonzero(ids, axis=1)

    def predict(self, texts: list[str]) -> np.ndarray:
        """The probability of each label for each text, (texts, labels), float32: the
        texts prepared exactly as in training."""
        if not texts:
            return np.empty((0, len(self.labels)), dtype=np.float32)
        out = np.asarray(self.model.predict(self.encode(texts), verbose=0), dtype=np.float32)
        if self.kind == "binary":  # one sigmoid: the probability of the second label
            out = np.concatenate([1 - out, out], axis=1)
        return out

    def predictions(self, texts: list[str], threshold: float = 0.5) -> list[Prediction]:
        """Each text's labels, most likely first, with their probabilities (multi-label:
        only those at least ``threshold`` likely), and how many of its tokens the model
        knows (none: the answer comes from padding alone, a guess)."""
        probabilities = self.predict(texts)
        known = self.known_tokens(texts).tolist()
        out = []
        for text, p, seen in zip(texts, probabilities.tolist(), known, strict=True):
            ranked = sorted(zip(self.labels, p, strict=True), key=lambda lp: -lp[1])
            if self.kind == "multilabel":
                ranked = [(label, prob) for label, prob in ranked if prob >= threshold]
            out.append(Prediction(text, ranked, seen))
        return out

    def evaluate(self, data: LabelledTexts) -> Metrics:
        """The metrics of :func:`metrics` on labelled rows (which may hold one class)."""
        relabelled = _relabel(data, self.labels, self.kind)
        probabilities = self.predict(data.texts)
        return metrics(self.labels, self.kind, relabelled.targets(),
                       probabilities[:, 1:] if self.kind == "binary" else probabilities)

    def save_embeddings(self, store: Store, name: str) -> ImportResult:
        """Store the model's trained word vectors as set ``name`` (padding, ``[UNK]`` and
        bigram rows dropped), its parent the set the model was seeded from. A frozen embedding was not trained: its
        vectors are the set's own, and zeros for the words it lacks; it is refused."""
        if self.report is not None and self.report.embeddings == "frozen":
            raise InvalidArgumentError("a frozen embedding was not trained: its vectors are the set's own (and zeros "
                                       "for the words the set lacks)", subject="embeddings")
        layer = self.model.get_layer("embedding")
        weights = layer.embeddings if hasattr(layer, "trainable_rows") else np.asarray(
            layer.get_weights()[0], dtype=np.float32)
        rows = [i for i in self.vocabulary.word_indexes() if " " not in self.vocabulary.tokens[i]]  # (no bigrams)
        model_bytes = "\n".join(self.vocabulary.tokens).encode() + np.asarray(weights).tobytes()
        return store.import_vectors(name, [self.vocabulary.tokens[i] for i in rows], np.asarray(weights)[rows],
                                    source=f"vecstore train ({len(rows):,} words)",
                                    source_sha256=hashlib.sha256(model_bytes).hexdigest(), format="keras",
                                    parent_uid=(self.set_identity or {}).get("uid"))

    def save(self, model_dir: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model directory (:mod:`vecstore.keras.model_dir`): complete or
        absent; ``overwrite`` replaces a model directory, never another folder."""
        settings = {"kind": self.kind, "labels": self.labels, "max_length": self.max_length,
                    "standardize": "lower_and_strip_punctuation", "ngrams": self.ngrams,
                    "separator": self.separator, "set": self.set_identity}
        return write_model_dir(Path(model_dir), self.model.save, list(self.vocabulary.tokens), settings,
                               self.report.to_dict() if self.report else {}, overwrite=overwrite)


def load_classifier(model_dir: str | Path) -> Classifier:
    """A saved classifier, every file checked against its checksum first, its settings
    against the model; the model loaded with ``safe_mode=True``."""
    folder = Path(model_dir)
    saved = read_model_dir(folder)
    model = keras.saving.load_model(folder / "model.keras", compile=False, safe_mode=True)
    try:
        found = {"input length": model.input_shape[-1], "outputs": model.output_shape[-1],
                 "vocabulary size": model.get_layer("embedding").input_dim}
    except (AttributeError, ValueError):
        raise InputFileError(folder / "model.keras", "not a model vecstore train wrote") from None
    wanted = {"input length": saved.max_length, "outputs": 1 if saved.kind == "binary" else len(saved.labels),
              "vocabulary size": len(saved.tokens)}
    for what, value in found.items():
        if value != wanted[what]:
            raise InputFileError(folder / "model.keras", f"its {what} is {value}, and classifier.json and "
                                 f"vocabulary.txt say {wanted[what]}")
    return Classifier(model, Vocabulary.from_tokens(saved.tokens, "word list"), saved.labels, saved.kind,
                      saved.max_length, saved.set_identity, None, ngrams=saved.ngrams, separator=saved.separator)


def train_classifier(data: LabelledTexts, embedding_set: EmbeddingSet | None, options: TrainingOptions | None = None,
                     *, validation: LabelledTexts | None = None,
                     on_epoch: Callable[[int, int, dict[str, float]], None] | None = None) -> Classifier:
    """Train on ``data`` (split for validation unless ``validation`` is given or the data
    is small), from ``embedding_set`` (None with ``embeddings="learned"``).

    ``on_epoch(epoch, epochs, figures)`` is called after each epoch (1-based) with its
    loss and accuracy, and the validation's when there is a validation set."""
    options = options or TrainingOptions()
    check_request(data, embedding_set, options, validation)
    started = time.perf_counter()
    train, held, validation_from = _split(data, validation, options)
    return _fit(data, train, held, validation_from, embedding_set, options, on_epoch, started)


def check_request(data: LabelledTexts, embedding_set: EmbeddingSet | None, options: TrainingOptions,
                  validation: LabelledTexts | None) -> None:
    """Refuse a training that cannot be what it says: a set with a learned embedding or
    none with a pretrained one, validation rows beside a validation split, class weights
    for multi-label rows."""
    if (embedding_set is None) != (options.embeddings == "learned"):
        raise InvalidArgumentError("needs no set; the others need one" if embedding_set is not None else
                                   "needs a set; only a learned embedding trains without one",
                                   subject="embeddings", settings={"embeddings": options.embeddings})
    if validation is not None and options.validation_split is not None:
        raise InvalidArgumentError("give validation rows or a validation split, not both", subject="validation_split")
    options.check(set_given=embedding_set is not None, validation_given=False, multi_label=data.kind == "multilabel")


def _split(data: LabelledTexts, validation: LabelledTexts | None,
           options: TrainingOptions) -> tuple[LabelledTexts, LabelledTexts | None, str]:
    """The training rows, the validation rows (or None), and where the latter came from."""
    train, held = data, validation
    split = options.validation_split if options.validation_split is not None else (0.2 if len(data) >= 50 else None)
    validation_from = held.source if held is not None else "none: fewer than 50 rows"
    if held is None and split:
        train, held = data.split(split, seed=options.seed)
        validation_from = f"{split:g} of the rows, stratified by label"
    elif held is None and split == 0:
        validation_from = "none: a split of 0 was asked for"
    if held is not None and not len(held):
        held, validation_from = None, "none: every label has a single row"
    return train, held, validation_from


def fitted_vocabulary(texts: list[str], bigrams: int = 0) -> Vocabulary:
    """The training vocabulary, as ``TextVectorization.adapt`` makes one: the padding, the
    OOV token ``[UNK]`` (every word unknown at prediction time maps to it, as in the
    exported model), the words by frequency; then up to ``bigrams`` word pairs seen at
    least twice, by frequency."""
    from collections import Counter

    fitted = Vocabulary.fit(texts)
    if not bigrams:
        return fitted
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(word_pairs(tokenize(text)))
    pairs = [pair for pair, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 2][:bigrams]
    return Vocabulary((*fitted.tokens, *pairs), fitted.padding, fitted.oov, "fitted")


def _fit(data: LabelledTexts, train: LabelledTexts, held: LabelledTexts | None, validation_from: str,
         embedding_set: EmbeddingSet | None, options: TrainingOptions,
         on_epoch: Callable[[int, int, dict[str, float]], None] | None, started: float) -> Classifier:
    from vecstore.keras.layers import PartlyTrainableEmbedding
    from vecstore.matrix import build_matrix

    keras.utils.set_random_seed(options.seed)
    ngrams = 2 if options.bigrams else 1
    vocabulary = fitted_vocabulary(train.texts, options.bigrams)
    pairs = sum(" " in token for token in vocabulary.tokens)  # (bigram rows, after the words: none in a set)
    words = Vocabulary(vocabulary.tokens[:len(vocabulary) - pairs], vocabulary.padding, vocabulary.oov,
                       "fitted") if pairs else vocabulary  # (the rows a set may fill)
    lengths = [len(ngram_tokens(t, ngrams)) for t in train.texts]
    max_length = options.max_length or min(max(1, int(np.percentile(lengths, 95))), MAX_SEQUENCE_LENGTH)
    if len(train) * max_length > MAX_TOKEN_CELLS:
        raise InvalidArgumentError(f"{len(train):,} rows of {max_length:,} tokens are more than the "
                                   f"{MAX_TOKEN_CELLS:,} token indexes a training may hold", subject="max_length")
    x = vocabulary.encode(train.texts, max_length, ngrams)
    y = train.targets()
    coverage = None
    if embedding_set is None:
        embedding = keras.layers.Embedding(len(vocabulary), options.learned_dim, name="embedding")
    else:
        built = build_matrix(embedding_set, words, oov=options.oov)
        coverage = built.coverage.to_dict()
        matrix = np.concatenate([built.matrix, np.zeros((pairs, built.matrix.shape[1]), np.float32)])
        if options.embeddings == "new-only":
            new_rows = [i for i in range(1, len(vocabulary)) if i >= len(words) or not built.pretrained[i]]
            embedding = PartlyTrainableEmbedding(len(vocabulary), matrix.shape[1], new_rows, mask_zero=False,
                                                 name="embedding")
            embedding.set_matrix(matrix)
        else:
            embedding = keras.layers.Embedding(len(vocabulary), matrix.shape[1],
                                               trainable=options.embeddings == "trainable",
                                               embeddings_initializer=keras.initializers.Constant(matrix),
                                               name="embedding")
    options = replace(options, hidden=options.effective_hidden(len(train)),
                      dropout=options.effective_dropout(len(train)))  # (the report says what was used)
    idf = _idf(x, len(vocabulary)) if options.pool == "idf-mean-max" else None
    model = _model(embedding, options, max_length, 1 if data.kind == "binary" else len(data.names), data.kind, idf)
    callbacks: list[keras.callbacks.Callback] = []
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: on_epoch(
            epoch + 1, options.epochs, {k: float(v) for k, v in (logs or {}).items()})))
    fit_validation = None
    if held is not None:
        fit_validation = (vocabulary.encode(held.texts, max_length, ngrams),
                          _relabel(held, data.names, data.kind).targets())
        if options.early_stop:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=options.patience,
                                                           restore_best_weights=True))
    batch_size = options.effective_batch_size(len(train))
    counts = _label_counts(train, data.names)
    history = model.fit(x, y, epochs=options.epochs, batch_size=batch_size, validation_data=fit_validation,
                        callbacks=callbacks, shuffle=True, verbose=0,
                        class_weight=_class_weights(counts) if options.class_weights else None)
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    set_identity = None if embedding_set is None else {"name": embedding_set.name, "uid": embedding_set.info.uid,
                                                       "content_checksum": embedding_set.info.content_checksum}
    classifier = Classifier(model, vocabulary, data.names, data.kind, max_length, set_identity, None, ngrams=ngrams,
                            separator=data.separator)
    train_metrics = classifier.evaluate(train)
    held_metrics = classifier.evaluate(held) if held is not None else None
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    classifier.report = TrainingReport(
        data.kind, data.names, len(train), 0 if held is None else len(held), validation_from, max_length,
        options.max_length is None,
        batch_size,
        len(vocabulary), options.embeddings, options.pool, None if embedding_set is None else embedding_set.name,
        coverage, {"trainable": trainable, "frozen": frozen}, len(history.history["loss"]),
        {k: [float(v) for v in vs] for k, vs in history.history.items()}, train_metrics.to_dict(),
        None if held_metrics is None else held_metrics.to_dict(), time.perf_counter() - started, "\n".join(lines),
        [len(vocabulary), int(model.get_layer("embedding").output_dim)],
        options=asdict(options), warnings=_few_rows(counts, data.names), bigrams=pairs)
    return classifier


#: A class with fewer training rows than this is warned of: its figures say little.
FEW_ROWS = 5


def _label_counts(rows: LabelledTexts, names: list[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros(len(names), dtype=np.int64)
    for labels in rows.labels:
        counts[[index[label] for label in labels]] += 1
    return counts


def _class_weights(counts: np.ndarray) -> dict[int, float]:
    """Keras' ``class_weight``: each class weighed by rows / (classes x its rows), as
    scikit-learn's ``class_weight="balanced"``."""
    total, n = int(counts.sum()), len(counts)
    return {i: total / (n * max(int(c), 1)) for i, c in enumerate(counts)}


def _few_rows(counts: np.ndarray, names: list[str]) -> list[str]:
    few = [(name, int(c)) for name, c in zip(names, counts, strict=True) if c < FEW_ROWS]
    if not few:
        return []
    shown = ", ".join(f"{printable(name)} ({c})" for name, c in few[:10]) + (" ..." if len(few) > 10 else "")
    return [f"{counted(len(few), 'label')} with fewer than {FEW_ROWS} training rows: {shown}; their figures say "
            "little, and the model may never predict them"]


def _idf(x: np.ndarray, size: int) -> np.ndarray:
    """Each index's smoothed inverse document frequency over the encoded training rows,
    as scikit-learn's ``TfidfVectorizer`` computes it; 0 for the padding and ``[UNK]``.
    (Counted 4M cells at a time: each row's distinct indexes, from its sorted copy.)"""
    documents = np.zeros(size, dtype=np.int64)
    step = max(1, (1 << 22) // max(x.shape[1], 1))
    for start in range(0, len(x), step):
        ordered = np.sort(x[start:start + step], axis=1)
        first = np.ones(ordered.shape, dtype=bool)
        first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        documents += np.bincount(ordered[first], minlength=size)
    idf = (np.log((1 + len(x)) / (1 + documents)) + 1).astype(np.float32)
    idf[:2] = 0.0
    return idf


def _model(embedding: Any, options: TrainingOptions, max_length: int, outputs: int, kind: str,
           idf: np.ndarray | None = None) -> keras.Model:
    """Token indexes -> the embedding -> the pooling -> (dropout, a ReLU layer, dropout) ->
    the head; compiled with Adam at ``options.learning_rate``. Only built-in Keras layers
    (and, for new-only, :class:`PartlyTrainableEmbedding`), so the exported model loads
    without vecstore."""
    tokens = keras.Input((max_length,), dtype="int32", name="tokens")
    vectors = embedding(tokens)
    if options.pool in ("mean-max", "idf-mean-max"):
        weighed = vectors
        if idf is not None:  # (a frozen one-column embedding of the weights, so the model keeps them)
            weights = keras.layers.Embedding(len(idf), 1, trainable=False, name="idf",
                                             embeddings_initializer=keras.initializers.Constant(idf[:, None]))(tokens)
            weighed = keras.layers.Multiply(name="idf_weighed")([vectors, weights])
        pooled = keras.layers.Concatenate(name="mean_max")([keras.layers.GlobalAveragePooling1D(name="mean")(weighed),
                                                           keras.layers.GlobalMaxPooling1D(name="max")(vectors)])
    else:
        pooled = {"flatten": keras.layers.Flatten(name="flatten"), "average": keras.layers.GlobalAveragePooling1D(
            name="mean"), "max": keras.layers.GlobalMaxPooling1D(name="max")}[options.pool](vectors)
    if options.hidden:
        if options.dropout:
            pooled = keras.layers.Dropout(options.dropout, name="dropout_in")(pooled)
        pooled = keras.layers.Dense(options.hidden, activation="relu", name="hidden")(pooled)
    if options.dropout:
        pooled = keras.layers.Dropout(options.dropout, name="dropout")(pooled)
    head = keras.layers.Dense(outputs, activation="softmax" if kind == "multiclass" else "sigmoid",
                              name="head")(pooled)
    model = keras.Model(tokens, head, name="classifier")
    loss = {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy",
            "multilabel": "binary_crossentropy"}[kind]
    # (Keras' "accuracy" on a multi-label head is the top label's; per-label accuracy says more
    # while training, and the report's exact-match accuracy is computed apart)
    metric = keras.metrics.BinaryAccuracy(name="label_accuracy") if kind == "multilabel" else "accuracy"
    model.compile(optimizer=keras.optimizers.Adam(options.learning_rate), loss=loss, metrics=[metric])
    return model


def _relabel(part: LabelledTexts, names: list[str], kind: str) -> LabelledTexts:
    """``part`` indexed by ``names`` (a split may miss a rare label; a validation or test
    file may hold fewer); a label outside them is an error naming its row."""
    known = set(names)
    for labels, line in zip(part.labels, part.lines, strict=True):
        for label in labels:
            if label not in known:
                raise InputFileError(part.source, f"the label {quoted(label)} is not one the model was trained on "
                                     f"({listed(names)})", line)
    return LabelledTexts(part.texts, part.labels, names, kind, part.lines, part.source, part.separator)
