"""The paths users wait on, each beside its peer, in one run (issue 18's table): a cold
``vecstore neighbours king`` against gensim's cold mmap load and query (and the bare
imports, the floor); a warm query through hnsw and ivf against FAISS searching the same
file directly; 10,000 words through hnsw in one cold process against gensim's
``most_similar`` loop; a cold query through hnsw against the exact one; a cold query on
a PostgreSQL store with a warm cache against the SQLite store; the disk a set takes
against gensim's files; and, with ``--suite``, the test suite's wall time.

Every answer is checked: the cold query's ten words against an exact numpy search (and
gensim's), every warm score against the exact cosine of the stored rows, the batch's
recall@10 against gensim's exact answers.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import common
import numpy as np
from bench_ann import child_build  # (the same fresh-process build, for its peak memory)

sys.path.insert(0, str(common.REPO / "tests"))

GENSIM_QUERY = ("import sys\nfrom gensim.models import KeyedVectors\nkv = KeyedVectors.load(sys.argv[1], mmap='r')\n"
                "for word, score in kv.most_similar('king', topn=10):\n    print(word, score)\n")


def interleaved(commands: dict[str, list[str]], runs: int, cwd: Path, env: dict[str, str] | None = None
                ) -> dict[str, list[dict]]:
    """Each command ``runs`` times in a fresh process, alternating their order, after one
    warm-up round (the page cache): the measurements of each."""
    out: dict[str, list[dict]] = {name: [] for name in commands}
    names = list(commands)
    for run in range(runs + 1):
        for name in (names if run % 2 == 0 else names[::-1]):
            saved = dict(os.environ)
            if env is not None and name in env:
                os.environ.update(env[name])  # type: ignore[arg-type]
            try:
                done = common.measure(commands[name], cwd, check=True)
            finally:
                os.environ.clear()
                os.environ.update(saved)
            if run:
                out[name].append(done)
    return out


def median_wall(found: list[dict]) -> float:
    return statistics.median(r["wall"] for r in found)


def first_words(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines() if line.strip()]


def main() -> int:
    if sys.argv[1:2] == ["--child-build"]:
        return child_build(sys.argv[2], sys.argv[3])
    parser = common.make_parser(__doc__, "where the stores, gensim's files and the word list go")
    parser.add_argument("--runs", type=int, default=15, help="cold runs of each command (default %(default)s)")
    parser.add_argument("--queries", type=int, default=1_000, help="warm queries a kind (default %(default)s)")
    parser.add_argument("--batch-words", type=int, default=10_000, help="words of the batch (default %(default)s)")
    parser.add_argument("--no-postgres", action="store_true", help="leave out the PostgreSQL row")
    parser.add_argument("--suite", action="store_true", help="also time the test suite (pytest -n auto)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir / "hot"
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info("vecstore benchmark: the hot paths against their peers, one run",
                        ("numpy", "faiss-cpu", "gensim", "vecstore"))
    import faiss
    from gensim.models import KeyedVectors

    from vecstore import Store

    store_path = common.glove_store(work / "hot-store.db")
    with Store(store_path) as store:
        glove = store.get("glove")
        words, matrix = glove.words, glove.matrix()
    unit = np.ascontiguousarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), dtype=np.float32)
    kv_path = work / "glove.kv"
    kv = KeyedVectors(matrix.shape[1])
    kv.add_vectors(words, matrix)
    kv.save(str(kv_path))
    summary: list[list[str]] = []
    vecstore_cli = common.which_vecstore()

    # 1. The cold query, beside gensim and the bare imports.
    king = words.index("king")
    scores = unit @ unit[king]
    scores[king] = -np.inf
    exact_ten = [words[i] for i in np.argsort(-scores, kind="stable")[:10]]
    cold = interleaved({
        "vecstore": [vecstore_cli, "--store", str(store_path), "neighbours", "king", "--set", "glove", "-k", "10"],
        "gensim": [common.PY, "-c", GENSIM_QUERY, str(kv_path)],
        "import numpy": [common.PY, "-c", "import numpy"],
        "import numpy, faiss": [common.PY, "-c", "import numpy, faiss"],
        "python": [common.PY, "-c", "pass"],
    }, args.runs, work)
    walls = {name: median_wall(found) for name, found in cold.items()}
    same = first_words(cold["vecstore"][-1]["stdout"]) == exact_ten == first_words(cold["gensim"][-1]["stdout"])
    print(f"\n1. a cold query, the ten neighbours of 'king' (median of {args.runs} fresh processes, interleaved)")
    common.table(["process", "wall s", "min s"], [[name, common.fmt(walls[name], 3),
                                                   common.fmt(min(r["wall"] for r in found), 3)]
                                                  for name, found in cold.items()])
    print(f"  gensim / vecstore: {walls['gensim'] / walls['vecstore']:.2f}x; the same ten words as an exact numpy "
          f"search and as gensim: {'yes' if same else 'NO'}")
    summary.append(["cold `vecstore neighbours king` (exact)", f"{walls['vecstore']:.3f} s",
                    f"gensim {walls['gensim']:.3f} s; numpy alone {walls['import numpy']:.3f} s",
                    f"{walls['gensim'] / walls['vecstore']:.1f}x gensim", "<= 0.25 s and >= 5x gensim",
                    common.verdict(walls["vecstore"] <= 0.25 and walls["gensim"] / walls["vecstore"] >= 5)])

    # 2. Warm queries through hnsw and ivf against FAISS searching the same file.
    rng = np.random.default_rng(1)
    rows = rng.choice(len(words), args.queries, replace=False).tolist()
    reports = {}
    for kind in ("ivf", "hnsw"):  # (hnsw last: the index the batch and the cold rows use)
        built = common.measure([common.PY, __file__, "--child-build", str(store_path), kind], work, check=True)
        reports[kind] = json.loads(built["stdout"])
        with Store(store_path) as store:
            glove = store.get("glove")
            glove.neighbours(words[0], k=10, exact=False)  # (the index loaded and checked outside the clock)
            path = glove._indexes.approximate_paths(glove.info.uid, kind)[0]
            row_of = glove.rows_of
            index = faiss.read_index(str(path))  # (FAISS ignores vecstore's footer after the index)
            search = reports[kind]["search"]
            params = (faiss.SearchParametersHNSW(efSearch=search["efSearch"]) if kind == "hnsw" else
                      faiss.SearchParametersIVF(nprobe=search["nprobe"]))
            # A first pass of both over the words (vecstore maps the file, so its first
            # touch of each page faults it in; FAISS's read_index has already read it all),
            # then the two timed query by query, alternating which goes first.
            first_pass = []
            for row in rows:
                started = time.perf_counter()
                glove.neighbours(words[row], k=10)
                first_pass.append(time.perf_counter() - started)
                index.search(unit[row:row + 1], 11, params=params)
            times, direct, answers = [], [], []
            for turn, row in enumerate(rows):
                for side in ((0, 1) if turn % 2 == 0 else (1, 0)):
                    started = time.perf_counter()
                    if side == 0:
                        answers.append(glove.neighbours(words[row], k=10))
                        times.append(time.perf_counter() - started)
                    else:
                        index.search(unit[row:row + 1], 11, params=params)
                        direct.append(time.perf_counter() - started)
        worst = max(abs(h.score - float(unit[r] @ unit[row_of([h.word])[0]])) for r, hits in zip(rows, answers,
                                                                                               strict=True)
                    for h in hits)
        ours, theirs = statistics.median(times), statistics.median(direct)
        print(f"\n2. warm queries through {kind} ({args.queries:,} random words, k = 10, medians): vecstore "
              f"{1000 * ours:.3f} ms, FAISS directly {1000 * theirs:.3f} ms: {ours / theirs:.2f}x; every printed score "
              f"within {worst:.1e} of the exact cosine of its stored row (vecstore's first pass over the words, "
              f"faulting in the mapped file: {1000 * statistics.median(first_pass):.3f} ms)")
        summary.append([f"warm query through {kind}, vs FAISS direct", f"{1000 * ours:.3f} ms",
                        f"FAISS {1000 * theirs:.3f} ms", f"{ours / theirs:.2f}x", "<= 1.25x, scores exact",
                        common.verdict(ours / theirs <= 1.25 and worst < 1e-5)])

    # 3. A cold query through hnsw against the exact one (and what loading the index costs:
    # a query-time parameter asks for the index).
    query = [vecstore_cli, "--store", str(store_path), "neighbours", "king", "--set", "glove", "-k", "10"]
    ef_search = f"efSearch={reports['hnsw']['search']['efSearch']}"
    through = interleaved({"through hnsw": query, "exact": [*query, "--exact"],
                           "hnsw loaded": [*query, "--search-param", ef_search]}, args.runs, work)
    hnsw_wall, exact_wall = median_wall(through["through hnsw"]), median_wall(through["exact"])
    loaded_wall = median_wall(through["hnsw loaded"])
    paired = statistics.median(a["wall"] / b["wall"] for a, b in zip(through["through hnsw"], through["exact"],
                                                                       strict=True))
    print(f"\n3. a cold query with an hnsw index ({reports['hnsw']['file_size'] / 1e6:.0f} MB): {hnsw_wall:.3f} s, "
          f"--exact {exact_wall:.3f} s (median of the paired ratios {paired:.2f}x); the index loaded and checked "
          f"(--search-param) {loaded_wall:.3f} s")
    summary.append(["cold query through an hnsw index", f"{hnsw_wall:.3f} s", f"exact {exact_wall:.3f} s",
                    f"{paired:.2f}x paired", "never slower than exact", common.verdict(paired <= 1.05)])

    # 4. 10,000 words through hnsw in one cold process against gensim's loop.
    asked = [words[i] for i in np.random.default_rng(0).choice(len(words), args.batch_words, replace=False)]
    word_file = work / "hot-words.txt"
    word_file.write_text("".join(f"{w}\n" for w in asked), encoding="utf-8")
    batch = common.measure([vecstore_cli, "--store", str(store_path), "neighbours", "--input", str(word_file), "-k",
                            "10", "--json"], work, check=True)
    kv.fill_norms()
    kv.most_similar(asked[0], topn=10)
    started = time.perf_counter()
    gensim_answers = [kv.most_similar(w, topn=10) for w in asked]
    gensim_wall = time.perf_counter() - started
    found = json.loads(batch["stdout"])
    batch_recall = sum(len({n["word"] for n in a["neighbours"]} & {w for w, _ in g})
                       for a, g in zip(found, gensim_answers, strict=True)) / (10 * len(asked))
    print(f"\n4. {args.batch_words:,} words through hnsw in one cold process: {batch['wall']:.2f} s; gensim's "
          f"most_similar loop (warm, in-process) {gensim_wall:.2f} s: {gensim_wall / batch['wall']:.1f}x; "
          f"recall@10 against gensim's exact answers {batch_recall:.3f}")
    summary.append([f"{args.batch_words:,} words through hnsw, one cold process", f"{batch['wall']:.2f} s",
                    f"gensim loop {gensim_wall:.2f} s", f"{gensim_wall / batch['wall']:.1f}x gensim",
                    ">= 30x at recall >= 0.95",
                    common.verdict(gensim_wall / batch["wall"] >= 30 and batch_recall >= 0.95)])

    # 5. The team store: a cold query with a warm cache, against the SQLite store.
    if not args.no_postgres:
        from postgres import fresh_database, throwaway_cluster

        with throwaway_cluster() as server, fresh_database(server) as location:
            cache = work / "pg-cache"
            env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
            subprocess.run([vecstore_cli, "--store", location, "import", "glove-6b-50d", "--name", "glove"], env=env,
                           check=True, capture_output=True)
            subprocess.run([vecstore_cli, "--store", location, "neighbours", "king", "--set", "glove"], env=env,
                           check=True, capture_output=True)  # (the cache filled: the exact index from the server)
            pg = interleaved({"PostgreSQL": [vecstore_cli, "--store", location, "neighbours", "king", "--set", "glove",
                                             "--exact"],
                              "SQLite": [*query, "--exact"],
                              "import psycopg": [common.PY, "-c", "import psycopg"],
                              "python": [common.PY, "-c", "pass"]}, args.runs, work,
                             env={"PostgreSQL": {"XDG_CACHE_HOME": str(cache)}})
        pg_wall, sqlite_wall = median_wall(pg["PostgreSQL"]), median_wall(pg["SQLite"])
        driver = median_wall(pg["import psycopg"]) - median_wall(pg["python"])
        print(f"\n5. a cold query on a PostgreSQL store (server on loopback, warm cache): {pg_wall:.3f} s; on the "
              f"SQLite store {sqlite_wall:.3f} s ({pg_wall / sqlite_wall:.2f}x); importing psycopg alone costs "
              f"{driver:.3f} s, so the floor with it is {(sqlite_wall + driver) / sqlite_wall:.2f}x")
        summary.append(["cold query, PostgreSQL store (warm cache)", f"{pg_wall:.3f} s", f"SQLite {sqlite_wall:.3f} s",
                        f"{pg_wall / sqlite_wall:.2f}x", "<= 2x SQLite", common.verdict(pg_wall <= 2 * sqlite_wall)])

    # 6. Disk: the store's database and derived files, against gensim's.
    with Store(store_path) as store:
        for kind in ("hnsw", "ivf"):
            store.remove_index("glove", kind)
    database = sum(p.stat().st_size for p in store_path.parent.glob(store_path.name + "*") if p.is_file())
    derived = sum(p.stat().st_size for p in store_path.with_name(store_path.name + ".indexes").iterdir())
    gensim_disk = sum(p.stat().st_size for p in work.glob("glove.kv*"))
    floats = matrix.nbytes
    print(f"\n6. disk for the set: database {database / 1e6:.1f} MB + derived files {derived / 1e6:.1f} MB = "
          f"{(database + derived) / floats:.2f}x the float32 matrix; gensim's .kv and .npy {gensim_disk / 1e6:.1f} MB "
          f"({gensim_disk / floats:.2f}x)")
    # (The floor with the database's checksummed rows and one raw copy beside them: twice
    # the matrix plus the words, 2.04x here; the 1x is gensim's two files.)
    print(f"  {(database + derived) / gensim_disk:.2f}x gensim's files; the floor of two copies of the rows and "
          f"the words once: {(2 * floats + sum(len(w.encode()) + 1 for w in words)) / floats:.2f}x the matrix")
    summary.append(["disk per set (database + derived files)", f"{(database + derived) / 1e6:.0f} MB",
                    f"gensim {gensim_disk / 1e6:.0f} MB", f"{(database + derived) / gensim_disk:.2f}x gensim "
                    f"({(database + derived) / floats:.2f}x the matrix)", "<= 2x gensim's files",
                    common.verdict((database + derived) / gensim_disk <= 2.0)])

    # 7. The test suite.
    if args.suite:
        started = time.perf_counter()
        done = subprocess.run([common.PY, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=common.REPO,
                              capture_output=True, text=True)
        suite = time.perf_counter() - started
        tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        print(f"\n7. the test suite (its own settings: pytest-xdist on every core): {suite / 60:.1f} min: {tail}")
        summary.append(["the test suite", f"{suite / 60:.1f} min", "sqlite-utils' about 1 min", "-", "<= 5 min",
                        common.verdict(suite <= 300 and done.returncode == 0)])

    print("\nsummary")
    common.table(["path", "vecstore", "peer", "ratio", "goal", "met"], summary)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
