"""The real GloVe 6B 50d written back as Stanford's text file, for the tests and the
benchmarks (vecstore itself never writes it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vecstore.io.builtin import builtin_files


def write_glove_text(name: str, out: Path) -> Path:
    """Write a built-in source as a Stanford-format GloVe text file.

    Values are printed with ``%.6g``, which reproduces Stanford's own text (the 50d file
    comes out byte-identical in size, 171,350,079 bytes) and parses back bit-identically.
    """
    vectors_path, words_path = builtin_files(name)
    import pyarrow.parquet as pq

    vectors = np.load(vectors_path, allow_pickle=False)
    words = pq.read_table(words_path).column(0).to_pylist()
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for word, row in zip(words, vectors.tolist(), strict=True):
            f.write(word + " " + " ".join(f"{x:.6g}" for x in row) + "\n")
    tmp.replace(out)
    return out
