"""The store: named embedding sets in one database, with their derived files beside it.

``Store()`` opens the default store (one SQLite file in the user's data folder, or
``$VECSTORE_STORE``), ``Store(path_or_sqlalchemy_url)`` any other. Opening is lazy:
reading a store that does not exist is a :class:`StoreNotFoundError` (a mistyped path
never becomes a new, empty store); the first write (an import) creates it. A SQLite
store at the current schema is read and written with the stdlib driver; creating one,
migrating an older schema, or a server URL brings in SQLAlchemy (and Alembic to migrate).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from vecstore.catalog import Catalog, SetHeader, SetInfo, SqliteCatalog
from vecstore.embeddings import EmbeddingSet
from vecstore.errors import (
    InputFileError,
    InvalidArgumentError,
    SetChangedError,
    SetChoiceError,
    SetExistsError,
    SetNotFoundError,
    StoreError,
    StoreNotFoundError,
    printable,
    printable_path,
    quoted,
)
from vecstore.index import IndexFolder
from vecstore.location import StoreLocation, resolve

if TYPE_CHECKING:
    from vecstore.check import CheckReport
    from vecstore.database import Database
    from vecstore.export import ExportResult
    from vecstore.importer import ImportCounts, Progress
    from vecstore.textformat import EmbeddingFile, ReadOptions
    from vecstore.vocabulary import Vocabulary


T = TypeVar("T")

#: How often a one-shot query opens a set again that another process replaced meanwhile.
REOPEN_ATTEMPTS = 3


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

    def to_dict(self) -> dict[str, object]:
        return {"store": self.location, "backend": self.backend, "revision": self.revision,
                "sets": [s.to_dict() for s in self.sets], "database_bytes": self.database_bytes,
                "derived_folder": self.derived_folder, "derived_bytes": self.derived_bytes}


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

    def _open(self, *, create: bool) -> Catalog:
        """The catalog, opened on first use: read and written with sqlite3 when the store is
        a SQLite file at the head schema, else through SQLAlchemy, which migrates it (and,
        with ``create``, creates it)."""
        if self._catalog is not None:  # (opened: the store exists, for reading and writing)
            return self._catalog
        path = self.location.sqlite_path
        if path is not None and path.exists():
            from vecstore.files import special_file_kind

            kind = special_file_kind(path.stat().st_mode)
            if kind is not None:
                raise StoreError(f"{self.location.display()} is {kind}; a store is a regular file (give its path)")
        fast = SqliteCatalog.open_if_current(path) if path is not None else None
        if fast is None:
            from vecstore.database import Database

            if self._database is None:
                self._database = Database(self.location, create=create)
            if path is not None:  # created or migrated: read and write it fast from now on
                fast = SqliteCatalog.open_if_current(path)
        self._catalog = fast if fast is not None else self._database
        assert self._catalog is not None
        return self._catalog

    @property
    def catalog(self) -> Catalog:
        """The store's catalog for reading (a missing store is a :class:`StoreNotFoundError`)."""
        return self._open(create=False)

    def exists(self) -> bool:
        """Whether the store exists (has been written to): reading it will not fail for want of it."""
        try:
            self._open(create=False)
        except StoreNotFoundError:
            return False
        return True

    def upgrade(self) -> tuple[str | None, str]:
        """Create the store if needed and migrate its schema to the newest revision;
        return (revision before, revision now)."""
        from vecstore.database import Database, head_revision

        if self._database is None:
            self.close()
            self._database = Database(self.location, create=True)
        return self._database.upgraded_from, head_revision()

    def info(self) -> StoreInfo:
        """Where the store is, its schema revision, its sets, and the disk they use."""
        catalog = self.catalog
        database_bytes = None
        if self.location.sqlite_path is not None:
            database_bytes = sum(p.stat().st_size for p in self.location.own_files() if p.is_file())
        derived = 0
        if self.location.index_dir.is_dir():
            derived = sum(e.stat().st_size for e in os.scandir(self.location.index_dir) if e.is_file())
        backend = "sqlite" if self.location.sqlite_path is not None else self.location.url.split(":", 1)[0]
        return StoreInfo(self.location.display(), backend, catalog.revision(), catalog.list_sets(),
                         database_bytes, str(self.location.index_dir), derived)

    def check(self, *, repair: bool = False) -> CheckReport:
        """Verify every byte of the store (see :mod:`vecstore.check`); with ``repair``,
        rebuild what is derived and remove leftovers. Never changes a set's vectors."""
        from vecstore.check import check_store

        return check_store(self, repair=repair)

    # -- sets -----------------------------------------------------------------------------

    def sets(self) -> list[SetInfo]:
        """All sets, by name."""
        return self.catalog.list_sets()

    def get(self, name: str) -> EmbeddingSet:
        """The set called ``name``, or :class:`SetNotFoundError` listing those there are."""
        info = self.catalog.find_set(_check_lookup(name))
        if info is None:
            raise SetNotFoundError(name, [s.name for s in self.sets()])
        return EmbeddingSet(info, self.catalog, self.indexes)

    def __getitem__(self, name: str) -> EmbeddingSet:
        return self.get(name)

    def pick(self, name: str | None = None) -> EmbeddingSet:
        """The set ``name``; without a name, the store's only set (:class:`SetChoiceError`
        lists them when there are several)."""
        if name is not None:
            return self.get(name)
        names = [s.name for s in self.sets()]
        if len(names) == 1:
            return self.get(names[0])
        raise SetChoiceError(names)

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

    def remove(self, name: str) -> SetInfo:
        """Delete a set and its derived files."""
        removed = self._open(create=False).delete_set(_check_lookup(name))
        if removed is None:
            raise SetNotFoundError(name, [s.name for s in self.sets()])
        self.indexes.discard(removed.uid)
        self.indexes.tidy(lambda: {s.uid for s in self.catalog.list_sets()})
        return removed

    def export(self, name: str, out: str | os.PathLike[str], format: str = "glove", *,
               overwrite: bool = False) -> ExportResult:
        """Write set ``name`` to ``out`` (see :func:`vecstore.export.export_set`). An existing
        ``out`` is refused unless ``overwrite``; the store's own files are refused always."""
        from vecstore.export import export_set

        protected = self.location.protected()
        return self.with_set(name, lambda s: export_set(s, out, format, overwrite=overwrite,
                                                                        protected=protected))

    # -- importing ------------------------------------------------------------------------

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
        from vecstore.importer import ImportCounts
        from vecstore.textformat import (
            EmbeddingFile,
            ReadOptions,
            RowFilter,
            check_complete,
            file_sha256,
            source_identity,
        )

        path = Path(path)
        options = options or ReadOptions()
        self._refuse_own_file(path)
        started = time.perf_counter()
        with EmbeddingFile(path, options) as source:
            shaping = json.dumps(options.shaping(source.member), sort_keys=True)
            name = _check_name(name) if name is not None else _default_name(Path(source.member or path))
            catalog = self._open(create=True)
            existing = catalog.find_set(name)
            if existing is not None and not replace:
                sha256, _ = source_identity(path, source.member)
                if existing.read_options is None and sha256 != existing.source_sha256:
                    sha256 = file_sha256(path)  # imported before 0003: a zip was identified by the whole file
                _same_source_or_raise(existing, sha256, shaping, options.format)
                return ImportResult(existing, "unchanged", time.perf_counter() - started)
            from concurrent.futures import ThreadPoolExecutor  # (imports only: queries need no threads)

            with ThreadPoolExecutor(1) as hasher:
                # hashlib releases the GIL: the hash overlaps the parse
                digest = hasher.submit(source_identity, path, source.member)
                header = SetHeader(name, source.layout.dim, source.layout.format, source.source,
                                   read_options=shaping)
                rows = RowFilter(source.path, options)
                blocks = self._accepted(source, rows, progress)

                def complete(stored: int) -> dict[int, np.ndarray]:
                    check_complete(source.path, source.layout, rows, stored)
                    return rows.patches

                info, replaced = self._write(header, blocks, lambda: digest.result()[0], replace, complete)
        counts = ImportCounts(rows.lines_read, info.count, rows.duplicates, rows.case_merged, rows.full)
        return ImportResult(info, "replaced" if replaced else "imported", time.perf_counter() - started, counts)

    @staticmethod
    def _accepted(source: EmbeddingFile, rows: Any, progress: Progress | None) -> Iterator[tuple[list[str], Any]]:
        from vecstore.importer import prefetched

        for block in prefetched(source.blocks()):
            yield rows.accept(block)
            if progress is not None:
                progress(source.bytes_read, source.size, len(rows.stored))
            if rows.full:
                return
        if progress is not None:
            progress(source.size, source.size, len(rows.stored))

    def import_vectors(self, name: str, words: list[str], vectors: np.ndarray, *, source: str,
                       source_sha256: str, format: str = "vectors", parent_uid: str | None = None,
                       replace: bool = False) -> ImportResult:
        """Store ``words`` and their float32 ``vectors`` (row i is the vector of
        ``words[i]``) as set ``name``: the import every in-memory source goes through.

        Words must be distinct, non-empty and hold no line break; vectors finite. The
        same ``source_sha256`` under the same name is a no-op unless ``replace``.
        """
        name = _check_name(name)
        started = time.perf_counter()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words) or vectors.shape[1] < 1:
            raise InvalidArgumentError(f"vectors of shape {vectors.shape} do not match {len(words)} words")
        if not np.isfinite(vectors).all():
            bad = int(np.argmin(np.isfinite(vectors).all(axis=1)))
            raise InvalidArgumentError(f"the vector of {quoted(words[bad])} holds a value that is not a finite number")
        if len(set(words)) != len(words):
            seen: set[str] = set()
            repeated = next(w for w in words if w in seen or seen.add(w))  # type: ignore[func-returns-value]
            raise InvalidArgumentError(f"the word {quoted(repeated)} appears more than once")
        existing = self._open(create=True).find_set(name)
        if existing is not None and not replace:
            _same_source_or_raise(existing, source_sha256, None, None)
            return ImportResult(existing, "unchanged", time.perf_counter() - started)
        header = SetHeader(name, int(vectors.shape[1]), format, source, parent_uid)
        info, replaced = self._write(header, [(list(words), vectors)], lambda: source_sha256, replace)
        return ImportResult(info, "replaced" if replaced else "imported", time.perf_counter() - started)

    def import_builtin(self, source: str, name: str | None = None, *, replace: bool = False) -> ImportResult:
        """Import a built-in source (see :data:`vecstore.builtin.BUILTINS`) as set ``name``."""
        from vecstore.builtin import load_builtin
        from vecstore.importer import ImportCounts

        embeddings = load_builtin(source)
        result = self.import_vectors(name if name is not None else source, embeddings.words, embeddings.vectors,
                                     source=embeddings.source, source_sha256=embeddings.sha256,
                                     format=embeddings.format, replace=replace)
        if result.status == "unchanged":
            return result
        count = result.info.count
        return ImportResult(result.info, result.status, result.seconds, ImportCounts(count, count, 0, 0, False))

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
        self._refuse_own_file(path)
        sha256 = file_sha256(path)
        existing = self._open(create=True).find_set(name)
        if existing is not None and not replace:
            _same_source_or_raise(existing, sha256, None, None)
            return ImportResult(existing, "unchanged", time.perf_counter() - started)
        parent_uid = self.get(parent).info.uid if parent is not None else None
        from vecstore.keras import read_embedding  # TensorFlow starts here, after the cheap checks

        trained = read_embedding(path, layer)
        rows, _dim = trained.weights.shape
        if rows != len(vocab):
            raise InvalidArgumentError(f"{path}: layer {quoted(trained.layer_name)} has {rows} rows but the "
                                       f"{vocab.kind} vocabulary has {len(vocab)} indexes: is it the model's "
                                       "vocabulary?")
        keep = vocab.word_indexes()
        words = [vocab.tokens[i] for i in keep]
        if any("\n" in w or "\r" in w for w in words):
            raise InvalidArgumentError("a vocabulary token holds a line break, which a set's word cannot")
        if parent_uid is None and trained.parent_uid is not None:
            parent_uid = next((s.uid for s in self.sets() if s.uid == trained.parent_uid), None)
        try:
            return self.import_vectors(name, words, trained.weights[keep], source=f"{path.resolve()}#"
                                       f"{trained.layer_name}", source_sha256=sha256, format="keras",
                                       parent_uid=parent_uid, replace=replace)
        except InvalidArgumentError as exc:
            raise InputFileError(path, str(exc)) from None

    def _write(self, header: SetHeader, blocks: Any, sha256: Callable[[], str], replace: bool,
               complete: Callable[[int], dict[int, np.ndarray]] | None = None) -> tuple[SetInfo, SetInfo | None]:
        from vecstore.importer import write_set

        return write_set(self._open(create=True), self.indexes, header, blocks, sha256, replace=replace,
                         complete=complete)

    def _refuse_own_file(self, path: Path) -> None:
        """An import never reads the store's own database or derived files."""
        reason = self.location.protected().reason(path)
        if reason is not None:
            raise InputFileError(path, f"is {reason}, not an embedding file")


def _same_source_or_raise(existing: SetInfo, sha256: str, shaping: str | None, forced_format: str | None) -> None:
    """Re-importing the same content with the same options under its name is a no-op;
    anything else needs ``replace``."""
    same_options = shaping is None or existing.read_options is None or existing.read_options == shaping
    if sha256 != existing.source_sha256:
        raise SetExistsError(existing.name, existing.source)
    if not same_options or (forced_format is not None and forced_format != existing.format):
        raise SetExistsError(existing.name, existing.source,
                             f"already exists, read from the same source with other options "
                             f"({_options_text(existing.read_options)})")


def _options_text(options: str | None) -> str:
    values = json.loads(options) if options else {}
    return ", ".join(f"{k}={quoted(v) if isinstance(v, str) else v}" for k, v in sorted(values.items())
                     if v is not None) or "none"


def _default_name(path: Path) -> str:
    """The set name a file gives when none is given, or an error saying to give one."""
    try:
        return _check_name(default_set_name(path))
    except InvalidArgumentError:
        raise InvalidArgumentError(f"the file name {quoted(printable_path(path.name))} cannot name a set (its bytes "
                                   "are not UTF-8, or it holds control characters)",
                                   hint=("name", "pass name= to name it")) from None


def default_set_name(path: Path) -> str:
    """A file's name without its compression and format suffixes: glove.6B.50d.txt.gz -> glove.6B.50d."""
    name = path.name
    for suffix in (".gz", ".bz2", ".zip", ".txt", ".vec", ".bin"):
        name = name.removesuffix(suffix)
    return name or path.name


def _check_name(name: str) -> str:
    """A set name as stored: 1 to 200 characters of valid Unicode, no control characters
    (a name is printed: it must not carry line breaks or a terminal's escape sequences)."""
    name = _check_lookup(name).strip()
    if not name or len(name) > 200 or printable(name) != name:
        raise InvalidArgumentError(f"invalid set name {quoted(name)}: use 1 to 200 characters, none of them "
                                   "control characters")
    return name


def _check_lookup(name: str) -> str:
    """A name to look up: text that can be stored (no lone surrogates from undecodable bytes)."""
    if not isinstance(name, str):
        raise InvalidArgumentError(f"a set name is text, not {type(name).__name__}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(f"the set name {quoted(name)} is not valid UTF-8") from None
    return name
