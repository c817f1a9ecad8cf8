"""What a process does not load, and what a killed import leaves behind."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_lines

from vecstore import Store

HEAVY = ("sqlalchemy", "alembic", "tensorflow", "keras", "pandas", "gensim")
#: What no query loads either: the other command groups' dependencies (pictures, progress bars).
OTHER_GROUPS = ("matplotlib", "adjustText", "scipy", "sklearn", "rich")

PROBE = """
import json, sys
from vecstore.cli.app import main
sys.argv = ["vecstore", "--store", sys.argv[1], *sys.argv[2:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"exit": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def run_cli_probe(store: Path, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(store), *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def small_store(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    with Store(path) as store:  # closing checkpoints the WAL into the file, which the kill test copies
        store.import_file(write_lines(tmp_path / "w.txt", ["king 1 0", "queen 1 0.1", "apple 0 1"]), "w")
    return path


@pytest.mark.parametrize("command", [["neighbours", "king"], ["analogy", "king", "queen", "apple"],
                                     ["similarity", "king", "queen"], ["vector", "king"], ["sets"], ["default"],
                                     ["index", "list"], ["docs", "list"], ["docs", "search", "notes", "king"]])
def test_queries_never_import_sqlalchemy_tensorflow_or_other_groups_dependencies(small_store: Path,
                                                                                  command: list[str]) -> None:
    with Store(small_store) as store:
        store.add_documents("notes", ["1", "2"], ["the king", "an apple"], set_name="w")
    probe = run_cli_probe(small_store, *command)
    assert probe["exit"] in (0, None)
    assert [m for m in (*HEAVY, *OTHER_GROUPS) if m in probe["modules"]] == []


@pytest.mark.parametrize("indexed", [False, True], ids=["exact-only", "with-hnsw"])
def test_a_cold_query_of_a_word_imports_neither_numpy_nor_faiss(small_store: Path, indexed: bool) -> None:
    """The C extension answers it on the mapped, verified rows (numpy is 140 ms of a cold
    process); with an approximate index the cold few queries are answered exactly too."""
    if indexed:
        with Store(small_store) as store:
            store.build_index("w", "hnsw")
    for command in (["neighbours", "king", "-k", "2"], ["neighbours", "king", "-k", "2", "--exact"]):
        out = subprocess.run([sys.executable, "-c", PROBE, str(small_store), *command], capture_output=True,
                             text=True, check=True).stdout.splitlines()
        assert [line.split()[0] for line in out[:-1]] == ["queen", "apple"]
        assert [m for m in ("numpy", "faiss") if m in json.loads(out[-1])["modules"]] == []


def test_building_a_matrix_never_imports_tensorflow(small_store: Path, tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("\n[UNK]\nking\nQueen\n")
    probe = run_cli_probe(small_store, "matrix", "--vocab", str(tmp_path / "vocab.txt"), "--out",
                          str(tmp_path / "m.npy"))
    assert probe["exit"] in (0, None) and (tmp_path / "m.npy").exists()
    assert [m for m in HEAVY if m in probe["modules"]] == []


def test_the_library_never_imports_typer(small_store: Path) -> None:
    code = ("import sys; from vecstore import Store; s = Store(sys.argv[1]); s.get('w').neighbours('king');"
            "s.import_file(sys.argv[2], 'x'); s.remove('x'); print('typer' in sys.modules, 'click' in sys.modules)")
    extra = write_lines(small_store.parent / "x.txt", ["a 1 2"])
    out = subprocess.run([sys.executable, "-c", code, str(small_store), str(extra)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_importing_into_an_existing_store_needs_no_sqlalchemy(small_store: Path) -> None:
    extra = write_lines(small_store.parent / "x.txt", ["a 1 2", "b 3 4"])
    probe = run_cli_probe(small_store, "import", str(extra), "--name", "x")
    assert probe["exit"] in (0, None)
    assert [m for m in HEAVY if m in probe["modules"]] == []
    assert [s.name for s in Store(small_store).sets()] == ["w", "x"]


KILLER = """
import os, signal, sys
import vecstore.storage.sqlite
from vecstore import Store
from vecstore.index.folder import IndexFolder

store, source, kill_after, replace = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "replace"
run = vecstore.storage.sqlite._run

def run_then_die(db, sql, *args, **kwargs):
    result = run(db, sql, *args, **kwargs)
    if sql.startswith("INSERT INTO " + kill_after):
        os.kill(os.getpid(), signal.SIGKILL)  # a real kill, inside the open transaction
    return result

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

vecstore.storage.sqlite._run = run_then_die
if kill_after == "index":
    IndexFolder.publish = die  # after the commit, before the index is in place
Store(store).import_file(source, "w" if replace else "glove", replace=replace)
"""


@pytest.mark.parametrize("replace", [False, True], ids=["new set", "replacing a set"])
@pytest.mark.parametrize("kill_after", ["embedding_sets", "vector_chunks", "word_chunks", "index"])
def test_an_import_killed_at_any_step_is_all_or_nothing(tmp_path: Path, glove_text: Path, small_store: Path,
                                                        kill_after: str, replace: bool) -> None:
    """SIGKILL an import of the real GloVe inside its transaction (or just after the commit,
    while the index is written): the store keeps the whole new set or none of it."""
    store = tmp_path / "store.db"
    shutil.copy(small_store, store)
    process = subprocess.run([sys.executable, "-c", KILLER, str(store), str(glove_text), kill_after,
                              "replace" if replace else "new"], timeout=300)
    assert process.returncode == -signal.SIGKILL
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Store(store) as reopened:
        names = [s.name for s in reopened.sets()]
        committed = kill_after == "index"
        assert names == (["glove", "w"] if committed and not replace else ["w"])
        survivor = reopened.get("w")
        if committed and replace:  # the replacement committed: the whole GloVe, index rebuilt on demand
            assert len(survivor.words) == 400_000 and survivor.matrix().shape == (400_000, 50)
            assert survivor.neighbours("king", k=1)[0].word == "prince"
        else:  # nothing of the killed import, the old set intact
            assert survivor.words == ["king", "queen", "apple"]
            assert survivor.neighbours("king", k=1)[0].word == "queen"
        if committed and not replace:
            glove = reopened.get("glove")
            assert len(glove.words) == 400_000 and glove.matrix().shape == (400_000, 50)
            assert glove.neighbours("king", k=1)[0].word == "prince"


def test_without_tensorflow_keras_features_are_a_one_line_error(small_store: Path, tmp_path: Path) -> None:
    # As on an install without the keras extra: importing keras fails.
    (tmp_path / "vocab.txt").write_text("\n[UNK]\nking\n")
    (tmp_path / "model.keras").write_bytes(b"not really a model")
    code = ("import sys; sys.modules['keras'] = None; sys.modules['tensorflow'] = None\n" + PROBE)
    out = subprocess.run([sys.executable, "-c", code, str(small_store), "import-keras", str(tmp_path / "model.keras"),
                          "--vocab", str(tmp_path / "vocab.txt"), "--name", "k"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1])["exit"] == 1
    assert out.stderr.strip() == "Error: Keras features need TensorFlow: pip install 'vecstore[keras]'"
