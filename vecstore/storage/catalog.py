"""What the library reads and writes in a store, on either driver.

Every statement comes from :mod:`vecstore.storage.statements` and runs on a
:class:`~vecstore.storage.driver.Driver`: the stdlib ``sqlite3`` one or SQLAlchemy's.

Writers are serialised per set name: the name is looked up again inside the write
transaction (which holds SQLite's write lock, or a PostgreSQL advisory lock on the
name), so two imports of one name at once either replace one another in turn or the
second is told the name was taken meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from vecstore.errors import SetChangedError, SetExistsError, StoreError
from vecstore.storage import statements as sql
from vecstore.storage.driver import Driver, Transaction
from vecstore.storage.records import (
    COLLECTION_SET_PREFIX,
    Chunk,
    CollectionInfo,
    Completion,
    SetHeader,
    SetInfo,
    SharedIndex,
)


class Catalog:
    """A store's sets and their chunks."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    # -- reading ----------------------------------------------------------------------------

    def revision(self) -> str | None:
        rows = self.driver.rows(sql.REVISION)
        return rows[0]["version_num"] if rows else None

    def list_sets(self) -> list[SetInfo]:
        return [SetInfo.from_row(r) for r in self.driver.rows(sql.LIST_SETS)]

    def find_set(self, name: str) -> SetInfo | None:
        rows = self.driver.rows(sql.FIND_SET, {"name": name})
        return SetInfo.from_row(rows[0]) if rows else None

    def find_set_by_uid(self, uid: str) -> SetInfo | None:
        rows = self.driver.rows(sql.FIND_SET_BY_UID, {"uid": uid})
        return SetInfo.from_row(rows[0]) if rows else None

    def word_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[Chunk]:
        return self._chunks("words", set_id, chunk_nos)

    def vector_chunks(self, set_id: int, chunk_nos: Sequence[int] | None = None) -> list[Chunk]:
        return self._chunks("vectors", set_id, chunk_nos)

    def _chunks(self, kind: str, set_id: int, chunk_nos: Sequence[int] | None) -> list[Chunk]:
        statement, params = sql.read_chunks(kind, chunk_nos, cast_blob=self.driver.dialect == "sqlite")
        return [Chunk(int(r["chunk_no"]), bytes(r["data"]), str(r["checksum"]))
                for r in self.driver.rows(statement, {"set_id": set_id, **params})]

    def ngram_chunks(self, set_id: int, chunk_nos: Sequence[int]) -> list[Chunk]:
        return self._chunks("ngrams", set_id, chunk_nos)

    def ngram_checksums(self, set_id: int) -> dict[int, str]:
        return {int(r["chunk_no"]): str(r["checksum"])
                for r in self.driver.rows(sql.chunk_checksums("ngrams"), {"set_id": set_id})}

    def subword_model(self, set_id: int) -> dict[str, Any] | None:
        """A fastText set's n-gram settings and checksum (None: the set has none)."""
        rows = self.driver.rows(sql.FIND_SUBWORD_MODEL, {"set_id": set_id})
        return dict(rows[0]) if rows else None

    def chunk_checksums(self, set_id: int) -> tuple[dict[int, str], dict[int, str]]:
        """The recorded checksum of each vector chunk and of each word chunk, by number
        (no chunk data is read)."""
        vectors, words = ({int(r["chunk_no"]): str(r["checksum"])
                           for r in self.driver.rows(sql.chunk_checksums(kind), {"set_id": set_id})}
                          for kind in ("vectors", "words"))
        return vectors, words

    # -- collections ------------------------------------------------------------------------

    def list_collections(self) -> list[CollectionInfo]:
        return [CollectionInfo.from_row(r) for r in self.driver.rows(sql.LIST_COLLECTIONS)]

    def find_collection(self, name: str) -> CollectionInfo | None:
        rows = self.driver.rows(sql.FIND_COLLECTION, {"name": name})
        return CollectionInfo.from_row(rows[0]) if rows else None

    def document_keys(self, collection_id: int) -> list[tuple[str, int, str]]:
        """(id, position, text hash) of every document of a collection, by position."""
        return [(str(r["doc_id"]), int(r["position"]), str(r["text_hash"]))
                for r in self.driver.rows(sql.DOCUMENT_KEYS, {"collection_id": collection_id})]

    def documents(self, collection_id: int, doc_ids: list[str] | None = None) -> list[tuple[str, int, str]]:
        """(id, position, text) of the given documents (all when None), by position."""
        if doc_ids is None:
            rows = self.driver.rows(sql.DOCUMENTS, {"collection_id": collection_id})
        else:
            statement, params = sql.documents_by_id(doc_ids)
            rows = self.driver.rows(statement, {"collection_id": collection_id, **params})
        return sorted(((str(r["doc_id"]), int(r["position"]), str(r["text"])) for r in rows), key=lambda d: d[1])

    def documents_at(self, collection_id: int, positions: Sequence[int]) -> dict[int, tuple[str, str]]:
        """(id, text) of the documents at ``positions``, by position."""
        statement, params = sql.documents_at([int(p) for p in positions])
        return {int(r["position"]): (str(r["doc_id"]), str(r["text"]))
                for r in self.driver.rows(statement, {"collection_id": collection_id, **params})}

    def document_metadata(self, collection_id: int) -> dict[int, dict[str, str]]:
        """The metadata of a collection's documents, by position (those without any left out)."""
        found: dict[int, dict[str, str]] = {}
        for r in self.driver.rows(sql.DOCUMENT_METADATA, {"collection_id": collection_id}):
            found.setdefault(int(r["position"]), {})[str(r["key"])] = str(r["value"])
        return found

    def matching_positions(self, collection_id: int,
                           conditions: Sequence[tuple[str, str, Sequence[object]]]) -> list[int]:
        """The positions of the documents meeting every condition, in order."""
        statement, params = sql.matching_positions(conditions)
        return sorted(int(r["position"]) for r in self.driver.rows(statement, {"collection_id": collection_id,
                                                                               **params}))

    def text_ranking(self, collection_id: int, query: str, depth: int,
                     conditions: Sequence[tuple[str, str, Sequence[object]]] = ()) -> list[tuple[int, float]]:
        """(position, the full-text engine's score) of the ``depth`` best matches of
        ``query`` (an FTS5 MATCH expression on SQLite, a websearch_to_tsquery text on
        PostgreSQL: see :func:`vecstore.collection.text_query`), best first, among the
        documents meeting ``conditions``."""
        if self.driver.dialect == "sqlite":
            self._fresh_document_text(collection_id)
        filtered, params = sql.matching_positions(conditions) if conditions else (None, {})
        statement = sql.text_ranking(self.driver.dialect, filtered, collection_id)
        rows = self.driver.rows(statement, {"collection_id": collection_id, "query": query, "depth": depth, **params})
        return [(int(r["position"]), float(r["score"])) for r in rows]

    def _fresh_document_text(self, collection_id: int) -> None:
        """Make the collection's FTS5 table (SQLite) hold its current texts: made on first
        use, made again when the collection changed since (a new vectors uid)."""
        statements = sql.SQLITE_DOCUMENT_TEXT
        current = self.driver.rows(statements["vectors_uid"], {"collection_id": collection_id})
        built = self.driver.rows(statements["built"], {"collection_id": collection_id})
        if current and built and built[0]["vectors_uid"] == current[0]["vectors_uid"]:
            return
        if not fts5_available():
            raise StoreError("full-text search of a SQLite store needs SQLite's FTS5, which this process's SQLite "
                             "lacks (TensorFlow, imported before vecstore, brings a SQLite of its own): import "
                             "vecstore before tensorflow, or search from another process")
        key = {"collection_id": collection_id}
        table = sql.document_text_statements(collection_id)
        with self.driver.transaction("index the texts of a collection of") as tx:
            now = tx.rows(statements["vectors_uid"], key)
            if not now:
                return
            tx.execute(table["drop"])
            tx.execute(table["create"])
            tx.execute(table["fill"], key)
            tx.execute(statements["forget"], key)
            tx.execute(statements["record"], {**key, "vectors_uid": str(now[0]["vectors_uid"])})

    def replace_metadata(self, collection: CollectionInfo, metadata: dict[int, dict[str, str]],
                         number: Callable[[str], float | None]) -> None:
        """Replace the metadata of the documents at the positions of ``metadata`` (their
        vectors and texts unchanged), in one transaction; refuse (:class:`SetChangedError`)
        if another process changed the collection meanwhile."""
        with self.driver.transaction(f"update the metadata of collection {collection.name!r} in",
                                     lock=f"set {COLLECTION_SET_PREFIX}{collection.name}") as tx:
            rows = tx.rows(sql.FIND_COLLECTION, {"name": collection.name})
            if not rows or str(rows[0]["vectors_uid"]) != collection.vectors_uid:
                raise SetChangedError(collection.name, "collection")
            for position in metadata:
                tx.execute(sql.DELETE_POSITION_METADATA, {"collection_id": collection.id, "position": position})
            for position, values in metadata.items():
                for key, value in values.items():
                    tx.add_row(sql.METADATA_ROWS, {"collection_id": collection.id, "position": position, "key": key,
                                                   "value": value, "number": number(value)})
            tx.execute(sql.UPDATE_COLLECTION, {"id": collection.id, "vectors_uid": collection.vectors_uid,
                                               "options": collection.options, "count": collection.count,
                                               "updated_at": datetime.now(UTC).replace(tzinfo=None)})

    def delete_collection(self, name: str) -> CollectionInfo | None:
        """Remove a collection, its documents and the set of its vectors, in one transaction."""
        # (locked as a write of its vectors set is: an add and a removal wait for each other)
        with self.driver.transaction(f"remove collection {name!r} from",
                                     lock=f"set {COLLECTION_SET_PREFIX}{name}") as tx:
            rows = tx.rows(sql.FIND_COLLECTION, {"name": name})
            if not rows:
                return None
            found = CollectionInfo.from_row(rows[0])
            # (explicitly: SQLite runs without the foreign_keys pragma, so ON DELETE CASCADE does not fire)
            tx.execute(sql.DELETE_DOCUMENT_METADATA, {"collection_id": found.id})
            if self.driver.dialect == "sqlite":  # (its FTS5 rows: without FTS5 here, refreshed if the id is reused)
                tx.execute(sql.SQLITE_DOCUMENT_TEXT["forget"], {"collection_id": found.id})
                table = sql.document_text_statements(found.id)
                if tx.rows(table["exists"])[0]["n"] and fts5_available():
                    tx.execute(table["drop"])
            tx.execute(sql.DELETE_DOCUMENTS, {"collection_id": found.id})
            tx.execute(sql.DELETE_COLLECTION, {"collection_id": found.id})
            vectors = tx.rows(sql.FIND_SET_BY_UID, {"uid": found.vectors_uid})
            if vectors:
                _delete(tx, int(vectors[0]["id"]))
        return found

    # -- shared indexes -----------------------------------------------------------------------

    def shared_indexes(self, set_id: int) -> list[SharedIndex]:
        """The indexes of a set kept in the store (what another machine built and shared)."""
        return [SharedIndex(int(r["id"]), str(r["kind"]), str(r["manifest"]), int(r["size"]), str(r["sha256"]))
                for r in self.driver.rows(sql.SHARED_INDEXES, {"set_id": set_id})]

    def shared_index_chunks(self, index_id: int, first: int, stop: int) -> list[Chunk]:
        """Chunks ``first`` to ``stop - 1`` of a shared index, in order (those that exist)."""
        return [Chunk(int(r["chunk_no"]), bytes(r["data"]), str(r["checksum"]))
                for r in self.driver.rows(sql.SHARED_INDEX_CHUNKS, {"index_id": index_id, "first": first,
                                                                    "stop": stop})]

    def share_index(self, info: SetInfo, kind: str, manifest: str, size: int, sha256: str,
                    chunks: Iterable[tuple[bytes, str]]) -> bool:
        """Keep a set's index of ``kind`` in the store, replacing the one kept before, in one
        transaction; False if the set is gone (removed or replaced meanwhile)."""
        with self.driver.transaction(f"share the {kind} index of {info.subject} in", lock=f"set {info.name}") as tx:
            if not tx.rows(sql.FIND_SET_BY_UID, {"uid": info.uid}):
                return False
            _unshare(tx, info.id, kind)
            tx.execute(sql.INSERT_SHARED_INDEX, {"set_id": info.id, "kind": kind, "manifest": manifest, "size": size,
                                                 "sha256": sha256,
                                                 "created_at": datetime.now(UTC).replace(tzinfo=None)})
            (row,) = tx.rows(sql.FIND_SHARED_INDEX, {"set_id": info.id, "kind": kind})
            for number, (data, checksum) in enumerate(chunks):
                tx.add_row(sql.SHARED_INDEX_CHUNK_ROWS, {"index_id": int(row["id"]), "chunk_no": number,
                                                         "checksum": checksum, "data": data})
        return True

    def unshare_index(self, info: SetInfo, kind: str) -> bool:
        """Remove a set's index of ``kind`` from the store; whether there was one."""
        with self.driver.transaction(f"remove the {kind} index of {info.subject} from",
                                     lock=f"set {info.name}") as tx:
            return _unshare(tx, info.id, kind)

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads in the block see one consistent state of the store (SQLite)."""
        return self.driver.snapshot()

    def integrity_check(self) -> list[str]:
        return self.driver.integrity_check()

    # -- writing ----------------------------------------------------------------------------

    @contextmanager
    def writing(self, header: SetHeader, uid: str, *, replace: bool = False) -> Iterator[SetWriter]:
        """A transaction that inserts the set's row and lets the rows be written; with
        ``replace`` it first removes the set of that name found inside the transaction.
        It commits when the block ends normally, rolls back otherwise."""
        values = header.row_values(uid)
        with self.driver.transaction(f"write set {header.name!r} to", lock=f"set {header.name}") as tx:
            current = _find_in(tx, header.name)  # again, now that this transaction holds the lock
            if current is not None:
                if not replace:  # imported by another process since this import looked
                    raise SetExistsError(current.name, current.source,
                                         "was imported by another process while this one ran")
                _delete(tx, current.id)
            tx.execute(sql.INSERT_SET, values)
            (row,) = tx.rows(sql.SET_ID, {"uid": uid})
            writer = SetWriter(tx, int(row["id"]), values, current)
            yield writer
            if writer.info is None:
                raise RuntimeError("the set's rows were written but finish() was not called")

    def delete_set(self, name: str) -> SetInfo | None:
        """Remove the set called ``name`` now, and the default-set setting if it names it;
        return it (None if there was none)."""
        with self.driver.transaction(f"remove set {name!r} from", lock=f"set {name}") as tx:
            current = _find_in(tx, name)
            if current is not None:
                _delete(tx, current.id)
                tx.execute(sql.DELETE_SETTINGS_OF_SET, {"key": sql.DEFAULT_SET, "value": name})
        return current

    # -- settings ---------------------------------------------------------------------------

    def setting(self, key: str) -> str | None:
        rows = self.driver.rows(sql.READ_SETTING, {"key": key})
        return str(rows[0]["value"]) if rows else None

    def set_setting(self, key: str, value: str | None) -> None:
        """Set (or, with None, clear) a setting of the store."""
        with self.driver.transaction(f"change the setting {key} of", lock=f"setting {key}") as tx:
            tx.execute(sql.DELETE_SETTING, {"key": key})
            if value is not None:
                tx.execute(sql.INSERT_SETTING, {"key": key, "value": value})

    def save_stats(self, info: SetInfo, stats: str) -> None:
        """Record statistics computed after the import (sets from before revision 0002)."""
        with self.driver.transaction(f"update set {info.name!r} in") as tx:
            tx.execute(sql.SAVE_STATS, {"stats": stats, "id": info.id, "uid": info.uid})

    def close(self) -> None:
        self.driver.close()


class SetWriter:
    """Writes one set's chunks inside the transaction opened by :meth:`Catalog.writing`."""

    def __init__(self, tx: Transaction, set_id: int, values: dict[str, Any], replaced: SetInfo | None) -> None:
        self._tx, self._set_id, self._values = tx, set_id, values
        #: The write's transaction: what else must commit with the set, in the same one.
        self.transaction = tx
        #: The set this write replaces (found by name inside the transaction), if any.
        self.replaced = replaced
        self.info: SetInfo | None = None

    def add_chunk(self, chunk_no: int, vectors: bytes | memoryview, words: bytes,
                  vectors_checksum: str, words_checksum: str) -> None:
        self._tx.add_row(sql.chunk_rows("vectors"), {"set_id": self._set_id, "chunk_no": chunk_no,
                                                      "checksum": vectors_checksum, "data": vectors})
        self._tx.add_row(sql.chunk_rows("words"), {"set_id": self._set_id, "chunk_no": chunk_no,
                                                   "checksum": words_checksum, "data": words})
        self._tx.wrote(memoryview(vectors).nbytes + len(words))

    def read_chunk(self, chunk_no: int) -> bytes:
        (row,) = self._tx.rows(sql.read_one_chunk("vectors"), {"set_id": self._set_id, "chunk_no": chunk_no})
        return bytes(row["data"])

    def replace_chunk(self, chunk_no: int, vectors: bytes | memoryview, checksum: str) -> None:
        self._tx.execute(sql.replace_chunk("vectors"), {"set_id": self._set_id, "chunk_no": chunk_no,
                                                         "data": vectors, "checksum": checksum})

    def add_ngram_chunk(self, chunk_no: int, data: bytes | memoryview, checksum: str) -> None:
        self._tx.add_row(sql.chunk_rows("ngrams"), {"set_id": self._set_id, "chunk_no": chunk_no,
                                                     "checksum": checksum, "data": data})
        self._tx.wrote(memoryview(data).nbytes)

    def add_subword_model(self, minn: int, maxn: int, bucket: int, checksum: str) -> None:
        self._tx.execute(sql.INSERT_SUBWORD_MODEL, {"set_id": self._set_id, "minn": minn, "maxn": maxn,
                                                    "bucket": bucket, "checksum": checksum})

    def finish(self, done: Completion) -> SetInfo:
        """Complete the set's row; the transaction commits when the ``writing`` block ends."""
        completed = {"count": done.count, "source_sha256": done.source_sha256, "stats": done.stats,
                     "content_checksum": done.content_checksum}
        self._tx.execute(sql.COMPLETE_SET, {**completed, "id": self._set_id})
        self.info = SetInfo.from_row({**self._values, **completed, "id": self._set_id})
        return self.info


def fts5_available() -> bool:
    """Whether this process's SQLite has FTS5 (TensorFlow's own SQLite, serving a process
    that imported it before ``sqlite3``, has not)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(":memory:")) as db:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    return True


def _find_in(tx: Transaction, name: str) -> SetInfo | None:
    rows = tx.rows(sql.FIND_SET, {"name": name})
    return SetInfo.from_row(rows[0]) if rows else None


def _unshare(tx: Transaction, set_id: int, kind: str) -> bool:
    found = tx.rows(sql.FIND_SHARED_INDEX, {"set_id": set_id, "kind": kind})
    for row in found:
        tx.execute(sql.DELETE_SHARED_INDEX_CHUNKS, {"index_id": int(row["id"])})
        tx.execute(sql.DELETE_SHARED_INDEX, {"index_id": int(row["id"])})
    return bool(found)


def _delete(tx: Transaction, set_id: int) -> None:
    if tx.dialect == "postgresql":  # (its pgvector tables dropped; SQLite has none)
        from vecstore.storage.server_tables import drop_for_set

        drop_for_set(tx, set_id)
    else:
        tx.execute(sql.DELETE_SET_SERVER_INDEXES, {"set_id": set_id})
    tx.execute(sql.DELETE_SET_SHARED_INDEX_CHUNKS, {"set_id": set_id})
    tx.execute(sql.DELETE_SET_SHARED_INDEXES, {"set_id": set_id})
    for kind in sql.CHUNK_TABLES:
        tx.execute(sql.delete_chunks(kind), {"set_id": set_id})
    tx.execute(sql.DELETE_SUBWORD_MODEL, {"set_id": set_id})
    tx.execute(sql.DELETE_SET, {"set_id": set_id})
