"""Facebook's fastText binary model (``.bin``): its words, their vectors and the n-gram rows.

The format (``FastText::saveModel`` in fastText's C++; gensim's ``save_facebook_model``
writes the same): two int32 (magic 793712314, version), the training arguments (twelve
int32 and a double: ``dim`` first, ``bucket``, ``minn``, ``maxn`` among them), the
dictionary (int32 size, nwords, nlabels; int64 ntokens, pruneidx_size; each entry a
NUL-terminated word, an int64 count and an int8 type; the pruned index), a bool
``quant_input``, then the input matrix (int64 rows and columns, then float32 rows:
``nwords`` word rows followed by ``bucket`` n-gram rows), then the output matrix.

Everything is checked before anything is allocated from it: the header's sizes against
the file's own size and vecstore's bounds, each word's bytes, the matrix's shape against
the dictionary. The file is mapped, never read whole: a word's vector reads the rows of
its n-grams only. A quantized model (``.ftz``, ``quant_input`` set) holds product-quantized
codes, not rows; it is refused in one line.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecstore.errors import InputFileError
from vecstore.io.files import open_input
from vecstore.limits import MAX_DIM, MAX_LINE_BYTES
from vecstore.subwords import SubwordModel

MAGIC = 793712314
#: fastText's end-of-sentence token (``Dictionary::EOS``), which ``initNgrams`` gives no n-grams.
EOS = "</s>"
#: The newest version fastText writes (12); older files lack the magic number.
VERSIONS = range(11, 13)
#: At most this many dictionary entries (fastText's largest published models: 2,000,000).
MAX_ENTRIES = 50_000_000
#: At most this many n-gram buckets (fastText's default is 2,000,000; it is an int32).
MAX_BUCKETS = 1 << 30
MAX_NGRAM = 64
_ARGS = struct.Struct("<12id")
_DICTIONARY = struct.Struct("<3i2q")
_MATRIX = struct.Struct("<2q")


def looks_like_fasttext_bin(head: bytes) -> bool:
    """Whether a file starts as a fastText binary model does (its magic number)."""
    return len(head) >= 8 and struct.unpack_from("<i", head)[0] == MAGIC


@dataclass
class FastTextModel:
    """A mapped fastText model: its words in order, the subword settings, and the input
    matrix's rows (word rows, then n-gram rows), all checked against the file's size."""

    path: Path
    words: list[str]
    dim: int
    subwords: SubwordModel | None  # None: the model has no n-grams (maxn 0 or no buckets)
    _map: mmap.mmap
    _matrix: np.ndarray  # (nwords + bucket, dim) float32, a view of the mapping

    @classmethod
    def open(cls, path: Path) -> FastTextModel:
        with open_input(path, "a fastText model") as f:  # (a FIFO or a device refused before it is opened)
            size = path.stat().st_size
            if size < 8 + _ARGS.size + _DICTIONARY.size:
                raise InputFileError(path, f"a fastText model is longer than {size:,} bytes: the file is truncated")
            try:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                raise InputFileError(path, f"cannot map it ({exc})") from None
        try:
            return cls._parse(path, mapped)
        except BaseException:
            with contextlib.suppress(BufferError):  # (nothing maps it once the error is raised)
                mapped.close()
            raise

    @classmethod
    def _parse(cls, path: Path, data: mmap.mmap) -> FastTextModel:
        size = len(data)

        def fail(problem: str) -> InputFileError:
            return InputFileError(path, problem)

        magic, version = struct.unpack_from("<2i", data)
        if magic != MAGIC:
            raise fail("not a fastText binary model (its first four bytes are not fastText's magic number)")
        if version not in VERSIONS:
            raise fail(f"a fastText model of format version {version}; vecstore reads versions 11 and 12")
        (dim, _ws, _epoch, _min_count, _neg, _word_ngrams, _loss, _model, bucket, minn, maxn, _lr_update,
         _t) = _ARGS.unpack_from(data, 8)
        at = 8 + _ARGS.size
        if not 1 <= dim <= MAX_DIM:
            raise fail(f"its header gives {dim:,} dimensions; a vector has 1 to {MAX_DIM:,}")
        if not 0 <= bucket <= MAX_BUCKETS:
            raise fail(f"its header gives {bucket:,} n-gram buckets; at most {MAX_BUCKETS:,} are read")
        if not (0 <= minn <= MAX_NGRAM and 0 <= maxn <= MAX_NGRAM) or (maxn and minn > maxn) or (maxn and minn < 1):
            raise fail(f"its header gives n-grams of {minn} to {maxn} characters, which fastText cannot have made")
        entries, nwords, nlabels, _ntokens, pruned = _DICTIONARY.unpack_from(data, at)
        at += _DICTIONARY.size
        if not 0 <= entries <= MAX_ENTRIES or not 0 <= nwords <= entries or nlabels != entries - nwords:
            raise fail(f"its dictionary header is inconsistent ({entries:,} entries, {nwords:,} words, "
                       f"{nlabels:,} labels)")
        if nlabels:
            raise fail(f"a supervised fastText model (a classifier with {nlabels:,} labels); vecstore imports "
                       "word-vector models (fasttext skipgram or cbow)")
        if pruned > 0 or pruned < -1:
            raise fail("a pruned fastText model (made by quantize: a .ftz); vecstore reads full .bin models, "
                       "whose n-gram rows are stored as they were trained")
        if not nwords:
            raise fail("a fastText model of no words")
        words: list[str] = []
        seen: set[str] = set()
        for number in range(entries):
            end = data.find(b"\0", at, min(size, at + MAX_LINE_BYTES))
            if end < 0:
                raise fail(f"dictionary entry {number + 1:,} has no end: the file is truncated or damaged")
            raw = data[at:end]
            try:
                word = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise fail(f"dictionary entry {number + 1:,} is not UTF-8 ({raw[:40]!r})") from None
            if not word or "\n" in word:
                raise fail(f"dictionary entry {number + 1:,} is {'empty' if not word else 'a word with a line break'}")
            if word in seen:
                raise fail(f"dictionary entry {number + 1:,}, {word!r}, appears twice")
            seen.add(word)
            words.append(word)
            at = end + 1 + 9  # (the NUL, an int64 count and an int8 type)
            if at > size:
                raise fail(f"the file ends inside dictionary entry {number + 1:,}: it is truncated")
        if at + 1 + _MATRIX.size > size:
            raise fail("the file ends before its vectors: it is truncated")
        if data[at]:
            raise fail("a quantized fastText model (.ftz: its rows are product-quantized codes, not vectors); "
                       "import the full .bin model it was made from")
        rows, columns = _MATRIX.unpack_from(data, at + 1)
        at += 1 + _MATRIX.size
        if columns != dim or rows != nwords + bucket:
            raise fail(f"its matrix is {rows:,} x {columns:,}; the header asks for {nwords + bucket:,} x {dim:,} "
                       f"({nwords:,} words and {bucket:,} n-gram buckets)")
        if at + rows * columns * 4 > size:
            raise fail(f"the file ends inside its {rows:,} x {columns:,} matrix ({size:,} bytes of the "
                       f"{at + rows * columns * 4:,} it needs): it is truncated")
        # The output matrix (training's, unused here) ends the file: a file cut inside it,
        # or with bytes after it, is not a whole model.
        out_at = at + rows * columns * 4
        if out_at + 1 + _MATRIX.size > size:
            raise fail("the file ends before its output matrix: it is truncated")
        out_rows, out_columns = _MATRIX.unpack_from(data, out_at + 1)
        end = out_at + 1 + _MATRIX.size + out_rows * out_columns * 4
        if data[out_at] or out_columns != dim or not 0 <= out_rows <= MAX_ENTRIES + MAX_BUCKETS:
            raise fail(f"its output matrix is {out_rows:,} x {out_columns:,}, not one of {dim:,} columns")
        if end != size:
            raise fail(f"the file ends inside its output matrix ({size:,} bytes of {end:,}): it is truncated"
                       if end > size else f"{size - end:,} bytes follow the model's end")
        matrix = np.frombuffer(data, dtype="<f4", count=rows * columns, offset=at).reshape(rows, columns)
        # (fastText adds no n-gram to any word when its pruned index is empty, size 0: -1 is "not pruned")
        subwords = SubwordModel(minn, maxn, bucket) if maxn > 0 and bucket > 0 and pruned == -1 else None
        return cls(path, words, dim, subwords, data, matrix)

    def close(self) -> None:
        self._matrix = np.empty((0, self.dim), dtype=np.float32)
        with contextlib.suppress(BufferError):  # (a view still alive: the mapping goes with it)
            self._map.close()

    def __enter__(self) -> FastTextModel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def nwords(self) -> int:
        return len(self.words)

    def ngram_rows(self, start: int, stop: int) -> np.ndarray:
        """N-gram rows ``start`` to ``stop`` (bucket numbers), float32, a view."""
        return self._matrix[self.nwords + start:self.nwords + stop]

    def word_vectors(self, block: int = 8192) -> Iterator[tuple[list[str], np.ndarray]]:
        """The words' vectors, as fastText's ``getWordVector`` and gensim give them: the
        word's own row and its n-grams' rows, summed in float32 in fastText's order, over
        their number; blocks of ``block`` words. Non-finite values are an error."""
        for start in range(0, self.nwords, block):
            words = self.words[start:start + block]
            vectors = np.array(self._matrix[start:start + len(words)], dtype=np.float32)
            if self.subwords is not None:
                ngram_base = self.nwords
                for i, word in enumerate(words):
                    if word == EOS:  # (fastText's end-of-sentence token has no n-grams: its own row)
                        continue
                    found = self.subwords.buckets(word)
                    if found:
                        total = vectors[i]
                        for b in found:
                            total += self._matrix[ngram_base + b]
                        vectors[i] = total / np.float32(len(found) + 1)
            finite = np.isfinite(vectors).all(axis=1)
            if not finite.all():
                bad = int(np.argmin(finite))
                raise InputFileError(self.path, f"the vector of word {start + bad + 1:,} ({words[bad]!r}) holds a "
                                                "value that is not a finite number")
            yield words, vectors
