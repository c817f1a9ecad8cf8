"""Shared indexes: an approximate index built on one machine, kept in the store so that
other machines fetch it instead of building it again (a server store's team).

``shared_indexes`` holds one row per set and kind: the index's manifest (JSON: kind,
parameters, recall, build time), its file's size and SHA-256; ``shared_index_chunks``
holds the file (the FAISS index with vecstore's checksummed footer) in chunks, each with
its SHA-256. Both go with their set.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_indexes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("embedding_sets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("set_id", "kind"),
    )
    op.create_table(
        "shared_index_chunks",
        sa.Column("index_id", sa.Integer, sa.ForeignKey("shared_indexes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("chunk_no", sa.Integer, primary_key=True),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shared_index_chunks")
    op.drop_table("shared_indexes")
