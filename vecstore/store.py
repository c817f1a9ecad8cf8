"""The store: named embedding sets in one database, with their derived files beside it.

``Store()`` opens the default store (one SQLite file in the user's data folder, or
``$VECSTORE_STORE``), ``Store(path_or_sqlalchemy_url)`` any other. Opening is lazy:
reading a store that does not exist is a :class:`StoreNotFoundError` (a mistyped path
never becomes a new, empty store); the first write (an import) creates it. A SQLite
store at the current schema is read and written with the stdlib driver; creating one,
migrating an older schema, or a server URL brings in SQLAlchemy (and Alembic to migrate).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from vecstore.errors import (
    InputFileError,
    InvalidArgumentError,
    SetChangedError,
    SetChoiceError,
    SetNotFoundError,
    StoreError,
    StoreNotFoundError,
)
from vecstore.index.folder import IndexFolder
from vecstore.names import check_lookup, check_name
from vecstore.query import EmbeddingSet
from vecstore.storage.catalog import Catalog
from vecstore.storage.location import StoreLocation, resolve
from vecstore.storage.records import CollectionInfo, SetInfo

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np

log = logging.getLogger("vecstore")

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from vecstore.ann import IndexReport
    from vecstore.check import CheckReport
    from vecstore.collection import AddReport, Collection
    from vecstore.importer import ImportResult, Progress, Rows
    from vecstore.io.export import ExportResult
    from vecstore.io.readers import ReadOptions

T = TypeVar("T")

#: How often a one-shot query opens a set again that another process replaced meanwhile.
REOPEN_ATTEMPTS = 3


@dataclass(frozen=True)
class StoreInfo:
    """Where a store is and what it holds (``vecstore info``)."""

    location: str
    backend: str
    revision: str | None
    sets: list[SetInfo]
    database_bytes: int | None
    derived_folder: str
    derived_bytes: int
    default_set: str | None = None
    collections: list[CollectionInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"store": self.location, "backend": self.backend, "revision": self.revision,
                "sets": [s.to_dict() for s in self.sets], "database_bytes": self.database_bytes,
                "derived_folder": self.derived_folder, "derived_bytes": self.derived_bytes,
                "default_set": self.default_set, "collections": [c.to_dict() for c in self.collections]}


class Store:
    """A vecstore store. See the module docstring for how it is located and opened."""

    def __init__(self, location: str | os.PathLike[str] | None = None) -> None:
        self.location: StoreLocation = resolve(location)
        self.indexes = IndexFolder(self.location.index_dir)
        self._catalog: Catalog | None = None
        self._upgraded_from: str | None = None

    def __repr__(self) -> str:
        return f"Store({self.location.display()!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
        self._catalog = None

    # -- opening --------------------------------------------------------------------------

    def open(self, *, create: bool = False) -> Catalog:
        """The store's catalog, opened on first use (:mod:`vecstore.storage.opening`): an
        older schema is migrated then; with ``create`` a missing store is created, without
        it a missing store is a :class:`StoreNotFoundError`."""
        if self._catalog is None:  # (once open, the store exists, for reading and writing)
            from vecstore.storage.opening import open_catalog

            self._catalog, self._upgraded_from = open_catalog(self.location, create=create)
        return self._catalog

    def exists(self) -> bool:
        """Whether the store exists (has been written to): reading it will not fail for want of it."""
        try:
            self.open()
        except StoreNotFoundError:
            return False
        return True

    def upgrade(self) -> tuple[str | None, str]:
        """Create the store if needed and migrate its schema to the newest revision;
        return (revision before, revision now)."""
        from vecstore.storage.migrate import head_revision

        self.open(create=True)  # (already open: it exists, migrated when it was opened)
        return self._upgraded_from, head_revision()

    def info(self) -> StoreInfo:
        """Where the store is, its schema revision, its sets, and the disk they use."""
        catalog = self.open()
        database_bytes = None
        if self.location.sqlite_path is not None:
            database_bytes = sum(p.stat().st_size for p in self.location.own_files() if p.is_file())
        derived = 0
        if self.location.index_dir.is_dir():
            derived = sum(e.stat().st_size for e in os.scandir(self.location.index_dir) if e.is_file())
        backend = "sqlite" if self.location.sqlite_path is not None else self.location.url.split(":", 1)[0]
        return StoreInfo(self.location.display(), backend, catalog.revision(), self.sets(),
                         database_bytes, str(self.location.index_dir), derived, self.default_set(),
                         self.collections())

    def check(self, *, repair: bool = False) -> CheckReport:
        """Verify every byte of the store (see :mod:`vecstore.check`); with ``repair``,
        rebuild what is derived and remove leftovers. Never changes a set's vectors."""
        from vecstore.check import check_store

        return check_store(self, repair=repair)

    # -- sets -----------------------------------------------------------------------------

    def sets(self) -> list[SetInfo]:
        """All sets of word vectors, by name (a collection's document vectors are not listed)."""
        return [s for s in self.open().list_sets() if s.kind == "words"]

    def get(self, name: str) -> EmbeddingSet:
        """The set called ``name``, or :class:`SetNotFoundError` listing those there are."""
        return EmbeddingSet(self._find(name), self.open(), self.indexes)

    def _find(self, name: str) -> SetInfo:
        info = self.open().find_set(check_lookup(name))
        if info is None or info.kind != "words":
            raise SetNotFoundError(name, [s.name for s in self.sets()])
        return info

    def __getitem__(self, name: str) -> EmbeddingSet:
        return self.get(name)

    def pick(self, name: str | None = None) -> EmbeddingSet:
        """The set ``name``; without a name, the store's only set, or its default set
        (:class:`SetChoiceError` lists them when there are several and no default)."""
        if name is not None:
            return self.get(name)
        names = [s.name for s in self.sets()]
        if len(names) == 1:
            return self.get(names[0])
        default = self.default_set()
        if default in names:
            return self.get(default)
        raise SetChoiceError(names)

    def default_set(self) -> str | None:
        """The name of the set a query without a set name uses when the store holds
        several (:meth:`set_default`), or None."""
        from vecstore.storage.statements import DEFAULT_SET

        return self.open().setting(DEFAULT_SET)

    def set_default(self, name: str | None) -> None:
        """Make set ``name`` the default set (None: have none). Removing the set clears it."""
        from vecstore.storage.statements import DEFAULT_SET

        if name is not None:
            name = self._find(name).name  # (a set that is there, or SetNotFoundError listing them)
        self.open().set_setting(DEFAULT_SET, name)

    def with_set(self, name: str | None, action: Callable[[EmbeddingSet], T]) -> T:
        """``action(self.pick(name))``, run again on the set opened afresh if it is replaced
        by another process while ``action`` reads it (:class:`SetChangedError`, at most
        :data:`REOPEN_ATTEMPTS` times): what a one-shot query wants, where a long-lived
        handle should see the error."""
        for attempt in range(1, REOPEN_ATTEMPTS + 1):
            try:
                return action(self.pick(name))
            except SetChangedError:
                if attempt == REOPEN_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    # -- document collections (see vecstore.collection) -------------------------------------

    def collections(self) -> list[CollectionInfo]:
        """All document collections, by name."""
        return self.open().list_collections()

    def collection(self, name: str) -> Collection:
        """The collection called ``name``, or :class:`CollectionNotFoundError` listing those there are."""
        from vecstore.collection import get_collection

        return get_collection(self, name)

    def build_index(self, name: str, kind: str, params: dict[str, str] | None = None, *, collection: bool = False,
                    progress: Callable[[int, int], None] | None = None,
                    phases: Callable[[str], None] | None = None) -> IndexReport:
        """Build set ``name``'s (or collection ``name``'s) index of ``kind``: ``flat`` (the
        exact index, rebuilt) or an approximate kind (``hnsw``, ``ivf``, ``ivfpq``; see
        :mod:`vecstore.index.approximate`), which queries then use. Its recall@10 against
        the exact search is measured and recorded. ``progress(done, total)`` follows the
        rows added, ``phases(step)`` each step of the build as it starts."""
        from vecstore.ann import build_approximate, index_reports

        embedding_set = self.collection(name).vectors() if collection else self.get(name)
        try:
            if kind == "flat":
                if params:
                    raise InvalidArgumentError("the flat index takes no parameters", subject="param")
                self.indexes.discard_index(embedding_set.info.uid)
                embedding_set.index()
                return index_reports(embedding_set)[0]
            return build_approximate(embedding_set, kind, params, progress, phases)
        finally:
            embedding_set.close()

    def index_reports(self, name: str | None = None) -> list[IndexReport]:
        """The indexes of set ``name`` (of every set and collection without one): kind,
        parameters, recall@10, build time, size; ``chosen`` marks the one queries use."""
        from vecstore.ann import index_reports

        infos = [self.get(name).info] if name is not None else self.open().list_sets()
        reports = []
        for info in infos:
            embedding_set = EmbeddingSet(info, self.open(), self.indexes)
            reports += index_reports(embedding_set)
        return reports

    def remove_index(self, name: str, kind: str, *, collection: bool = False) -> None:
        """Remove set ``name``'s approximate index of ``kind`` (the exact index is never
        removed: it is the set's own); :class:`IndexNotFoundError` if it has none, as
        :meth:`remove` of a set that is not there. A pgvector kind's table is dropped
        from the server."""
        from vecstore.index.approximate import APPROXIMATE_KINDS
        from vecstore.index.pgvector import SERVER_KINDS

        if kind not in APPROXIMATE_KINDS and kind not in SERVER_KINDS:
            raise InvalidArgumentError(f"must be one of {', '.join([*APPROXIMATE_KINDS, *SERVER_KINDS])} (the flat "
                                       f"index stays), not {kind!r}", subject="kind")
        from vecstore.index import pgvector, shared

        info = (self.collection(name).vectors() if collection else self.get(name)).info
        catalog = self.open()
        if kind in SERVER_KINDS:
            if not pgvector.remove(catalog, info, kind):
                from vecstore.ann import index_reports
                from vecstore.errors import IndexNotFoundError

                kinds = [r.kind for r in index_reports(EmbeddingSet(info, catalog, self.indexes))]
                raise IndexNotFoundError(info.subject, kind, kinds)
            return
        removed = self.indexes.remove_approximate(info.uid, kind)
        if shared.is_shared(catalog):
            try:
                removed = shared.unshare(catalog, info, kind) or removed
            except StoreError as exc:  # (a reader: its own copy is gone, the store's stays)
                log.warning("removed the %s index of %s from this machine only: %s", kind, name, exc)
        if not removed:
            from vecstore.ann import index_reports
            from vecstore.errors import IndexNotFoundError

            kinds = [r.kind for r in index_reports(EmbeddingSet(info, catalog, self.indexes))]
            raise IndexNotFoundError(info.subject, kind, kinds)

    def add_documents(self, collection: str, ids: Sequence[str], texts: Sequence[str], *,
                      set_name: str | None = None, pool: str | None = None, case_fold: bool = True,
                      progress: Callable[[int, int], None] | None = None,
                      metadata: Sequence[Mapping[str, str]] | None = None) -> AddReport:
        """Add (or update) documents of a collection, creating it from set ``set_name`` with
        ``pool`` if it is new, with ``metadata`` (one mapping a document) to filter on;
        see :func:`vecstore.collection.add_documents`."""
        from vecstore.collection import add_documents

        return add_documents(self, collection, ids, texts, set_name=set_name, pool=pool, case_fold=case_fold,
                             progress=progress, metadata=metadata)

    def remove_documents(self, collection: str, ids: Sequence[str]) -> int:
        """Remove documents of a collection by id; return how many remain."""
        from vecstore.collection import remove_documents

        return remove_documents(self, collection, ids)

    def remove_collection(self, name: str) -> CollectionInfo:
        """Delete a collection, its documents, its vectors and their derived files."""
        from vecstore.errors import CollectionNotFoundError

        removed = self.open().delete_collection(check_lookup(name))
        if removed is None:
            raise CollectionNotFoundError(name, [c.name for c in self.collections()])
        self.indexes.discard(removed.vectors_uid)
        self.indexes.tidy(lambda: {s.uid for s in self.open().list_sets()})
        return removed

    def remove(self, name: str) -> SetInfo:
        """Delete a set and its derived files."""
        removed = self.open().delete_set(check_lookup(name))
        if removed is None:
            raise SetNotFoundError(name, [s.name for s in self.sets()])
        self.indexes.discard(removed.uid)
        self.indexes.tidy(lambda: {s.uid for s in self.open().list_sets()})
        return removed

    def export(self, name: str, out: str | os.PathLike[str], format: str = "glove", *,
               overwrite: bool = False) -> ExportResult:
        """Write set ``name`` to ``out`` (see :func:`vecstore.io.export.export_set`). An existing
        ``out`` is refused unless ``overwrite``; the store's own files are refused always."""
        from vecstore.io.export import export_set

        protected = self.location.protected()
        return self.with_set(name, lambda s: export_set(s, out, format, overwrite=overwrite, protected=protected))

    # -- importing (each a thin call into vecstore.importer) -------------------------------

    def import_file(self, path: str | os.PathLike[str], name: str | None = None, *,
                    options: ReadOptions | None = None, replace: bool = False,
                    progress: Progress | None = None) -> ImportResult:
        """Import an embedding file (GloVe, word2vec text or binary, fastText ``.vec``; plain,
        ``.gz``, ``.bz2`` or ``.zip``) as set ``name`` (default: the file's, or the zip
        member's, name without its suffixes).

        The file is streamed: memory holds the vocabulary and a few blocks, never the text.
        All or nothing: on any error, or a kill, the store is left exactly as it was.
        Importing the same content (the sha256 of what is read: the file, or the zip
        member) with the same options under the same name again does nothing unless
        ``replace``.
        """
        import time

        from vecstore.importer import FileRows
        from vecstore.io.readers import EmbeddingFile, ReadOptions
        from vecstore.names import name_of_file

        started = time.perf_counter()  # (opening the file and detecting its format count too)
        path = Path(path)
        options = options or ReadOptions()
        self.refuse_own_file(path)
        if options.format is None and _starts_as_fasttext_model(path):
            return self._import_fasttext_model(path, name, options, replace, started, progress)
        with EmbeddingFile(path, options) as source:
            name = check_name(name) if name is not None else name_of_file(Path(source.member or path))
            return self._import(name, FileRows(source, options, progress), replace, started)

    def _import_fasttext_model(self, path: Path, name: str | None, options: ReadOptions, replace: bool,
                               started: float, progress: Progress | None) -> ImportResult:
        """A fastText ``.bin``: its words, their vectors and its n-gram rows (see
        :class:`~vecstore.importer.FastTextRows`). Of the read options only ``limit``
        applies (the words are fastText's, distinct, already UTF-8)."""
        from vecstore.importer import FastTextRows
        from vecstore.io.fasttext_bin import FastTextModel
        from vecstore.names import name_of_file

        given = [name for name, value, default in (("lowercase", options.lowercase, False),
                                                   ("duplicates", options.duplicates, "first"),
                                                   ("encoding_errors", options.encoding_errors, "strict"),
                                                   ("member", options.member, None))
                 if value != default]
        if given:
            raise InvalidArgumentError("has no effect on a fastText model, whose words are read as trained (of "
                                       "the read options only limit applies to it)", subject=given[0])
        with FastTextModel.open(path) as model:
            name = check_name(name) if name is not None else name_of_file(path)
            return self._import(name, FastTextRows(model, limit=options.limit, progress=progress), replace, started)

    def import_vectors(self, name: str, words: list[str], vectors: np.ndarray, *, source: str,
                       source_sha256: str, format: str = "vectors", parent_uid: str | None = None,
                       replace: bool = False) -> ImportResult:
        """Store ``words`` and their float32 ``vectors`` (row i is the vector of
        ``words[i]``) as set ``name``: the import every in-memory source goes through
        (the built-in sets, :func:`vecstore.keras.import_keras`).

        Words must be distinct, non-empty and hold no line break; vectors finite. The
        same ``source_sha256`` under the same name is a no-op unless ``replace``.
        """
        from vecstore.importer import VectorRows

        name = check_name(name)
        rows = VectorRows(words, vectors, source=source, sha256=source_sha256, format=format, parent_uid=parent_uid)
        return self._import(name, rows, replace)

    def import_builtin(self, source: str, name: str | None = None, *, replace: bool = False) -> ImportResult:
        """Import a built-in source (see :data:`vecstore.io.builtin.BUILTINS`) as set ``name``."""
        from dataclasses import replace as replaced

        from vecstore.importer import ImportCounts
        from vecstore.io.builtin import load_builtin

        embeddings = load_builtin(source)
        result = self.import_vectors(name if name is not None else source, embeddings.words, embeddings.vectors,
                                     source=embeddings.source, source_sha256=embeddings.sha256,
                                     format=embeddings.format, replace=replace)
        if result.status == "unchanged":
            return result
        return replaced(result, counts=ImportCounts(result.info.count, result.info.count, 0, 0, False))

    def _import(self, name: str, rows: Rows, replace: bool, started: float | None = None) -> ImportResult:
        from vecstore.importer import run_import

        return run_import(lambda: self.open(create=True), self.indexes, name, rows, replace=replace, started=started)

    def refuse_own_file(self, path: Path) -> None:
        """An import never reads the store's own database or derived files."""
        reason = self.location.protected().reason(path)
        if reason is not None:
            raise InputFileError(path, f"is {reason}, not an embedding file")


def _starts_as_fasttext_model(path: Path) -> bool:
    """Whether ``path`` is a plain file starting with fastText's magic number (a missing or
    unreadable one goes the usual way, which says what is wrong with it)."""
    import stat

    from vecstore.io.fasttext_bin import looks_like_fasttext_bin

    try:  # (never opened unless regular, and then without waiting: a FIFO would block the open)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # (a folder, a FIFO, a device: the usual way says so)
            os.close(fd)
            return False
    except OSError:
        os.close(fd)
        return False
    with os.fdopen(fd, "rb") as f:
        try:
            return looks_like_fasttext_bin(f.read(8))
        except OSError:
            return False
