"""Why vectors and words are stored in chunks: the three layouts measured on real GloVe.

Writes GloVe 6B 50d (400,000 x 50) into a fresh SQLite file three ways and times what an
import and a query pay for each:

* row blobs: one row per word (word, vector blob), with a unique index on the word;
* chunked blobs (vecstore's choice): 1 MiB chunks of float32 rows, words ``\\n``-joined in
  chunks of the same rows;
* matrix file: the words in the database, the vectors in a ``.npy`` beside it.

Run: ``python benchmarks/bench_layout.py``. Uses the stdlib sqlite3 with vecstore's
pragmas (WAL, synchronous FULL, 64 KiB pages) so only the layout differs.
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import common
import numpy as np
import pyarrow.parquet as pq

from vecstore.io.builtin import builtin_files

ROWS_PER_CHUNK = (1 << 20) // (4 * 50)


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("PRAGMA page_size = 65536")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


def write_rows(db: sqlite3.Connection, folder: Path, words: list[str], vectors: np.ndarray) -> None:
    db.execute("CREATE TABLE rows (row INTEGER PRIMARY KEY, word TEXT NOT NULL, vector BLOB NOT NULL)")
    db.execute("CREATE UNIQUE INDEX rows_word ON rows (word)")
    with db:
        db.executemany("INSERT INTO rows VALUES (?, ?, ?)",
                       ((i, w, vectors[i].tobytes()) for i, w in enumerate(words)))


def write_chunks(db: sqlite3.Connection, folder: Path, words: list[str], vectors: np.ndarray) -> None:
    db.execute("CREATE TABLE vec (chunk INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    db.execute("CREATE TABLE words (chunk INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    starts = range(0, len(words), ROWS_PER_CHUNK)
    with db:
        db.executemany("INSERT INTO vec VALUES (?, ?)",
                       ((i, memoryview(vectors[s:s + ROWS_PER_CHUNK])) for i, s in enumerate(starts)))
        db.executemany("INSERT INTO words VALUES (?, ?)",
                       ((i, "\n".join(words[s:s + ROWS_PER_CHUNK]).encode()) for i, s in enumerate(starts)))


def write_matrix_file(db: sqlite3.Connection, folder: Path, words: list[str], vectors: np.ndarray) -> None:
    db.execute("CREATE TABLE rows (row INTEGER PRIMARY KEY, word TEXT NOT NULL)")
    db.execute("CREATE UNIQUE INDEX rows_word ON rows (word)")
    np.save(folder / "vectors.npy", vectors)
    with db:
        db.executemany("INSERT INTO rows VALUES (?, ?)", enumerate(words))


def lookup_rows(db: sqlite3.Connection, folder: Path, word: str) -> np.ndarray:
    (blob,) = db.execute("SELECT vector FROM rows WHERE word = ?", (word,)).fetchone()
    return np.frombuffer(blob, dtype=np.float32)


def lookup_chunks(db: sqlite3.Connection, folder: Path, word: str) -> np.ndarray:
    blob = b"\n" + b"\n".join(r[0] for r in db.execute("SELECT data FROM words ORDER BY chunk")) + b"\n"
    row = blob.count(b"\n", 0, blob.find(b"\n" + word.encode() + b"\n"))
    (data,) = db.execute("SELECT data FROM vec WHERE chunk = ?", (row // ROWS_PER_CHUNK,)).fetchone()
    return np.frombuffer(data, dtype=np.float32).reshape(-1, 50)[row % ROWS_PER_CHUNK]


def lookup_matrix_file(db: sqlite3.Connection, folder: Path, word: str) -> np.ndarray:
    (row,) = db.execute("SELECT row FROM rows WHERE word = ?", (word,)).fetchone()
    return np.load(folder / "vectors.npy", mmap_mode="r")[row]


def read_all_rows(db: sqlite3.Connection, folder: Path) -> np.ndarray:
    return np.frombuffer(b"".join(r[0] for r in db.execute("SELECT vector FROM rows ORDER BY row")),
                         dtype=np.float32).reshape(-1, 50)


def read_all_chunks(db: sqlite3.Connection, folder: Path) -> np.ndarray:
    return np.frombuffer(b"".join(r[0] for r in db.execute("SELECT data FROM vec ORDER BY chunk")),
                         dtype=np.float32).reshape(-1, 50)


def read_all_matrix_file(db: sqlite3.Connection, folder: Path) -> np.ndarray:
    return np.load(folder / "vectors.npy")


def main() -> None:
    vectors_path, words_path = builtin_files("glove-6b-50d")
    vectors = np.ascontiguousarray(np.load(vectors_path))
    words = pq.read_table(words_path).column(0).to_pylist()
    layouts = {
        "row blobs + word index": (write_rows, lookup_rows, read_all_rows),
        "chunked blobs (vecstore)": (write_chunks, lookup_chunks, read_all_chunks),
        "matrix .npy + word index": (write_matrix_file, lookup_matrix_file, read_all_matrix_file),
    }
    print(f"GloVe 6B 50d: {len(words):,} words x {vectors.shape[1]}; medians of 3 (lookups of 20)")
    print(f"{'layout':<28}{'write s':>9}{'size MB':>9}{'1 vector ms':>13}{'all vectors s':>15}")
    for name, (write, lookup, read_all) in layouts.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_times = []
            for attempt in range(3):
                path = folder / f"s{attempt}.db"
                db = connect(path)
                start = time.perf_counter()
                write(db, folder, words, vectors)
                write_times.append(time.perf_counter() - start)
                db.close()
            size = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith("s0")) / 1e6
            size += (folder / "vectors.npy").stat().st_size / 1e6 if (folder / "vectors.npy").exists() else 0
            db = connect(folder / "s0.db")
            assert np.array_equal(lookup(db, folder, "king"), vectors[words.index("king")])
            assert np.array_equal(read_all(db, folder), vectors)
            one = common.median_seconds(lambda db=db, folder=folder, lookup=lookup: lookup(db, folder, "zsombor"), 20)
            everything = common.median_seconds(lambda db=db, folder=folder, read_all=read_all: read_all(db, folder), 3)
            db.close()
        print(f"{name:<28}{statistics.median(write_times):>9.3f}{size:>9.1f}{one * 1000:>13.2f}{everything:>15.3f}")
    print("The matrix file is fastest but lives outside the database: it cannot follow a PostgreSQL store,")
    print("and the database's transaction cannot cover it. Chunks keep every byte in one transaction.")


if __name__ == "__main__":
    main()
