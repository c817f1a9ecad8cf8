"""The import pipeline: every import, from its source to the commit, in one place.

An import has a *source of rows* (:class:`FileRows`: an embedding file parsed block by
block in a producer thread and passed through the duplicate, case and limit rules;
:class:`VectorRows`: words and vectors already in memory, which the built-in sets and
Keras models give) and one path to the store (:func:`run_import`):

1. the name is looked up: the same source with the same options under that name is
   ``unchanged`` (nothing is read), anything else needs ``replace``;
2. the rows stream into checksummed chunks inside one write transaction
   (:class:`SetBuilder`) and, at the same time, into the set's derived files;
3. the transaction commits (``imported``, or ``replaced``), then the derived files are
   published.

Memory is bounded by the vocabulary and a few blocks in flight, never by the size of the
file: neither the rows nor the index are kept in memory. All or nothing: on any error,
or a kill, the store is left exactly as it was.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vecstore.cosine import normalized, squared_sum, unit_rows
from vecstore.errors import SETTINGS, InputFileError, InvalidArgumentError, SetExistsError, quoted
from vecstore.index.folder import IndexFileWriter, IndexFolder
from vecstore.integrity import chunk_digest, content_checksum
from vecstore.stats import StatsAccumulator
from vecstore.storage.catalog import Catalog, SetWriter
from vecstore.storage.records import Completion, SetHeader, SetInfo, new_uid, rows_per_chunk

if TYPE_CHECKING:
    from concurrent.futures import Future

    from vecstore.io.fasttext_bin import FastTextModel
    from vecstore.io.readers import EmbeddingFile, ReadOptions, RowFilter

#: progress(bytes of the file read, file size, rows stored)
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class ImportCounts:
    """What the rules did to the file's rows."""

    lines_read: int
    stored: int
    duplicates: int
    case_merged: int
    limited: bool

    def to_dict(self) -> dict[str, object]:
        return {"lines_read": self.lines_read, "stored": self.stored, "duplicates": self.duplicates,
                "case_merged": self.case_merged, "limited": self.limited}


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


class Rows(Protocol):
    """A source of rows for :func:`run_import`."""

    def header(self, name: str) -> SetHeader:
        """The set's row before its rows are known (dimension, format, provenance)."""
        ...

    def same_source_or_raise(self, existing: SetInfo) -> None:
        """Called when a set of the name exists and ``replace`` was not given: return if
        it holds this very source read the same way, else raise :class:`SetExistsError`."""
        ...

    def blocks(self) -> Iterator[tuple[list[str], np.ndarray]]: ...

    def complete(self, stored: int) -> dict[int, np.ndarray]:
        """After the last block: check the source was whole; the stored rows to give a
        newer vector (a repeated word, ``duplicates='last'``)."""
        ...

    def sha256(self) -> str:
        """The source's identity, once every row was read."""
        ...

    def counts(self, stored: int) -> ImportCounts | None: ...


def run_import(open_store: Callable[[], Catalog], indexes: IndexFolder, name: str, rows: Rows, *,
               replace: bool = False, started: float | None = None) -> ImportResult:
    """Import ``rows`` as set ``name``: ``unchanged`` when the same source is there already
    (unless ``replace``), else written in one transaction and committed (see the module
    docstring). ``open_store`` opens (or creates) the store: it is called once the source
    is known to be readable, so bad input never creates a store. ``started``: when the
    import began (its ``seconds`` count from there)."""
    started = time.perf_counter() if started is None else started
    catalog = open_store()
    existing = catalog.find_set(name)
    if existing is not None and not replace:
        rows.same_source_or_raise(existing)
        return ImportResult(existing, "unchanged", time.perf_counter() - started)
    info, replaced = write_set(catalog, indexes, rows.header(name), rows.blocks(), rows.sha256, replace=replace,
                               complete=rows.complete, also=getattr(rows, "also", None))
    return ImportResult(info, "replaced" if replaced is not None else "imported", time.perf_counter() - started,
                        rows.counts(info.count))


def same_source_or_raise(existing: SetInfo, sha256: str, shaping: str | None = None,
                         forced_format: str | None = None) -> None:
    """Re-importing the same content with the same options under its name is a no-op;
    anything else needs ``replace``."""
    same_options = shaping is None or existing.read_options is None or existing.read_options == shaping
    if sha256 != existing.source_sha256:
        raise SetExistsError(existing.name, existing.source)
    if not same_options or (forced_format is not None and forced_format != existing.format):
        raise SetExistsError(existing.name, existing.source,
                             "already exists, read from the same source with other options: the set was read "
                             + SETTINGS,
                             _differences(existing, shaping, forced_format))


def _differences(existing: SetInfo, shaping: str | None, forced_format: str | None) -> dict[str, object]:
    """The read options the existing set was imported with, where this import's differ."""
    before = json.loads(existing.read_options) if existing.read_options else {}
    now = json.loads(shaping) if shaping else {}
    found = {key: before.get(key) for key in sorted(before.keys() | now.keys()) if before.get(key) != now.get(key)}
    if forced_format is not None and forced_format != existing.format:
        found["format"] = existing.format
    return found


class FileRows:
    """The rows of an open embedding file, through the read options' rules.

    The file's sha256 is computed in a thread while it is parsed (hashlib releases the
    GIL), and blocks are parsed one ahead of the one being stored (:func:`prefetched`).
    """

    def __init__(self, source: EmbeddingFile, options: ReadOptions, progress: Progress | None = None) -> None:
        from vecstore.io.readers import RowFilter

        self.source = source
        self.options = options
        self.progress = progress
        self.shaping = json.dumps(options.shaping(source.member), sort_keys=True)
        self.filter: RowFilter = RowFilter(source.path, options)
        self._digest: Future[tuple[str, str | None]] | None = None

    def header(self, name: str) -> SetHeader:
        return SetHeader(name, self.source.layout.dim, self.source.layout.format, self.source.source,
                         read_options=self.shaping)

    def same_source_or_raise(self, existing: SetInfo) -> None:
        from vecstore.io.readers import file_sha256, source_identity

        path = self.source.path
        sha256, _ = source_identity(path, self.source.member)
        if existing.read_options is None and sha256 != existing.source_sha256:
            sha256 = file_sha256(path)  # imported before 0003: a zip was identified by the whole file
        same_source_or_raise(existing, sha256, self.shaping, self.options.format)

    def blocks(self) -> Iterator[tuple[list[str], np.ndarray]]:
        from concurrent.futures import ThreadPoolExecutor  # (imports only: queries need no threads)

        from vecstore.io.readers import source_identity

        source, rows, progress = self.source, self.filter, self.progress
        with ThreadPoolExecutor(1) as hasher:
            self._digest = hasher.submit(source_identity, source.path, source.member)
            for block in prefetched(source.blocks()):
                yield rows.accept(block)
                if progress is not None:
                    progress(source.bytes_read, source.size, len(rows.stored))
                if rows.full:
                    break
            if progress is not None and not rows.full:
                progress(source.size, source.size, len(rows.stored))
            self._digest.result()  # (waited for here, inside the pool, so a failure is this import's)

    def complete(self, stored: int) -> dict[int, np.ndarray]:
        from vecstore.io.readers import check_complete

        check_complete(self.source.path, self.source.layout, self.filter, stored)
        return self.filter.patches

    def sha256(self) -> str:
        assert self._digest is not None, "sha256() is known once the blocks were read"
        return self._digest.result()[0]

    def counts(self, stored: int) -> ImportCounts:
        rows = self.filter
        return ImportCounts(rows.lines_read, stored, rows.duplicates, rows.case_merged, rows.full)


class VectorRows:
    """Words and their float32 vectors already in memory (row i is the vector of
    ``words[i]``), identified by ``sha256``: a built-in set, a Keras model's embedding.

    Words must be distinct, non-empty and hold no line break; vectors finite.
    """

    def __init__(self, words: list[str], vectors: np.ndarray, *, source: str, sha256: str,
                 format: str = "vectors", parent_uid: str | None = None) -> None:
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
        self.words, self.vectors = list(words), vectors
        self.source, self._sha256, self.format, self.parent_uid = source, sha256, format, parent_uid

    def header(self, name: str) -> SetHeader:
        return SetHeader(name, int(self.vectors.shape[1]), self.format, self.source, self.parent_uid)

    def same_source_or_raise(self, existing: SetInfo) -> None:
        same_source_or_raise(existing, self._sha256)

    def blocks(self) -> Iterator[tuple[list[str], np.ndarray]]:
        yield self.words, self.vectors

    def complete(self, stored: int) -> dict[int, np.ndarray]:
        return {}

    def sha256(self) -> str:
        return self._sha256

    def counts(self, stored: int) -> ImportCounts | None:
        return None  # (no rules applied: every row given is stored)


class FastTextRows:
    """A fastText binary model (:class:`~vecstore.io.fasttext_bin.FastTextModel`): its
    words with the vectors fastText gives them, and, written in the same transaction, its
    n-gram rows in checksummed chunks with the settings that hash a word into them, so
    that a word the set lacks gets the vector fastText would give it.

    ``limit`` keeps the first words (fastText orders them by frequency); the n-gram rows
    are kept whole, since any word may hash into any of them.
    """

    FORMAT = "fasttext-bin"

    def __init__(self, model: FastTextModel, *, limit: int | None = None,
                 progress: Progress | None = None) -> None:
        self.model, self.limit, self.progress = model, limit, progress
        self._sha256: str | None = None

    def shaping(self) -> str:
        """The read options, and whether the set keeps a subword model (so that a model
        row lost from the store is missed, not taken for a set without one)."""
        return json.dumps({"limit": self.limit, "subwords": self.model.subwords is not None}, sort_keys=True)

    def header(self, name: str) -> SetHeader:
        return SetHeader(name, self.model.dim, self.FORMAT, str(self.model.path), read_options=self.shaping())

    def same_source_or_raise(self, existing: SetInfo) -> None:
        same_source_or_raise(existing, self.sha256(), self.shaping())

    def blocks(self) -> Iterator[tuple[list[str], np.ndarray]]:
        left = self.limit if self.limit is not None else self.model.nwords
        size = self.model.path.stat().st_size
        done = 0
        for words, vectors in self.model.word_vectors():
            if left <= 0:
                break
            words, vectors = words[:left], vectors[:left]
            left -= len(words)
            done += len(words)
            yield words, vectors
            if self.progress is not None:
                self.progress(int(size * done / max(1, self.model.nwords) * 0.5), size, done)

    def complete(self, stored: int) -> dict[int, np.ndarray]:
        return {}

    def sha256(self) -> str:
        if self._sha256 is None:
            from vecstore.io.readers import file_sha256

            self._sha256 = file_sha256(self.model.path)
        return self._sha256

    def counts(self, stored: int) -> ImportCounts:
        return ImportCounts(self.model.nwords, stored, 0, 0, stored < self.model.nwords)

    def also(self, writer: SetWriter, info: SetInfo) -> None:
        """The n-gram rows, chunk by chunk (1 MiB, as the vectors), and the settings with
        the checksum binding them, in the set's transaction."""
        from vecstore.integrity import subword_checksum

        subwords = self.model.subwords
        if subwords is None:
            return
        per_chunk = rows_per_chunk(self.model.dim)
        digests = []
        for number, start in enumerate(range(0, subwords.bucket, per_chunk)):
            # (copied out of the mapped file before it is hashed: the bytes stored are the bytes checked)
            rows = np.array(self.model.ngram_rows(start, min(start + per_chunk, subwords.bucket)), dtype="<f4")
            if not np.isfinite(rows).all():
                bad = start + int(np.argmin(np.isfinite(rows).all(axis=1)))
                raise InputFileError(self.model.path, f"n-gram row {bad:,} holds a value that is not a finite number")
            data = memoryview(rows).cast("B")
            digest = chunk_digest(data, info.uid, "ngrams", number)
            writer.add_ngram_chunk(number, data, digest)
            digests.append(digest)
        writer.add_subword_model(subwords.minn, subwords.maxn, subwords.bucket,
                                 subword_checksum(info.uid, self.model.dim,
                                                  (subwords.minn, subwords.maxn, subwords.bucket), digests))


class SetBuilder:
    """Accumulates rows into checksummed chunks for the database, and their unit rows into
    the derived files; keeps the chunk digests the set's content checksum is made of."""

    def __init__(self, writer: SetWriter, index: IndexFileWriter, set_uid: str) -> None:
        self.writer = writer
        self.set_uid = set_uid
        self.index = index
        self.dim = dim = index.dim
        self.per_chunk = rows_per_chunk(dim)
        self.stats = StatsAccumulator(dim)
        self.count = 0
        self.digests: list[tuple[str, str]] = []
        self._buffer = np.empty((self.per_chunk, dim), dtype="<f4")
        self._buffer_words: list[str] = []

    def add(self, words: list[str], vectors: np.ndarray) -> None:
        if not words:
            return
        if self.index.needs_unit_rows:
            unit, squares = unit_rows(vectors)
        else:  # (the rows kind keeps only the rows as stored: no unit copy to make)
            unit, squares = None, squared_sum(vectors)
        self.index.add(unit, vectors)
        self.stats.add(vectors, squares=squares)
        start = 0
        while start < len(words):
            filled = len(self._buffer_words)
            take = min(self.per_chunk - filled, len(words) - start)
            if filled == 0 and take == self.per_chunk:  # a whole chunk straight from the block
                self._write(vectors[start:start + take], words[start:start + take])
            else:
                self._buffer[filled:filled + take] = vectors[start:start + take]
                self._buffer_words += words[start:start + take]
                if len(self._buffer_words) == self.per_chunk:
                    self._write(self._buffer, self._buffer_words)
                    self._buffer_words = []
            start += take
        self.count += len(words)

    def _write(self, vectors: np.ndarray, words: list[str]) -> None:
        data = memoryview(np.ascontiguousarray(vectors, dtype="<f4"))
        number = len(self.digests)
        joined = _joined_words(words, number * self.per_chunk)
        vectors_digest = chunk_digest(data.cast("B"), self.set_uid, "vectors", number)
        words_digest = chunk_digest(joined, self.set_uid, "words", number)
        self.writer.add_chunk(number, data, joined, vectors_digest, words_digest)
        self.digests.append((vectors_digest, words_digest))

    def finish(self, patches: dict[int, np.ndarray]) -> str:
        """Write the last partial chunk, give repeated words their newest vectors; return
        the set's content checksum."""
        if self._buffer_words:
            self._write(self._buffer[:len(self._buffer_words)], self._buffer_words)
            self._buffer_words = []
        by_chunk: dict[int, list[int]] = {}
        for row in patches:
            by_chunk.setdefault(row // self.per_chunk, []).append(row)
        for chunk_no, rows in sorted(by_chunk.items()):
            chunk = np.frombuffer(self.writer.read_chunk(chunk_no), dtype="<f4").reshape(-1, self.dim).copy()
            for row in rows:
                self.stats.add(chunk[row % self.per_chunk], sign=-1)
                self.stats.add(patches[row])
                chunk[row % self.per_chunk] = patches[row]
                self.index.replace(row, normalized(patches[row]) if self.index.needs_unit_rows else None,
                                   patches[row])
            data = memoryview(chunk).cast("B")
            vectors_digest = chunk_digest(data, self.set_uid, "vectors", chunk_no)
            self.writer.replace_chunk(chunk_no, data, vectors_digest)
            self.digests[chunk_no] = (vectors_digest, self.digests[chunk_no][1])
        return content_checksum(self.dim, self.count, self.digests)


def _joined_words(words: list[str], first_row: int) -> bytes:
    """The chunk's words joined by ``\\n`` in UTF-8, refusing a word that would break that
    (empty, holding a line break, or not encodable): every import path passes here."""
    joined = "\n".join(words)
    if joined.count("\n") != len(words) - 1 or "" in words:
        bad = next(i for i, w in enumerate(words) if not w or "\n" in w)
        raise InvalidArgumentError(f"row {first_row + bad + 1}: the word {quoted(words[bad])} "
                                   + ("is empty" if not words[bad] else "holds a line break") +
                                   ", which a stored word cannot")
    try:
        return joined.encode("utf-8")
    except UnicodeEncodeError as exc:
        row = joined.count("\n", 0, exc.start)
        raise InvalidArgumentError(f"row {first_row + row + 1}: the word {quoted(words[row])} is not valid "
                                   "Unicode (it holds a lone surrogate)") from None


def write_set(catalog: Catalog, indexes: IndexFolder, header: SetHeader,
              blocks: Iterable[tuple[list[str], np.ndarray]], sha256: Callable[[], str], *,
              replace: bool = False,
              complete: Callable[[int], dict[int, np.ndarray]] | None = None,
              also: Callable[[SetWriter, SetInfo], None] | None = None) -> tuple[SetInfo, SetInfo | None]:
    """Write a set's rows in one transaction, and its derived files; return its row and
    the set it replaced (found by name inside the transaction). ``also`` writes what must
    commit with the set (a collection's documents), in the same transaction.

    All or nothing: on any error, or a kill, the store is left as it was and the derived
    files' temp files are removed (or, after a kill, reclaimed by the next writer).
    """
    uid = new_uid()
    indexes.tidy(lambda: {s.uid for s in catalog.list_sets()})
    index = indexes.writer(uid, header.dim)
    try:
        with catalog.writing(header, uid, replace=replace) as writer:
            builder = SetBuilder(writer, index, uid)
            for words, vectors in blocks:
                builder.add(words, vectors)
            checksum = builder.finish(complete(builder.count) if complete is not None else {})
            info = writer.finish(Completion(builder.count, sha256(), checksum, builder.stats.result().to_json()))
            if also is not None:
                also(writer, info)
            prepared = index.finish(info)
            replaced = writer.replaced
    except BaseException:
        close = getattr(blocks, "close", None)
        if close is not None:  # stop the source's threads (parser, hasher) before the error leaves
            close()
        index.abandon()
        raise
    # Published after the commit: a crash in between leaves a missing index, which the
    # next query rebuilds, never an index without its set.
    indexes.publish(info, prepared)
    if replaced is not None:
        indexes.discard(replaced.uid)
    return info, replaced


def prefetched(blocks: Iterator, depth: int = 1) -> Iterator:
    """Run ``blocks`` in a producer thread, ``depth`` items ahead: the next block is parsed
    (the GIL released in C) while the caller stores the current one."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in blocks:
                while not stop.is_set():
                    try:
                        items.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(("done", done))
        except BaseException as exc:  # handed to the consumer, raised there
            items.put(("error", exc))
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()  # end the source's own reader thread here, not at garbage collection

    thread = threading.Thread(target=produce, name="vecstore-parse", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(0.05)
