"""A classifier's model directory: its files, their checksums, and how it is published.

A model directory holds ``model.keras``, ``vocabulary.txt`` (one token a line, the
padding first, then the OOV token ``[UNK]``; a model of format 1 has none and drops
unknown words), ``classifier.json`` (the label kind and names, the max length, the
standardisation, the n-grams, a multi-label file's separator, the set's name, uid and
content checksum), ``report.json`` (the training
report) and ``checksums.json`` (a sha256 of each). It is written into a temp folder
beside its place and renamed into it, so it is complete or absent; it is read only when
every file matches its checksum and the settings are well formed.

This module needs no Keras: the command line checks ``--out`` before TensorFlow starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecstore.errors import InputFileError
from vecstore.io.files import NOTHING_PROTECTED, ProtectedFiles, check_output_folder, read_whole, write_folder
from vecstore.labels import KINDS
from vecstore.limits import MAX_VOCABULARY_BYTES

#: The files of a model directory (each checksummed in ``checksums.json``).
MODEL_FILES = ("model.keras", "vocabulary.txt", "classifier.json", "report.json")
CHECKSUMS = "checksums.json"
MODEL_FORMAT = "vecstore-classifier/2"
#: Format 1 (vecstore before the exported model): no OOV token, no n-grams, no separator.
READ_FORMATS = ("vecstore-classifier/1", MODEL_FORMAT)
#: The longest token sequence a model takes (a fitted length, the 95th percentile of the
#: training texts', is cut to it; a review is about 20 tokens, a long article 10,000).
MAX_SEQUENCE_LENGTH = 10_000


@dataclass(frozen=True)
class SavedSettings:
    """What ``classifier.json`` and ``vocabulary.txt`` say, checked."""

    kind: str
    labels: list[str]
    max_length: int
    set_identity: dict[str, str] | None
    tokens: list[str]
    ngrams: int = 1
    separator: str | None = None


def check_model_dir(folder: Path, *, overwrite: bool, protected: ProtectedFiles = NOTHING_PROTECTED) -> None:
    """Whether a model directory may be written at ``folder``: never over a file or a
    folder that is not a model directory (its ``classifier.json`` names the format), over
    one only with ``overwrite``."""
    check_output_folder(folder, "classifier.json", "model directory", overwrite=overwrite, protected=protected,
                        signature=b'"format": "vecstore-classifier/', expected=frozenset((*MODEL_FILES, CHECKSUMS)))


#: The file of an export folder that names its labels (and marks it as an export).
LABELS_FILE = "labels.json"
EXPORT_FORMAT = "vecstore-export/1"
EXPORT_FILES = frozenset(("model.keras", LABELS_FILE, "saved_model"))
OLD_MODEL = ("has no [UNK] token: its model drops the words it does not know (vecstore-classifier/1), which a "
             "TextVectorization layer cannot do; train it again to export it")


def check_export_folder(model_dir: Path, out: Path, *, overwrite: bool,
                        protected: ProtectedFiles = NOTHING_PROTECTED) -> None:
    """Whether an export may be written at ``out``: not a file, not a folder vecstore did
    not write as an export, not one without ``overwrite``, and not the model directory or
    a folder holding it (replacing it would delete the model)."""
    check_output_folder(out, LABELS_FILE, "model export", overwrite=overwrite, protected=protected,
                        signature=f'"format": "{EXPORT_FORMAT}"'.encode(), expected=EXPORT_FILES)
    if model_dir.resolve().is_relative_to(out.resolve()):
        raise InputFileError(out, "holds the model directory it would replace")


def check_export(model_dir: Path, out: Path, *, overwrite: bool,
                 protected: ProtectedFiles = NOTHING_PROTECTED) -> SavedSettings:
    """Whether ``model_dir`` may be exported to ``out``, told before TensorFlow starts:
    :func:`check_export_folder`, and the model directory whole and checked, with an
    ``[UNK]`` token."""
    check_export_folder(model_dir, out, overwrite=overwrite, protected=protected)
    saved = read_model_dir(model_dir)
    if saved.tokens[1:2] != ["[UNK]"]:
        raise InputFileError(model_dir / "vocabulary.txt", OLD_MODEL)
    return saved


def write_model_dir(folder: Path, write_model: Callable[[Path], None], tokens: list[str], settings: dict[str, Any],
                    report: dict[str, Any], *, overwrite: bool) -> Path:
    """Write the files into a temp folder beside ``folder``, checksum them, and rename
    it into place (replacing the model directory there with ``overwrite``)."""
    check_model_dir(folder, overwrite=overwrite)

    def fill(tmp: Path) -> None:
        write_model(tmp / "model.keras")
        (tmp / "vocabulary.txt").write_bytes("".join(t + "\n" for t in tokens).encode("utf-8"))
        (tmp / "classifier.json").write_text(json.dumps({"format": MODEL_FORMAT, **settings}, indent=1),
                                             encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
        sums = {name: sha256_of(tmp / name) for name in MODEL_FILES}
        (tmp / CHECKSUMS).write_text(json.dumps(sums, indent=1), encoding="utf-8")

    return write_folder(folder, fill, lambda: check_model_dir(folder, overwrite=overwrite))


def read_model_dir(folder: Path) -> SavedSettings:
    """The checked settings of a model directory: every file present and matching its
    checksum, ``classifier.json`` well formed. (The checksums find a damaged or edited
    file, not a forgery: whoever can write the folder can rewrite them.)"""
    if not folder.is_dir():
        raise InputFileError(folder, "not a model directory (vecstore train writes one)")
    try:
        sums = json.loads(_small_text(folder / CHECKSUMS, 1 << 16))
    except ValueError:
        sums = None
    if not isinstance(sums, dict):
        raise InputFileError(folder / CHECKSUMS, "not a JSON object of the files' checksums")
    for name in MODEL_FILES:
        path = folder / name
        if not path.is_file():
            raise InputFileError(path, "missing: the model directory is incomplete")
        if sha256_of(path) != sums.get(name):
            raise InputFileError(path, "does not match its checksum: the model directory was altered")
    settings_path = folder / "classifier.json"
    try:
        settings = json.loads(_small_text(settings_path, MAX_VOCABULARY_BYTES))
        if not isinstance(settings, dict) or settings.get("format") not in READ_FORMATS:
            raise ValueError(f"not {MODEL_FORMAT}")
        kind, labels, max_length = settings["kind"], settings["labels"], settings["max_length"]
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r}")
        if not isinstance(labels, list) or len(labels) < 2 or len(set(labels)) != len(labels) or not all(
                isinstance(label, str) for label in labels):
            raise ValueError("the labels must be two or more distinct strings")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or not (
                1 <= max_length <= MAX_SEQUENCE_LENGTH):
            raise ValueError(f"max_length {max_length!r}")
        identity = settings.get("set")
        if identity is not None and not isinstance(identity, dict):
            raise ValueError("set")
        ngrams, separator = settings.get("ngrams", 1), settings.get("separator")
        if ngrams not in (1, 2) or isinstance(ngrams, bool):
            raise ValueError(f"ngrams {ngrams!r}")
        if separator is not None and (not isinstance(separator, str) or not separator):
            raise ValueError(f"separator {separator!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise InputFileError(settings_path, f"not a vecstore classifier's settings ({exc})") from None
    tokens = _small_text(folder / "vocabulary.txt", MAX_VOCABULARY_BYTES).split("\n")[:-1]
    return SavedSettings(kind, labels, max_length, identity, tokens, ngrams, separator)


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _small_text(path: Path, limit: int) -> str:
    raw = read_whole(path, limit, "model directory")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(path, "not valid UTF-8") from None
