"""Sets record the set they were derived from and summary statistics of their values.

``parent_uid``: the uid of the set a Keras embedding was seeded from (``import-keras``).
``stats``: JSON with the mean vector and the mean and standard deviation of all values,
so a matrix can fill missing words (``--oov mean|random``) without reading every vector.
Sets imported before this revision get their statistics on first use.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("embedding_sets") as batch:
        batch.add_column(sa.Column("parent_uid", sa.String(32), nullable=True))
        batch.add_column(sa.Column("stats", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("embedding_sets") as batch:
        batch.drop_column("stats")
        batch.drop_column("parent_uid")
