"""The vocabulary of a model: which token each input index stands for.

Keras models see integers; the matrix that seeds their ``Embedding`` layer must give
index i the vector of the token that index i stands for. A :class:`Vocabulary` is that
mapping, read from wherever the user's model got its indexes:

- a word list file, one token per line, line i (from 0) = index i;
- a Keras 3 ``TextVectorization`` vocabulary (``get_vocabulary()``: index 0 the padding
  token ``""``, 1 the OOV token ``"[UNK]"``), as a list or written one per line;
- a legacy Keras ``Tokenizer`` JSON (``tokenizer.to_json()``): ``word_index`` is
  1-based, index 0 is padding, and only indexes below ``num_words`` are used;
- raw texts, from which :meth:`Vocabulary.fit` builds one the way ``TextVectorization``
  adapts (same standardisation, most frequent first), with ``max_tokens`` and
  ``min_count``.

It saves as a word list (line i = index i, so a first empty line is the padding), and
the same indexes serve again at prediction time: ``TextVectorization(vocabulary=
list(vocab.tokens))`` (Keras drops the leading padding and OOV tokens and adds its own
at the same indexes) or :meth:`Vocabulary.encode`. No TensorFlow is needed for any of
this. (A vocabulary *file* given to ``TextVectorization`` must hold the words only,
without the empty padding line: :meth:`Vocabulary.word_tokens` are those.)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, quoted
from vecstore.limits import MAX_VOCABULARY_BYTES

PADDING = ""
OOV = "[UNK]"

# TextVectorization's default standardisation, "lower_and_strip_punctuation": lower
# case (tf.strings.lower: ASCII letters only, "Über" stays "Über"), then delete these
# characters (keras.layers.TextVectorization's strip regex).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
#: The characters that regular expression deletes (a test pins the two to each other).
STRIPPED = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"
# tf.strings.split's default separator: runs of ASCII whitespace.
_WHITESPACE = re.compile(r"[ \t\n\r\v\f]+")


def standardize(text: str) -> str:
    """Lower-case (ASCII) and strip punctuation, as ``TextVectorization`` does by default."""
    return _PUNCTUATION.sub("", text.translate(_ASCII_LOWER))


def tokenize(text: str) -> list[str]:
    """The tokens of ``text`` after :func:`standardize`, split on whitespace."""
    return [token for token in _WHITESPACE.split(standardize(text)) if token]


def word_pairs(tokens: Sequence[str]) -> list[str]:
    """Each pair of neighbouring tokens joined by a space, as ``tf.strings.ngrams`` joins
    a bigram (a word never holds a space: :func:`tokenize` splits on them)."""
    return [f"{a} {b}" for a, b in pairwise(tokens)]


def ngram_tokens(text: str, ngrams: int = 1) -> list[str]:
    """:func:`tokenize`'s tokens, then (``ngrams=2``) their :func:`word_pairs`: the order of
    ``TextVectorization(ngrams=2)``, which puts every unigram of a text before its bigrams
    (``tf.strings.ngrams`` with widths 1 and 2)."""
    tokens = tokenize(text)
    return tokens + word_pairs(tokens) if ngrams == 2 else tokens


def _shown(value: object) -> str:
    """A JSON value in a message: a string quoted, anything else as Python shows it, short."""
    return quoted(value) if isinstance(value, str) else quoted(repr(value))[1:-1]


class _TokenFault(InvalidArgumentError):
    """Index ``index`` of a vocabulary is empty (``earlier`` None) or repeats index ``earlier``."""

    def __init__(self, tokens: Sequence[str], index: int, earlier: int | None) -> None:
        self.index, self.earlier = index, earlier
        super().__init__(f"vocabulary index {index} is an empty token (only the padding, index 0, may be)"
                         if earlier is None else
                         f"vocabulary token {quoted(tokens[index])} is at index {earlier} and {index}")


@dataclass(frozen=True)
class Vocabulary:
    """Input index i of a model stands for ``tokens[i]``; ``padding`` and ``oov`` are the
    indexes reserved for padding and for unknown tokens, when the vocabulary has them."""

    tokens: tuple[str, ...]
    padding: int | None
    oov: int | None
    kind: str  # where it came from: "word list", "TextVectorization", "Tokenizer JSON", "fitted"

    def __post_init__(self) -> None:
        # One rule for every source: only the padding index may be empty, no token repeats.
        seen: dict[str, int] = {}
        for index, token in enumerate(self.tokens):
            if not token and index != self.padding:
                raise _TokenFault(self.tokens, index, None)
            if token in seen:
                raise _TokenFault(self.tokens, index, seen[token])
            seen[token] = index

    def __len__(self) -> int:
        """The number of indexes: the ``input_dim`` of the ``Embedding`` layer."""
        return len(self.tokens)

    @property
    def special_indexes(self) -> list[int]:
        return [i for i in (self.padding, self.oov) if i is not None]

    def word_indexes(self) -> list[int]:
        """The indexes that stand for words (all but padding and OOV)."""
        special = set(self.special_indexes)
        return [i for i in range(len(self.tokens)) if i not in special]

    # -- reading ------------------------------------------------------------------------

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], kind: str | None = None) -> Vocabulary:
        """A list of tokens in index order, as ``TextVectorization.get_vocabulary()`` gives:
        a leading ``""`` is the padding index and ``"[UNK]"`` first after it the OOV index."""
        tokens = tuple(tokens)
        padding = 0 if tokens[:1] == (PADDING,) else None
        first = 0 if padding is None else 1
        oov = first if tokens[first:first + 1] == (OOV,) else None
        if kind is None:
            kind = "TextVectorization" if (padding, oov) == (0, 1) else "word list"
        return cls(tokens, padding, oov, kind)

    @classmethod
    def of(cls, vocabulary: Vocabulary | str | Path | Sequence[str] | Any) -> Vocabulary:
        """A Vocabulary from what users hold: a Vocabulary, a file path (see :meth:`read`),
        a ``TextVectorization``/``StringLookup`` layer, or a token list in index order."""
        if isinstance(vocabulary, Vocabulary):
            return vocabulary
        if isinstance(vocabulary, (str, Path)):
            return cls.read(vocabulary)
        if hasattr(vocabulary, "get_vocabulary"):
            return cls.from_tokens([str(t) for t in vocabulary.get_vocabulary()], "TextVectorization")
        return cls.from_tokens([str(t) for t in vocabulary])

    @classmethod
    def from_tokenizer_json(cls, text: str, path: str | Path = "<tokenizer>") -> Vocabulary:
        """A legacy Keras ``Tokenizer``'s ``to_json()``: 1-based ``word_index``, index 0
        padding, and only indexes below ``num_words`` (when set) in use."""
        try:
            data = json.loads(text)
            config = data["config"] if isinstance(data, dict) and "config" in data else data
            word_index = config["word_index"]
            if isinstance(word_index, str):  # to_json() stores it as JSON inside JSON
                word_index = json.loads(word_index)
            num_words = config.get("num_words")
            oov_token = config.get("oov_token")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise InputFileError(path, f"not a Keras Tokenizer JSON ({quoted(str(exc))[1:-1]})") from None
        if not isinstance(word_index, dict) or not word_index:
            raise InputFileError(path, "the Tokenizer's word_index is empty")
        # A Tokenizer numbers its words 1..n: anything else is not one of its files (and a
        # huge index must not make a huge list).
        bad = next((w for w, i in word_index.items() if type(i) is not int or not 1 <= i <= len(word_index)), None)
        if bad is not None:
            raise InputFileError(path, f"the Tokenizer's word_index gives {quoted(bad)} the index "
                                       f"{_shown(word_index[bad])}, not one of 1 to {len(word_index):,}")
        if num_words is not None and (type(num_words) is not int or num_words < 1):
            raise InputFileError(path, f"the Tokenizer's num_words is {_shown(num_words)}, not a positive whole number")
        if oov_token is not None and not isinstance(oov_token, str):
            raise InputFileError(path, f"the Tokenizer's oov_token is {_shown(oov_token)}, not a string")
        size = max(word_index.values()) + 1
        if num_words is not None:
            size = min(size, num_words)
        tokens: list[str | None] = [PADDING] + [None] * (size - 1)
        for word, index in word_index.items():
            if int(index) < size:
                tokens[int(index)] = word
        if None in tokens:
            raise InputFileError(path, f"the Tokenizer's word_index has no word for index {tokens.index(None)}")
        oov = int(word_index[oov_token]) if oov_token is not None and oov_token in word_index else None
        return cls(tuple(t for t in tokens if t is not None), 0, oov, "Tokenizer JSON")

    @classmethod
    def read(cls, path: str | Path) -> Vocabulary:
        """A vocabulary file: a Tokenizer JSON, a JSON list of tokens, or a word list."""
        from vecstore.io.files import read_whole

        path = Path(path)
        raw = read_whole(path, MAX_VOCABULARY_BYTES, "vocabulary")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise InputFileError(path, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", line) from None
        if text.lstrip()[:1] in ("{", "["):
            try:
                data = json.loads(text)
            except RecursionError:
                raise InputFileError(path, "JSON nested too deeply to be a vocabulary") from None
            except ValueError:
                data = None  # a word list whose first token starts with a bracket, e.g. "[UNK]"
            if isinstance(data, dict):
                return cls.from_tokenizer_json(text, path)
            if isinstance(data, list):
                if not all(isinstance(t, str) for t in data):
                    raise InputFileError(path, "a JSON vocabulary must be a list of strings")
                return cls._checked(data, path)
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final newline ends the last line
        return cls._checked([line.removesuffix("\r") for line in lines], path)

    @classmethod
    def _checked(cls, tokens: list[str], path: Path) -> Vocabulary:
        if not tokens:
            raise InputFileError(path, "the vocabulary is empty")
        try:
            return cls.from_tokens(tokens)
        except _TokenFault as fault:  # the same fault, told by line
            message = ("empty token (only the first line, the padding, may be empty)" if fault.earlier is None
                       else f"{quoted(tokens[fault.index])} is also on line {fault.earlier + 1}")
            raise InputFileError(path, message, fault.index + 1) from None

    @classmethod
    def fit(cls, texts: Iterable[str], *, max_tokens: int | None = None, min_count: int = 1) -> Vocabulary:
        """Build a vocabulary from texts as ``TextVectorization.adapt`` does: tokens by
        descending count (ties: the later in reverse code-point order, as Keras sorts),
        after the padding and OOV indexes; ``max_tokens`` counts those two as well."""
        if max_tokens is not None and max_tokens < 3:
            raise InvalidArgumentError(f"must be at least 3 (padding, OOV and a word), not {max_tokens}",
                                       subject="max_tokens")
        if min_count < 1:
            raise InvalidArgumentError(f"must be at least 1, not {min_count}", subject="min_count")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokenize(text))
        ranked = sorted(((n, t) for t, n in counts.items() if n >= min_count), reverse=True)
        words = [t for _, t in ranked]
        if max_tokens is not None:
            words = words[:max_tokens - 2]
        return cls((PADDING, OOV, *words), 0, 1, "fitted")

    @classmethod
    def fit_file(cls, path: str | Path, *, max_tokens: int | None = None, min_count: int = 1) -> Vocabulary:
        """:meth:`fit` on the texts of a UTF-8 file, one a line (at most
        :data:`~vecstore.limits.MAX_TEXTS_BYTES`)."""
        from vecstore.io.files import read_whole
        from vecstore.limits import MAX_TEXTS_BYTES

        raw = read_whole(Path(path), MAX_TEXTS_BYTES, "texts")
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise InputFileError(path, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", line) from None
        return cls.fit(lines, max_tokens=max_tokens, min_count=min_count)

    # -- writing and using --------------------------------------------------------------

    def word_tokens(self) -> list[str]:
        """The tokens of the word indexes, in order (no padding or OOV token)."""
        return [self.tokens[i] for i in self.word_indexes()]

    def write(self, path: str | Path, *, overwrite: bool = False) -> None:
        """One token per line in index order, the padding an empty first line:
        :meth:`read` reads it back as the same vocabulary. An existing file is kept
        unless ``overwrite``."""
        from vecstore.io.files import AtomicOutput

        for index, token in enumerate(self.tokens):
            if "\n" in token or "\r" in token:
                raise InvalidArgumentError(f"token {index} ({quoted(token)}) holds a line break: it cannot go in a "
                                           "word list")
        try:
            data = "".join(f"{t}\n" for t in self.tokens).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(f"a token holds a lone surrogate ({exc.object[exc.start:exc.end]!r}), which "
                                       "UTF-8 cannot store") from None
        with AtomicOutput(Path(path), overwrite=overwrite, compress=False) as f:
            f.write(data)

    def encode(self, texts: Sequence[str], length: int | None = None, ngrams: int = 1) -> np.ndarray:
        """Index sequences for ``texts`` (standardised and split like :meth:`fit`; with
        ``ngrams=2`` their bigrams follow, :func:`ngram_tokens`), padded at the end with the
        padding index to ``length`` (default: the longest) or cut. Unknown tokens map to
        the OOV index, or are dropped when there is none."""
        index = {t: i for i, t in enumerate(self.tokens) if i not in self.special_indexes}
        sequences = []
        for text in texts:
            ids = [index.get(token, self.oov) for token in ngram_tokens(text, ngrams)]
            sequences.append([i for i in ids if i is not None])
        width = length if length is not None else max((len(s) for s in sequences), default=0)
        if self.padding is None and any(len(s) < width for s in sequences):
            raise InvalidArgumentError("this vocabulary has no padding index (its first token is a word), so "
                                       "shorter texts cannot be padded; give it an empty first line")
        out = np.full((len(sequences), width), self.padding or 0, dtype=np.int64)
        for row, ids in enumerate(sequences):
            ids = ids[:width]
            out[row, :len(ids)] = ids
        return out
