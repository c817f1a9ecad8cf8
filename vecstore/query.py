"""Queries on one embedding set: vectors, neighbours, similarity, analogies, evaluation.

Words are looked up in the set's vocabulary as stored (``\\n``-joined chunks): finding
one word is a bytes search, so a cold query never builds a 400,000-entry dict. Scores are
cosine similarities; neighbours come from the set's exact search over its verified raw
rows (:mod:`vecstore.index.exact`: no FAISS for a single query), or from its approximate
index.
"""

from __future__ import annotations

import logging
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from operator import sub
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from vecstore.cosine import normalized
from vecstore.errors import (
    CorruptionError,
    InvalidArgumentError,
    SetChangedError,
    StoreError,
    UnknownWordError,
)
from vecstore.index.approximate import ApproximateKind, search_overrides
from vecstore.index.exact import ExactSearch
from vecstore.index.folder import IndexFolder
from vecstore.index.pgvector import SERVER_KINDS, ServerIndex
from vecstore.integrity import DerivedFileError, VerifiedFile, chunk_digest, content_checksum
from vecstore.limits import MAX_K
from vecstore.set_words import SetWords
from vecstore.storage.catalog import Catalog
from vecstore.storage.records import Chunk, SetInfo

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np

try:
    from vecstore import _fastparse
except ImportError:  # built without a C compiler: the dict path is used
    _fastparse = None

if TYPE_CHECKING:
    import faiss

    from vecstore.documents import DocumentVectors
    from vecstore.evaluation import AnalogyReport, SimilarityReport
    from vecstore.matrix import EmbeddingMatrix
    from vecstore.stats import SetStats
    from vecstore.subwords import NgramRows, SubwordModel
    from vecstore.vocabulary import Vocabulary

log = logging.getLogger("vecstore")

#: How far an index's score may stray from the score recomputed from the stored rows
#: (float32 sums in another order differ by about 1e-7).
RESCORE_TOLERANCE = 1e-4
#: Candidates a search asks its index for beyond k: the hits are ordered by the scores
#: recomputed from the stored rows (ties: the lower row first), so two rows in a tie, or
#: a near-tie of the index's own float32 sums, across the k-th place are both there to
#: be ordered: a single query and a batch, or an exact and a wide approximate search,
#: give the same k.
SPARE_CANDIDATES = 4
#: A handle's single queries answered exactly before it loads the set's approximate
#: index, when the set is small enough (see :meth:`EmbeddingSet._cold_exact`).
COLD_QUERIES = 8
#: The most values (rows x dimensions) a set may hold for its first queries to skip its
#: approximate index: 64 M floats, a 256 MB scan of about 25 ms.
COLD_EXACT_FLOATS = 64_000_000
#: The most bytes of verified vector chunks a handle keeps in memory (see
#: :meth:`EmbeddingSet._cached_chunks`): all of GloVe 6B 50d is 80 MB.
CHUNK_CACHE_BYTES = 256 << 20


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise InvalidArgumentError(f"must be from 1 to {MAX_K:,}, not {k:,}", subject="k")


#: Queries searched at once, at most: FAISS's results for a batch are queries x (k + 1)
#: scores and ids, and the re-scoring reads k rows of each (10,000 x 11 x 12 bytes is
#: 1.3 MB); a larger k searches fewer at once (see :func:`query_batch`).
QUERY_BATCH = 10_000
#: The most hits (queries x candidates) one batch holds: about 0.5 GB with their rows.
BATCH_HITS = 2_000_000


def query_batch(k: int) -> int:
    """How many queries to search at once for ``k`` neighbours each (ivfpq's candidates:
    up to ``rerank`` x k), so that a batch's hits stay within :data:`BATCH_HITS`."""
    return max(1, min(QUERY_BATCH, BATCH_HITS // (k + 1)))


class Neighbour(NamedTuple):
    """One hit: a word and its cosine similarity to the query (a named tuple: a query
    makes ten of them, and a tuple is made three times faster than a dataclass)."""

    word: str
    score: float

    def to_dict(self) -> dict[str, object]:
        return {"word": self.word, "score": self.score}


def cosines(rows: np.ndarray, unit_queries: np.ndarray) -> np.ndarray:
    """The cosine of each stored row with the unit query beside it (float32, one a row):
    the scores every search prints, single or batched, computed the same way. A row too
    large or too small for float32 squares goes through :func:`normalized`'s float64."""
    with np.errstate(over="ignore", under="ignore"):
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    if norms.size and norms.min() >= 1e-18 and norms.max() < np.inf:
        return np.einsum("ij,ij->i", rows, unit_queries) / norms
    return np.einsum("ij,ij->i", normalized(rows), unit_queries)


@dataclass(frozen=True)
class BatchNeighbours:
    """The answers of :meth:`EmbeddingSet.neighbours_many`, in the order asked."""

    queries: list[str]  # the words, or "#0", "#1"... for vectors
    results: list[list[Neighbour] | None]  # None: a word the set lacks
    vectors: bool = False

    @property
    def unknown(self) -> list[str]:
        """The words asked for that the set lacks, in the order asked."""
        return [q for q, r in zip(self.queries, self.results, strict=True) if r is None]

    def to_list(self) -> list[dict[str, object]]:
        """``{"word", "neighbours": [{"word", "score"}]}`` a query (``"vector": i`` for
        vectors; ``"neighbours": null`` for an unknown word)."""
        return [{**({"vector": i} if self.vectors else {"word": q}),
                 "neighbours": None if r is None else [n.to_dict() for n in r]}
                for i, (q, r) in enumerate(zip(self.queries, self.results, strict=True))]


class EmbeddingSet:
    """One named set of a store, ready to query. Get it with ``Store.get(name)``."""

    def __init__(self, info: SetInfo, catalog: Catalog, indexes: IndexFolder) -> None:
        self.info = info
        self._catalog = catalog
        self._indexes = indexes
        self._words: SetWords | None = None
        self._index: faiss.Index | None = None
        self._approximate: tuple[ApproximateKind, faiss.Index] | bool | None = False  # False: not looked for
        self._rows: VerifiedFile | bool | None = False  # False: not opened yet
        self._search_parameters: dict[tuple, Any] = {}
        self._single_queries = 0  # (see _cold_exact)
        self._server_indexes: list[ServerIndex] | None = None  # (see _server_index_records; None: not read)
        self._chunk_cache: OrderedDict[int, np.ndarray] = OrderedDict()  # (see _cached_chunks)
        self._chunk_cache_bytes = 0
        self._subwords: SubwordModel | bool | None = False  # False: not looked for
        self._ngram_rows: NgramRows | None = None

    def __repr__(self) -> str:
        return f"EmbeddingSet({self.info.name!r}, count={self.info.count}, dim={self.info.dim})"

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def dim(self) -> int:
        return self.info.dim

    def __len__(self) -> int:
        return self.info.count

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.set_words.row(word) is not None

    @property
    def set_words(self) -> SetWords:
        """The set's words, searchable (loaded once, on first use; every chunk verified)."""
        if self._words is None:
            chunks = self._verified(self._catalog.word_chunks(self.info.id), "words", self._chunk_count())
            self._words = SetWords([c.data for c in chunks], self.info.count, self.info.rows_per_chunk)
        return self._words

    def _chunk_count(self) -> int:
        return -(-self.info.count // self.info.rows_per_chunk)

    def _verified(self, chunks: list[Chunk], kind: str, expected: int) -> list[Chunk]:
        """``chunks`` after checking each against the checksum recorded with it (seeded by
        this set's uid and the chunk's place), and that none is missing."""
        for chunk in chunks:
            if chunk_digest(chunk.data, self.info.uid, kind, chunk.number) != chunk.checksum:
                self._still_there()
                raise CorruptionError(f"{self.info.subject}: {kind[:-1]} chunk {chunk.number} fails its "
                                      "checksum: the store is damaged", self.name)
        if len(chunks) != expected:
            self._still_there()
            raise CorruptionError(f"{self.info.subject}: {expected - len(chunks)} of its {kind[:-1]} chunks are "
                                  "missing: the store is damaged", self.name)
        return chunks

    def _still_there(self) -> None:
        """Raise :class:`SetChangedError` if this set was replaced or removed since it was
        opened (its row id may now be another set's)."""
        current = self._catalog.find_set(self.info.name)
        if current is None or current.uid != self.info.uid:
            raise SetChangedError(self.info.name)

    @property
    def words(self) -> list[str]:
        """All words in row order (the source file's order: most frequent first for GloVe)."""
        return self.set_words.words

    # -- subwords (sets imported from a fastText model) -------------------------------------

    @property
    def subwords(self) -> SubwordModel | None:
        """The n-gram settings of a set imported from a fastText ``.bin`` (its n-gram rows
        are stored with it), or None: a word such a set lacks still gets the vector
        fastText gives it (:meth:`subword_vectors`). The settings and the list of n-gram
        chunk digests are checked against the model's checksum when first used."""
        if self._subwords is False:
            found = self._catalog.subword_model(self.info.id) if self.info.format == "fasttext-bin" else None
            if found is None and self.info.has_subwords:
                raise CorruptionError(f"{self.info.subject}: its subword model is missing from the store", self.name)
            if found is None:
                self._subwords = None  # (remembered only once checked: a damaged model is refused every time)
            else:
                from vecstore.subwords import NgramRows, SubwordModel

                digests = self._catalog.ngram_checksums(self.info.id)
                model = SubwordModel.recorded(self.info, found, digests)
                if model is None:
                    raise CorruptionError(f"{self.info.subject}: its n-gram rows do not match their recorded "
                                          "checksum", self.name)
                self._subwords, self._ngram_rows = model, NgramRows(self._catalog, self.info, digests)
        return self._subwords

    def subword_vectors(self, words: Sequence[str]) -> np.ndarray:
        """The vectors fastText gives ``words`` from their character n-grams alone (what it
        gives a word it never saw: ``get_word_vector``), float32, one row a word; reads the
        n-gram rows they hash into, each chunk verified. For a set with :attr:`subwords`."""
        return self.subword_vectors_found(words)[0]

    def subword_vectors_found(self, words: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """:meth:`subword_vectors`, and whether each word had any n-gram (one without gets
        zeros, as fastText gives it)."""
        model = self.subwords
        if model is None or self._ngram_rows is None:
            raise InvalidArgumentError(f"{self.info.subject} has no subword model (it was not imported from a "
                                       "fastText .bin)", subject="oov")
        from vecstore.subwords import subword_vectors

        return subword_vectors(model, list(words), self._ngram_rows.read, self.dim)

    def lookalike_vectors(self, words: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """Vectors for ``words`` from the set's known words sharing their character
        n-grams (:mod:`vecstore.lookalike`, ``oov="similar"``), and whether each got one."""
        from vecstore.lookalike import lookalike_vectors

        return lookalike_vectors(self, words)

    def computed(self, word: str) -> bool:
        """Whether ``word``'s vector is computed from its subwords: the set lacks it and was
        imported from a fastText model."""
        if self.info.format != "fasttext-bin":  # (no second look-up for every other set)
            return False
        return self.set_words.row(word) is None and self.subwords is not None

    def _row_or_subword_vector(self, word: str) -> tuple[int | None, np.ndarray | None]:
        """``word``'s row, or (a fastText set lacking it) its subword vector; else
        :class:`UnknownWordError`."""
        row = self.set_words.row(word)
        if row is not None:
            return row, None
        if self.subwords is not None:
            return None, self.subword_vectors([word])[0]
        return self.row(word), None

    def row(self, word: str) -> int:
        """The row of ``word``, or :class:`UnknownWordError` with close spellings."""
        row = self.set_words.row(word)
        if row is None:
            raise UnknownWordError(word, self.name, self.set_words.suggestions(word), where=self.info.subject)
        return row

    def rows_of(self, words: Sequence[str]) -> np.ndarray:
        """The rows of many words at once (int64, -1 where a word is not in the set)."""
        return self.set_words.rows_of(words)

    def rows_case_folded(self, words: Sequence[str], case_fold: bool = True) -> tuple[np.ndarray, dict[int, str]]:
        """The rows of ``words`` (int64, -1 where absent), a word not found as written looked
        up lower-cased (``Paris`` -> ``paris``) when ``case_fold``; and the places in
        ``words`` found so, with the lower case that was. One pass over the set's words."""
        words = list(words)
        lowered = [w.lower() for w in words] if case_fold else words
        extra = [lw for w, lw in zip(words, lowered, strict=True) if lw != w]
        found = self.rows_of(words + extra) if words else np.empty(0, dtype=np.int64)
        rows = found[:len(words)].copy()
        folded: dict[int, str] = {}
        at = len(words)
        for i, (word, lower) in enumerate(zip(words, lowered, strict=True)):
            if lower == word:
                continue
            if rows[i] < 0 and found[at] >= 0:
                rows[i] = found[at]
                folded[i] = lower
            at += 1
        return rows, folded

    def stats(self) -> SetStats:
        """The set's mean vector and the mean and standard deviation of its values.

        Recorded at import; a set imported before they were is measured once, here, and
        the result is saved with it.
        """
        from vecstore.stats import SetStats

        if self.info.stats is None:
            stats = SetStats.of(self.matrix())
            try:
                self._catalog.save_stats(self.info, stats.to_json())
            except StoreError as exc:  # a read-only store: measured again next time
                log.info("cannot save the statistics of %s: %s", self.name, exc)
            self.info = replace(self.info, stats=stats.to_json())
        return SetStats.from_json(self.info.stats)

    # -- vectors --------------------------------------------------------------------------

    def vector(self, word: str) -> np.ndarray:
        """The stored float32 vector of ``word``, as imported (a word a fastText set lacks:
        the vector fastText computes from its subwords, see :meth:`computed`)."""
        row, computed = self._row_or_subword_vector(word)
        return computed if computed is not None else self.vectors_of_rows([row])[0]

    def vectors_of_rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Stored vectors of ``rows`` (in that order), reading only those rows from the raw
        copy beside the index or, without one, only the chunks that hold them."""
        wanted = np.asarray(rows, dtype=np.int64).reshape(-1)
        if wanted.size == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        if (wanted.min() < 0 or wanted.max() >= self.info.count):
            raise InvalidArgumentError(f"rows out of range for {self.info.subject} of {self.info.count}")
        raw = self._raw_rows()
        if raw is not None:  # the raw copy beside the index: just these rows are read, and verified
            try:
                return raw.rows(wanted, self.dim)
            except DerivedFileError as exc:
                log.warning("not using the raw rows of %s: %s", self.name, exc)
                raw.close()
                self._rows = None
        per = self.info.rows_per_chunk
        chunk_of = wanted // per
        order = np.argsort(chunk_of, kind="stable")
        grouped = chunk_of[order]
        starts = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))  # (np.unique costs 35 ms cold)
        chunk_nos = grouped[starts]
        chunks = self._cached_chunks(chunk_nos.tolist())
        out = np.empty((wanted.size, self.dim), dtype=np.float32)
        for number, picked in zip(chunk_nos.tolist(), np.split(order, starts[1:]), strict=True):
            out[picked] = chunks[number][wanted[picked] % per]
        return out

    def _cached_chunks(self, numbers: list[int]) -> dict[int, np.ndarray]:
        """The verified vector chunks ``numbers``, kept in memory (the least recently used
        dropped past :data:`CHUNK_CACHE_BYTES`): without raw rows on this machine (a server
        store searched in the server), a warm handle re-scores its hits from chunks it has
        already read and checked instead of reading them from the server at every query."""
        cache = self._chunk_cache
        missing = [n for n in numbers if n not in cache]
        if missing:
            for number, rows in self.chunks(missing):
                cache[number] = rows
                self._chunk_cache_bytes += rows.nbytes
        found = {}
        for number in numbers:
            cache.move_to_end(number)
            found[number] = cache[number]
        while self._chunk_cache_bytes > CHUNK_CACHE_BYTES and cache:  # (the caller holds what it was given)
            _, dropped = cache.popitem(last=False)
            self._chunk_cache_bytes -= dropped.nbytes
        return found

    def embedding_matrix(self, vocabulary: Vocabulary | Sequence[str] | Any, *, oov: str = "zeros",
                         case_fold: bool = True, seed: int = 0) -> EmbeddingMatrix:
        """The matrix for a model's vocabulary (a Vocabulary, a file, a layer, or a token
        list in index order; row i = the vector of index i) and its coverage report; see
        :func:`vecstore.matrix.build_matrix`."""
        from vecstore.matrix import build_matrix

        return build_matrix(self, vocabulary, oov=oov, case_fold=case_fold, seed=seed)

    def document_vectors(self, texts: Sequence[str], *, pool: str = "mean", **options: object) -> DocumentVectors:
        """One pooled vector per text (float32, in order) and the report; see
        :func:`vecstore.documents.document_vectors` for ``pool`` and its options. Reads
        only the rows the texts' tokens need."""
        from vecstore.documents import document_vectors

        return document_vectors(self, texts, pool=pool, **options)  # type: ignore[arg-type]

    def _raw_rows(self) -> VerifiedFile | None:
        if self._rows is False:
            checksums, _ = self._catalog.chunk_checksums(self.info.id)
            self._rows = self._indexes.rows(self.info, [checksums.get(n, "0") for n in range(self._chunk_count())])
        return self._rows if isinstance(self._rows, VerifiedFile) else None

    def close(self) -> None:
        """Release the mapped derived files (also done when the set is garbage collected)."""
        self._index = None  # (first: the exact search reads the rows' mapping)
        self._approximate = False
        self._server_indexes = None
        self._chunk_cache.clear()
        self._chunk_cache_bytes = 0
        if isinstance(self._rows, VerifiedFile):
            self._rows.close()
        self._rows = False

    def matrix(self) -> np.ndarray:
        """All stored vectors, row i being the vector of ``words[i]`` (every chunk verified,
        and the set's content checksum with them)."""
        parts = [m for _, m in self.chunks(None)]
        matrix = np.concatenate(parts) if parts else np.empty((0, self.dim), np.float32)
        if matrix.shape != (self.info.count, self.dim):
            raise StoreError(f"the store holds {matrix.shape[0]} vectors for {self.info.subject} of {self.info.count}")
        return matrix

    def chunks(self, chunk_nos: Sequence[int] | None = None) -> list[tuple[int, np.ndarray]]:
        """(chunk number, float32 rows) of the given chunks (all when None), in order, each
        verified; reading them all verifies the set's content checksum too."""
        numbers = range(self._chunk_count()) if chunk_nos is None else chunk_nos
        chunks = self._verified(self._catalog.vector_chunks(self.info.id, chunk_nos), "vectors", len(numbers))
        if chunk_nos is None:
            _, words = self._catalog.chunk_checksums(self.info.id)
            pairs = [(c.checksum, words.get(c.number, "0" * 16)) for c in chunks]
            if content_checksum(self.dim, self.info.count, pairs) != self.info.content_checksum:
                self._still_there()
                raise CorruptionError(f"{self.info.subject}: its chunks do not give its content checksum: the "
                                      "store is damaged", self.name)
        return [(c.number, np.frombuffer(c.data, dtype="<f4").reshape(-1, self.dim)) for c in chunks]

    # -- index and queries ----------------------------------------------------------------

    def index(self) -> Any:
        """The set's exact cosine index (``ntotal``, ``d``, ``search(queries, k)``): the
        exact search over its verified raw rows, or a kind's own persisted file; rebuilt
        and saved from the stored vectors when they are missing or wrong."""
        if self._index is None:
            index = self._persisted_index()
            if index is None:
                log.warning("building the index of %s (%d vectors)", self.name, self.info.count)
                matrix = self.matrix()
                index = self._indexes.save(self.info, normalized(matrix), matrix)
                if self._rows is None:  # (the raw rows just written: read from them from now on)
                    self._rows = False
            self._index = index
        return self._index

    def _persisted_index(self) -> Any:
        """The exact index from the derived files, every byte it reads verified, or None."""
        from vecstore.index import has_file
        from vecstore.index.flat import FlatIndex

        manifest = self._indexes.manifest(self.info)
        if manifest is None:
            return None
        kind = self._indexes.kind_of(manifest)
        if has_file(kind) and not isinstance(kind, FlatIndex):  # (a kind of its own file: see vecstore.index)
            return self._indexes.load(self.info)
        raw = self._raw_rows()  # (the rows kind; and a legacy flat index, whose rows copy this one)
        if raw is None:
            return self._indexes.load(self.info) if has_file(kind) else None
        try:
            rows = raw.verified_payload()
        except DerivedFileError as exc:
            log.warning("not using the raw rows of %s: %s; rebuilding them", self.name, exc)
            return None
        if isinstance(kind, FlatIndex):  # (its unit rows are a second copy: replaced by the rows kind)
            self._indexes.upgrade_legacy(self.info, manifest)
        return ExactSearch(rows, self.info.count, self.dim)

    def approximate_index(self) -> tuple[ApproximateKind, faiss.Index] | None:
        """The set's chosen approximate index (the latest built: ``vecstore index build``)
        with its kind, checked; None when it has none. One that fails its checks is built
        again with the parameters its manifest records."""
        if self._approximate is False:
            self._approximate = None
            from vecstore.index import shared

            sharing = shared.is_shared(self._catalog)
            if sharing:
                from vecstore.index import pgvector

                in_server = pgvector.answering(self._catalog, self._indexes, self.info, self._server_index_records())
                if in_server is not None:  # (searched in the server: nothing to fetch or load)
                    self._approximate = in_server
                    return in_server
                # (what another machine built and shared, fetched into this one's cache)
                shared.fetch(self._catalog, self._indexes, self.info)
            for manifest in self._indexes.approximate_manifests(self.info):
                loaded = self._indexes.load_approximate(self.info, manifest)
                if loaded is None and sharing and manifest["kind"] in shared.fetch(
                        self._catalog, self._indexes, self.info, again=manifest["kind"]):
                    fetched = self._indexes.approximate_manifest(self.info, manifest["kind"])
                    loaded = None if fetched is None else self._indexes.load_approximate(self.info, fetched)
                if loaded is None:
                    from vecstore.ann import rebuild_approximate

                    log.warning("rebuilding the %s index of %s", manifest["kind"], self.name)
                    rebuild_approximate(self, manifest)
                    fresh = self._indexes.approximate_manifest(self.info, manifest["kind"])
                    loaded = None if fresh is None else self._indexes.load_approximate(self.info, fresh)
                self._approximate = loaded
                break
        return self._approximate or None

    def unit_row_batches(self, rows: int = 65_536) -> Iterator[np.ndarray]:
        """The set's unit rows, ``rows`` at a time, each read verified from the store."""
        for start in range(0, len(self), rows):
            yield normalized(self.vectors_of_rows(np.arange(start, min(start + rows, len(self)))))

    def unit_vector(self, word: str) -> np.ndarray:
        """The unit-length vector of ``word``, from its verified stored row."""
        return normalized(self.vector(word))

    def neighbours(self, word: str | None = None, *, vector: np.ndarray | Sequence[float] | None = None,
                   k: int = 10, exact: bool | None = None, search: dict[str, str] | None = None) -> list[Neighbour]:
        """The ``k`` most cosine-similar words to ``word`` (itself excluded) or to ``vector``.

        Fewer come back when the set has fewer other words. ``k`` is at most :data:`MAX_K`.
        ``exact``: True searches every row; False the set's approximate index when it has
        one; None (the default) chooses: the approximate index, except for a handle's
        first few queries of a set whose exact scan is quicker than loading that index
        (a cold process's one query, :meth:`_cold_exact`), which get the exact answer.
        ``search`` sets the approximate index's query-time parameters (``efSearch``,
        ``nprobe``, ``rerank``), and so asks for it.
        """
        if (word is None) == (vector is None):
            raise InvalidArgumentError("give either a word or a vector")
        _check_k(k)
        if word is not None:
            row, computed = self._row_or_subword_vector(word)  # (once: a cold lookup scans the word list)
            if computed is not None:  # (a word a fastText set lacks: nothing of the set to exclude)
                return self._search(normalized(computed), k, set(), exact, search)
            return self._search(self._unit_query(row), k, {row}, exact, search)
        return self._search(self.unit_of_vector(vector), k, set(), exact, search)

    def unit_of_vector(self, vector: np.ndarray | Sequence[float]) -> np.ndarray:
        """A query vector of this set's dimension, at unit length; refused when it has
        another length or values that are not finite numbers."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise InvalidArgumentError(f"the vector has {query.shape[0]} values; {self.info.subject} has {self.dim}")
        if not np.isfinite(query).all():
            raise InvalidArgumentError("the vector holds values that are not finite numbers")
        return normalized(query)

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(np.dot(self.unit_vector(a), self.unit_vector(b)))

    def analogy(self, a: str, b: str, c: str, *, k: int = 10, exact: bool | None = None) -> list[Neighbour]:
        """``a`` is to ``b`` as ``c`` is to ?: 3CosAdd, the nearest words to b - a + c (unit vectors),
        the three query words excluded (as gensim's ``most_similar(positive=[b, c], negative=[a])``).
        """
        _check_k(k)
        found = [self._row_or_subword_vector(w) for w in (a, b, c)]
        rows = [row for row, _ in found if row is not None]
        stored = iter(self.vectors_of_rows(rows)) if rows else iter(())
        ua, ub, uc = normalized(np.stack([next(stored) if computed is None else computed for _, computed in found]))
        return self._search(normalized(ub - ua + uc), k, set(rows), exact)

    def neighbours_many(self, words: Sequence[str] | None = None, *, vectors: np.ndarray | None = None,
                        k: int = 10, exact: bool | None = None,
                        search: dict[str, str] | None = None) -> BatchNeighbours:
        """The neighbours of many words (each itself excluded) or many vectors (rows of a
        2-D array) in one call: the same answers as :meth:`neighbours` one at a time,
        from a batched search (BLAS for the exact index). A word the set lacks is
        reported in the result (``None`` in :attr:`BatchNeighbours.results`), not raised;
        a fastText set answers it from its subword vector."""
        if (words is None) == (vectors is None):
            raise InvalidArgumentError("give either words or vectors")
        _check_k(k)
        if words is not None:
            queries = list(words)
            rows = self.rows_of(queries)
            known = np.flatnonzero(rows >= 0)
            results: list[list[Neighbour] | None] = [None] * len(queries)
            step = query_batch(k)
            for start in range(0, len(known), step):  # (the query vectors read a batch at a time)
                places = known[start:start + step]
                unit = self._unit_rows(rows[places])
                found = self._search_many(unit, k, [{int(r)} for r in rows[places]], exact, search)
                for place, hits in zip(places.tolist(), found, strict=True):
                    results[place] = hits
            unseen = np.flatnonzero(rows < 0)
            if len(unseen) and self.subwords is not None:  # (a fastText set: their subword vectors' neighbours)
                for start in range(0, len(unseen), step):
                    places = unseen[start:start + step]
                    computed = self.subword_vectors([queries[i] for i in places.tolist()])
                    found = self._search_many(normalized(computed), k, [set() for _ in places], exact, search)
                    for place, hits in zip(places.tolist(), found, strict=True):
                        results[place] = hits
            return BatchNeighbours(queries, results)
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise InvalidArgumentError(f"the vectors are {matrix.shape}; {self.info.subject} needs (n, {self.dim})")
        if not np.isfinite(matrix).all():
            raise InvalidArgumentError("the vectors hold values that are not finite numbers")
        found = self._search_many(normalized(matrix), k, [set() for _ in range(len(matrix))], exact, search)
        return BatchNeighbours([f"#{i}" for i in range(len(matrix))], list(found), vectors=True)

    def _search(self, unit_query: np.ndarray | bytes, k: int, exclude: set[int], exact: bool | None = None,
                search: dict[str, str] | None = None) -> list[Neighbour]:
        """One unit query (an array, or the bytes of ``dim`` float32 :meth:`_unit_query`
        gives): :meth:`_search_one`, or the batch path when that declines."""
        query = unit_query if isinstance(unit_query, bytes) else np.ascontiguousarray(unit_query, dtype=np.float32)
        if exact is None:
            exact = not search and self._cold_exact()
            self._single_queries += 1
        found = self._search_one(query, k, exclude, exact, search)
        if found is not None:
            return found
        batch = np.frombuffer(query, dtype=np.float32).reshape(1, self.dim)
        return self._search_many(batch, k, [exclude], exact, search)[0]

    def _cold_exact(self) -> bool:
        """Whether a single query is answered exactly although the set has an approximate
        index: the index is not loaded yet, the handle has answered fewer than
        :data:`COLD_QUERIES` queries, and the set's exact scan (:data:`COLD_EXACT_FLOATS`
        at most) is quicker than loading it (importing FAISS alone costs a cold process
        more). A cold ``vecstore neighbours`` on GloVe: 10 ms exactly, against 150 ms to
        load and check the hnsw index; a long-lived handle loads it from its ninth query."""
        return (self._approximate is False and self._single_queries < COLD_QUERIES
                and self.info.count * self.dim <= COLD_EXACT_FLOATS
                # (a pgvector index loads nothing, where an exact query would build the raw rows)
                and not self._server_index_records())

    def _server_index_records(self) -> list[ServerIndex]:
        """The set's pgvector indexes (:func:`vecstore.index.pgvector.recorded`), read once a
        handle: the cold-exact rule and the choice of index both ask."""
        if self._server_indexes is None:
            from vecstore.index import pgvector

            self._server_indexes = pgvector.recorded(self._catalog, self.info)
        return self._server_indexes

    def _search_one(self, query: np.ndarray | bytes, k: int, exclude: set[int], exact_only: bool,
                    given: dict[str, str] | None) -> list[Neighbour] | None:
        """One query (a buffer of ``dim`` float32, unit length), as :meth:`_search_batch`
        answers it (the same hits, the same float scores) without its batch machinery: a
        warm handle's query costs little more than the index's own search, and an exact
        one over the raw rows needs no numpy at all. None when anything is unusual (an
        index that disagrees with the stored rows, fewer hits than asked, a parameter to
        refuse): the batch path then answers, rebuilds or says why."""
        approximate = None if exact_only else self.approximate_index()
        if approximate is None:
            if given:
                return None
            kind, index, candidates = None, self.index(), k + SPARE_CANDIDATES
        else:
            kind, index = approximate
            if not kind.exact_scores and kind.score_tolerance is not None:  # (halfvec: checked by the batch path)
                return None
            search = search_overrides(kind, given) if given else kind.search
            candidates = kind.candidates(k, search) + SPARE_CANDIDATES
        want = min(candidates + len(exclude), index.ntotal)
        if want <= len(exclude):
            return None
        found: tuple[list[int], list[float]] | Literal[False] | None = False
        if isinstance(index, ExactSearch):
            found_rows, found_scores = index.search_one(query, want)
        else:
            matrix = np.frombuffer(query, dtype=np.float32).reshape(1, self.dim)
            scores, ids = (index.search(matrix, want) if kind is None else
                           index.search(matrix, want, params=self._parameters(kind, search)))
            if kind is not None and len(exclude) <= 1:  # (None: the index disagrees; False: no raw rows to map)
                found = self._rescored(ids, scores, query, exclude, k, kind.exact_scores)
            if found is False:
                found_rows, found_scores = ids[0].tolist(), scores[0].tolist()
        if found is False:
            found = self._rescored_here(found_rows, found_scores, query, exclude, k,
                                        kind is None or kind.exact_scores)
        if found is None or len(found[0]) < min(k, index.ntotal - len(exclude)):
            return None
        words = self.set_words.decoded  # (a warm handle: the decoded list, no call a word)
        named = self.set_words.word if words is None else words.__getitem__
        return list(map(Neighbour, map(named, found[0]), found[1]))

    def _rescored_here(self, rows: list[int], scores: list[float], query: np.ndarray | bytes, exclude: set[int],
                       k: int, check: bool) -> tuple[list[int], list[float]] | None:
        """What :meth:`_rescored` does in C, in Python (any exclusions, rows from the
        chunks): the hits kept, re-scored from the verified stored rows, the best k by
        exact score (ties: the lower row); None when ``check`` and a score disagrees."""
        kept = [(row, score) for row, score in zip(rows, scores, strict=True) if row >= 0 and row not in exclude]
        if not kept:
            return [], []
        exact = self._few_cosines([row for row, _ in kept], query)
        if check and max(map(abs, map(sub, exact, [score for _, score in kept]))) > RESCORE_TOLERANCE:
            return None
        best = sorted(zip([-e for e in exact], [row for row, _ in kept], strict=True))[:k]
        return [row for _, row in best], [-score for score, _ in best]

    def _rescored(self, ids: np.ndarray, scores: np.ndarray, query: np.ndarray | bytes, exclude: set[int], k: int,
                  check: bool) -> tuple[list[int], list[float]] | Literal[False] | None:
        """An index's hits for one query re-scored from the verified raw rows in one call
        of C (what :meth:`_rescored_here` does, the same bits): (rows, exact
        scores) of the best k, or None when ``check`` and a score disagrees, or False
        without raw rows to read (the caller's loop then reads the chunks)."""
        raw = self._raw_rows() if _fastparse is not None else None
        if raw is None:
            return False
        try:
            if not raw.all_verified:
                raw.verify_rows([r for r in ids[0].tolist() if r >= 0], self.dim)
        except DerivedFileError as exc:
            log.warning("not using the raw rows of %s: %s", self.name, exc)
            self._rows = None
            return False
        return _fastparse.rescore_hits(raw.payload, self.dim, ids, scores, query, next(iter(exclude), -1), k,
                                       RESCORE_TOLERANCE if check else -1.0)

    def _parameters(self, kind: ApproximateKind, search: dict[str, int]) -> Any:
        """FAISS's search parameters for ``search`` (made once a handle and setting)."""
        key = (kind.short, *search.values())
        found = self._search_parameters.get(key)
        if found is None:
            found = self._search_parameters[key] = kind.search_parameters(search)
        return found

    def _verified_table(self, rows: Sequence[int] | np.ndarray) -> np.ndarray | None:
        """The raw rows' mapping with the blocks of ``rows`` verified (read only those), or
        None without raw rows (or a damaged one: the chunks serve, and it is rebuilt)."""
        raw = self._raw_rows()
        if raw is None:
            return None
        try:
            return raw.table(rows, self.dim)
        except DerivedFileError as exc:
            log.warning("not using the raw rows of %s: %s", self.name, exc)
            self._rows = None
            return None

    def _picked(self, rows: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(table, ids) holding the verified stored rows ``rows``: the raw rows' mapping and
        the rows themselves, or, without raw rows, the rows read from the chunks and their
        places in that array. Either way the same C reads them (the same bits)."""
        table = self._verified_table(rows)
        if table is None:
            return np.ascontiguousarray(self.vectors_of_rows(rows)), np.arange(len(rows), dtype=np.int64)
        return table, np.asarray(rows, dtype=np.int64)

    def _unit_rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The unit vectors of stored rows, verified: a word search's queries, single or
        batched, made the same way (in C)."""
        if _fastparse is None:
            return normalized(self.vectors_of_rows(rows))
        table, ids = self._picked(rows)
        return np.frombuffer(_fastparse.unit_of_rows(table, self.dim, ids), dtype=np.float32).reshape(-1, self.dim)

    def _unit_query(self, row: int) -> np.ndarray | bytes:
        """The unit vector of one stored row, verified, as :meth:`_unit_rows` makes it:
        the bytes of ``dim`` float32 straight from C on the mapped raw rows (no numpy), or
        an array when there are none to map."""
        raw = self._raw_rows() if _fastparse is not None else None
        if raw is not None:
            try:
                raw.verify_rows([row], self.dim)
                return _fastparse.unit_of_rows(raw.payload, self.dim, array("q", [row]))
            except DerivedFileError as exc:
                log.warning("not using the raw rows of %s: %s", self.name, exc)
                self._rows = None
        return self._unit_rows([row])[0]

    def _few_cosines(self, rows: list[int], unit_query: np.ndarray | bytes) -> list[float]:
        """:meth:`_cosines` of a few rows with one query, as Python floats: straight from
        C on the mapped raw rows (no numpy), or through :meth:`_cosines` without them."""
        raw = self._raw_rows() if _fastparse is not None else None
        if raw is not None:
            try:
                raw.verify_rows(rows, self.dim)
                return array("f", _fastparse.cosines_of_rows(raw.payload, self.dim, array("q", rows),
                                                             unit_query)).tolist()
            except DerivedFileError as exc:
                log.warning("not using the raw rows of %s: %s", self.name, exc)
                self._rows = None
        return self._cosines(rows, np.frombuffer(unit_query, dtype=np.float32).reshape(1, self.dim)).tolist()

    def _cosines(self, rows: Sequence[int], unit_queries: np.ndarray) -> np.ndarray:
        """The cosine of each stored row (verified) with its unit query (one a row, or one
        for all): the scores every search prints, single or batched, computed the same way."""
        if _fastparse is None:
            stored = self.vectors_of_rows(rows)
            return cosines(stored, np.ascontiguousarray(np.broadcast_to(unit_queries, stored.shape)))
        table, ids = self._picked(rows)
        return np.frombuffer(_fastparse.cosines_of_rows(table, self.dim, ids, np.ascontiguousarray(
            unit_queries, dtype=np.float32)), dtype=np.float32)

    def _few_rows(self, rows: list[int]) -> np.ndarray:
        """The stored vectors of a few rows, verified (:meth:`vectors_of_rows`, quicker)."""
        table = self._verified_table(rows)
        return self.vectors_of_rows(rows) if table is None else table[rows]

    def _search_many(self, unit_queries: np.ndarray, k: int, excludes: list[set[int]], exact: bool = False,
                     search: dict[str, str] | None = None) -> list[list[Neighbour]]:
        """Search the index for each query in batches, then re-score the hits from the
        verified stored rows: a score printed is never one the index file alone vouches
        for. A hit whose index score disagrees means the index is wrong: it is rebuilt
        and the search run again."""
        out: list[list[Neighbour]] = []
        step = query_batch(k)
        for start in range(0, len(unit_queries), step):
            out += self._search_batch(unit_queries[start:start + step], k, excludes[start:start + step],
                                      exact, search)
        return out

    def _search_batch(self, unit_queries: np.ndarray, k: int, excludes: list[set[int]], exact_only: bool,
                      given: dict[str, str] | None) -> list[list[Neighbour]]:
        queries = np.ascontiguousarray(unit_queries, dtype=np.float32)
        for _attempt in (1, 2):
            approximate = None if exact_only else self.approximate_index()
            if approximate is None:
                if given:
                    raise InvalidArgumentError(f"is for an approximate index, and {self.info.subject} is searched "
                                               "exactly", subject="search")
                kind, index, search, candidates = None, self.index(), None, k + SPARE_CANDIDATES
            else:
                kind, index = approximate
                search = search_overrides(kind, given)
                candidates = kind.candidates(k, search) + SPARE_CANDIDATES
            want = min(candidates + max((len(e) for e in excludes), default=0), index.ntotal)
            if want == 0 or not len(queries):
                return [[] for _ in range(len(queries))]
            if kind is None:  # (the exact search chooses its own way: C for a few queries, BLAS for more)
                scores, rows = index.search(queries, want)
            else:
                scores, rows = index.search(queries, want, params=self._parameters(kind, search))
            # The hits of every query at once: a mask of the rows kept (found, not excluded),
            # their exact scores in one gather and product, one sort of the whole block.
            rows = np.asarray(rows, dtype=np.int64)
            kept = rows >= 0
            widest = max((len(e) for e in excludes), default=0)
            if widest:
                excluded = np.full((len(rows), widest), -1, dtype=np.int64)
                for i, exclude in enumerate(excludes):
                    excluded[i, :len(exclude)] = list(exclude)
                kept &= ~(rows[:, :, None] == excluded[:, None, :]).any(axis=2)
            owner, place = np.nonzero(kept)
            flat = rows[owner, place]
            exact = self._cosines(flat, queries[owner]) if len(flat) else np.empty(0, np.float32)
            index_scores = np.asarray(scores)[owner, place].astype(np.float64)
            tolerance = RESCORE_TOLERANCE
            if kind is not None and not kind.exact_scores:  # (codes, halfvec: re-ranked by the exact scores)
                if kind.score_tolerance is None:  # (codes: no score to hold them to)
                    index_scores = exact.astype(np.float64)
                else:
                    tolerance = kind.score_tolerance
            if np.all(np.abs(exact - index_scores) <= tolerance):
                ranked = np.full(rows.shape, np.inf, dtype=np.float64)
                ranked[owner, place] = -exact  # (the rows not kept sort last)
                order = np.lexsort((rows, ranked))[:, :k]  # (by the exact scores, ties the lower row first)
                counts = np.minimum(kept.sum(axis=1), k)
                first = np.arange(order.shape[1]) < counts[:, None]  # (each query's best, up to k)
                exact_of = np.zeros(rows.shape, dtype=np.float32)
                exact_of[owner, place] = exact
                named = self.set_words.words_of(np.take_along_axis(rows, order, axis=1)[first].tolist())
                best = np.take_along_axis(exact_of, order, axis=1)[first].tolist()
                out, at = [], 0
                for count in counts.tolist():
                    out.append(list(map(Neighbour, named[at:at + count], best[at:at + count])))
                    at += count
                if kind is not None:  # (probed lists or a graph can hold fewer than k: those queries go exact)
                    short = [i for i, (found, exclude) in enumerate(zip(out, excludes, strict=True))
                             if len(found) < min(k, index.ntotal - len(exclude))]
                    if short:
                        again = self._search_batch(queries[short], k, [excludes[i] for i in short], True, None)
                        for i, found in zip(short, again, strict=True):
                            out[i] = found
                return out
            if kind is None:
                log.warning("the index of %s disagrees with its stored vectors; rebuilding it", self.name)
                self._indexes.discard(self.info.uid)
            elif kind.short in SERVER_KINDS:  # (a table in the server: rebuilt by an owner, not by a query)
                log.warning("not using the %s index of %s: it disagrees with the stored vectors (vecstore check "
                            "--repair builds it again); searching exactly", kind.short, self.name)
                self._approximate, exact_only, given = None, True, None
                continue
            else:
                log.warning("the %s index of %s disagrees with its stored vectors; rebuilding it", kind.short,
                            self.name)
                manifest = self._indexes.approximate_manifest(self.info, kind.short) or {
                    "kind": kind.short, "params": kind.params, "search": kind.search}
                self._indexes.remove_approximate(self.info.uid, kind.short)
                from vecstore.ann import rebuild_approximate

                rebuild_approximate(self, manifest)
            self.close()
        raise CorruptionError(f"{self.info.subject}: its index disagrees with its stored vectors even after a rebuild",
                              self.name)

    # -- evaluation -----------------------------------------------------------------------

    def evaluate_analogies(self, path: str | Path, **options: object) -> AnalogyReport:
        """Accuracy on a word2vec ``questions-words.txt`` file, computed as gensim does."""
        from vecstore.evaluation import evaluate_analogies

        return evaluate_analogies(path, self.words, self.matrix(), **options)

    def evaluate_similarity(self, path: str | Path, **options: object) -> SimilarityReport:
        """Spearman/Pearson against a WordSim-353 / SimLex-999 style tab file, as gensim does."""
        from vecstore.evaluation import evaluate_similarity

        return evaluate_similarity(path, self.words, self.matrix(), **options)
