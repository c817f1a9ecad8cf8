"""Kill, race and corrupt a store holding the real GloVe, and count what survives.

Usage::

    python benchmarks/torture.py [--workdir DIR] [--kills 40] [--races 6] [--flips 30] [--seed 0]

1. **Kills**: real imports of GloVe 6B 50d (new sets and ``--replace``) are SIGKILLed at
   random moments; after each, the store must hold either the whole new set or the old
   state (all or nothing), open cleanly, and pass ``check`` once the next write has
   reclaimed the killed import's temp files.
2. **Races**: two processes import the same name at once (with ``--replace`` both must
   succeed in turn; without, exactly one wins and the other gets a one-line message),
   while reader processes keep querying; every reader answer must be a whole answer.
3. **Corruption**: random bytes of each kind of file (the FAISS index, the raw rows, the
   manifest, a vector chunk and a word chunk in the database) are flipped; every query
   must then give the undamaged store's exact answer or be refused with a typed error,
   and ``check`` must report the damage (every byte of every file counts, even a
   manifest's set name).

It prints the counts; it exits 1 if any outcome is not one of those allowed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import common
from common import PY

IMPORT = ("import sys\nfrom vecstore import Store\n"
          "Store(sys.argv[1]).import_file(sys.argv[2], sys.argv[3], replace=sys.argv[4] == 'replace')\n")
QUERY = ("import sys, json\nfrom vecstore import Store\n"
         "with Store(sys.argv[1]) as s:\n"
         "    g = s.get('glove')\n"
         "    print(json.dumps([g.info.count, [h.word for h in g.neighbours('king', k=10)]]))\n")


def vecstore_cli() -> list[str]:
    return [common.which_vecstore()]


def kills(work: Path, text: Path, count: int, rng: random.Random) -> dict[str, int]:
    store = work / "kill.db"
    common.remove_store(store)
    started = time.perf_counter()
    subprocess.run([PY, "-c", IMPORT, str(store), str(text), "glove", "new"], check=True)
    duration = time.perf_counter() - started
    outcomes = {"killed": 0, "finished before the kill": 0, "whole new set": 0, "old state kept": 0,
                "store checks out after the next write": 0, "BAD": 0}
    for i in range(count):
        replace = i % 2 == 0
        name = "glove" if replace else f"extra{i}"
        before = _names_and_uids(store)
        proc = subprocess.Popen([PY, "-c", IMPORT, str(store), str(text), name, "replace" if replace else "new"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, duration * 0.9))  # (a kill at any moment of the import)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcomes["killed" if proc.returncode == -signal.SIGKILL else "finished before the kill"] += 1
        after = _names_and_uids(store)
        if after == before:
            outcomes["old state kept"] += 1
        elif _whole(store, name, before):
            outcomes["whole new set"] += 1
        else:
            outcomes["BAD"] += 1
        if not replace and name in after:  # keep the store small: remove the extra set again
            subprocess.run([*vecstore_cli(), "--store", str(store), "remove", name], check=True,
                           capture_output=True)
        else:  # the next write reclaims the killed import's temp files
            subprocess.run([*vecstore_cli(), "--store", str(store), "import", str(work / "tiny.txt"), "--name",
                            "tiny", "--replace"], check=True, capture_output=True)
        check = subprocess.run([*vecstore_cli(), "--store", str(store), "check"], capture_output=True, text=True)
        outcomes["store checks out after the next write" if check.returncode == 0 else "BAD"] += 1
        if check.returncode != 0:
            print(f"check failed after kill {i}:", check.stdout, check.stderr, file=sys.stderr)
    return outcomes


def _names_and_uids(store: Path) -> dict[str, str]:
    with sqlite3.connect(store) as db:
        return dict(db.execute("SELECT name, uid FROM embedding_sets"))


def _whole(store: Path, name: str, before: dict[str, str]) -> bool:
    from vecstore import Store

    with Store(store) as s:
        info = s.get(name).info
        return info.uid != before.get(name) and info.count == 400_000 and len(s.get(name).words) == 400_000


def races(work: Path, text: Path, rounds: int) -> dict[str, int]:
    store = work / "race.db"
    common.remove_store(store)
    subprocess.run([PY, "-c", IMPORT, str(store), str(text), "glove", "new"], check=True)
    outcomes = {"replacing pairs, both succeeded": 0, "new-name pairs, one won, one told": 0,
                "reader answers, whole": 0, "BAD": 0}
    cli = vecstore_cli()
    for i in range(rounds):
        readers = [subprocess.Popen([PY, "-c", QUERY, str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for _ in range(3)]
        replace = i % 2 == 0
        name = "glove" if replace else f"race{i}"
        pair = [subprocess.Popen([*cli, "--store", str(store), "import", str(text), "--name", name,
                                  *(["--replace"] if replace else [])], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in pair]
        codes = sorted(code for code, _ in results)
        if replace and codes == [0, 0]:
            outcomes["replacing pairs, both succeeded"] += 1
        elif not replace and codes == [0, 1] and "was imported by another process" in next(
                err for code, err in results if code == 1):
            outcomes["new-name pairs, one won, one told"] += 1
            subprocess.run([*cli, "--store", str(store), "remove", name], check=True, capture_output=True)
        else:
            outcomes["BAD"] += 1
            print("race failed:", results, file=sys.stderr)
        for reader in readers:
            out, err = reader.communicate(timeout=300)
            try:
                count, words = json.loads(out.strip().splitlines()[-1])
                ok = count == 400_000 and words[0] == "prince" and len(words) == 10
            except (ValueError, IndexError):
                ok = False
            outcomes["reader answers, whole" if ok else "BAD"] += 1
            if not ok:
                print("reader failed:", out, err, file=sys.stderr)
    return outcomes


def corruption(work: Path, text: Path, flips: int, rng: random.Random) -> dict[str, int]:
    from vecstore import Store, VecstoreError

    pristine = work / "pristine.db"
    common.remove_store(pristine)
    with Store(pristine) as s:
        s.import_file(text, "glove")
        s.get("glove").neighbours("king")
    queries = ["king", "paris", "computer", "frog", "the"]
    expected = _answers(pristine, queries)
    outcomes = {"exact answers": 0, "refused with a typed error": 0, "check found the damage": 0,
                "BAD (check missed the flip)": 0, "BAD (a wrong answer)": 0}
    store = work / "damaged.db"
    for i in range(flips):
        common.remove_store(store)
        shutil.copy(pristine, store)
        shutil.copytree(pristine.with_name("pristine.db.indexes"), store.with_name("damaged.db.indexes"))
        kind = ["index", "rows", "manifest", "vector chunk", "word chunk"][i % 5]
        where = rng.random()  # the same flip for the answers and for check
        _flip(store, kind, random.Random(where))
        try:
            got = _answers(store, queries)
        except VecstoreError:
            outcomes["refused with a typed error"] += 1
        else:
            outcomes["exact answers" if got == expected else "BAD (a wrong answer)"] += 1
        common.remove_store(store)  # the answers above may have rebuilt derived files: damage afresh
        shutil.copy(pristine, store)
        shutil.copytree(pristine.with_name("pristine.db.indexes"), store.with_name("damaged.db.indexes"))
        _flip(store, kind, random.Random(where))
        report = Store(store).check()
        key = "check found the damage" if not report.ok else "BAD (check missed the flip)"
        outcomes[key] += 1
    return outcomes


def _answers(store: Path, queries: list[str]) -> dict[str, object]:
    from vecstore import Store

    with Store(store) as s:
        g = s.get("glove")
        return {"neighbours": {q: [(h.word, round(h.score, 5)) for h in g.neighbours(q, k=10)] for q in queries},
                "vectors": {q: g.vector(q).tolist() for q in queries},
                "analogy": [h.word for h in g.analogy("man", "king", "woman", k=3)]}


def _flip(store: Path, kind: str, rng: random.Random) -> None:
    folder = store.with_name(store.name + ".indexes")
    if kind in ("index", "rows", "manifest"):
        suffix = {"index": ".faiss", "rows": ".rows", "manifest": ".json"}[kind]
        path = next(folder.glob(f"*{suffix}"))
        data = bytearray(path.read_bytes())
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        return
    table = "vector_chunks" if kind == "vector chunk" else "word_chunks"
    db = sqlite3.connect(store)
    try:
        numbers = [n for (n,) in db.execute(f"SELECT chunk_no FROM {table}")]
        number = rng.choice(numbers)
        (data,) = db.execute(f"SELECT data FROM {table} WHERE chunk_no = ?", (number,)).fetchone()
        data = bytearray(data)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        db.execute(f"UPDATE {table} SET data = ? WHERE chunk_no = ?", (bytes(data), number))
        db.commit()
    finally:
        db.close()  # (closed now: its WAL checkpointed and gone before the next copy)


def main() -> int:
    parser = common.make_parser(__doc__, "where the GloVe text and the stores go")
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--races", type=int, default=6)
    parser.add_argument("--flips", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sections", default="kills,races,corruption", help="which sections to run")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    (work / "tiny.txt").write_text("a 1 2\n")
    common.machine_info("vecstore torture test (real GloVe 6B 50d)", ["vecstore"])
    text = common.glove_text(work)
    rng = random.Random(args.seed)
    bad = 0
    sections = {"kills": lambda: kills(work, text, args.kills, rng), "races": lambda: races(work, text, args.races),
                "corruption": lambda: corruption(work, text, args.flips, rng)}
    for title in args.sections.split(","):
        outcomes = sections[title]()
        print(f"\n{title}")
        for key, value in outcomes.items():
            print(f"  {value:5d}  {key}")
            bad += value if key.startswith("BAD") else 0
    print(f"\n{'all outcomes allowed' if not bad else f'{bad} outcomes NOT allowed'}")
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
