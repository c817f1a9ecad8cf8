"""This checkout against another revision, interleaved in one run: a cold `vecstore
neighbours king` and a 20,000-word embedding matrix in a fresh process, on the real GloVe
6B 50d. For a change that must not change performance (a restructure), the two columns
are what "within noise" is judged by.

The other revision is installed (``pip install --no-deps --target``) into the work folder
and put first on ``PYTHONPATH``; both run with this checkout's interpreter and packages,
alternating which goes first, each on a store of the same GloVe imported by its own code
(a revision reads only stores at its own schema, so one store cannot serve two revisions
whose schemas differ).
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
from bench_matrix import IN_PROCESS, make_vocabulary


def install(revision: str, work: Path) -> Path:
    """``revision`` of this repository installed into ``work`` (once per commit)."""
    commit = subprocess.run(["git", "-C", str(common.REPO), "rev-parse", revision], capture_output=True, text=True,
                            check=True).stdout.strip()
    site = work / f"site-{commit[:12]}"
    if not (site / "vecstore" / "__init__.py").exists():
        source = work / f"src-{commit[:12]}"
        source.mkdir(exist_ok=True)
        archive = subprocess.run(["git", "-C", str(common.REPO), "archive", commit], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        print(f"installing {revision} ({commit[:12]}) into {site} ...", flush=True)
        subprocess.run([common.PY, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(source)],
                       check=True)
        subprocess.run([common.PY, "-m", "compileall", "-q", str(site / "vecstore")], check=True)
    return site


def main() -> int:
    parser = common.make_parser(__doc__, "where the other revision, the store and the vocabulary go")
    parser.add_argument("--against", default="HEAD~1", help="the revision to compare with (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=31, help="runs of each, each side (default: %(default)s)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info(f"vecstore benchmark: this checkout against {args.against}, interleaved",
                        ("numpy", "faiss-cpu", "vecstore"))
    site = install(args.against, work)

    from vecstore.io.builtin import load_builtin

    vocab_path = work / "vocab-20k.txt"
    make_vocabulary(load_builtin("glove-6b-50d").words, vocab_path)

    env_this = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    sides = {"this checkout": env_this, args.against: dict(env_this, PYTHONPATH=str(site))}
    stores = {}
    for number, (side, env) in enumerate(sides.items()):
        stores[side] = work / f"revisions-store-{number}.db"
        common.remove_store(stores[side])  # (then created by the side's own import, at its own schema)
        subprocess.run([common.PY, "-c", "import sys; from vecstore import Store; "
                        "Store(sys.argv[1]).import_builtin('glove-6b-50d', 'glove')", str(stores[side])],
                       env=env, cwd=work, check=True)
    query = {side: [common.which_vecstore(), "--store", str(stores[side]), "neighbours", "king", "--set", "glove",
                    "-k", "10"] for side in sides}
    matrix = {side: [common.PY, "-c", IN_PROCESS, str(stores[side]), str(vocab_path)] for side in sides}
    walls: dict[str, list[float]] = {side: [] for side in sides}
    builds: dict[str, list[float]] = {side: [] for side in sides}
    answers: dict[str, set[str]] = {side: set() for side in sides}
    names = list(sides)
    for run in range(args.runs + 1):  # (the first round warms the page cache, and is not counted)
        for side in names if run % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            done = subprocess.run(query[side], env=sides[side], cwd=work, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - started
            built = json.loads(subprocess.run(matrix[side], env=sides[side], cwd=work, capture_output=True,
                                              text=True, check=True).stdout)
            if run:
                walls[side].append(wall)
                builds[side].append(built["cold"])
                answers[side].add(done.stdout)
    print(f"  stores {', '.join(map(str, stores.values()))}; {args.runs} runs each, alternating which goes first\n")
    rows = []
    for label, values, unit in (("cold `vecstore neighbours king`, wall", walls, 1),
                                ("20,000-word matrix in a fresh process", builds, 1000)):
        this, other = (statistics.median(values[side]) * unit for side in names)
        suffix = " s" if unit == 1 else " ms"
        rows.append([label, f"{this:.3f}{suffix}" if unit == 1 else f"{this:.1f}{suffix}",
                     f"{other:.3f}{suffix}" if unit == 1 else f"{other:.1f}{suffix}", f"{this / other:.3f}"])
    common.table(["median", "this checkout", args.against, "this / other"], rows)
    same = len(answers[names[0]] | answers[names[1]]) == 1
    print(f"\n  same neighbours printed by both: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
