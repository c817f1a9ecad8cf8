"""The store: named embedding sets in one database, with their FAISS indexes beside it.

``Store()`` opens the default store (one SQLite file in the user's data folder, or
``$VECSTORE_STORE``), ``Store(path_or_sqlalchemy_url)`` any other. A SQLite store at
the current schema is read and written with the stdlib driver; creating one, migrating
an older schema, or a server URL brings in SQLAlchemy (and Alembic to migrate).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vecstore.catalog import Catalog, SetHeader, SetInfo, SqliteCatalog
from vecstore.embeddings import EmbeddingSet
from vecstore.errors import InputFileError, InvalidArgumentError, SetExistsError, SetNotFoundError
from vecstore.index import IndexFolder
from vecstore.location import StoreLocation, resolve

if TYPE_CHECKING:
    from vecstore.database import Database
    from vecstore.importer import ImportCounts, Progress
    from vecstore.textformat import EmbeddingFile, ReadOptions
    from vecstore.vocabulary import Vocabulary


@dataclass(frozen=True)
class ImportResult:
    """What an import did: ``imported``, ``replaced`` or ``unchanged`` (same source already there)."""

    info: SetInfo
    status: str
    seconds: float
    counts: ImportCounts | None = None

    def to_dict(self) -> dict[str, object]:
        counts = self.counts.to_dict() if self.counts is not None else {}
        return {"status": self.status, "seconds": round(self.seconds, 3), **self.info.to_dict(), **counts}


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
        """The SQLAlchemy side, migrated on first use: creates and migrates stores, and serves
        server URLs (a SQLite store at the head schema is read and written with sqlite3)."""
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

    def pick(self, name: str | None = None) -> EmbeddingSet:
        """The set ``name``; without a name, the store's only set (an error lists them
        when there are several)."""
        if name is not None:
            return self.get(name)
        names = [s.name for s in self.sets()]
        if len(names) == 1:
            return self.get(names[0])
        if not names:
            raise InvalidArgumentError("the store has no sets; import one first: vecstore import glove-6b-50d")
        raise InvalidArgumentError(f"the store has {len(names)} sets; choose one with --set ({', '.join(names)})")

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
                    options: ReadOptions | None = None, replace: bool = False,
                    progress: Progress | None = None) -> ImportResult:
        """Import an embedding file (GloVe, word2vec text or binary, fastText ``.vec``; plain,
        ``.gz``, ``.bz2`` or ``.zip``) as set ``name`` (default: the file name's stem).

        The file is streamed: memory holds the index and the vocabulary, never the text.
        All or nothing: on any error, or a kill, the store is left exactly as it was.
        Importing the same file (same sha256) under the same name again does nothing
        unless ``replace``.
        """
        from vecstore.textformat import EmbeddingFile, ReadOptions, file_sha256

        path = Path(path)
        options = options or ReadOptions()
        name = _check_name(name if name is not None else default_set_name(path))
        started = time.perf_counter()
        existing = self.catalog.find_set(name)
        if existing is not None and not replace:
            _same_source_or_raise(existing, lambda: file_sha256(path) if path.is_file() else "")
            return ImportResult(existing, "unchanged", time.perf_counter() - started)
        with EmbeddingFile(path, options) as source, ThreadPoolExecutor(1) as hasher:
            digest = hasher.submit(file_sha256, path)  # hashlib releases the GIL: overlaps the parse
            header = SetHeader(name, source.layout.dim, source.layout.format, str(path.resolve()))
            info, counts = self._stream(header, existing, source, options, digest.result, progress)
        return ImportResult(info, "replaced" if existing else "imported", time.perf_counter() - started, counts)

    def import_builtin(self, source: str, name: str | None = None, *, replace: bool = False) -> ImportResult:
        """Import a built-in source (see :data:`vecstore.builtin.BUILTINS`) as set ``name``."""
        from vecstore.builtin import load_builtin
        from vecstore.importer import ImportCounts

        name = _check_name(name if name is not None else source)
        started = time.perf_counter()
        embeddings = load_builtin(source)
        existing = self.catalog.find_set(name)
        if existing is not None and not replace:
            _same_source_or_raise(existing, lambda: embeddings.sha256)
            return ImportResult(existing, "unchanged", time.perf_counter() - started)
        header = SetHeader(name, embeddings.dim, embeddings.format, embeddings.source)
        info = self._write_rows(header, existing, [(embeddings.words, embeddings.vectors)], lambda: embeddings.sha256)
        return ImportResult(info, "replaced" if existing else "imported", time.perf_counter() - started,
                            ImportCounts(info.count, info.count, 0, 0, False))

    def import_keras(self, model: str | os.PathLike[str], vocabulary: Vocabulary | str | os.PathLike[str] | Any,
                     name: str, *, layer: str | None = None, parent: str | None = None,
                     replace: bool = False) -> ImportResult:
        """Store the trained embedding of a Keras model file (``.keras`` or ``.h5``) as set
        ``name``: row i of the layer is the vector of vocabulary index i; the padding and
        OOV rows are dropped. The set records the model file's sha256 and its parent set:
        ``parent`` (a set name), or the set a ``vecstore_<uid>`` layer was seeded from.
        """
        from vecstore.textformat import file_sha256
        from vecstore.vocabulary import Vocabulary

        path = Path(model)
        name = _check_name(name)
        vocab = Vocabulary.of(vocabulary)  # a Vocabulary, a file, a TextVectorization layer or a token list
        started = time.perf_counter()
        if not path.is_file():
            raise InputFileError(path, "no such model file")
        sha256 = file_sha256(path)
        existing = self.catalog.find_set(name)
        if existing is not None and not replace:
            _same_source_or_raise(existing, lambda: sha256)
            return ImportResult(existing, "unchanged", time.perf_counter() - started)
        parent_uid = self.get(parent).info.uid if parent is not None else None
        from vecstore.keras import read_embedding  # TensorFlow starts here, after the cheap checks

        trained = read_embedding(path, layer)
        rows, dim = trained.weights.shape
        if rows != len(vocab):
            raise InvalidArgumentError(f"{path}: layer {trained.layer_name!r} has {rows} rows but the {vocab.kind} "
                                       f"vocabulary has {len(vocab)} indexes: is it the model's vocabulary?")
        keep = vocab.word_indexes()
        words = [vocab.tokens[i] for i in keep]
        vectors = np.ascontiguousarray(trained.weights[keep], dtype=np.float32)
        if not np.isfinite(vectors).all():
            bad = words[int(np.argmin(np.isfinite(vectors).all(axis=1)))]
            raise InputFileError(path, f"the vector of {bad!r} holds a value that is not a finite number")
        if any("\n" in w or "\r" in w for w in words):
            raise InvalidArgumentError("a vocabulary token holds a line break, which a set's word cannot")
        if parent_uid is None and trained.parent_uid is not None:
            parent_uid = next((s.uid for s in self.sets() if s.uid == trained.parent_uid), None)
        header = SetHeader(name, dim, "keras", f"{path.resolve()}#{trained.layer_name}", parent_uid)
        info = self._write_rows(header, existing, [(words, vectors)], lambda: sha256)
        return ImportResult(info, "replaced" if existing else "imported", time.perf_counter() - started)

    def _stream(self, header: SetHeader, existing: SetInfo | None, source: EmbeddingFile,
                options: ReadOptions, sha256: Callable[[], str],
                progress: Progress | None) -> tuple[SetInfo, ImportCounts]:
        from vecstore.importer import ImportCounts, prefetched
        from vecstore.textformat import RowFilter, check_complete

        rows = RowFilter(source.path, options)

        def accepted() -> Iterator[tuple[list[str], np.ndarray]]:
            for block in prefetched(source.blocks()):
                yield rows.accept(block)
                if progress is not None:
                    progress(source.bytes_read, source.size, len(rows.stored))
                if rows.full:
                    return
            if progress is not None:
                progress(source.size, source.size, len(rows.stored))

        def complete(stored: int) -> dict[int, np.ndarray]:
            check_complete(source.path, source.layout, rows, stored)
            return rows.patches

        info = self._write_rows(header, existing, accepted(), sha256, complete)
        return info, ImportCounts(rows.lines_read, info.count, rows.duplicates, rows.case_merged, rows.full)

    def _write_rows(self, header: SetHeader, existing: SetInfo | None,
                    blocks: Iterable[tuple[list[str], np.ndarray]], sha256: Callable[[], str],
                    complete: Callable[[int], dict[int, np.ndarray]] | None = None) -> SetInfo:
        """Write a set's rows in one transaction, and its index; return its row."""
        from vecstore.catalog import new_uid
        from vecstore.importer import SetBuilder

        uid = new_uid()
        index = self.indexes.writer(uid, header.dim)
        try:
            with self.catalog.writing(header, uid, replace=existing) as writer:
                builder = SetBuilder(writer, index)
                for words, vectors in blocks:
                    builder.add(words, vectors)
                builder.finish(complete(builder.count) if complete is not None else {})
                prepared = index.finish()
                info = writer.finish(builder.count, sha256(), builder.stats.result().to_json())
        except BaseException:
            index.abandon()
            raise
        # Published after the commit: a crash in between leaves a missing index, which the
        # next query rebuilds, never an index without its set.
        self.indexes.publish(info, prepared)
        if existing is not None:
            self.indexes.discard(existing.uid)
        return info


def _same_source_or_raise(existing: SetInfo, sha256: Callable[[], str]) -> None:
    """Re-importing the same source under its name is a no-op; other content needs --replace."""
    if sha256() != existing.source_sha256:
        raise SetExistsError(f"a set named {existing.name!r} already exists (from {existing.source}); "
                             "pass --replace to overwrite it or --name to import under another name")


def default_set_name(path: Path) -> str:
    """A file's name without its compression and format suffixes: glove.6B.50d.txt.gz -> glove.6B.50d."""
    name = path.name
    for suffix in (".gz", ".bz2", ".zip", ".txt", ".vec", ".bin"):
        name = name.removesuffix(suffix)
    return name or path.name


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or any(c in name for c in "\n\r\t"):
        raise InvalidArgumentError(f"invalid set name {name!r}: use 1 to 200 characters on one line")
    return name
