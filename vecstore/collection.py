"""Document collections: documents kept with their pooled vectors, and searched.

A collection records the word set its vectors were pooled from (by uid) and how (the
pooling, and what it fitted on the first documents: the IDF, or SIF's principal
component), so that a later document, or a query, is embedded exactly as the first
ones were. Its vectors are a set of kind ``documents`` whose "words" are the documents'
ids: the same chunks, checksums, derived index and checks as any set, and the index kinds
that come later serve both. Each write (adding, changing or removing documents) writes
that set anew with the collection's rows, in one transaction: all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xxhash

from vecstore.documents import Idf, document_vectors, fit_idf
from vecstore.errors import (
    CollectionNotFoundError,
    CollectionSetChangedError,
    InvalidArgumentError,
    SetChangedError,
    VecstoreError,
    counted,
    quoted,
)
from vecstore.io.files import NOTHING_PROTECTED, AtomicOutput, ProtectedFiles, check_output
from vecstore.limits import MAX_K
from vecstore.metadata import Condition, check_metadata, metadata_number, parse_where
from vecstore.names import check_lookup, check_name
from vecstore.query import EmbeddingSet, Neighbour
from vecstore.storage import statements as sql
from vecstore.storage.records import COLLECTION_SET_PREFIX, CollectionInfo, SetHeader, SetInfo

if TYPE_CHECKING:
    from vecstore.documents import DocumentReport, DocumentVectors
    from vecstore.storage.catalog import SetWriter
    from vecstore.store import Store

COLLECTION_POOLS = ("mean", "sum", "max", "min", "idf", "sif")
log = logging.getLogger("vecstore")

MAX_COLLECTION_NAME = 200 - len(COLLECTION_SET_PREFIX)


@dataclass(frozen=True)
class Hit:
    """A document found: its id, its text and its cosine similarity to the query (the
    exact cosine of its verified stored vector; None only for a text match whose query
    has no word in the set). A text match or hybrid search also gives the hit's places in
    the vector ranking and in the full-text one (1-based; None: not in that list), the
    full-text engine's own score, and (hybrid) the reciprocal-rank-fusion score."""

    id: str
    text: str
    score: float | None
    vector_rank: int | None = None
    text_rank: int | None = None
    text_score: float | None = None
    fused: float | None = None
    #: Whether the hit comes from a text match or a hybrid search (its dict then has the ranks).
    ranked: bool = field(default=False, repr=False)

    def to_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"id": self.id, "text": self.text, "score": self.score}
        if self.ranked:
            found.update(vector_rank=self.vector_rank, text_rank=self.text_rank, text_score=self.text_score,
                         fused=self.fused)
        return found


#: The ways :meth:`Collection.search` ranks: by cosine, by full text, or both fused.
SEARCH_MODES = ("vector", "text", "hybrid")
#: Reciprocal rank fusion's constant (Cormack, Clarke and Buettcher, 2009): a document's
#: fused score is the sum of 1 / (RRF_K + rank) over the rankings it is in.
RRF_K = 60
#: How deep each ranking a hybrid search fuses goes: max(HYBRID_DEPTH, 10 k).
HYBRID_DEPTH = 100
#: The distinct words of a query a text match uses, at most.
MAX_QUERY_WORDS = 256
#: A filtered search scans its matching documents exactly (the brute force's answer)
#: when they are at most this many, or there is no approximate index, or ``exact``: the
#: cosines of 20,000 verified rows cost a few milliseconds. Above it, the index is asked
#: for enough candidates to hold k matches (as approximate as its own searches are),
#: and the exact scan is the fallback when it falls short.
FILTER_SCAN_ROWS = 20_000

_WORD = re.compile(r"\w+")


def text_query(text: str, dialect: str) -> str | None:
    """The full-text query of a text: its distinct words (``\\w+``, lower-cased), any of
    which may match. SQLite: each an FTS5 string (``"word"``) joined by ``OR``; PostgreSQL:
    joined by ``or`` for ``websearch_to_tsquery``. Words alone reach the engine, so nothing
    a user types is FTS5 or tsquery syntax. None: the text has no word."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    if dialect != "sqlite":
        words = [w for w in words if w != "or"]  # (websearch_to_tsquery's operator; a stop word anyway)
    words = words[:MAX_QUERY_WORDS]
    if not words:
        return None
    if dialect == "sqlite":
        return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
    return " or ".join(words)


@dataclass(frozen=True)
class AddReport:
    """What adding documents did."""

    collection: str
    added: int
    updated: int
    unchanged: int
    count: int
    seconds: float
    # The report of the documents embedded (None: none were); pooled in batches, its
    # distinct-token counts are those of the largest batch, its other counts the sums.
    pooling: DocumentReport | None
    #: Documents already there (their text unchanged or not) whose metadata this add replaced.
    metadata_changed: int = 0

    def to_dict(self) -> dict[str, object]:
        pooled = self.pooling.to_dict() if self.pooling is not None else {}
        return {"collection": self.collection, "added": self.added, "updated": self.updated,
                "unchanged": self.unchanged, "count": self.count, "seconds": round(self.seconds, 3),
                "tokens": pooled.get("tokens", 0), "known_tokens": pooled.get("known_tokens", 0),
                "pooling_seconds": round(sum(self.pooling.seconds.values()), 3) if self.pooling else 0.0,
                "metadata_changed": self.metadata_changed}

    def summary(self) -> str:
        changed = f", metadata of {self.metadata_changed:,} replaced" if self.metadata_changed else ""
        return (f"collection {quoted(self.collection)}: {self.added:,} added, {self.updated:,} updated, "
                f"{self.unchanged:,} unchanged{changed}; {counted(self.count, 'document')} ({self.seconds:.2f} s)")


def text_hash(text: str) -> str:
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


class Collection:
    """One collection of a store, ready to search. Get it with ``Store.collection(name)``."""

    def __init__(self, store: Store, info: CollectionInfo) -> None:
        self.store = store
        self.info = info
        self.options = json.loads(info.options)

    def __repr__(self) -> str:
        return f"Collection({self.info.name!r}, count={self.info.count}, set={self.info.word_set_name!r})"

    @property
    def name(self) -> str:
        return self.info.name

    def __len__(self) -> int:
        return self.info.count

    def word_set(self) -> EmbeddingSet:
        """The set the documents were pooled from, as it was (else :class:`CollectionSetChangedError`)."""
        info = self.store.open().find_set_by_uid(self.info.word_set_uid)
        if info is None:
            raise CollectionSetChangedError(self.name, self.info.word_set_name)
        return EmbeddingSet(info, self.store.open(), self.store.indexes)

    def vectors(self) -> EmbeddingSet:
        """The documents' vectors, a set whose words are the documents' ids."""
        info = self.store.open().find_set_by_uid(self.info.vectors_uid)
        if info is None:
            raise SetChangedError(self.name, "collection")
        return EmbeddingSet(info, self.store.open(), self.store.indexes)

    def embed(self, texts: Sequence[str], word_set: EmbeddingSet | None = None) -> DocumentVectors:
        """``texts`` pooled as the collection's documents were."""
        return _embed(word_set or self.word_set(), texts, self.info.pool, self.options)

    def search(self, text: str | None = None, *, vector: Sequence[float] | np.ndarray | None = None,
               k: int = 5, exact: bool = False, search: dict[str, str] | None = None,
               where: Sequence[str | Condition] | str | None = None, mode: str = "vector") -> list[Hit]:
        """The ``k`` documents most cosine-similar to ``text`` (embedded as the documents
        were) or to a raw ``vector``, best first. The collection's approximate index
        answers when it has one, unless ``exact``; ``search`` sets its query-time
        parameters, as for a set's neighbours.

        ``where``: conditions on the documents' metadata (:func:`parse_condition`), all
        met: the ``k`` best of the documents meeting them, exactly ``min(k, matches)``,
        as a brute force over those documents ranks them. ``mode``: ``vector`` (by
        cosine), ``text`` (by the full-text engine's ranking of the query's words: FTS5's
        bm25 on SQLite, ``ts_rank_cd`` on PostgreSQL) or ``hybrid`` (the two rankings,
        each :data:`HYBRID_DEPTH` or 10 k deep, fused by reciprocal rank fusion; ties: the
        better single rank, then the earlier document). Every hit's ``score`` is its exact
        cosine with the query."""
        if mode not in SEARCH_MODES:
            raise InvalidArgumentError(f"must be one of {', '.join(SEARCH_MODES)}, not {quoted(str(mode))}",
                                       subject="mode")
        if (text is None) == (vector is None):
            raise InvalidArgumentError("give either a text or a vector")
        if mode != "vector" and text is None:
            raise InvalidArgumentError(f"a {mode} search matches the words of a text, not a vector", subject="mode")
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidArgumentError(f"must be from 1 to {MAX_K:,}, not {k}", subject="k")
        conditions = parse_where(where)
        query = None
        if text is not None:
            built = self.embed([text])
            if not built.report.empty:
                query = built.vectors[0]
            elif mode != "text":
                raise InvalidArgumentError(f"no word of the query is in set {quoted(self.info.word_set_name)}")
        else:
            query = np.asarray(vector, dtype=np.float32)
        if query is not None and query.size and not np.any(query):
            raise InvalidArgumentError("the query vector is all zeros: it is equally close to every document")
        if mode == "vector" and not conditions:
            return self._again_if_changed(lambda: self._hits(self.vectors().neighbours(
                vector=query, k=k, exact=exact, search=search)))
        return self._again_if_changed(lambda: self._ranked(text, query, k, exact, search, conditions, mode))

    def metadata(self) -> dict[str, dict[str, str]]:
        """The metadata of every document that has some, by id."""
        catalog = self.store.open()
        by_position = catalog.document_metadata(self.info.id)
        ids = {position: doc_id for doc_id, position, _ in catalog.document_keys(self.info.id)}
        return {ids[p]: values for p, values in sorted(by_position.items()) if p in ids}

    def _ranked(self, text: str | None, query: np.ndarray | None, k: int, exact: bool,
                search: dict[str, str] | None, conditions: list[Condition], mode: str) -> list[Hit]:
        """A filtered vector search, a text match or a hybrid search (see :meth:`search`)."""
        catalog = self.store.open()
        vectors = self.vectors()
        allowed = None
        if conditions:
            allowed = np.asarray(catalog.matching_positions(self.info.id, [c.as_sql() for c in conditions]),
                                 dtype=np.int64)
        unit = None if query is None else vectors.unit_of_vector(query)
        if mode == "vector":
            assert unit is not None
            found = self._vector_ranking(vectors, query, unit, k, exact, search, allowed)
            return self._hits_at(catalog, vectors, [row for row, _ in found], [score for _, score in found])
        depth = min(MAX_K, max(HYBRID_DEPTH, 10 * k)) if mode == "hybrid" else k
        assert text is not None
        words = text_query(text, catalog.driver.dialect)
        conditions_sql = [c.as_sql() for c in conditions]
        texts = [] if words is None or (allowed is not None and not len(allowed)) else catalog.text_ranking(
            self.info.id, words, depth, conditions_sql)
        text_rank = {row: i + 1 for i, (row, _) in enumerate(texts)}
        text_score = dict(texts)
        if mode == "text":
            rows = [row for row, _ in texts[:k]]
            return self._hits_at(catalog, vectors, rows, self._exact_scores(vectors, unit, rows),
                                 text_rank=text_rank, text_score=text_score)
        assert unit is not None
        ranking = self._vector_ranking(vectors, query, unit, depth, exact, search, allowed)
        vector_rank = {row: i + 1 for i, (row, _) in enumerate(ranking)}
        fused = {row: sum(1 / (RRF_K + r) for r in (vector_rank.get(row), text_rank.get(row)) if r is not None)
                 for row in {**vector_rank, **text_rank}}
        best = sorted(fused, key=lambda row: (-fused[row], min(vector_rank.get(row, MAX_K + 1),
                                                               text_rank.get(row, MAX_K + 1)), row))[:k]
        return self._hits_at(catalog, vectors, best, self._exact_scores(vectors, unit, best),
                             vector_rank=vector_rank, text_rank=text_rank, text_score=text_score, fused=fused)

    @staticmethod
    def _exact_scores(vectors: EmbeddingSet, unit: np.ndarray | None, rows: list[int]) -> list[float | None]:
        """The cosines of stored rows (verified) with the unit query, as searches print them."""
        if unit is None or not rows:
            return [None] * len(rows)
        return [float(x) for x in vectors._cosines(rows, unit.reshape(1, -1))]

    def _vector_ranking(self, vectors: EmbeddingSet, query: np.ndarray, unit: np.ndarray, k: int, exact: bool,
                        search: dict[str, str] | None, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """(row, exact cosine) of the ``k`` best documents, best first (ties: the lower
        row), among the rows ``allowed`` (None: all): exactly ``min(k, len(allowed))``.

        Few allowed rows, ``exact``, or no approximate index: the exact cosines of the
        allowed rows, the best k. Else the index is asked for enough candidates to hold
        k allowed ones (k times the inverse of the allowed fraction, twice over), four
        times more while it falls short, and the exact scan answers when that would
        ask for more than half the collection (or MAX_K)."""
        if allowed is None:
            found = vectors.neighbours(vector=query, k=k, exact=exact, search=search)
            rows = vectors.rows_of([n.word for n in found])
            return [(int(row), n.score) for row, n in zip(rows.tolist(), found, strict=True)]
        want = min(k, len(allowed))
        if want == 0:
            return []
        # (the index only for many matches: a few are scanned, with no index loaded or fetched)
        approximate = None if exact or (len(allowed) <= FILTER_SCAN_ROWS and not search) else (
            vectors.approximate_index())
        if approximate is None and search:
            raise InvalidArgumentError(f"is for an approximate index, and {vectors.info.subject} is searched exactly",
                                       subject="search")
        total = len(vectors)
        if approximate is not None and len(allowed) > FILTER_SCAN_ROWS:
            mask = np.zeros(total, dtype=bool)
            mask[allowed] = True
            asked = 4 * k + math.ceil(2 * k * total / len(allowed))
            while asked <= min(MAX_K, total // 2):
                found = vectors.neighbours(vector=query, k=asked, exact=False, search=search)
                rows = vectors.rows_of([n.word for n in found]).tolist()
                kept = [(row, n.score) for row, n in zip(rows, found, strict=True) if row >= 0 and mask[row]]
                if len(kept) >= want:
                    return kept[:want]
                if len(found) < asked:
                    break
                asked *= 4
        scores = vectors._cosines(allowed, unit.reshape(1, -1))
        order = np.lexsort((allowed, -scores))[:want]  # (by exact score, ties the lower row, as searches order)
        return [(int(allowed[i]), float(scores[i])) for i in order.tolist()]

    def _hits_at(self, catalog, vectors: EmbeddingSet, rows: list[int], scores: Sequence[float | None], *,
                 vector_rank: dict[int, int] | None = None, text_rank: dict[int, int] | None = None,
                 text_score: dict[int, float] | None = None, fused: dict[int, float] | None = None) -> list[Hit]:
        """The hits at ``rows`` of the collection's vectors, read with their texts; refused
        (:class:`SetChangedError`, and so searched again) if the collection changed meanwhile."""
        documents = catalog.documents_at(self.info.id, rows)
        now = catalog.find_collection(self.name)
        if now is None or now.vectors_uid != self.info.vectors_uid:
            raise SetChangedError(self.name, "collection")
        names = vectors.set_words.words_of(rows) if rows else []
        if any(row not in documents or documents[row][0] != name for row, name in zip(rows, names, strict=True)):
            raise SetChangedError(self.name, "collection")
        ranked = text_rank is not None
        return [Hit(documents[row][0], documents[row][1], score,
                    vector_rank=None if vector_rank is None else vector_rank.get(row),
                    text_rank=None if text_rank is None else text_rank.get(row),
                    text_score=None if text_score is None else text_score.get(row),
                    fused=None if fused is None else fused[row], ranked=ranked)
                for row, score in zip(rows, scores, strict=True)]

    def similar(self, doc_id: str, *, k: int = 5, exact: bool = False,
                search: dict[str, str] | None = None) -> list[Hit]:
        """The ``k`` documents most similar to document ``doc_id`` (itself excluded);
        ``exact`` and ``search`` as for :meth:`search`."""
        def find() -> list[Hit]:
            vectors = self.vectors()
            if not np.any(vectors.vector(check_lookup(doc_id))):
                raise InvalidArgumentError(f"document {quoted(doc_id)} has no known word (a zero vector): it is "
                                           "equally close to every document")
            return self._hits(vectors.neighbours(doc_id, k=k, exact=exact, search=search))

        return self._again_if_changed(find)

    def _again_if_changed(self, action: Callable[[], list[Hit]]) -> list[Hit]:
        """``action``, run again on the collection read afresh if another process changed
        it meanwhile (as :meth:`vecstore.store.Store.with_set` does for sets)."""
        for attempt in (1, 2, 3):
            try:
                return action()
            except SetChangedError:
                fresh = self.store.open().find_collection(self.name)
                if attempt == 3 or fresh is None:
                    raise
                self.info, self.options = fresh, json.loads(fresh.options)
        raise AssertionError("unreachable")

    def idf(self) -> Idf:
        """The document frequencies an ``idf`` collection pools with (fitted on its first documents)."""
        if self.info.pool != "idf":
            raise InvalidArgumentError(f"collection {quoted(self.name)} pools with {self.info.pool}, not idf: it "
                                       "keeps no document frequencies")
        return Idf.from_dict(self.options["idf"])

    def documents(self) -> list[tuple[str, str]]:
        """(id, text) of every document, in the collection's order."""
        return [(doc_id, text) for doc_id, _, text in self.store.open().documents(self.info.id)]

    def _hits(self, found: list[Neighbour]) -> list[Hit]:
        catalog = self.store.open()
        texts = {doc_id: text for doc_id, _, text in catalog.documents(self.info.id, [n.word for n in found])}
        now = catalog.find_collection(self.name)
        if now is None or now.vectors_uid != self.info.vectors_uid:  # (texts read after a change: not these hits')
            raise SetChangedError(self.name, "collection")
        return [Hit(n.word, texts[n.word], n.score) for n in found]


def _embed(word_set: EmbeddingSet, texts: Sequence[str], pool: str, options: dict) -> DocumentVectors:
    """``texts`` pooled with a collection's kept options: its IDF, and its SIF component
    (none kept, from a first add of fewer than two documents: none removed, ever)."""
    idf = Idf.from_dict(options["idf"]) if pool == "idf" else None
    component = options.get("sif_component")
    return document_vectors(word_set, texts, pool=pool, idf=idf, sif_component=component,
                            case_fold=options.get("case_fold", True), remove_component=component is not None)


def get_collection(store: Store, name: str) -> Collection:
    info = store.open().find_collection(check_lookup(name))
    if info is None:
        raise CollectionNotFoundError(name, [c.name for c in store.open().list_collections()])
    return Collection(store, info)


#: Documents pooled per step of a long add (each step reports progress).
EMBED_BATCH = 20_000
#: progress(steps done, steps in all): a step is a document pooled, then a document written.
AddProgress = Callable[[int, int], None]


def add_documents(store: Store, name: str, ids: Sequence[str], texts: Sequence[str], *,
                  set_name: str | None = None, pool: str | None = None, case_fold: bool = True,
                  progress: AddProgress | None = None,
                  metadata: Sequence[Mapping[str, str]] | None = None) -> AddReport:
    """Add documents to collection ``name`` (created from set ``set_name`` and ``pool``
    if new): a document whose id and text are there already is unchanged, a changed
    text replaces its vector, a new id is appended. All or nothing.

    ``metadata``: one mapping a document (column -> text), what ``where`` conditions
    test; given, it replaces each of these documents' metadata (an empty mapping clears
    it); None keeps what documents already there have. Other documents keep theirs.

    A new collection fits what its pooling needs on these documents (``idf``: the
    document frequencies; ``sif``: the principal component) and keeps it: later
    documents and queries are embedded the same way.
    """
    started = time.perf_counter()
    name = check_name(name, "collection", "collection")
    if len(name) > MAX_COLLECTION_NAME:  # (its vectors set's name is the prefix and this: 200 at most)
        raise InvalidArgumentError(f"a collection name has at most {MAX_COLLECTION_NAME} characters, not {len(name)}")
    if len(ids) != len(texts):
        raise InvalidArgumentError(f"{len(ids)} ids for {len(texts)} texts")
    if pool is not None and pool not in COLLECTION_POOLS:
        raise InvalidArgumentError(f"must be one of {', '.join(COLLECTION_POOLS)}, not {quoted(pool)}", subject="pool")
    seen: dict[str, int] = {}
    for i, doc_id in enumerate(ids):
        if not isinstance(doc_id, str) or not doc_id or "\n" in doc_id or "\r" in doc_id:
            raise InvalidArgumentError(f"document {i + 1}: the id {quoted(str(doc_id))} is not a one-line string")
        if doc_id in seen:
            raise InvalidArgumentError(f"the id {quoted(doc_id)} is given twice (documents {seen[doc_id] + 1} and "
                                       f"{i + 1})")
        seen[doc_id] = i
    given = check_metadata(metadata, len(ids))
    catalog = store.open(create=True)
    existing = catalog.find_collection(name)
    if existing is not None:
        collection = Collection(store, existing)
        if pool is not None and pool != existing.pool:
            raise InvalidArgumentError(f"collection {quoted(name)} pools with {existing.pool}; its documents and "
                                       "queries must be pooled alike", subject="pool")
        if set_name is not None and set_name != existing.word_set_name:
            raise InvalidArgumentError(f"collection {quoted(name)} is made from set "
                                       f"{quoted(existing.word_set_name)}", subject="set_name")
        word_set = collection.word_set()
        options = collection.options
        old_ids, old_matrix, old_hashes = _current(catalog, collection)
    else:
        word_set = store.pick(set_name)
        pool = pool or "mean"
        options = {"case_fold": case_fold}
        if pool == "idf":
            options["idf"] = fit_idf(list(texts)).to_dict()
        old_ids, old_matrix, old_hashes = [], np.empty((0, word_set.dim), dtype=np.float32), {}
    pool = existing.pool if existing is not None else pool
    assert pool is not None
    hashes = [text_hash(t) for t in texts]
    position = {doc_id: i for i, doc_id in enumerate(old_ids)}
    todo = [i for i, doc_id in enumerate(ids) if old_hashes.get(doc_id) != hashes[i]]
    updated = sum(1 for i in todo if ids[i] in position)
    new_metadata: dict[str, dict[str, str]] = {}
    retagged = 0
    if given is not None:
        before = {} if existing is None else catalog.document_metadata(existing.id)
        new_metadata = dict(zip(ids, given, strict=True))
        retagged = sum(1 for i, doc_id in enumerate(ids)
                       if doc_id in position and before.get(position[doc_id], {}) != given[i])
        if not todo and retagged:  # (the texts all there: only the metadata is written)
            assert existing is not None
            catalog.replace_metadata(existing, {position[doc_id]: given[i] for i, doc_id in enumerate(ids)
                                                if before.get(position[doc_id], {}) != given[i]}, metadata_number)
    if not todo:
        return AddReport(name, 0, 0, len(ids), len(old_ids), time.perf_counter() - started, None, retagged)
    final_count = len(old_ids) + len(todo) - updated
    built = _embed_in_batches(word_set, [texts[i] for i in todo], pool, options, fit_component=(
        pool == "sif" and existing is None), progress=progress, total=len(todo) + final_count)
    all_ids = list(old_ids)
    matrix = np.concatenate([old_matrix, np.zeros((len(todo) - updated, word_set.dim), np.float32)])
    for row, i in enumerate(todo):
        if ids[i] in position:
            matrix[position[ids[i]]] = built.vectors[row]
        else:
            position[ids[i]] = len(all_ids)
            matrix[len(all_ids)] = built.vectors[row]
            all_ids.append(ids[i])
    new_texts = {ids[i]: (texts[i], hashes[i]) for i in todo}
    written = None if progress is None else (lambda n: progress(len(todo) + n, len(todo) + final_count))
    _write(store, name, (word_set.info.uid, word_set.name), pool, options, existing, all_ids, matrix, new_texts,
           written, new_metadata)
    return AddReport(name, len(todo) - updated, updated, len(ids) - len(todo), len(all_ids),
                     time.perf_counter() - started, built.report, retagged)


def remove_documents(store: Store, name: str, doc_ids: Sequence[str]) -> int:
    """Remove documents by id from a collection (an id it does not hold is an error);
    return how many remain (with their metadata)."""
    collection = get_collection(store, name)
    catalog = store.open()
    current, matrix, _ = _current(catalog, collection)
    held = set(current)
    missing = [d for d in doc_ids if d not in held]
    if missing:
        raise InvalidArgumentError(f"collection {quoted(name)} holds no document {quoted(missing[0])}")
    gone = set(doc_ids)
    keep = [i for i, d in enumerate(current) if d not in gone]
    _write(store, collection.name, (collection.info.word_set_uid, collection.info.word_set_name),
           collection.info.pool, collection.options, collection.info, [current[i] for i in keep], matrix[keep], {})
    return len(keep)


def _current(catalog, collection: Collection) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """The collection's ids by position, its vectors (verified) and its texts' hashes."""
    keys = catalog.document_keys(collection.info.id)
    vectors = collection.vectors()
    if vectors.words != [doc_id for doc_id, _, _ in keys]:
        raise SetChangedError(collection.name, "collection")
    return [k[0] for k in keys], vectors.matrix(), {doc_id: digest for doc_id, _, digest in keys}


def _embed_in_batches(word_set: EmbeddingSet, texts: list[str], pool: str, options: dict, *, fit_component: bool,
                      progress: AddProgress | None, total: int) -> DocumentVectors:
    """``texts`` pooled :data:`EMBED_BATCH` at a time, as one call would (a new SIF
    collection's component is fitted on all of them, then kept in ``options``)."""
    from vecstore.documents import DocumentVectors, remove_principal_component

    parts: list[DocumentVectors] = []
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start:start + EMBED_BATCH]
        parts.append(_embed(word_set, batch, pool, options) if not fit_component else document_vectors(
            word_set, batch, pool=pool, case_fold=options.get("case_fold", True), remove_component=False))
        if progress is not None:
            progress(start + len(batch), total)
    vectors = np.concatenate([p.vectors for p in parts]) if parts else np.empty((0, word_set.dim), np.float32)
    report = parts[0].report
    for offset, part in zip(range(EMBED_BATCH, len(texts), EMBED_BATCH), parts[1:], strict=False):
        other = part.report
        report = replace(report, documents=report.documents + other.documents, tokens=report.tokens + other.tokens,
                         known_tokens=report.known_tokens + other.known_tokens,
                         distinct_tokens=max(report.distinct_tokens, other.distinct_tokens),
                         unknown_distinct=max(report.unknown_distinct, other.unknown_distinct),
                         case_folded=max(report.case_folded, other.case_folded),
                         empty=report.empty + [offset + i for i in other.empty],
                         seconds={k: report.seconds[k] + other.seconds.get(k, 0.0) for k in report.seconds})
    if fit_component:
        component = remove_principal_component(vectors)
        options["sif_component"] = None if component is None else component.tolist()
        report = replace(report, sif_component=options["sif_component"])
    return DocumentVectors(vectors, report)


def _write(store: Store, name: str, word_set: tuple[str, str], pool: str, options: dict,
           existing: CollectionInfo | None,
           ids: list[str], matrix: np.ndarray, new_texts: dict[str, tuple[str, str]],
           written: Callable[[int], None] | None = None,
           new_metadata: dict[str, dict[str, str]] | None = None) -> None:
    """Write the collection's vectors (a documents set, replaced) and its rows in one
    transaction; refuse if another process changed the collection meanwhile. Each
    document's metadata is ``new_metadata``'s, else what it had (by id: positions move);
    on SQLite the FTS5 table is refreshed by the next text search."""
    new_metadata = new_metadata or {}
    from vecstore.importer import write_set

    catalog = store.open(create=True)
    word_set_uid, word_set_name = word_set
    header = SetHeader(COLLECTION_SET_PREFIX + name, int(matrix.shape[1]), "documents",
                       f"collection {name} pooled ({pool}) from set {word_set_name}", parent_uid=word_set_uid,
                       kind="documents")
    identity = hashlib.sha256("\n".join(ids).encode("utf-8", "surrogatepass") + matrix.tobytes()).hexdigest()

    def rows(writer: SetWriter, info: SetInfo) -> None:
        tx = writer.transaction
        now = datetime.now(UTC).replace(tzinfo=None)
        found = tx.rows(sql.FIND_COLLECTION, {"name": name})
        if existing is None and found:
            raise InvalidArgumentError(f"collection {quoted(name)} was created by another process meanwhile; "
                                       "add the documents again")
        if existing is not None and (not found or str(found[0]["vectors_uid"]) != existing.vectors_uid):
            raise SetChangedError(name, "collection")
        values = {"vectors_uid": info.uid, "options": json.dumps(options), "count": len(ids), "updated_at": now}
        if existing is None:
            tx.execute(sql.INSERT_COLLECTION, {**values, "name": name, "word_set_uid": word_set_uid,
                                               "word_set_name": word_set_name, "pool": pool, "created_at": now})
            collection_id = int(tx.rows(sql.FIND_COLLECTION, {"name": name})[0]["id"])
        else:
            collection_id = existing.id
            tx.execute(sql.UPDATE_COLLECTION, {**values, "id": collection_id})
        key = {"collection_id": collection_id}
        documents = tx.rows(sql.DOCUMENTS, key)
        old = {str(r["doc_id"]): str(r["text"]) for r in documents}
        at = {int(r["position"]): str(r["doc_id"]) for r in documents}
        old_metadata: dict[str, dict[str, str]] = {}
        for r in tx.rows(sql.DOCUMENT_METADATA, key):
            old_metadata.setdefault(at[int(r["position"])], {})[str(r["key"])] = str(r["value"])
        tx.execute(sql.DELETE_DOCUMENT_METADATA, key)
        tx.execute(sql.DELETE_DOCUMENTS, key)  # (SQLite's FTS5 rows are refreshed by the next text search)
        for position, doc_id in enumerate(ids):
            text, digest = new_texts.get(doc_id) or (old[doc_id], text_hash(old[doc_id]))
            tx.execute(sql.INSERT_DOCUMENT, {"collection_id": collection_id, "doc_id": doc_id, "position": position,
                                             "text_hash": digest, "text": text})
            if written is not None and ((position + 1) % 5_000 == 0 or position + 1 == len(ids)):
                written(position + 1)
        for position, doc_id in enumerate(ids):  # (after the documents: one COPY on PostgreSQL)
            values = new_metadata.get(doc_id, old_metadata.get(doc_id, {}))
            for meta_key, value in values.items():
                tx.add_row(sql.METADATA_ROWS, {**key, "position": position, "key": meta_key, "value": value,
                                               "number": metadata_number(value)})

    recorded = []  # (the collection's approximate indexes, built again over its new vectors)
    before = catalog.find_set_by_uid(existing.vectors_uid) if existing is not None else None
    if before is not None:
        from vecstore.ann import listed_indexes

        recorded = [m for m, _ in listed_indexes(catalog, store.indexes, before)]
    write_set(catalog, store.indexes, header, [(ids, matrix)], lambda: identity, replace=True, also=rows)
    if recorded:
        _rebuild_indexes(store, name, recorded)


def _rebuild_indexes(store: Store, name: str, recorded: list[dict]) -> None:
    from vecstore.ann import rebuild_approximate

    vectors = get_collection(store, name).vectors()
    try:
        for manifest in reversed(recorded):  # (the chosen one, built last, stays the latest)
            try:
                rebuild_approximate(vectors, manifest)
            except VecstoreError as exc:  # (e.g. more IVF lists than documents left)
                log.warning("not rebuilding the %s index of collection %s: %s", manifest["kind"], name, exc)
    finally:
        vectors.close()


def export_collection(collection: Collection, out: str | Path, format: str = "npy", *, overwrite: bool = False,
                      protected: ProtectedFiles = NOTHING_PROTECTED) -> list[Path]:
    """Write the collection's vectors and ids (``npy``, ``csv``, ``jsonl``: see
    :func:`vecstore.io.documents.save_document_vectors`), or the TensorBoard Projector pair
    (``projector``: ``out`` the vectors as TSV, its ``.metadata.tsv`` the ids and texts)."""
    from vecstore.io.documents import save_document_vectors
    from vecstore.io.export import _format_projector, metadata_path

    out = Path(out)
    vectors = collection.vectors()
    ids, matrix = vectors.words, vectors.matrix()
    if format != "projector":
        return save_document_vectors(out, ids, matrix, format, overwrite=overwrite, protected=protected)
    paths = [out, metadata_path(out)]
    for path in paths:
        check_output(path, overwrite=overwrite, protected=protected)
    texts = dict(collection.documents())
    with AtomicOutput(paths[0], overwrite=overwrite, protected=protected) as f:
        f.write(_format_projector(ids, matrix))
    with AtomicOutput(paths[1], overwrite=overwrite, protected=protected) as f:
        f.write(b"id\ttext\n" + "".join(f"{_cell(i)}\t{_cell(texts[i])}\n" for i in ids).encode())
    return paths


def _cell(value: str) -> str:
    """A TSV cell of the Projector's metadata: no tab, no line break."""
    return " ".join(value.split("\t")).replace("\r", " ").replace("\n", " ")
