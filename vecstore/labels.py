"""Labelled texts for a classifier: what kind of target they make, and an honest split.

The labels decide the head of the model (:attr:`LabelledTexts.kind`):

- two values (0/1, ``true``/``false``, or any two strings): ``binary``, one sigmoid;
- more: ``multiclass``, a softmax over them;
- with ``multi_label``, a list per row (JSON) or a ``separator``-joined string:
  ``multilabel``, one sigmoid per label.

Label names are kept in a fixed order (``0`` before ``1``, ``false`` before ``true``,
else sorted), so a prediction prints names, never only indexes. Bad rows (an empty text,
a missing label) and impossible data (a single class) are one-line errors naming the row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, quoted
from vecstore.limits import MAX_LABELS, MAX_TARGET_CELLS

KINDS = ("binary", "multiclass", "multilabel")

#: The tutorial's ten comments on a student's work and their labels (1 positive, 0 negative).
TUTORIAL = (("Well done!", "1"), ("Good work", "1"), ("Great effort", "1"), ("nice work", "1"),
            ("Excellent!", "1"), ("Weak", "0"), ("Poor effort!", "0"), ("not good", "0"), ("poor work", "0"),
            ("Could have done better.", "0"))


@dataclass(frozen=True)
class LabelledTexts:
    """Texts and their labels, with the label names in index order and where each row was."""

    texts: list[str]
    labels: list[tuple[str, ...]]  # one label a row (binary, multiclass), or several (multilabel)
    names: list[str]
    kind: str
    lines: list[int]  # the source line of each row (1-based; for messages)
    source: str = ""
    separator: str | None = None  # what joined a multi-label row's labels in the file (a model keeps it)

    def __len__(self) -> int:
        return len(self.texts)

    def targets(self) -> np.ndarray:
        """What Keras fits: float32 0/1 (binary), int64 class indexes (multiclass), or a
        float32 row of 0/1 per label (multilabel)."""
        index = {name: i for i, name in enumerate(self.names)}
        if self.kind == "multilabel":
            out = np.zeros((len(self), len(self.names)), dtype=np.float32)
            for row, labels in enumerate(self.labels):
                out[row, [index[label] for label in labels]] = 1.0
            return out
        values = np.array([index[labels[0]] for labels in self.labels], dtype=np.int64)
        return values.astype(np.float32) if self.kind == "binary" else values

    def subset(self, rows: Sequence[int]) -> LabelledTexts:
        return LabelledTexts([self.texts[i] for i in rows], [self.labels[i] for i in rows], self.names, self.kind,
                             [self.lines[i] for i in rows], self.source, self.separator)

    def split(self, validation: float = 0.2, seed: int = 0) -> tuple[LabelledTexts, LabelledTexts]:
        """(training, validation) rows, stratified by label (by the first label of a
        multi-label row), shuffled with ``seed``: every class is in both when it can be."""
        if not 0 < validation < 1:
            raise InvalidArgumentError(f"must be between 0 and 1, not {validation}", subject="validation_split")
        rng = np.random.default_rng(seed)
        by_class: dict[str, list[int]] = {}
        for row, labels in enumerate(self.labels):
            by_class.setdefault(labels[0] if labels else "", []).append(row)
        held: list[int] = []
        for rows in by_class.values():  # (a class of one row is only trained on; each keeps a training row)
            rows = list(rng.permutation(rows))
            held += rows[:min(max(round(len(rows) * validation), 1), len(rows) - 1)]
        held_set = set(held)
        return self.subset([i for i in range(len(self)) if i not in held_set]), self.subset(sorted(held))


def label_names(values: set[str]) -> list[str]:
    """Label names in index order: ``0``/``1`` and ``false``/``true`` as such, else sorted."""
    lowered = {v.lower(): v for v in values}
    for pair in (("0", "1"), ("false", "true"), ("no", "yes"), ("negative", "positive")):
        if set(lowered) == set(pair):
            return [lowered[p] for p in pair]
    return sorted(values)


def labelled(texts: Sequence[str], labels: Sequence[object], *, multi_label: bool = False,
             separator: str | None = None, lines: Sequence[int] | None = None,
             source: str = "<texts>", for_training: bool = True) -> LabelledTexts:
    """Texts and labels checked and typed: every row has a non-empty text and at least one
    label, and (``for_training``) there are at least two labels in all and not one a row.
    Rows to measure a model on may hold a single class."""
    lines = list(lines) if lines is not None else list(range(1, len(texts) + 1))
    rows: list[tuple[str, ...]] = []
    for text, label, line in zip(texts, labels, lines, strict=True):
        if not isinstance(text, str) or not text.strip():
            raise InputFileError(source, "an empty text: every row needs one to learn from", line)
        rows.append(_labels_of(label, multi_label, separator, source, line))
        for value in (text, *rows[-1]):
            if not value.isascii():  # (a JSON escape can make half a UTF-16 pair, which no file can hold)
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise InputFileError(source, f"a lone surrogate ({exc.object[exc.start:exc.end]!r}) in a "
                                         "text or label: not a character", line) from None
    if not rows:
        raise InputFileError(source, "no rows to learn from")
    counts = Counter(label for labels in rows for label in labels)
    if not for_training:
        kind = "multilabel" if multi_label else ("binary" if len(counts) <= 2 else "multiclass")
        return LabelledTexts(list(texts), rows, label_names(set(counts)), kind, lines, source,
                             separator if multi_label else None)
    if len(counts) < 2:
        only = next(iter(counts))
        raise InputFileError(source, f"every row has the label {quoted(only)}: a classifier needs two or more")
    if len(counts) > MAX_LABELS:
        raise InputFileError(source, f"{len(counts):,} different labels, more than the {MAX_LABELS:,} a classifier "
                             "may learn: is the label column the right one?")
    if len(rows) >= 50 and len(counts) == len(rows) and not multi_label:
        raise InputFileError(source, f"each of the {len(rows):,} rows has its own label: nothing to learn from "
                             "(is the label column the right one?)")
    if multi_label and len(rows) * len(counts) > MAX_TARGET_CELLS:
        raise InputFileError(source, f"{len(rows):,} rows of {len(counts):,} labels are more than the "
                             f"{MAX_TARGET_CELLS:,} targets a multi-label training may hold")
    kind = "multilabel" if multi_label else ("binary" if len(counts) == 2 else "multiclass")
    return LabelledTexts(list(texts), rows, label_names(set(counts)), kind, lines, source,
                         separator if multi_label else None)


def _labels_of(value: object, multi_label: bool, separator: str | None, source: str, line: int) -> tuple[str, ...]:
    if multi_label and isinstance(value, list):
        labels = [_one_label(v, source, line) for v in value]
    elif multi_label and separator is not None and isinstance(value, str):
        labels = [part.strip() for part in value.split(separator) if part.strip()]
    elif multi_label:
        raise InputFileError(source, "a multi-label row needs a JSON list of labels, or a string and a separator",
                             line, hint=("separator", "separator= splits a string of labels"))
    elif isinstance(value, list):
        raise InputFileError(source, "a list of labels in a single-label file", line,
                             hint=("multi_label", "multi_label=True reads a list of labels a row"))
    else:
        labels = [_one_label(value, source, line)]
    if not labels:
        raise InputFileError(source, "no label", line)
    return tuple(dict.fromkeys(labels))


def _one_label(value: object, source: str, line: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip() and "\n" not in value:
        return value.strip()
    raise InputFileError(source, f"no label (found {quoted(str(value)) if value is not None else 'nothing'})", line)


def read_labelled(source: str | Path, *, text_col: str = "text", label_col: str = "label",
                  multi_label: bool = False, separator: str | None = None, format: str | None = None,
                  for_training: bool = True) -> LabelledTexts:
    """The labelled rows of a CSV, TSV or JSON Lines file (by its name, or ``format``:
    ``csv``, ``tsv`` or ``jsonl``; ``-`` with a ``format`` reads standard input)."""
    from vecstore.io.documents import read_records

    source = str(source)
    records = read_records(source, {text_col: "text_col", label_col: "label_col"}, format=format,
                           what="labelled texts")
    return labelled([r.values[text_col] for r in records], [r.values[label_col] for r in records],
                    multi_label=multi_label, separator=separator, lines=[r.line for r in records],
                    source="stdin" if source == "-" else source, for_training=for_training)


def tutorial() -> LabelledTexts:
    """The tutorial's ten documents and labels (``vecstore train --example tutorial``)."""
    return labelled([t for t, _ in TUTORIAL], [label for _, label in TUTORIAL], source="the tutorial's example")
