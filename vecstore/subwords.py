"""fastText's character n-grams: the vector of any word from its subwords.

fastText (Bojanowski et al. 2017, "Enriching Word Vectors with Subword Information")
represents a word by itself and the character n-grams of ``<word>`` (``minn`` to ``maxn``
characters, UTF-8 aware), each n-gram hashed (32-bit FNV-1a over its bytes, each byte
taken as a *signed* char, as fastText's C++ does) into one of ``bucket`` trained rows. A
word it never saw gets the mean of its n-grams' rows: what ``fasttext``'s
``get_word_vector`` and gensim's ``FastTextKeyedVectors.get_vector`` return. This module
computes exactly that; :mod:`vecstore.io.fasttext_bin` reads the rows from a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vecstore.errors import CorruptionError

if TYPE_CHECKING:
    import numpy as np

    from vecstore.storage.catalog import Catalog
    from vecstore.storage.records import SetInfo
else:
    from vecstore._lazy import numpy as np

#: n-gram chunks (1 MiB each) read per query when vectoring unseen words: memory stays
#: bounded however many words a matrix or a batch of documents asks for.
NGRAM_CHUNKS_AT_ONCE = 16

_FNV_OFFSET, _FNV_PRIME = 2166136261, 16777619


def ngram_hash(ngram: bytes) -> int:
    """fastText's ``Dictionary::hash``: FNV-1a on signed chars (bytes >= 0x80 enter as
    their sign-extended 32-bit value)."""
    h = _FNV_OFFSET
    for byte in ngram:
        h = ((h ^ (byte | 0xFFFFFF00 if byte & 0x80 else byte)) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def ngrams(word: str, minn: int, maxn: int) -> list[bytes]:
    """The character n-grams of ``<word>`` fastText uses (``computeSubwords``): every run
    of ``minn`` to ``maxn`` characters, except ``<`` and ``>`` alone, in fastText's order,
    repeats kept."""
    data = b"<" + word.encode("utf-8", "surrogatepass") + b">"
    out = []
    size = len(data)
    for i in range(size):
        if data[i] & 0xC0 == 0x80:  # (a UTF-8 continuation byte: not a character's start)
            continue
        j, n = i, 1
        while j < size and n <= maxn:
            j += 1
            while j < size and data[j] & 0xC0 == 0x80:
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == size)):
                out.append(data[i:j])
            n += 1
    return out


def ngram_buckets(word: str, minn: int, maxn: int, bucket: int) -> list[int]:
    """The bucket rows of ``word``'s n-grams (none when ``maxn`` is 0 or ``bucket`` 0)."""
    if maxn <= 0 or bucket <= 0:
        return []
    return [ngram_hash(g) % bucket for g in ngrams(word, minn, maxn)]


@dataclass(frozen=True)
class SubwordModel:
    """What a set keeps of a fastText model to vector unseen words: the n-gram lengths
    and the number of buckets (the rows themselves are read on demand, a few at a time)."""

    minn: int
    maxn: int
    bucket: int

    def buckets(self, word: str) -> list[int]:
        return ngram_buckets(word, self.minn, self.maxn, self.bucket)

    def to_dict(self) -> dict[str, int]:
        return {"minn": self.minn, "maxn": self.maxn, "bucket": self.bucket}

    @classmethod
    def recorded(cls, info: SetInfo, row: Mapping[str, Any], digests: Mapping[int, str]) -> SubwordModel | None:
        """The model a store records for set ``info`` (its ``subword_models`` row and its
        n-gram chunks' digests, by number), or None when the settings and the digests do
        not match the model's checksum (or a chunk is missing or extra)."""
        from vecstore.integrity import subword_checksum

        model = cls(int(row["minn"]), int(row["maxn"]), int(row["bucket"]))
        chunks = -(-model.bucket // info.rows_per_chunk)
        if sorted(digests) != list(range(chunks)) or subword_checksum(
                info.uid, info.dim, (model.minn, model.maxn, model.bucket),
                [digests[n] for n in range(chunks)]) != row["checksum"]:
            return None
        return model


class NgramRows:
    """A set's stored n-gram rows, read from only the chunks that hold the rows asked for,
    :data:`NGRAM_CHUNKS_AT_ONCE` at a time, each verified against its digest (the digests
    :meth:`SubwordModel.recorded` checked against the model's checksum)."""

    def __init__(self, catalog: Catalog, info: SetInfo, digests: Mapping[int, str]) -> None:
        self._catalog, self._info, self._digests = catalog, info, digests

    def read(self, buckets: Sequence[int]) -> np.ndarray:
        """The rows ``buckets`` (float32, in that order)."""
        from vecstore.integrity import chunk_digest

        info, per_chunk = self._info, self._info.rows_per_chunk
        wanted = np.asarray(buckets, dtype=np.int64)
        out = np.empty((len(wanted), info.dim), dtype=np.float32)
        numbers = sorted({b // per_chunk for b in buckets})
        for start in range(0, len(numbers), NGRAM_CHUNKS_AT_ONCE):  # (bounded: a few MiB held at a time)
            asked = numbers[start:start + NGRAM_CHUNKS_AT_ONCE]
            found = self._catalog.ngram_chunks(info.id, asked)
            if len(found) != len(asked):
                raise CorruptionError(f"{info.subject}: n-gram chunks are missing from the store", info.name)
            for chunk in found:
                if chunk_digest(chunk.data, info.uid, "ngrams", chunk.number) != self._digests.get(chunk.number):
                    raise CorruptionError(f"{info.subject}: n-gram chunk {chunk.number} fails its checksum",
                                          info.name)
                table = np.frombuffer(chunk.data, dtype="<f4").reshape(-1, info.dim)
                here = np.flatnonzero(wanted // per_chunk == chunk.number)
                out[here] = table[wanted[here] % per_chunk]
        return out


def subword_vectors(model: SubwordModel, words: Sequence[str], read_rows: Callable[[list[int]], np.ndarray],
                    dim: int) -> tuple[np.ndarray, list[bool]]:
    """The fastText vectors of ``words`` none of which the set holds: the mean of their
    n-gram rows (``read_rows(bucket rows)`` gives them, float32, in the order asked), and
    whether each word had any n-gram (a word with none gets zeros, as fastText gives)."""
    buckets = [model.buckets(w) for w in words]
    needed = sorted({b for found in buckets for b in found})
    rows = read_rows(needed) if needed else np.zeros((0, dim), dtype=np.float32)
    at = {b: i for i, b in enumerate(needed)}
    out = np.zeros((len(words), dim), dtype=np.float32)
    for i, found in enumerate(buckets):
        if found:
            # (summed in float32 in fastText's order, then divided: gensim's arithmetic)
            total = np.zeros(dim, dtype=np.float32)
            for b in found:
                total += rows[at[b]]
            out[i] = total / np.float32(len(found))
    return out, [bool(found) for found in buckets]
