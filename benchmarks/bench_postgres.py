"""The team store on PostgreSQL, on the real GloVe 6B 50d: the import through COPY against
the import before it (one INSERT a chunk) and against a SQLite store; then a cold query
on a machine whose cache is empty, with the hnsw index fetched from the server, against
the same machine building the index itself. One command, one run, each step a fresh
process; the server is a throw-away PostgreSQL cluster on loopback (as the tests start).

Each "machine" is its own cache folder (``XDG_CACHE_HOME``), as each person's is.
"""

from __future__ import annotations

import json
import os
import sys
import time

import common

sys.path.insert(0, str(common.REPO / "tests"))


def child_import(location: str, use_copy: str) -> int:
    """(A fresh process) import the built-in GloVe as set 'glove'; print the seconds."""
    from vecstore import Store
    from vecstore.storage import engine

    engine.USE_COPY = use_copy == "copy"
    with Store(location) as store:
        store.upgrade()
        started = time.perf_counter()
        result = store.import_builtin("glove-6b-50d", "glove", replace=True)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "count": result.info.count}))
    return 0


def run_cli(location: str, cache: str, *args: str) -> dict:
    env_cache = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = cache
    try:
        return common.measure([common.which_vecstore(), "--store", location, *args], common.REPO.parent, check=True)
    finally:
        if env_cache is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = env_cache


def main() -> int:
    if sys.argv[1:2] == ["--child-import"]:
        return child_import(sys.argv[2], sys.argv[3])
    parser = common.make_parser(__doc__, "where the SQLite store and the caches go")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each import (default 3; the median)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir / "postgres"
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info("vecstore benchmark: the team store on PostgreSQL, real GloVe 6B 50d",
                        ("numpy", "sqlalchemy", "psycopg", "faiss-cpu", "vecstore"))
    import statistics

    from postgres import fresh_database, throwaway_cluster

    with throwaway_cluster() as server:
        print("  server    PostgreSQL on loopback, fsync off (a throw-away cluster)\n", flush=True)
        imports: dict[str, list[float]] = {"PostgreSQL, COPY (now)": [], "PostgreSQL, INSERT a chunk (before)": [],
                                           "SQLite": []}
        for _ in range(args.repeat):  # (interleaved: the machine's noise falls on every path alike)
            for label, mode in (("PostgreSQL, COPY (now)", "copy"), ("PostgreSQL, INSERT a chunk (before)", "insert"),
                                ("SQLite", "copy")):
                if label == "SQLite":
                    common.remove_store(work / "glove.db")
                    location = str(work / "glove.db")
                    done = common.measure([common.PY, __file__, "--child-import", location, mode], work, check=True)
                else:
                    with fresh_database(server) as location:
                        done = common.measure([common.PY, __file__, "--child-import", location, mode], work,
                                              check=True)
                imports[label].append(json.loads(done["stdout"])["seconds"])
        sqlite = statistics.median(imports["SQLite"])
        rows = [[label, common.fmt(statistics.median(times)), " ".join(common.fmt(t) for t in times),
                 f"{statistics.median(times) / sqlite:.2f}x"] for label, times in imports.items()]
        print(f"import of the real GloVe (400,000 x 50) in a fresh process, {args.repeat} runs each")
        common.table(["store", "median s", "runs", "vs SQLite"], rows)

        with fresh_database(server) as location:
            caches = {name: str(work / f"cache-{name}") for name in ("a", "b", "c", "d")}
            for cache in caches.values():
                if os.path.exists(cache):
                    import shutil

                    shutil.rmtree(cache)
            run_cli(location, caches["a"], "import", "glove-6b-50d", "--name", "glove")
            built_a = run_cli(location, caches["a"], "index", "build", "glove", "--kind", "hnsw", "--json")
            report = json.loads(built_a["stdout"])
            first_exact = run_cli(location, caches["d"], "neighbours", "king", "--set", "glove", "--exact", "--json")
            fetched = run_cli(location, caches["b"], "neighbours", "king", "--set", "glove", "-k", "10", "--json")
            again = run_cli(location, caches["b"], "neighbours", "king", "--set", "glove", "-k", "10", "--json")
            # Machine c builds the index itself, as it would with no server copy to fetch.
            import psycopg

            with psycopg.connect(location.replace("postgresql+psycopg://", "postgresql://")) as db:
                shared_bytes = float(db.execute("SELECT sum(size) FROM shared_indexes").fetchone()[0])
                db.execute("DELETE FROM shared_index_chunks")
                db.execute("DELETE FROM shared_indexes")
            built_c = run_cli(location, caches["c"], "index", "build", "glove", "--kind", "hnsw", "--json")
            query_c = run_cli(location, caches["c"], "neighbours", "king", "--set", "glove", "-k", "10", "--json")
            same = json.loads(fetched["stdout"]) == json.loads(query_c["stdout"])
        print()
        print(f"a cold query on a machine with an empty cache, hnsw index of the real GloVe "
              f"({shared_bytes / 1e6:.0f} MB; built by machine a in {report['build_seconds']:.1f} s)")
        local = built_c["wall"] + query_c["wall"]
        common.table(["machine", "seconds", "vs fetched"], [
            ["b: neighbours king, index fetched from the server (cold process)", common.fmt(fetched["wall"]), "1.0x"],
            ["b: neighbours king again, from its cache (cold process)", common.fmt(again["wall"]),
             f"{again['wall'] / fetched['wall']:.2f}x"],
            ["c: index build hnsw, then neighbours king (two cold processes)", common.fmt(local),
             f"{local / fetched['wall']:.1f}x"],
        ])
        print(f"\n  same answer from the fetched and the locally built index: {same}")
        print(f"  d: neighbours king --exact on an empty cache (the exact index built from the server's vectors): "
              f"{first_exact['wall']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
