"""The store schema as SQLAlchemy tables: the one definition the migrations must produce.

Vectors and words are kept in chunks of ``rows_per_chunk`` consecutive rows per set: a
chunk of vectors is the raw little-endian float32 rows, a chunk of words is the rows'
words in UTF-8 joined by ``\\n``. Chunks write ~4x faster than one row per word and a
whole set reads back with a handful of queries (README: "Why chunks").
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

embedding_sets = Table(
    "embedding_sets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # A fresh uid per import names the set's index files, so an index built for a
    # replaced or removed set can never be taken for the current one.
    Column("uid", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("dim", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    Column("rows_per_chunk", Integer, nullable=False),
    Column("format", String(40), nullable=False),
    Column("source", Text, nullable=False),
    Column("source_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The set this one was derived from (a Keras embedding seeded from it), if any.
    Column("parent_uid", String(32), nullable=True),
    # JSON: the mean vector, and the mean and standard deviation of all values (for
    # filling missing words); NULL until computed for sets imported before revision 0002.
    Column("stats", Text, nullable=True),
    # XXH3-128 over the dimension, the row count and every chunk's digest, in order
    # (vecstore.integrity): derived files are bound to it, `check` recomputes it.
    Column("content_checksum", String(32), nullable=False),
    # JSON of the read options that shaped the set (zip member, limit, lowercase, ...):
    # with source_sha256, the identity of what was imported. NULL: imported before 0003.
    Column("read_options", Text, nullable=True),
)

vector_chunks = Table(
    "vector_chunks",
    metadata,
    Column("set_id", Integer, ForeignKey("embedding_sets.id", ondelete="CASCADE"), primary_key=True),
    Column("chunk_no", Integer, primary_key=True),
    # XXH3-64 of data seeded by the set, kind and chunk number, checked on every read;
    # before data, so that reading the checksums never walks a 1 MiB blob (SQLite).
    Column("checksum", String(16), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

word_chunks = Table(
    "word_chunks",
    metadata,
    Column("set_id", Integer, ForeignKey("embedding_sets.id", ondelete="CASCADE"), primary_key=True),
    Column("chunk_no", Integer, primary_key=True),
    # XXH3-64 of data seeded by the set, kind and chunk number, checked on every read;
    # before data, so that reading the checksums never walks a 1 MiB blob (SQLite).
    Column("checksum", String(16), nullable=False),
    Column("data", LargeBinary, nullable=False),
)
