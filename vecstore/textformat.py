"""Reading GloVe and word2vec text files into words and a float32 matrix, or saying
exactly which line is wrong.

The fast path hands the file to Arrow's multi-threaded CSV reader (both cores parse;
about 4x faster than a Python loop over ``line.split()``). Arrow's errors do not carry
reliable line numbers, so on any failure a plain line-by-line scan
(:func:`find_problem`) names the file, line and fault. The same scan defines the format.

GloVe lines are ``word v1 ... vd`` separated by single spaces; a word2vec text file
starts with a ``count dim`` header line.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecstore.errors import InputFileError

GLOVE = "glove"
WORD2VEC = "word2vec"
FORMATS = (GLOVE, WORD2VEC)


@dataclass(frozen=True)
class Embeddings:
    """Words in row order with their vectors, and where they came from."""

    words: list[str]
    vectors: np.ndarray  # (count, dim) float32, C order
    format: str
    source: str
    sha256: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


@dataclass(frozen=True)
class Layout:
    """What the first line tells: the format, the vector length, and the header's count."""

    format: str
    dim: int
    header_count: int | None

    @property
    def skip_lines(self) -> int:
        return 1 if self.format == WORD2VEC else 0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def detect_layout(path: Path, format: str | None = None) -> Layout:
    """Tell GloVe (no header) from word2vec text (``count dim`` header) by the first line."""
    if format is not None and format not in FORMATS:
        raise InputFileError(path, f"unknown text format {format!r} (choose from {', '.join(FORMATS)})")
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 20)
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not an embedding file") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None
    line = first.rstrip(b"\r\n")
    if not line:
        raise InputFileError(path, "empty file" if not first else "the first line is empty", 1 if first else None)
    fields = line.split(b" ")
    is_header = len(fields) == 2 and all(f.isdigit() for f in fields)
    if format == WORD2VEC and not is_header:
        raise InputFileError(path, "word2vec text must start with a 'count dim' header line", 1)
    if is_header and format != GLOVE:
        count, dim = int(fields[0]), int(fields[1])
        if dim < 1:
            raise InputFileError(path, f"the header says {dim} dimensions", 1)
        return Layout(WORD2VEC, dim, count)
    if len(fields) < 2:
        raise InputFileError(path, "expected a word followed by its vector values", 1)
    return Layout(GLOVE, len(fields) - 1, None)


def read_text(path: str | os.PathLike[str], *, format: str | None = None) -> Embeddings:
    """Parse a GloVe or word2vec text file, validated, or raise :class:`InputFileError`.

    Checks: UTF-8, every line ``word`` + exactly ``dim`` values, every value a finite
    number, no empty or repeated word, and a word2vec header that matches the body.
    """
    path = Path(path)
    layout = detect_layout(path, format)
    digest: list[str] = []
    hasher = threading.Thread(target=lambda: digest.append(file_sha256(path)), daemon=True)
    hasher.start()  # hashlib releases the GIL: hashing overlaps the parse
    words, vectors = _parse_with_arrow(path, layout)
    hasher.join()
    _check_rows(path, layout, words, vectors)
    return Embeddings(words, vectors, layout.format, str(path.resolve()), digest[0])


def _parse_with_arrow(path: Path, layout: Layout) -> tuple[list[str], np.ndarray]:
    import pyarrow as pa
    from pyarrow import csv

    names = ["word", *(f"v{i}" for i in range(layout.dim))]
    types = {"word": pa.string(), **{n: pa.float32() for n in names[1:]}}
    try:
        table = csv.read_csv(
            path,
            # 1 MiB blocks: many blocks keep both cores busy (measured faster than 4-16 MiB).
            read_options=csv.ReadOptions(column_names=names, skip_rows=layout.skip_lines, block_size=1 << 20),
            parse_options=csv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False,
                                           double_quote=False, ignore_empty_lines=False),
            convert_options=csv.ConvertOptions(column_types=types, null_values=[], true_values=[],
                                               false_values=[], strings_can_be_null=False,
                                               quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        line, reason = find_problem(path, layout) or (None, f"cannot parse: {exc}")
        raise InputFileError(path, reason, line) from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc}") from None
    vectors = np.empty((table.num_rows, layout.dim), dtype=np.float32)
    start = 0
    # Arrow parses into columns; transposing 4,096 rows at a time stays in cache
    # (0.05 s for 400,000 x 50, against 0.3 s for whole columns).
    for batch in table.to_batches(max_chunksize=4096):
        n = batch.num_rows
        np.stack([batch.column(j + 1).to_numpy() for j in range(layout.dim)], axis=1,
                 out=vectors[start:start + n])
        start += n
    return table.column(0).to_pylist(), vectors


def _check_rows(path: Path, layout: Layout, words: list[str], vectors: np.ndarray) -> None:
    skip = layout.skip_lines
    if not words:
        raise InputFileError(path, "no vectors after the header" if skip else "no vectors", None)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        col = int(np.argmin(np.isfinite(vectors[row])))
        raise InputFileError(path, f"value {col + 1} of {words[row]!r} is {vectors[row, col]}, not a finite number",
                             row + 1 + skip)
    if layout.header_count is not None and layout.header_count != len(words):
        raise InputFileError(path, f"the header says {layout.header_count} vectors but the file has {len(words)}", 1)
    unique = set(words)
    if len(unique) == len(words) and "" not in unique:
        return
    seen: dict[str, int] = {}
    for row, word in enumerate(words):
        if not word:
            raise InputFileError(path, "the line starts with a space: the word is empty", row + 1 + skip)
        first = seen.setdefault(word, row)
        if first != row:
            raise InputFileError(path, f"the word {word!r} appears again (first on line {first + 1 + skip})",
                                 row + 1 + skip)


def find_problem(path: Path, layout: Layout) -> tuple[int, str] | None:
    """Scan ``path`` line by line; return (line number, what is wrong) for the first bad line."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number <= layout.skip_lines:
                continue
            problem = _line_problem(raw, layout.dim)
            if problem is not None:
                return number, problem
    return None


def _line_problem(raw: bytes, dim: int) -> str | None:
    body = raw.rstrip(b"\n").removesuffix(b"\r")
    try:
        line = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{body[exc.start]:02x} at column {exc.start + 1})"
    if not line:
        return "empty line"
    word, *values = line.split(" ")
    if not word:
        return "the line starts with a space: the word is empty"
    if len(values) != dim:
        return f"expected {dim} values after {word!r}, found {len(values)}"
    for i, value in enumerate(values, start=1):
        try:
            number = float(value)
        except ValueError:
            return f"value {i} of {word!r} is {value!r}, not a number"
        if not math.isfinite(number):
            return f"value {i} of {word!r} is {value!r}, not a finite number"
    return None
