"""Document collections: searchable documents pooled from a set's word vectors.

A collection's vectors are kept as a set of ``kind`` ``documents`` (its "words" are the
documents' ids), so chunks, checksums and derived indexes serve both kinds; the word sets
are ``kind`` ``words``. ``collections`` records how its documents were pooled and from
which set (by uid: a replaced set is told, never mixed); ``collection_documents`` holds
each document's id, text, position (its row in the vectors) and a hash of its text.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("embedding_sets") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="words"))
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("word_set_uid", sa.String(32), nullable=False),
        sa.Column("word_set_name", sa.Text, nullable=False),
        sa.Column("vectors_uid", sa.String(32), nullable=False),  # the documents set holding the vectors
        sa.Column("pool", sa.String(16), nullable=False),
        sa.Column("options", sa.Text, nullable=False),  # JSON: case_fold, and the idf or sif component kept
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "collection_documents",
        sa.Column("collection_id", sa.Integer, sa.ForeignKey("collections.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("doc_id", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text_hash", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.UniqueConstraint("collection_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("collection_documents")
    op.drop_table("collections")
    with op.batch_alter_table("embedding_sets") as batch:
        batch.drop_column("kind")
