"""A set's words in row order, searchable without a dict of them (what a cold query of
one word needs: a bytes search over the stored word chunks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vecstore.errors import StoreError

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np

try:
    from vecstore import _fastparse
except ImportError:  # built without a C compiler: the dict path is used
    _fastparse = None

#: Single-word lookups a set handle answers by scanning its words (up to 2 ms each on
#: GloVe) before it builds a dict of them (30 ms once, then 0.1 us a lookup).
DICT_AFTER_LOOKUPS = 16


class SetWords:
    """The words of a set in row order, searchable without building a dict.

    A cold query looks up one word (a bytes search over the joined chunks) and names ten
    result rows (decoding only the chunks that hold them): about 1 ms, against 30 ms for
    decoding all 400,000 words. A handle that keeps answering builds the dict after
    :data:`DICT_AFTER_LOOKUPS` lookups.
    """

    def __init__(self, chunks: Sequence[bytes], count: int, rows_per_chunk: int) -> None:
        self._chunks = list(chunks)
        self._count = count
        self._per_chunk = rows_per_chunk
        self._blob: bytes | None = None
        self._decoded: dict[int, list[str]] = {}
        self._words: list[str] | None = None
        self._rows: dict[str, int] | None = None
        self._lookups = 0

    def __len__(self) -> int:
        return self._count

    def row(self, word: str) -> int | None:
        if self._rows is not None:
            return self._rows.get(word)
        self._lookups += 1
        if self._lookups > DICT_AFTER_LOOKUPS:  # (a long-lived handle: a dict pays for itself from here)
            return self.index_many().get(word)
        if "\n" in word or not word:
            return None
        try:
            encoded = word.encode()
        except UnicodeEncodeError:  # a lone surrogate (bytes that were not UTF-8): no stored word has one
            return None
        # Chunk by chunk, not in one joined copy (3.4 MB for GloVe: 9 ms of a cold query).
        # A set's words are distinct, so the first place found is the word's row.
        inside, first, last = b"\n" + encoded + b"\n", encoded + b"\n", b"\n" + encoded
        for number, chunk in enumerate(self._chunks):
            at = chunk.find(inside)
            if at >= 0:
                return number * self._per_chunk + chunk.count(b"\n", 0, at) + 1
            if chunk.startswith(first) or chunk == encoded:
                return number * self._per_chunk
            if chunk.endswith(last):
                return number * self._per_chunk + chunk.count(b"\n")
        return None

    def joined(self) -> memoryview:
        """All words, ``\n``-joined, as UTF-8 bytes (made once)."""
        return memoryview(self._joined())[1:-1]

    def _joined(self) -> bytes:
        """All words, each between two ``\\n`` (joined once, on first use)."""
        if self._blob is None:
            self._blob = b"\n" + b"\n".join(self._chunks) + b"\n"
        return self._blob

    def rows_of(self, words: Sequence[str]) -> np.ndarray:
        """Rows of many words (int64, -1 where absent): one pass of C over the set's words
        instead of a dict of 400,000 str (see ``_fastparse.lookup_words``)."""
        if self._rows is None and _fastparse is not None and self._count:
            distinct = list(dict.fromkeys(words))
            found = _fastparse.lookup_words(self.joined(), self._count,
                                            [w.encode("utf-8", "surrogatepass") for w in distinct])
            row_of = dict(zip(distinct, np.frombuffer(found, dtype=np.int64).tolist(), strict=True))
            return np.array([row_of[w] for w in words], dtype=np.int64)
        rows = self.index_many()
        return np.array([rows.get(w, -1) for w in words], dtype=np.int64)

    @property
    def decoded(self) -> list[str] | None:
        """The words in row order if they are decoded already, else None."""
        return self._words

    def words_of(self, rows: Sequence[int]) -> list[str]:
        """The words of many rows: through the decoded list once they are many (a batch's
        hundred thousand hits), else chunk by chunk as :meth:`word`."""
        if self._words is None and len(rows) * 40 < self._count:
            return [self.word(r) for r in rows]
        words = self.words
        return [words[r] for r in rows]

    def word(self, row: int) -> str:
        """The word of one row, decoding only its chunk."""
        if self._words is not None:
            return self._words[row]
        number, offset = divmod(row, self._per_chunk)
        chunk = self._decoded.get(number)
        if chunk is None:
            chunk = self._decoded[number] = self._chunks[number].decode().split("\n")
        return chunk[offset]

    @property
    def words(self) -> list[str]:
        if self._words is None:
            words = b"\n".join(self._chunks).decode().split("\n") if self._count else []
            if len(words) != self._count:
                raise StoreError(f"the store holds {len(words)} words for a set of {self._count}")
            self._words = words
        return self._words

    def index_many(self) -> dict[str, int]:
        """Word -> row for many lookups (built once, on demand)."""
        if self._rows is None:
            self._rows = {w: i for i, w in enumerate(self.words)}
        return self._rows

    def suggestions(self, word: str, limit: int = 5) -> list[str]:
        """Words of the set one edit away from ``word`` (or equal ignoring case), most frequent first."""
        if len(word) > 60:  # no word is one edit from a paragraph; don't build its thousands of edits
            return []
        rows = self.index_many()
        letters = set("abcdefghijklmnopqrstuvwxyz") | set(word.lower())
        splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
        candidates = {word.lower(), word.upper(), word.capitalize()}
        candidates |= {a + b[1:] for a, b in splits if b}
        candidates |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        candidates |= {a + c + b[1:] for a, b in splits if b for c in letters}
        candidates |= {a + c + b for a, b in splits for c in letters}
        candidates.discard(word)
        found = sorted((rows[c], c) for c in candidates if c in rows)
        return [c for _, c in found[:limit]]
