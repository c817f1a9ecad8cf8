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
    with op.batch_alter_table("embedding_sets") as batch:
        batch.add_column(sa.Column("content_checksum", sa.String(32), nullable=True))
        batch.add_column(sa.Column("read_options", sa.Text, nullable=True))
    conn = op.get_bind()
    sets = {int(i): (str(uid), int(dim), int(count)) for i, uid, dim, count in
            conn.execute(sa.text("SELECT id, uid, dim, count FROM embedding_sets"))}
    digests: dict[tuple[str, int], dict[int, str]] = {}
    for table, kind in (("vector_chunks", "vectors"), ("word_chunks", "words")):
        # The checksum goes before the data: SQLite keeps a row's columns in order, and a
        # column after a 1 MiB blob is read only by walking the blob's overflow pages
        # (80 MB to read GloVe's 77 checksums). So each table is made anew, hashed on the way.
        op.create_table(
            f"{table}_0003",
            sa.Column("set_id", sa.Integer, sa.ForeignKey("embedding_sets.id", ondelete="CASCADE"),
                      primary_key=True),
            sa.Column("chunk_no", sa.Integer, primary_key=True),
            sa.Column("checksum", sa.String(16), nullable=False),
            sa.Column("data", sa.LargeBinary, nullable=False),
        )
        keys = conn.execute(sa.text(f"SELECT set_id, chunk_no FROM {table} ORDER BY set_id, chunk_no")).all()
        for set_id, number in keys:
            (data,) = conn.execute(sa.text(f"SELECT data FROM {table} WHERE set_id = :s AND chunk_no = :n"),
                                   {"s": set_id, "n": number}).one()
            uid = sets[int(set_id)][0] if int(set_id) in sets else ""
            value = chunk_digest(bytes(data), uid, kind, int(number))
            digests.setdefault((kind, int(set_id)), {})[int(number)] = value
            conn.execute(sa.text(f"INSERT INTO {table}_0003 (set_id, chunk_no, checksum, data) "
                                 "VALUES (:s, :n, :c, :d)"), {"s": set_id, "n": number, "c": value, "d": data})
        op.drop_table(table)
        op.rename_table(f"{table}_0003", table)
    for set_id, (_uid, dim, count) in sets.items():
        vectors, words = digests.get(("vectors", set_id), {}), digests.get(("words", set_id), {})
        pairs = [(vectors.get(n, "0" * 16), words.get(n, "0" * 16)) for n in sorted(set(vectors) | set(words))]
        conn.execute(sa.text("UPDATE embedding_sets SET content_checksum = :c WHERE id = :id"),
                     {"c": content_checksum(dim, count, pairs), "id": set_id})
    with op.batch_alter_table("embedding_sets") as batch:
        batch.alter_column("content_checksum", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("embedding_sets") as batch:
        batch.drop_column("read_options")
        batch.drop_column("content_checksum")
    for table in ("word_chunks", "vector_chunks"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("checksum")
