"""Alembic environment: migrates the store on the connection vecstore hands over.

vecstore opens the store and passes its connection in ``config.attributes["connection"]``;
the plain ``alembic`` command line (with ``-x url=...``) works too, for maintainers. There
is no second definition of the schema to autogenerate from: a migration is written by
hand, and tests prepare every statement of :mod:`vecstore.storage.statements` on it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,  # (the migrations are the schema's one definition; they are written by hand)
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("vecstore migrations run online only")
run_online()
