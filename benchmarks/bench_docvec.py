"""Document vectors of 100,000 documents of about 70 words on the real GloVe 6B 50d:
vecstore against a plain Python loop (tokenise, dict lookups, np.mean) and gensim's
``get_mean_vector`` loop, over the same documents and vectors, side by side in one run.

The documents are drawn from GloVe's own words with Zipf-like weights (most frequent
first, as GloVe lists them; seeded), so the token counts and repeats look like text;
every way tokenises them with vecstore's tokeniser (Keras ``TextVectorization``'s
standardisation), so all compute the same means. The peers' vectors are in memory
before their clock starts (a dict of arrays; a ``KeyedVectors``); vecstore's clock
includes reading the rows it needs from the store. vecstore's time is split into
tokenising, lookup (the set's rows of the distinct tokens, read and verified) and pooling.
"""

from __future__ import annotations

import statistics
import sys
import time

import common
import numpy as np

DOCUMENTS = 100_000
WORDS_PER_DOCUMENT = 70


def make_documents(words: list[str], count: int, length: int, seed: int = 20_171) -> list[str]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(len(words)) + 10.0)
    picks = rng.choice(len(words), size=count * length, p=weights / weights.sum())
    return [" ".join(words[j] for j in picks[i * length:(i + 1) * length]) for i in range(count)]


def main() -> int:
    parser = common.make_parser(__doc__, "where the store goes")
    parser.add_argument("--documents", type=int, default=DOCUMENTS, help="how many (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="runs of vecstore's pooling (default: %(default)s)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info(f"vecstore benchmark: document vectors of {args.documents:,} documents",
                        ("numpy", "gensim", "vecstore"))

    from gensim.models import KeyedVectors

    from vecstore import Store
    from vecstore.io.builtin import load_builtin
    from vecstore.vocabulary import tokenize

    store_path = common.glove_store(work / "docvec-store.db")
    glove = load_builtin("glove-6b-50d")
    texts = make_documents(glove.words, args.documents, WORDS_PER_DOCUMENT)
    print(f"  {len(texts):,} documents, {sum(len(t) for t in texts) / 1e6:.1f} MB of text; store {store_path}\n")

    rows = []
    ours = {}
    for pool in ("mean", "idf", "sif"):
        runs = []
        for _ in range(args.runs):
            with Store(store_path) as store:  # a fresh handle: the set's words and rows are read again
                started = time.perf_counter()
                built = store.get("glove").document_vectors(texts, pool=pool)
                runs.append((time.perf_counter() - started, built.report.seconds))
        wall = statistics.median(r[0] for r in runs)
        split = {k: statistics.median(r[1][k] for r in runs) for k in ("tokenise", "lookup", "pool")}
        ours[pool] = (wall, built)
        rows.append([f"vecstore document_vectors, pool={pool}", common.fmt(wall, 2), common.fmt(split["tokenise"], 2),
                     common.fmt(split["lookup"], 2), common.fmt(split["pool"], 2)])

    index = dict(zip(glove.words, glove.vectors, strict=True))
    started = time.perf_counter()
    tokens = [tokenize(t) for t in texts]
    tokenised = time.perf_counter() - started
    loop = [np.mean([index[w] for w in ts if w in index], axis=0) if any(w in index for w in ts)
            else np.zeros(50, np.float32) for ts in tokens]
    loop_wall = time.perf_counter() - started
    rows.append(["plain Python loop (tokenise, dict, np.mean)", common.fmt(loop_wall, 2), common.fmt(tokenised, 2),
                 "-", common.fmt(loop_wall - tokenised, 2)])

    kv = KeyedVectors(50)
    kv.add_vectors(glove.words, glove.vectors)
    started = time.perf_counter()
    tokens = [tokenize(t) for t in texts]
    tokenised = time.perf_counter() - started
    gensim = [kv.get_mean_vector(ts, pre_normalize=False, post_normalize=False) for ts in tokens]
    gensim_wall = time.perf_counter() - started
    rows.append(["gensim get_mean_vector loop", common.fmt(gensim_wall, 2), common.fmt(tokenised, 2), "-",
                 common.fmt(gensim_wall - tokenised, 2)])

    common.table(["way", "wall s (median)", "tokenise", "lookup", "pool"], rows)
    mean_wall, mean_built = ours["mean"]
    same_loop = np.allclose(mean_built.vectors, np.stack(loop), rtol=1e-5, atol=1e-5)
    same_gensim = np.allclose(mean_built.vectors, np.stack(gensim), rtol=1e-5, atol=1e-5)
    print(f"\n  same mean vectors as the Python loop: {'yes' if same_loop else 'NO'}; as gensim: "
          f"{'yes' if same_gensim else 'NO'}")
    print(f"  Python loop / vecstore: {loop_wall / mean_wall:.1f}x   gensim / vecstore: {gensim_wall / mean_wall:.1f}x")
    ok = gensim_wall / mean_wall >= 10
    print(f"  bar: vecstore (mean) at least 10x faster than gensim: {common.verdict(ok)}")
    return 0 if same_loop and same_gensim else 1


if __name__ == "__main__":
    sys.exit(main())
