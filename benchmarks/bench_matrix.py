"""Benchmark building the embedding matrix of a 20,000-word vocabulary from the real GloVe.

vecstore reads only the vectors the vocabulary needs from its store; the tutorial fills
the matrix from a dict of all 400,000 parsed vectors, and gensim users look each word up
in a loaded KeyedVectors. The peers are timed with their data already in memory (the
parse or load not counted); vecstore is timed in a fresh process (everything read from
the store counted), in process and as a cold ``vecstore matrix`` command.

The vocabulary is deterministic and shaped like one fitted on a corpus: 19,000 GloVe
words drawn with Zipf-like weights (frequent words likely, the long tail present),
1,000 of them capitalised (found by case folding), and 1,000 made-up words GloVe lacks,
after the padding and OOV tokens: 20,002 indexes.

Usage: python benchmarks/bench_matrix.py [--runs 7] [--workdir DIR]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import common
import numpy as np

BAR_IN_PROCESS_S = 0.050
BAR_CLI_S = 1.5

# Timed in a fresh process: open the store, build the matrix (cold), then again (warm).
IN_PROCESS = """
import json, sys, time
t0 = time.perf_counter()
from vecstore import Store
from vecstore.vocabulary import Vocabulary
vocab = Vocabulary.read(sys.argv[2])
t1 = time.perf_counter()
built = Store(sys.argv[1]).get("glove").embedding_matrix(vocab)
t2 = time.perf_counter()
Store(sys.argv[1]).get("glove").embedding_matrix(vocab)
t3 = time.perf_counter()
print(json.dumps({"imports_and_vocab": t1 - t0, "cold": t2 - t1, "warm": t3 - t2,
                  "found": built.coverage.found, "modules": sorted(m for m in sys.modules
                  if m.split(".")[0] in ("tensorflow", "keras", "sqlalchemy", "gensim", "pandas"))}))
"""


def make_vocabulary(words: list[str], path: Path) -> list[str]:
    rng = np.random.default_rng(20_000)
    weights = 1.0 / (np.arange(len(words)) + 50.0)
    picked = rng.choice(len(words), size=19_000, replace=False, p=weights / weights.sum())
    tokens = [words[i] for i in sorted(picked)]
    for i in rng.choice(len(tokens), size=1_000, replace=False):
        tokens[i] = tokens[i].capitalize() if tokens[i].capitalize() != tokens[i] else tokens[i]
    tokens += [f"zq{i}xv" for i in range(1_000)]
    path.write_text("".join(f"{t}\n" for t in ["", "[UNK]", *tokens]), encoding="utf-8")
    return ["", "[UNK]", *tokens]


def tutorial_fill(index: dict[str, np.ndarray], tokens: list[str], dim: int) -> np.ndarray:
    """The tutorial's loop: a zero matrix, each row from the parsed dict when the word is there."""
    matrix = np.zeros((len(tokens), dim))
    for i, word in enumerate(tokens):
        vector = index.get(word)
        if vector is not None:
            matrix[i] = vector
    return matrix


def gensim_fill(kv, tokens: list[str]) -> np.ndarray:
    """The gensim way: look each word up in a loaded KeyedVectors."""
    matrix = np.zeros((len(tokens), kv.vector_size), dtype=np.float32)
    for i, word in enumerate(tokens):
        if word in kv.key_to_index:
            matrix[i] = kv[word]
    return matrix


def main() -> int:
    parser = common.make_parser(__doc__, "where the store and vocabulary go")
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (default: %(default)s)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info("vecstore benchmark: an embedding matrix for a 20,000-word vocabulary",
                        ("numpy", "gensim", "faiss-cpu", "vecstore"))

    from gensim.models import KeyedVectors

    from vecstore.io.builtin import load_builtin

    store_path = common.glove_store(work / "matrix-store.db")  # imported by this vecstore
    glove = load_builtin("glove-6b-50d")
    vocab_path = work / "vocab-20k.txt"
    tokens = make_vocabulary(glove.words, vocab_path)
    print(f"  vocabulary {vocab_path}: {len(tokens):,} indexes; store {store_path}; median of {args.runs} runs\n")

    # vecstore, in a fresh process each run
    results = []
    for _ in range(args.runs):
        done = subprocess.run([common.PY, "-c", IN_PROCESS, str(store_path), str(vocab_path)],
                              capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout))
    cold = statistics.median(r["cold"] for r in results)
    warm = statistics.median(r["warm"] for r in results)
    cli = [common.which_vecstore(), "--store", str(store_path), "matrix", "--set", "glove",
           "--vocab", str(vocab_path), "--out", str(work / "matrix.npy"), "--force"]
    cli_walls = [common.measure(cli, work, check=True)["wall"] for _ in range(args.runs)]
    cli_wall = statistics.median(cli_walls)

    # The peers, their data already in memory
    parsed = dict(zip(glove.words, glove.vectors, strict=True))
    tutorial = common.median_seconds(lambda: tutorial_fill(parsed, tokens, 50), args.runs)
    kv = KeyedVectors(50)
    kv.add_vectors(glove.words, glove.vectors)
    gensim = common.median_seconds(lambda: gensim_fill(kv, tokens), args.runs)

    ours = np.load(work / "matrix.npy")
    theirs = gensim_fill(kv, tokens)
    exact = [i for i, t in enumerate(tokens) if t in kv.key_to_index]
    same = bool(np.array_equal(ours[exact], theirs[exact]))

    common.table(["way", "median s", "what is timed"], [
        ["vecstore in process, cold", common.fmt(cold, 4), "the words, the lookup and the needed rows, from the store"],
        ["vecstore in process, warm", common.fmt(warm, 4), "a second matrix in the same process"],
        ["vecstore matrix (cold CLI)", common.fmt(cli_wall, 3), "the whole command: start-up, build, write .npy"],
        ["tutorial dict, parsed", common.fmt(tutorial, 4), "the fill loop only (parsing the file not counted)"],
        ["gensim KeyedVectors, loaded", common.fmt(gensim, 4), "the lookup loop only (loading not counted)"],
    ])
    found = results[0]["found"]
    print(f"\n  found {found:,} of {len(tokens) - 2:,} words (case folding included); "
          f"rows equal to gensim's for the {len(exact):,} exact words: {'yes' if same else 'NO'}")
    print(f"  heavy modules in the vecstore process: {results[0]['modules'] or 'none'}")
    print(f"  tutorial / vecstore cold: {tutorial / cold:.2f}x   gensim / vecstore cold: {gensim / cold:.2f}x")
    print(f"  bar: in-process build < {BAR_IN_PROCESS_S * 1000:.0f} ms: {cold * 1000:.1f} ms "
          f"{common.verdict(cold < BAR_IN_PROCESS_S)}")
    print(f"  bar: cold CLI < {BAR_CLI_S} s: {cli_wall:.3f} s {common.verdict(cli_wall < BAR_CLI_S)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
