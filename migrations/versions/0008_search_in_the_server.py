"""Search in the server: pgvector indexes of server stores, document metadata, full text.

- ``server_indexes``: a set's index kept by the database itself (pgvector's HNSW or
  IVFFlat): its kind, the table holding the set's unit rows with the index (made by the
  build, for the rows' dimension: pgvector indexes one dimension a column), and the
  manifest recording its parameters and measured recall. Plain types: a server without
  the ``vector`` extension, and SQLite, hold the table empty.
- ``document_metadata``: the columns a document was added with (``docs add --meta-col``),
  one row a document and column: the text, and the number when the text is one, so a
  filter is an indexed look-up (``--where year>2000``), not a scan of JSON.
- Full-text search of documents: on PostgreSQL a stored generated column ``text_words``
  (``to_tsvector('english', left(text, 100000))``) of ``collection_documents`` with a GIN
  index; on SQLite an FTS5 table a collection, ``document_text_<id>`` (Porter stemming, as
  PostgreSQL's English configuration stems; bm25's statistics the collection's own)
  holding each document's text by position. Those are derived, made and brought up to
  date by the first text search of a collection after it changed (``document_text_built``
  records for which of its versions), never by a migration or a write: a process whose
  SQLite lacks FTS5 (TensorFlow imported first brings its own) still opens, migrates and
  writes every store.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_indexes",
        sa.Column("set_id", sa.Integer, sa.ForeignKey("embedding_sets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("table_name", sa.String(63), nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),  # JSON: parameters, search settings, recall, build time
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "document_metadata",
        sa.Column("collection_id", sa.Integer, sa.ForeignKey("collections.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("number", sa.Float, nullable=True),  # the value as a number, when it is one
    )
    op.create_index("ix_document_metadata_value", "document_metadata", ["collection_id", "key", "value"])
    op.create_index("ix_document_metadata_number", "document_metadata", ["collection_id", "key", "number"])
    if op.get_bind().dialect.name == "postgresql":
        # (stored: ranking reads it, where an expression index would make ts_rank_cd parse
        # every matching text again at each query; 480 ms against a few ms on 12,808 reviews)
        # (the first 100,000 characters: a tsvector holds at most 1 MB, and a longer text
        # would make its document, and this migration, fail)
        op.execute("ALTER TABLE collection_documents ADD COLUMN text_words tsvector "
                   "GENERATED ALWAYS AS (to_tsvector('english', left(text, 100000))) STORED")
        op.execute("CREATE INDEX ix_collection_documents_text ON collection_documents USING gin (text_words)")
    else:  # (the FTS5 table itself is made by the first text search: see the module's docstring)
        op.create_table(
            "document_text_built",
            sa.Column("collection_id", sa.Integer, primary_key=True),
            sa.Column("vectors_uid", sa.String(32), nullable=False),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_collection_documents_text")
        op.execute("ALTER TABLE collection_documents DROP COLUMN text_words")
    else:
        for (collection_id,) in op.get_bind().exec_driver_sql("SELECT collection_id FROM document_text_built"):
            op.execute(f"DROP TABLE IF EXISTS document_text_{int(collection_id)}")
        op.drop_table("document_text_built")
    op.drop_index("ix_document_metadata_number", "document_metadata")
    op.drop_index("ix_document_metadata_value", "document_metadata")
    op.drop_table("document_metadata")
    op.drop_table("server_indexes")
