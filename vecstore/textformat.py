"""Reading GloVe and word2vec text files into words and a float32 matrix, or saying
exactly which line is wrong.

The fast path is a small C extension (``vecstore._fastparse``) that parses the file's
bytes on both cores at once (GIL released) while a third thread hashes them; it is
about 8x faster than the tutorial's ``line.split()`` loop and rounds every value
correctly to float32. Where the extension could not be compiled, a pure-Python parser
gives the same words and (but for the last bit of values with more than 7 significant
digits) the same vectors, at the tutorial's speed.

On any failure, :func:`find_problem` scans the file line by line and names the file,
line and fault: that scan defines the format. GloVe lines are ``word v1 ... vd``
separated by single spaces, ending in ``\n`` or ``\r\n``; a word2vec text file starts
with a ``count dim`` header line.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecstore.errors import InputFileError

try:
    from vecstore import _fastparse
except ImportError:  # no C compiler at install time: the Python parser below
    _fastparse = None

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
    """The sha256 of a file, read in 4 MiB blocks."""
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
    try:
        # Mapped, not read: the parse and the hash read the page cache in place.
        with (open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data,
              ThreadPoolExecutor(1) as pool):
            digest = pool.submit(lambda: hashlib.sha256(data).hexdigest())  # overlaps the parse
            body = _skip_lines(data, layout.skip_lines)
            if _fastparse is not None:
                words, vectors = _parse_fast(path, layout, data, body)
            else:
                words, vectors = _parse_python(path, layout, data[:], body)
            sha256 = digest.result()
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None
    _check_rows(path, layout, words, vectors)
    return Embeddings(words, vectors, layout.format, str(path.resolve()), sha256)


def _skip_lines(data: bytes | mmap.mmap, count: int) -> int:
    """The offset of the first byte after ``count`` lines."""
    offset = 0
    for _ in range(count):
        end = data.find(b"\n", offset)
        offset = len(data) if end < 0 else end + 1
    return offset


def _parse_fast(path: Path, layout: Layout, data: mmap.mmap, body: int) -> tuple[list[str], np.ndarray]:
    assert _fastparse is not None
    end = len(data)
    rows = _fastparse.count_lines(data, body, end) + (0 if end == body or data[end - 1] == ord("\n") else 1)
    vectors = np.empty((rows, layout.dim), dtype=np.float32)
    bounds = np.empty((rows, 2), dtype=np.int64)
    # Two line-aligned halves, one per core.
    middle = data.find(b"\n", body + (end - body) // 2) + 1 or end
    first_half = _fastparse.count_lines(data, body, middle)
    halves = [(body, middle, 0, first_half), (middle, end, first_half, rows - first_half)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(
            lambda h: _fastparse.parse_lines(data, h[0], h[1], layout.dim, vectors, bounds, h[2], h[3]), halves))
    if any(failed for _, failed in results):
        _raise_problem(path, layout)
    try:
        words = _fastparse.decode_words(data, bounds, rows)
    except UnicodeError:
        _raise_problem(path, layout)
    return words, vectors


def _parse_python(path: Path, layout: Layout, data: bytes, body: int) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    values: list[list[str]] = []
    lines = data[body:].split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line; it does not start another
    for raw in lines:
        fields = raw.removesuffix(b"\r").split(b" ")
        if len(fields) != layout.dim + 1:
            _raise_problem(path, layout)
        try:
            words.append(fields[0].decode("utf-8"))
        except UnicodeDecodeError:
            _raise_problem(path, layout)
        if b"".join(fields[1:]).translate(None, b"0123456789+-.eE"):
            _raise_problem(path, layout)  # a character no decimal number has (the C parser's grammar)
        values.append(fields[1:])
    try:
        with np.errstate(over="ignore"):  # values beyond float32 become inf, reported below
            vectors = np.array(values, dtype=np.float32).reshape(len(words), layout.dim)
    except ValueError:
        _raise_problem(path, layout)
    return words, vectors


def _raise_problem(path: Path, layout: Layout) -> None:
    found = find_problem(path, layout)
    if found is None:  # the fast parsers and the scan disagree: a bug, reported as such
        raise AssertionError(f"{path}: the parser rejected the file but the line scan finds no fault")
    line, reason = found
    raise InputFileError(path, reason, line)


def _check_rows(path: Path, layout: Layout, words: list[str], vectors: np.ndarray) -> None:
    skip = layout.skip_lines
    if not words:
        raise InputFileError(path, "no vectors after the header" if skip else "no vectors", None)
    if not np.isfinite(vectors).all():  # a number beyond float32's range
        _raise_problem(path, layout)
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
        if _NUMBER.fullmatch(value):
            if abs(float(value)) < _FLOAT32_OVERFLOW:
                continue
            return f"value {i} of {word!r} is {value!r}, beyond the float32 range"
        if _NON_FINITE.fullmatch(value):
            return f"value {i} of {word!r} is {value!r}, not a finite number"
        return f"value {i} of {word!r} is {value!r}, not a number"
    return None


# The decimal numbers a vector value may be (what the C parser accepts), and the
# spellings of infinity and NaN that deserve their own message.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
# Decimals from here up round to infinity in float32 (FLT_MAX plus half an ulp).
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103
