"""A large fastText .bin (issue 19), vecstore against gensim, in one run: a synthetic model
of 200,000 words x 100 dims with fastText's default 2,000,000 n-gram buckets (963 MB,
written in Facebook's format: random rows, random words), imported once by vecstore, then
a cold process asking the vector of a word the model lacks; against gensim's
``load_facebook_vectors`` and ``get_vector`` in a cold process, which reads the whole
model every time. Wall time and peak memory (max RSS) of each process; both vectors equal.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import common
import numpy as np

WORDS, DIM, BUCKET = 200_000, 100, 2_000_000
UNSEEN = "qwertyuiopz"
GENSIM = ("import json, sys\nfrom gensim.models.fasttext import load_facebook_vectors\n"
          "print(json.dumps(load_facebook_vectors(sys.argv[1]).get_vector(sys.argv[2]).tolist()))\n")


def write_model(path: Path) -> None:
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    with path.open("wb") as f:
        f.write(struct.pack("<2i", 793712314, 12))
        f.write(struct.pack("<12id", DIM, 5, 5, 5, 5, 1, 1, 2, BUCKET, 3, 6, 100, 1e-4))
        f.write(struct.pack("<3i2q", WORDS, WORDS, 0, 10**8, -1))
        seen: set[str] = set()
        while len(seen) < WORDS:
            word = "".join(rng.choice(letters, int(rng.integers(3, 12))))
            if word not in seen and word != UNSEEN:
                seen.add(word)
                f.write(word.encode() + b"\0" + struct.pack("<qb", 1000, 0))
        f.write(b"\0" + struct.pack("<2q", WORDS + BUCKET, DIM))
        for start in range(0, WORDS + BUCKET, 100_000):
            rows = min(100_000, WORDS + BUCKET - start)
            f.write(rng.normal(0, 0.1, size=(rows, DIM)).astype("<f4").tobytes())
        f.write(b"\0" + struct.pack("<2q", WORDS, DIM))
        f.write(np.zeros((WORDS, DIM), dtype="<f4").tobytes())


def main() -> int:
    parser = common.make_parser(__doc__, "where the model and the store go (1 GB of model, 1 GB of store)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    common.machine_info("vecstore benchmark: a large fastText model against gensim, one run",
                        ("numpy", "gensim", "vecstore"))
    work = args.workdir / "fasttext"
    work.mkdir(parents=True, exist_ok=True)
    model = work / "big.bin"
    if not model.exists():
        write_model(model)
    store = common.fresh_store(work / "store.db")
    cli = common.which_vecstore()
    imported = common.measure([cli, "--store", str(store), "import", str(model), "--name", "big"], work, check=True)
    ours = common.measure([cli, "--store", str(store), "vector", UNSEEN, "--json"], work, check=True)
    theirs = common.measure([common.PY, "-c", GENSIM, str(model), UNSEEN], work, check=True)
    same = np.abs(np.array(json.loads(ours["stdout"])["vector"]) - np.array(json.loads(theirs["stdout"]))).max()
    print(f"\nthe model: {WORDS:,} words x {DIM} dims, {BUCKET:,} buckets, {model.stat().st_size / 1e6:,.0f} MB")
    common.table(["process", "wall s", "max RSS MB"], [
        ["vecstore import (once)", common.fmt(imported["wall"]), f"{imported['rss_mb']:,.0f}"],
        [f"vecstore vector {UNSEEN} (a cold process)", common.fmt(ours["wall"]), f"{ours['rss_mb']:,.0f}"],
        ["gensim load_facebook_vectors + get_vector (a cold process)", common.fmt(theirs["wall"]),
         f"{theirs['rss_mb']:,.0f}"],
    ])
    print(f"  the unseen word's vectors differ by at most {same:.1e}; gensim / vecstore per cold process: "
          f"{theirs['wall'] / ours['wall']:.0f}x")
    return 0 if same <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
