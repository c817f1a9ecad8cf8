"""fastText subword models: a set's n-gram settings and its n-gram rows in chunks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subword_models",
        sa.Column("set_id", sa.Integer, sa.ForeignKey("embedding_sets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("minn", sa.Integer, nullable=False),
        sa.Column("maxn", sa.Integer, nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("checksum", sa.String(32), nullable=False),
    )
    # (the checksum before the data, as 0003 explains for the other chunk tables)
    op.create_table(
        "ngram_chunks",
        sa.Column("set_id", sa.Integer, sa.ForeignKey("embedding_sets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("chunk_no", sa.Integer, primary_key=True),
        sa.Column("checksum", sa.String(16), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ngram_chunks")
    op.drop_table("subword_models")
