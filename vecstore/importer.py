"""Streaming an embedding file into a store: chunks to the database, rows to the index.

The file is parsed block by block (:mod:`vecstore.textformat`) in a producer thread
while this module's consumer filters the rows (duplicates, case folding, limit), writes
full chunks inside the import's transaction and adds the normalised rows to the FAISS
index file. Memory is bounded by the vocabulary and a few blocks in flight, never by the
size of the file: neither the rows nor the index are kept in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from vecstore.catalog import Catalog, Completion, SetHeader, SetInfo, SetWriter, new_uid, rows_per_chunk
from vecstore.errors import InvalidArgumentError, quoted
from vecstore.index import IndexFileWriter, IndexFolder, normalized, unit_rows
from vecstore.integrity import chunk_digest, content_checksum
from vecstore.stats import StatsAccumulator

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
        unit, squares = unit_rows(vectors)
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
                self.index.replace(row, normalized(patches[row]), patches[row])
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
              complete: Callable[[int], dict[int, np.ndarray]] | None = None) -> tuple[SetInfo, SetInfo | None]:
    """Write a set's rows in one transaction, and its derived files; return its row and
    the set it replaced (found by name inside the transaction).

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
            prepared = index.finish(info)
            replaced = writer.replaced
    except BaseException:
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
