"""Every SQL statement vecstore runs on a store, written once.

Each is SQL text with named parameters (``:name``), which the stdlib ``sqlite3`` driver
and SQLAlchemy's ``text()`` both bind, so the two drivers run the very same statements,
in SQL that SQLite (any 3.x a supported Python ships) and PostgreSQL both accept. The
tables have one definition, the Alembic migrations (``migrations/``); these statements
are written for the schema at :data:`SCHEMA_HEAD`, and a test prepares every one of
them on a freshly migrated SQLite and PostgreSQL store.

Adding a table: one migration, and its statements here (moving :data:`SCHEMA_HEAD` to
that migration's revision).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: The Alembic revision these statements are written for; tests/test_migrations.py pins
#: it to the newest migration.
SCHEMA_HEAD = "0008"

REVISION = "SELECT version_num FROM alembic_version"

# -- embedding_sets -----------------------------------------------------------------------

SET_COLUMNS = ("id", "uid", "name", "dim", "count", "rows_per_chunk", "format", "source", "source_sha256",
               "created_at", "parent_uid", "stats", "content_checksum", "read_options", "kind")
_SELECT_SETS = f"SELECT {', '.join(SET_COLUMNS)} FROM embedding_sets"

LIST_SETS = f"{_SELECT_SETS} ORDER BY name"
FIND_SET = f"{_SELECT_SETS} WHERE name = :name"
FIND_SET_BY_UID = f"{_SELECT_SETS} WHERE uid = :uid"

_NEW_SET_COLUMNS = SET_COLUMNS[1:]
INSERT_SET = (f"INSERT INTO embedding_sets ({', '.join(_NEW_SET_COLUMNS)}) "
              f"VALUES ({', '.join(':' + c for c in _NEW_SET_COLUMNS)})")
#: The id of the set just inserted (uid is unique; RETURNING would need SQLite 3.35).
SET_ID = "SELECT id FROM embedding_sets WHERE uid = :uid"
COMPLETE_SET = ("UPDATE embedding_sets SET count = :count, source_sha256 = :source_sha256, stats = :stats, "
                "content_checksum = :content_checksum WHERE id = :id")
SAVE_STATS = "UPDATE embedding_sets SET stats = :stats WHERE id = :id AND uid = :uid"
DELETE_SET = "DELETE FROM embedding_sets WHERE id = :set_id"

# -- vector_chunks and word_chunks ----------------------------------------------------------

#: The table of each kind of chunk.
CHUNK_TABLES = {"vectors": "vector_chunks", "words": "word_chunks", "ngrams": "ngram_chunks"}


def insert_chunk(kind: str) -> str:
    return chunk_rows(kind).sql


@dataclass(frozen=True)
class BulkRows:
    """Rows added to one table many at a time: by ``INSERT`` (SQLite), or streamed through
    PostgreSQL's ``COPY ... FROM STDIN`` in its binary format (``types``: the columns'
    PostgreSQL types, which a binary ``COPY`` must state)."""

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]

    @property
    def sql(self) -> str:
        return (f"INSERT INTO {self.table} ({', '.join(self.columns)}) "
                f"VALUES ({', '.join(':' + c for c in self.columns)})")

    @property
    def copy(self) -> str:
        return f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN (FORMAT BINARY)"


def chunk_rows(kind: str) -> BulkRows:
    """A set's chunks of ``kind``, written by an import."""
    return BulkRows(CHUNK_TABLES[kind], ("set_id", "chunk_no", "checksum", "data"),
                    ("int4", "int4", "varchar", "bytea"))


def read_chunks(kind: str, chunk_nos: Sequence[int] | None, *, cast_blob: bool) -> tuple[str, dict[str, object]]:
    """The statement and parameters reading a set's chunks (all, or ``chunk_nos``) in order.

    ``cast_blob`` (SQLite): a chunk changed by hand into TEXT still reads as bytes, and
    fails its checksum, instead of failing to decode.
    """
    data = "CAST(data AS BLOB)" if cast_blob else "data"
    sql = f"SELECT chunk_no, {data} AS data, checksum FROM {CHUNK_TABLES[kind]} WHERE set_id = :set_id"
    params: dict[str, object] = {}
    if chunk_nos is not None:
        names = [f"n{i}" for i in range(len(chunk_nos))]
        sql += f" AND chunk_no IN ({', '.join(':' + n for n in names)})" if names else " AND 0 = 1"
        params = dict(zip(names, (int(n) for n in chunk_nos), strict=True))
    return sql + " ORDER BY chunk_no", params


def chunk_checksums(kind: str) -> str:
    return f"SELECT chunk_no, checksum FROM {CHUNK_TABLES[kind]} WHERE set_id = :set_id"


def read_one_chunk(kind: str) -> str:
    return f"SELECT data FROM {CHUNK_TABLES[kind]} WHERE set_id = :set_id AND chunk_no = :chunk_no"


def replace_chunk(kind: str) -> str:
    return (f"UPDATE {CHUNK_TABLES[kind]} SET data = :data, checksum = :checksum "
            "WHERE set_id = :set_id AND chunk_no = :chunk_no")


def delete_chunks(kind: str) -> str:
    return f"DELETE FROM {CHUNK_TABLES[kind]} WHERE set_id = :set_id"


# -- collections and collection_documents ----------------------------------------------------

COLLECTION_COLUMNS = ("id", "name", "word_set_uid", "word_set_name", "vectors_uid", "pool", "options", "count",
                      "created_at", "updated_at")
_SELECT_COLLECTIONS = f"SELECT {', '.join(COLLECTION_COLUMNS)} FROM collections"
LIST_COLLECTIONS = f"{_SELECT_COLLECTIONS} ORDER BY name"
FIND_COLLECTION = f"{_SELECT_COLLECTIONS} WHERE name = :name"
INSERT_COLLECTION = (f"INSERT INTO collections ({', '.join(COLLECTION_COLUMNS[1:])}) "
                     f"VALUES ({', '.join(':' + c for c in COLLECTION_COLUMNS[1:])})")
UPDATE_COLLECTION = ("UPDATE collections SET vectors_uid = :vectors_uid, options = :options, count = :count, "
                     "updated_at = :updated_at WHERE id = :id")
DELETE_COLLECTION = "DELETE FROM collections WHERE id = :collection_id"

#: The documents of a collection by position, without their texts.
DOCUMENT_KEYS = ("SELECT doc_id, position, text_hash FROM collection_documents WHERE collection_id = :collection_id "
                 "ORDER BY position")
#: Every document with its text, by position (export).
DOCUMENTS = ("SELECT doc_id, position, text FROM collection_documents WHERE collection_id = :collection_id "
             "ORDER BY position")
INSERT_DOCUMENT = ("INSERT INTO collection_documents (collection_id, doc_id, position, text_hash, text) "
                   "VALUES (:collection_id, :doc_id, :position, :text_hash, :text)")
DELETE_DOCUMENTS = "DELETE FROM collection_documents WHERE collection_id = :collection_id"


# -- shared_indexes and shared_index_chunks -------------------------------------------------

SHARED_INDEXES = "SELECT id, kind, manifest, size, sha256 FROM shared_indexes WHERE set_id = :set_id ORDER BY kind"
FIND_SHARED_INDEX = "SELECT id, sha256 FROM shared_indexes WHERE set_id = :set_id AND kind = :kind"
#: A fastText set's subword model (its n-gram rows are the set's "ngrams" chunks).
INSERT_SUBWORD_MODEL = ("INSERT INTO subword_models (set_id, minn, maxn, bucket, checksum) "
                        "VALUES (:set_id, :minn, :maxn, :bucket, :checksum)")
FIND_SUBWORD_MODEL = "SELECT minn, maxn, bucket, checksum FROM subword_models WHERE set_id = :set_id"
DELETE_SUBWORD_MODEL = "DELETE FROM subword_models WHERE set_id = :set_id"
INSERT_SHARED_INDEX = ("INSERT INTO shared_indexes (set_id, kind, manifest, size, sha256, created_at) "
                       "VALUES (:set_id, :kind, :manifest, :size, :sha256, :created_at)")
SHARED_INDEX_CHUNK_ROWS = BulkRows("shared_index_chunks", ("index_id", "chunk_no", "checksum", "data"),
                                   ("int4", "int4", "varchar", "bytea"))
INSERT_SHARED_INDEX_CHUNK = SHARED_INDEX_CHUNK_ROWS.sql
#: A run of an index's chunks (read a few at a time: an index can be GBs).
SHARED_INDEX_CHUNKS = ("SELECT chunk_no, checksum, data FROM shared_index_chunks WHERE index_id = :index_id "
                       "AND chunk_no >= :first AND chunk_no < :stop ORDER BY chunk_no")
SHARED_INDEX_CHUNK_CHECKSUMS = ("SELECT chunk_no, checksum FROM shared_index_chunks WHERE index_id = :index_id "
                                "ORDER BY chunk_no")
DELETE_SHARED_INDEX_CHUNKS = "DELETE FROM shared_index_chunks WHERE index_id = :index_id"
DELETE_SHARED_INDEX = "DELETE FROM shared_indexes WHERE id = :index_id"
#: A set's shared indexes go with it (removed or replaced).
DELETE_SET_SHARED_INDEX_CHUNKS = ("DELETE FROM shared_index_chunks WHERE index_id IN "
                                  "(SELECT id FROM shared_indexes WHERE set_id = :set_id)")
DELETE_SET_SHARED_INDEXES = "DELETE FROM shared_indexes WHERE set_id = :set_id"


def documents_by_id(doc_ids: Sequence[str]) -> tuple[str, dict[str, object]]:
    """The statement and parameters reading the texts of ``doc_ids`` in one collection."""
    names = [f"d{i}" for i in range(len(doc_ids))]
    where = f"doc_id IN ({', '.join(':' + n for n in names)})" if names else "0 = 1"
    return (f"SELECT doc_id, position, text FROM collection_documents WHERE collection_id = :collection_id AND {where}",
            dict(zip(names, doc_ids, strict=True)))


# -- document_metadata and document_text (filtered and full-text search) --------------------

#: Every metadata row of a collection (a document lacking a key has no row for it).
DOCUMENT_METADATA = ("SELECT position, key, value FROM document_metadata WHERE collection_id = :collection_id "
                     "ORDER BY position, key")
DELETE_DOCUMENT_METADATA = "DELETE FROM document_metadata WHERE collection_id = :collection_id"
DELETE_POSITION_METADATA = ("DELETE FROM document_metadata WHERE collection_id = :collection_id "
                            "AND position = :position")
#: ``number``: the value as a finite float when it is one (what ``<`` and ``>`` compare), else NULL.
METADATA_ROWS = BulkRows("document_metadata", ("collection_id", "position", "key", "value", "number"),
                         ("int4", "int4", "text", "text", "float8"))
#: SQLite's FTS5 tables of the documents' texts, one a collection (``document_text_<id>``:
#: bm25's statistics are then the collection's own), derived: made and refreshed by its
#: first text search after a change (see migration 0008). PostgreSQL's GIN index is of
#: collection_documents itself. Not constants: SQLite only, and FTS5's, so kept out of
#: the statements tests prepare on both backends.
SQLITE_DOCUMENT_TEXT = {
    "built": "SELECT vectors_uid FROM document_text_built WHERE collection_id = :collection_id",
    "forget": "DELETE FROM document_text_built WHERE collection_id = :collection_id",
    "record": "INSERT INTO document_text_built (collection_id, vectors_uid) VALUES (:collection_id, :vectors_uid)",
    "vectors_uid": "SELECT vectors_uid FROM collections WHERE id = :collection_id",
}


def document_text_table(collection_id: int) -> str:
    """The name of collection ``collection_id``'s FTS5 table (SQLite)."""
    return f"document_text_{int(collection_id)}"


def document_text_statements(collection_id: int) -> dict[str, str]:
    """Making, dropping and filling collection ``collection_id``'s FTS5 table (SQLite)."""
    table = document_text_table(collection_id)
    return {
        "exists": f"SELECT count(*) AS n FROM sqlite_master WHERE name = '{table}'",
        "drop": f"DROP TABLE IF EXISTS {table}",
        "create": f"CREATE VIRTUAL TABLE {table} USING fts5(text, position UNINDEXED, tokenize = 'porter unicode61')",
        "fill": (f"INSERT INTO {table} (text, position) SELECT text, position FROM collection_documents "
                 "WHERE collection_id = :collection_id"),
    }


#: The comparison each operator of a condition makes: on the text, or on the number.
CONDITION_SQL = {"=": "value = {v}", "!=": "value <> {v}", "in": "value IN ({v})", "<": "number < {v}",
                 ">": "number > {v}", "<=": "number <= {v}", ">=": "number >= {v}"}


def matching_positions(conditions: Sequence[tuple[str, str, Sequence[object]]],
                       prefix: str = "w") -> tuple[str, dict[str, object]]:
    """The statement (and its parameters, every value bound) selecting the positions of a
    collection's documents (``:collection_id``) that meet all ``conditions``, each
    (key, operator of :data:`CONDITION_SQL`, values): one indexed look-up a condition,
    intersected. A document without the key meets no condition on it."""
    if not conditions:
        raise ValueError("no conditions")
    selects, params = [], {}
    for i, (key, op, values) in enumerate(conditions):
        names = [f"{prefix}{i}v{j}" for j in range(len(values))]
        if not names or (op != "in" and len(names) != 1):
            raise ValueError(f"{len(names)} values for {op}")
        params[f"{prefix}{i}k"] = key
        params.update(zip(names, values, strict=True))
        test = CONDITION_SQL[op].format(v=", ".join(":" + n for n in names))
        selects.append(f"SELECT position FROM document_metadata WHERE collection_id = :collection_id "
                       f"AND key = :{prefix}{i}k AND {test}")
    return " INTERSECT ".join(selects), params


def documents_at(positions: Sequence[int]) -> tuple[str, dict[str, object]]:
    """The statement and parameters reading the documents at ``positions`` of one collection."""
    names = [f"p{i}" for i in range(len(positions))]
    where = f"position IN ({', '.join(':' + n for n in names)})" if names else "0 = 1"
    return (f"SELECT doc_id, position, text FROM collection_documents WHERE collection_id = :collection_id AND {where}",
            dict(zip(names, positions, strict=True)))


def text_ranking(dialect: str, filtered: str | None = None, collection_id: int = 0) -> str:
    """The full-text ranking of one collection's documents for ``:query``, best first (ties:
    the lower position), at most ``:depth``: rows of (position, score). SQLite: FTS5's
    ``bm25()`` (lower is better) on a MATCH expression; PostgreSQL: ``ts_rank_cd`` of
    ``websearch_to_tsquery`` on the GIN-indexed stored ``text_words`` column, which is
    ``to_tsvector('english', left(text, 100000))`` (higher is better). ``filtered``: a
    :func:`matching_positions` statement the positions must be in."""
    if dialect == "sqlite":
        table = document_text_table(collection_id)
        within = f" AND position IN ({filtered})" if filtered else ""
        return (f"SELECT position, bm25({table}) AS score FROM {table} WHERE {table} MATCH :query{within} "
                "ORDER BY score, position LIMIT :depth")
    within = f" AND position IN ({filtered})" if filtered else ""
    return ("SELECT position, ts_rank_cd(text_words, websearch_to_tsquery('english', :query)) "
            "AS score FROM collection_documents WHERE collection_id = :collection_id "
            f"AND text_words @@ websearch_to_tsquery('english', :query){within} "
            "ORDER BY score DESC, position LIMIT :depth")

# -- settings -------------------------------------------------------------------------------

#: The setting naming the store's default set (``vecstore default NAME``).
DEFAULT_SET = "default_set"
READ_SETTING = "SELECT value FROM settings WHERE key = :key"
DELETE_SETTING = "DELETE FROM settings WHERE key = :key"
INSERT_SETTING = "INSERT INTO settings (key, value) VALUES (:key, :value)"
#: A setting that names a set goes with it.
DELETE_SETTINGS_OF_SET = "DELETE FROM settings WHERE key = :key AND value = :value"

# -- server_indexes (pgvector indexes kept by the server: vecstore.index.pgvector) ----------

SERVER_INDEXES = ("SELECT kind, table_name, manifest FROM server_indexes WHERE set_id = :set_id ORDER BY kind")
FIND_SERVER_INDEX = "SELECT table_name FROM server_indexes WHERE set_id = :set_id AND kind = :kind"
INSERT_SERVER_INDEX = ("INSERT INTO server_indexes (set_id, kind, table_name, manifest, created_at) "
                       "VALUES (:set_id, :kind, :table_name, :manifest, :created_at)")
DELETE_SERVER_INDEX = "DELETE FROM server_indexes WHERE set_id = :set_id AND kind = :kind"
SET_SERVER_INDEXES = "SELECT table_name FROM server_indexes WHERE set_id = :set_id"
#: A set's pgvector indexes go with it (removed or replaced), their tables dropped.
DELETE_SET_SERVER_INDEXES = "DELETE FROM server_indexes WHERE set_id = :set_id"
