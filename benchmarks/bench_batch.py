"""Batch queries: 10,000 words' neighbours in one cold ``vecstore neighbours --input``
process, against gensim's ``most_similar`` called for each word, on the real GloVe 6B 50d.

vecstore's time is the whole command in a fresh process (start-up, reading the words,
the search, re-scoring from the stored rows, printing the JSON). gensim's is only its loop:
its ``KeyedVectors`` is built from the same arrays before the clock starts, and its first
call's normalisation of the 400,000 rows is done before too. Both answer k = 10, the word
itself excluded; the answers are compared.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import common
import numpy as np


def main() -> int:
    parser = common.make_parser(__doc__, "where the store and the word list go")
    parser.add_argument("--words", type=int, default=10_000, help="how many words to ask for (default 10,000)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info("vecstore benchmark: batch neighbours on the real GloVe 6B 50d",
                        ("numpy", "faiss-cpu", "gensim", "vecstore"))
    from gensim.models import KeyedVectors

    from vecstore import Store

    store_path = common.glove_store(work / "batch-store.db")
    with Store(store_path) as store:
        glove = store.get("glove")
        words = glove.words
        vectors = glove.matrix()
        glove.index()  # (the index is built by the import; this only checks it is there)
    asked = [words[i] for i in np.random.default_rng(0).choice(len(words), args.words, replace=False)]
    word_file = work / "batch-words.txt"
    word_file.write_text("".join(f"{w}\n" for w in asked), encoding="utf-8")
    vecstore_command = str(Path(sys.executable).with_name("vecstore"))
    cold = common.measure([vecstore_command, "--store", str(store_path), "neighbours", "--input", str(word_file),
                           "-k", "10", "--json"], work, check=True)
    answers = json.loads(cold["stdout"])

    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    kv.most_similar(asked[0], topn=10)  # (its one-off normalisation of every row, outside the clock)
    started = time.perf_counter()
    gensim = [kv.most_similar(w, topn=10) for w in asked]
    gensim_wall = time.perf_counter() - started

    same = sum([n["word"] for n in a["neighbours"]] == [w for w, _ in g] for a, g in zip(answers, gensim, strict=True))
    print()
    common.table(["", "seconds", "per word (ms)", "vs gensim"], [
        [f"gensim most_similar loop ({args.words:,} calls)", common.fmt(gensim_wall), common.fmt(
            1000 * gensim_wall / args.words, 3), "1.0x"],
        ["vecstore neighbours --input (one cold process, exact)", common.fmt(cold["wall"]),
         common.fmt(1000 * cold["wall"] / args.words, 3), f"{gensim_wall / cold['wall']:.1f}x faster"],
    ])
    print(f"\n  same ten neighbours, in the same order, for {same:,} of {args.words:,} words "
          f"(ties and float32 sums may order the last places differently); peak RSS {cold['rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
