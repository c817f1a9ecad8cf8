"""The store: named embedding sets in one database, with their FAISS indexes beside it.

``Store()`` opens the default store (one SQLite file in the user's data folder, or
``$VECSTORE_STORE``), ``Store(path_or_sqlalchemy_url)`` any other. A SQLite store at
the current schema is read and written with the stdlib driver; creating one, migrating
an older schema, or a server URL brings in SQLAlchemy (and Alembic to migrate).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vecstore.catalog import Catalog, SetInfo, SqliteCatalog
from vecstore.embeddings import EmbeddingSet
from vecstore.errors import InvalidArgumentError, SetExistsError, SetNotFoundError
from vecstore.index import IndexFolder, normalized
from vecstore.location import StoreLocation, resolve

if TYPE_CHECKING:
    from vecstore.database import Database
    from vecstore.textformat import Embeddings


@dataclass(frozen=True)
class ImportResult:
    """What an import did: ``imported``, ``replaced`` or ``unchanged`` (same source already there)."""

    info: SetInfo
    status: str
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {"status": self.status, "seconds": round(self.seconds, 3), **self.info.to_dict()}


class Store:
    """A vecstore store. See the module docstring for how it is located and opened."""

    def __init__(self, location: str | os.PathLike[str] | None = None) -> None:
        self.location: StoreLocation = resolve(location)
        self.indexes = IndexFolder(self.location.index_dir)
        self._database: Database | None = None
        self._catalog: Catalog | None = None

    def __repr__(self) -> str:
        return f"Store({self.location.display()!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._catalog is not None and self._catalog is not self._database:
            self._catalog.close()
        if self._database is not None:
            self._database.close()
        self._catalog = self._database = None

    # -- opening --------------------------------------------------------------------------

    @property
    def database(self) -> Database:
        """The SQLAlchemy side (migrated on first use); writes always go through it."""
        if self._database is None:
            from vecstore.database import Database

            self._database = Database(self.location)
        return self._database

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            fast = None
            if self.location.sqlite_path is not None and self._database is None:
                fast = SqliteCatalog.open_if_current(self.location.sqlite_path)
            if fast is None and self.location.sqlite_path is not None:
                self.database  # noqa: B018 - creates or migrates the file, then read it fast
                fast = SqliteCatalog.open_if_current(self.location.sqlite_path)
            self._catalog = fast if fast is not None else self.database
        return self._catalog

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate the schema to the newest revision; return (revision before, revision now)."""
        from vecstore.database import head_revision

        before = self.database.upgraded_from
        return before, head_revision()

    # -- sets -----------------------------------------------------------------------------

    def sets(self) -> list[SetInfo]:
        """All sets, by name."""
        return self.catalog.list_sets()

    def get(self, name: str) -> EmbeddingSet:
        """The set called ``name``, or :class:`SetNotFoundError` listing those there are."""
        info = self.catalog.find_set(name)
        if info is None:
            raise SetNotFoundError(name, [s.name for s in self.sets()])
        return EmbeddingSet(info, self.catalog, self.indexes)

    def __getitem__(self, name: str) -> EmbeddingSet:
        return self.get(name)

    def remove(self, name: str) -> SetInfo:
        """Delete a set and its index."""
        info = self.catalog.find_set(name)
        if info is None:
            raise SetNotFoundError(name, [s.name for s in self.catalog.list_sets()])
        self.catalog.delete_set(info)
        self.indexes.discard(info.uid)
        return info

    # -- importing ------------------------------------------------------------------------

    def import_file(self, path: str | os.PathLike[str], name: str | None = None, *,
                    format: str | None = None, replace: bool = False) -> ImportResult:
        """Import a GloVe or word2vec text file as set ``name`` (default: the file name's stem).

        All or nothing: on any error the store is left exactly as it was. Importing the same
        file (same sha256) under the same name again does nothing unless ``replace``.
        """
        from vecstore.textformat import file_sha256, read_text

        path = Path(path)
        name = _check_name(name if name is not None else path.stem)
        started = time.perf_counter()
        existing = self.catalog.find_set(name)
        if existing is not None and not replace:
            if path.is_file() and file_sha256(path) == existing.source_sha256:
                return ImportResult(existing, "unchanged", time.perf_counter() - started)
            raise SetExistsError(f"a set named {name!r} already exists (from {existing.source}); "
                                 "pass --replace to overwrite it or --name to import under another name")
        return self._write(read_text(path, format=format), name, existing, started)

    def import_builtin(self, source: str, name: str | None = None, *, replace: bool = False) -> ImportResult:
        """Import a built-in source (see :data:`vecstore.builtin.BUILTINS`) as set ``name``."""
        from vecstore.builtin import load_builtin

        name = _check_name(name if name is not None else source)
        started = time.perf_counter()
        embeddings = load_builtin(source)
        existing = self.catalog.find_set(name)
        if existing is not None and not replace:
            if embeddings.sha256 == existing.source_sha256:
                return ImportResult(existing, "unchanged", time.perf_counter() - started)
            raise SetExistsError(f"a set named {name!r} already exists (from {existing.source}); "
                                 "pass --replace to overwrite it")
        return self._write(embeddings, name, existing, started)

    def _write(self, embeddings: Embeddings, name: str, existing: SetInfo | None, started: float) -> ImportResult:
        from concurrent.futures import ThreadPoolExecutor

        from vecstore.catalog import NewSet, new_uid

        new = NewSet(name, embeddings.words, embeddings.vectors, embeddings.format, embeddings.source,
                     embeddings.sha256)
        uid = new_uid()
        with ThreadPoolExecutor(1) as pool:
            # Build and write the index while the database transaction is written.
            prepared = pool.submit(lambda: self.indexes.prepare(uid, normalized(embeddings.vectors)))
            try:
                info = self.catalog.write_set(new, replace=existing, uid=uid)
            except BaseException:
                self.indexes.abandon(prepared.result())
                raise
        # Published after the commit: a crash in between leaves a missing index, which the
        # next query rebuilds, never an index without its set.
        self.indexes.publish(info, prepared.result())
        if existing is not None:
            self.indexes.discard(existing.uid)
        return ImportResult(info, "replaced" if existing else "imported", time.perf_counter() - started)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or any(c in name for c in "\n\r\t"):
        raise InvalidArgumentError(f"invalid set name {name!r}: use 1 to 200 characters on one line")
    return name
