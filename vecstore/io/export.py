"""Writing a stored set back out as GloVe, word2vec (text or binary), CSV or NumPy files.

Text values are printed with the fewest digits that read back as the same float32, so
``import -> export -> import`` is bit-identical. The set is read chunk by chunk (each
chunk verified against its checksum) and written through :class:`vecstore.io.files.AtomicOutput`:
an existing file is kept unless overwriting is asked for, the store's own files never
written, and an interrupted export never leaves a truncated file under the output's
name. ``.gz`` and ``.bz2`` outputs are compressed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vecstore.errors import InvalidArgumentError, quoted
from vecstore.io.files import NOTHING_PROTECTED, AtomicOutput, ProtectedFiles, check_output

if TYPE_CHECKING:
    from vecstore.query import EmbeddingSet

try:
    from vecstore import _fastparse
except ImportError:
    _fastparse = None

EXPORT_FORMATS = ("glove", "word2vec", "word2vec-binary", "csv", "npy", "projector")

#: Chunks formatted per batch (both cores format one chunk each at a time).
_BATCH = 8


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    rows: int
    bytes: int
    words_path: Path | None = None

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "format": self.format, "rows": self.rows, "bytes": self.bytes,
                "words_path": str(self.words_path) if self.words_path else None}


def export_set(embedding_set: EmbeddingSet, out: str | os.PathLike[str], format: str = "glove", *,
               overwrite: bool = False, protected: ProtectedFiles = NOTHING_PROTECTED) -> ExportResult:
    """Write ``embedding_set`` to ``out`` in ``format`` (see :data:`EXPORT_FORMATS`).

    ``npy`` writes the float32 matrix to ``out`` and the words, one per line (line i is
    row i), to ``out`` with ``.words.txt`` in place of ``.npy``. ``csv`` writes a header
    ``word,v1,...,vN`` and one row per word (RFC 4180 quoting), for spreadsheets and pandas.
    ``projector`` writes the pair TensorBoard's Embedding Projector loads: ``out`` holds
    the vectors (tab-separated values, a row per word) and ``metadata_path(out)`` the
    words, one a line (a tab in a word becomes a space: the projector splits on tabs).
    An existing output is refused unless ``overwrite``; ``protected`` files (the store's
    own, see :meth:`vecstore.store.Store.export`) are refused always. Every output is
    checked before anything is written.
    """
    if format not in EXPORT_FORMATS:
        raise InvalidArgumentError(f"must be one of {', '.join(EXPORT_FORMATS)}, not {quoted(format)}",
                                   subject="format")
    out = Path(out)
    if format == "projector":
        words_path = metadata_path(out)
        check_output(words_path, overwrite=overwrite, protected=protected)
        with AtomicOutput(out, overwrite=overwrite, protected=protected) as f:
            for piece in _pieces(embedding_set, kind=format):
                f.write(piece)
        with AtomicOutput(words_path, overwrite=overwrite, protected=protected) as f:
            f.write("".join(word.replace("\t", " ") + "\n" for word in embedding_set.words).encode())
        return ExportResult(out, format, len(embedding_set), out.stat().st_size, words_path)
    if format == "npy":
        words_path = out.with_name(out.name.removesuffix(".npy") + ".words.txt")
        check_output(words_path, overwrite=overwrite, protected=protected)
        with AtomicOutput(out, overwrite=overwrite, protected=protected, compress=False) as f:
            np.save(f, embedding_set.matrix(), allow_pickle=False)
        with AtomicOutput(words_path, overwrite=overwrite, protected=protected, compress=False) as f:
            f.write("".join(word + "\n" for word in embedding_set.words).encode())
        return ExportResult(out, format, len(embedding_set), out.stat().st_size, words_path)
    if format == "word2vec-binary":
        spaced = next((w for w in embedding_set.words if " " in w), None)
        if spaced is not None:
            raise InvalidArgumentError(f"the word {quoted(spaced)} holds a space, which word2vec's binary format "
                                       "cannot store; export as glove or word2vec text instead")
    with AtomicOutput(out, overwrite=overwrite, protected=protected) as f:
        if format in ("word2vec", "word2vec-binary"):
            f.write(f"{len(embedding_set)} {embedding_set.dim}\n".encode())
        elif format == "csv":
            f.write(("word," + ",".join(f"v{i}" for i in range(1, embedding_set.dim + 1)) + "\n").encode())
        for piece in _pieces(embedding_set, kind=format):
            f.write(piece)
    return ExportResult(out, format, len(embedding_set), out.stat().st_size)


def _pieces(embedding_set: EmbeddingSet, *, kind: str) -> Iterator[bytes]:
    """The body of the file, chunk by chunk, formatted on both cores."""
    words = embedding_set.words
    per_chunk = embedding_set.info.rows_per_chunk
    chunk_count = -(-len(words) // per_chunk)
    with ThreadPoolExecutor(2) as pool:
        for first in range(0, chunk_count, _BATCH):
            numbers = list(range(first, min(first + _BATCH, chunk_count)))
            chunks = embedding_set.chunks(numbers)
            jobs = []
            for number, vectors in chunks:
                chunk_words = words[number * per_chunk:number * per_chunk + len(vectors)]
                jobs.append(pool.submit(_FORMATTERS.get(kind, _format_text), chunk_words, vectors))
            for job in jobs:
                yield job.result()


def _format_text(words: list[str], vectors: np.ndarray) -> bytes:
    if _fastparse is not None:
        return _fastparse.format_glove("\n".join(words).encode(), np.ascontiguousarray(vectors, "<f4"),
                                       len(words), vectors.shape[1])
    # str() of a float32 is its shortest round-tripping decimal (numpy's Dragon4).
    return "".join(f"{word} {' '.join(str(v) for v in row)}\n" for word, row in zip(words, vectors, strict=True)
                   ).encode()


def _format_binary(words: list[str], vectors: np.ndarray) -> bytes:
    data = np.ascontiguousarray(vectors, "<f4")
    return b"".join(word.encode() + b" " + row.tobytes() + b"\n" for word, row in zip(words, data, strict=True))


def value_lines(vectors: np.ndarray) -> list[str]:
    """Each row's values separated by spaces, with the fewest digits that read back as the
    same float32 (the GloVe text of the rows, without their words)."""
    text = _format_text(["x"] * len(vectors), vectors).decode() if len(vectors) else ""
    return [line[2:] for line in text.split("\n") if line]


def _format_csv(words: list[str], vectors: np.ndarray) -> bytes:
    """CSV rows: the word (quoted where it must be), then its values, comma-separated."""
    return "".join(f"{_csv_field(word)},{values.replace(' ', ',')}\n"
                   for word, values in zip(words, value_lines(vectors), strict=True)).encode()


def _format_projector(words: list[str], vectors: np.ndarray) -> bytes:
    """Tab-separated values, a row per vector (the words go to the metadata file)."""
    return "".join(values.replace(" ", "\t") + "\n" for values in value_lines(vectors)).encode()


def metadata_path(out: Path) -> Path:
    """Where ``projector`` puts the words: ``vectors.tsv`` -> ``vectors.metadata.tsv``."""
    return out.with_name(out.name.removesuffix(".tsv") + ".metadata.tsv")


def _csv_field(word: str) -> str:
    if any(c in word for c in ',"\r\n') or word != word.strip():
        return '"' + word.replace('"', '""') + '"'
    return word


_FORMATTERS = {"word2vec-binary": _format_binary, "csv": _format_csv, "projector": _format_projector}
