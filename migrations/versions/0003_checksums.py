"""Checksums: every chunk carries the digest of its bytes, every set its content checksum,
and each set records the options it was read with.

``vector_chunks.checksum`` / ``word_chunks.checksum``: XXH3-64 of the chunk's bytes,
seeded by the set's uid, the chunk's kind and number, checked whenever the chunk is read.
``embedding_sets.content_checksum``: XXH3-128 over
the set's dimension, row count and chunk digests (:mod:`vecstore.integrity`); derived
files are bound to it. ``embedding_sets.read_options``: JSON of the read options that
shaped the set (member, limit, lowercase, ...), part of its source's identity. Existing
chunks are hashed here, once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vecstore.integrity import chunk_digest, content_checksum

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("vector_chunks", "word_chunks"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("checksum", sa.String(16), nullable=True))
    with op.batch_alter_table("embedding_sets") as batch:
        batch.add_column(sa.Column("content_checksum", sa.String(32), nullable=True))
        batch.add_column(sa.Column("read_options", sa.Text, nullable=True))
    conn = op.get_bind()
    sets = conn.execute(sa.text("SELECT id, uid, dim, count FROM embedding_sets")).all()
    for set_id, uid, dim, count in sets:
        digests: dict[str, dict[int, str]] = {}
        for table, kind in (("vector_chunks", "vectors"), ("word_chunks", "words")):
            rows = conn.execute(sa.text(f"SELECT chunk_no, data FROM {table} WHERE set_id = :id"), {"id": set_id})
            digests[table] = {int(n): chunk_digest(bytes(data), str(uid), kind, int(n)) for n, data in rows}
            for number, value in digests[table].items():
                conn.execute(sa.text(f"UPDATE {table} SET checksum = :c WHERE set_id = :id AND chunk_no = :n"),
                             {"c": value, "id": set_id, "n": number})
        numbers = sorted(set(digests["vector_chunks"]) | set(digests["word_chunks"]))
        pairs = [(digests["vector_chunks"].get(n, ""), digests["word_chunks"].get(n, "")) for n in numbers]
        checksum = content_checksum(int(dim), int(count), ((v or "0" * 16, w or "0" * 16) for v, w in pairs))
        conn.execute(sa.text("UPDATE embedding_sets SET content_checksum = :c WHERE id = :id"),
                     {"c": checksum, "id": set_id})
    for table in ("vector_chunks", "word_chunks"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("checksum", existing_type=sa.String(16), nullable=False)
    with op.batch_alter_table("embedding_sets") as batch:
        batch.alter_column("content_checksum", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("embedding_sets") as batch:
        batch.drop_column("read_options")
        batch.drop_column("content_checksum")
    for table in ("word_chunks", "vector_chunks"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("checksum")
