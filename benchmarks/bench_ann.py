"""Index kinds on the real GloVe 6B 50d: for flat, hnsw, ivf and ivfpq, vecstore's build
(time, peak memory, size on disk, recall@10 against exact) and 1,000 single queries
(median and p99 latency, recall@10 of the answers), next to the same FAISS index built
and searched directly from Python, so that vecstore's overhead shows; then 10,000 words
in one cold ``vecstore neighbours --input`` process, exact and through hnsw, against
gensim's ``most_similar`` loop. One command, one run.

vecstore's query time is the whole ``EmbeddingSet.neighbours`` call: the word's row and
vector, the search, re-scoring every hit from the stored rows, the words of the hits.
FAISS's is ``index.search`` of a unit vector alone.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import common
import numpy as np

KINDS = ("flat", "hnsw", "ivf", "ivfpq")


def child_build(store: str, kind: str, name: str = "glove") -> int:
    """(In a fresh process, for its peak memory) build ``kind`` of set ``name``; print the report."""
    from vecstore import Store

    with Store(store) as opened:
        report = opened.build_index(name, kind)
    print(json.dumps(report.to_dict()))
    return 0


def latencies(search, queries: list) -> tuple[float, float, list]:
    times, answers = [], []
    for query in queries:
        started = time.perf_counter()
        answers.append(search(query))
        times.append(time.perf_counter() - started)
    return statistics.median(times), float(np.percentile(times, 99)), answers


def recall(answers: list[list[int]], truth: list[list[int]]) -> float:
    return sum(len(set(a) & set(t)) for a, t in zip(answers, truth, strict=True)) / sum(len(t) for t in truth)


def search_directly(kind: str, index, unit: np.ndarray, rows: list[int],
                    search: dict[str, int]) -> tuple[float, list[list[int]]]:
    """FAISS alone: one search a row of ``unit``, with ``search``'s query-time parameters;
    the median time, and each query's ten nearest other rows (ivfpq's candidates re-ranked
    by their exact cosines, as vecstore does)."""
    import faiss

    params = None
    if kind == "hnsw":
        params = faiss.SearchParametersHNSW(efSearch=search["efSearch"])
    elif kind in ("ivf", "ivfpq"):
        params = faiss.SearchParametersIVF(nprobe=search["nprobe"])
    want = 11 * search.get("rerank", 1)
    median, _, answers = latencies(lambda row: index.search(unit[row:row + 1], want, params=params)[1][0], rows)
    got = []
    for row, found in zip(rows, answers, strict=True):
        found = [int(r) for r in found if r >= 0 and r != row]
        if kind == "ivfpq":
            found = sorted(found, key=lambda r: -float(unit[r] @ unit[row]))
        got.append(found[:10])
    return median, got


def direct_index(kind: str, unit: np.ndarray, params: dict[str, int]):
    import faiss

    dim = unit.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params["efConstruction"]
    else:
        quantizer = faiss.IndexFlatIP(dim)
        index = (faiss.IndexIVFFlat(quantizer, dim, params["nlist"], faiss.METRIC_INNER_PRODUCT) if kind == "ivf" else
                 faiss.IndexIVFPQ(quantizer, dim, params["nlist"], params["m"], params["nbits"],
                                  faiss.METRIC_INNER_PRODUCT))
        index.train(unit[np.random.default_rng(0).choice(len(unit), min(len(unit), params["nlist"] * 64),
                                                            replace=False)])
    index.add(unit)
    return index


def main() -> int:
    if sys.argv[1:2] == ["--child-build"]:
        return child_build(sys.argv[2], sys.argv[3])
    parser = common.make_parser(__doc__, "where the store and the word list go")
    parser.add_argument("--queries", type=int, default=1_000, help="single queries a kind (default 1,000)")
    parser.add_argument("--batch-words", type=int, default=10_000, help="words of the batch runs (default 10,000)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info("vecstore benchmark: index kinds on the real GloVe 6B 50d",
                        ("numpy", "faiss-cpu", "gensim", "vecstore"))
    from gensim.models import KeyedVectors

    from vecstore import Store

    store_path = common.glove_store(work / "ann-store.db")
    with Store(store_path) as store:
        glove = store.get("glove")
        words, matrix = glove.words, glove.matrix()
    unit = np.ascontiguousarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), dtype=np.float32)
    rng = np.random.default_rng(1)
    rows = rng.choice(len(words), args.queries, replace=False)
    truth = [[int(r) for r in found if r != row][:10] for row, found in zip(rows, _exact(unit, rows), strict=True)]

    results = []
    for kind in KINDS:
        built = common.measure([common.PY, __file__, "--child-build", str(store_path), kind], work, check=True)
        report = json.loads(built["stdout"])
        with Store(store_path) as store:
            glove = store.get("glove")
            glove.neighbours(words[0], k=10, exact=kind == "flat")  # (loaded and checked outside the clock)
            exact = kind == "flat"
            median, p99, answers = latencies(
                lambda row, glove=glove, exact=exact: glove.neighbours(words[row], k=10, exact=exact), rows.tolist())
            row_of = glove.rows_of
            got = [row_of([h.word for h in hits]).tolist() for hits in answers]
        params = {**report["params"]}
        started = time.perf_counter()
        direct = direct_index(kind, unit, params)
        direct_build = time.perf_counter() - started
        d_median, d_got = search_directly(kind, direct, unit, rows.tolist(), report["search"])
        results.append([kind, common.fmt(report["build_seconds"] or built["wall"], 1), f"{built['rss_mb']:.0f}",
                        f"{report['file_size'] / 1e6:.1f}", f"{report['recall_at_10']:.3f}",
                        f"{1000 * median:.3f}", f"{1000 * p99:.3f}", f"{recall(got, truth):.3f}",
                        common.fmt(direct_build, 1), f"{1000 * d_median:.3f}", f"{recall(d_got, truth):.3f}",
                        f"{median / d_median:.2f}x"])
        print(f"  {results[-1]}", flush=True)
    print()
    common.table(["kind", "build s", "build RSS MB", "MB on disk", "recall@10 (build)", "query median ms",
                  "p99 ms", "recall@10 (answers)", "FAISS build s", "FAISS median ms", "FAISS recall",
                  "vecstore / FAISS"], results)

    asked = [words[i] for i in np.random.default_rng(0).choice(len(words), args.batch_words, replace=False)]
    word_file = work / "ann-words.txt"
    word_file.write_text("".join(f"{w}\n" for w in asked), encoding="utf-8")
    command = [str(Path(sys.executable).with_name("vecstore")), "--store", str(store_path), "neighbours", "--input",
               str(word_file), "-k", "10", "--json"]
    with Store(store_path) as store:
        for kind in ("ivfpq", "ivf", "hnsw"):  # (removed down to hnsw, the one the batch is run through)
            if kind != "hnsw":
                store.remove_index("glove", kind)
    through_hnsw = common.measure(command, work, check=True)
    exact = common.measure([*command, "--exact"], work, check=True)
    kv = KeyedVectors(50)
    kv.add_vectors(words, matrix)
    kv.most_similar(asked[0], topn=10)
    started = time.perf_counter()
    gensim = [kv.most_similar(w, topn=10) for w in asked]
    gensim_wall = time.perf_counter() - started
    answers = json.loads(through_hnsw["stdout"])
    hnsw_recall = sum(len({n["word"] for n in a["neighbours"]} & {w for w, _ in g})
                      for a, g in zip(answers, gensim, strict=True)) / (10 * len(asked))
    print()
    common.table([f"{args.batch_words:,} words, k = 10", "seconds", "vs gensim", "recall@10 vs gensim"], [
        ["gensim most_similar loop (warm, in-process)", common.fmt(gensim_wall), "1.0x", "1.000"],
        ["vecstore neighbours --input --exact (cold process)", common.fmt(exact["wall"]),
         f"{gensim_wall / exact['wall']:.1f}x faster", "-"],
        ["vecstore neighbours --input through hnsw (cold process)", common.fmt(through_hnsw["wall"]),
         f"{gensim_wall / through_hnsw['wall']:.1f}x faster", f"{hnsw_recall:.3f}"],
    ])
    return 0


def _exact(unit: np.ndarray, rows: np.ndarray) -> np.ndarray:
    import faiss

    from vecstore.index.flat import blas_for_batches

    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    with blas_for_batches(len(rows)):
        return index.search(unit[rows], 11)[1]


if __name__ == "__main__":
    sys.exit(main())
