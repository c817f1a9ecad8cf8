"""Where a store's rows live: one concern a module.

- :mod:`~vecstore.storage.location`: which store a path or URL names, and its files;
- :mod:`~vecstore.storage.records`: what a row holds (:class:`SetInfo`, chunks);
- :mod:`~vecstore.storage.statements`: every SQL statement, written once, with named
  parameters that both drivers bind;
- :mod:`~vecstore.storage.sqlite`: the stdlib ``sqlite3`` driver (the query path: no
  SQLAlchemy import on a cold start);
- :mod:`~vecstore.storage.engine`: the SQLAlchemy driver (PostgreSQL, and creating or
  migrating any store);
- :mod:`~vecstore.storage.migrate`: the Alembic runner;
- :mod:`~vecstore.storage.catalog`: what the library reads and writes, on either driver;
- :mod:`~vecstore.storage.opening`: opening a store, migrating it first if needed.

The tables have one definition, the Alembic migrations (``migrations/``). Adding a table
is one migration plus its statements in :mod:`~vecstore.storage.statements`.
"""
