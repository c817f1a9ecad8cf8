"""What a source is, how big a line may be, and what happens when writers meet.

Issue 8's items 6 (a zip member is its own source), 7 (one enormous line), 8 (a ragged
line is not a word with spaces), 10 (two writers of one name) and 11 (store errors in
one line), each with its relatives.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import write_lines
from typer.testing import CliRunner

import vecstore.storage.driver
from vecstore import InputFileError, SetExistsError, Store
from vecstore.cli.app import app
from vecstore.errors import StoreBusyError
from vecstore.io.readers import ReadOptions

runner = CliRunner()
D50 = [f"w{i} " + " ".join(["0.5"] * 3) for i in range(5)]
D100 = [f"w{i} " + " ".join(["0.25"] * 4) for i in range(5)]


@pytest.fixture
def glove_zip(tmp_path: Path) -> Path:
    path = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("glove.6B.100d.txt", "".join(f"{line}\n" for line in D100))
        archive.writestr("glove.6B.50d.txt", "".join(f"{line}\n" for line in D50))
    return path


def test_each_member_of_a_zip_is_its_own_source(glove_zip: Path) -> None:
    store = Store()
    first = store.import_file(glove_zip, options=ReadOptions(member="glove.6B.100d.txt"))
    second = store.import_file(glove_zip, options=ReadOptions(member="glove.6B.50d.txt"))
    assert (first.info.name, first.info.dim, first.status) == ("glove.6B.100d", 4, "imported")
    assert (second.info.name, second.info.dim, second.status) == ("glove.6B.50d", 3, "imported")
    member_bytes = zipfile.ZipFile(glove_zip).read("glove.6B.50d.txt")
    assert second.info.source_sha256 == hashlib.sha256(member_bytes).hexdigest()
    assert second.info.source.endswith("glove.6B.zip#glove.6B.50d.txt")
    again = store.import_file(glove_zip, options=ReadOptions(member="glove.6B.50d.txt"))
    assert again.status == "unchanged"
    # the other member under the first one's name: other content, so refused without replace
    with pytest.raises(SetExistsError, match=r"a set named 'glove\.6B\.100d' already exists"):
        store.import_file(glove_zip, "glove.6B.100d", options=ReadOptions(member="glove.6B.50d.txt"))
    replaced = store.import_file(glove_zip, "glove.6B.100d", options=ReadOptions(member="glove.6B.50d.txt"),
                                 replace=True)
    assert replaced.status == "replaced" and store.get("glove.6B.100d").dim == 3


def test_the_same_file_read_with_other_options_is_not_the_same_source(tmp_path: Path) -> None:
    # A relative of the zip member: --limit, --lowercase and --duplicates change what is stored.
    path = write_lines(tmp_path / "v.txt", ["a 1 2", "B 3 4", "b 5 6", "c 7 8"])
    store = Store()
    assert store.import_file(path, "v", options=ReadOptions(limit=2)).info.count == 2
    with pytest.raises(SetExistsError, match=r"same source with other options: the set was read with limit=2"):
        store.import_file(path, "v")
    assert store.import_file(path, "v", options=ReadOptions(limit=2)).status == "unchanged"
    assert store.import_file(path, "v", replace=True).info.count == 4
    with pytest.raises(SetExistsError, match="other options"):
        store.import_file(path, "v", options=ReadOptions(lowercase=True))
    with pytest.raises(SetExistsError, match="other options"):
        store.import_file(path, "v", options=ReadOptions(duplicates="last"))


MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # of this process's only child
print(json.dumps({"returncode": done.returncode, "stderr": done.stderr, "peak": peak}))
"""


def peak_rss_of(code: str, *args: str) -> tuple[dict, int]:
    """Run ``code`` in a fresh process, through an intermediate one that reads its peak RSS."""
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-c", code, *args], capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout)
    return result, result["peak"]


IMPORT = """
import sys
from vecstore.cli.app import main
sys.argv = ["vecstore", "--store", sys.argv[1], "import", sys.argv[2], "--name", "huge"]
main()
"""


@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
def test_one_enormous_line_takes_bounded_memory_and_a_short_message(tmp_path: Path, suffix: str) -> None:
    import gzip

    # 200 MB of NUL bytes on the second line (the 400 MB line took 8.4 GB of RAM)
    path = tmp_path / f"huge{suffix}"
    with (gzip.open(path, "wb", compresslevel=1) if suffix.endswith(".gz") else open(path, "wb")) as f:
        f.write(b"a 1 2\n")
        chunk = bytes(1 << 20)
        for _ in range(200):
            f.write(chunk)
        f.write(b"\n")
    done, peak = peak_rss_of(IMPORT, str(tmp_path / "s.db"), str(path))
    assert done["returncode"] == 1
    assert done["stderr"] == f"Error: {path}:2: the line is longer than 4,194,304 bytes, the longest vecstore reads\n"
    assert peak < 600 << 20, f"peak RSS {peak / 2**20:.0f} MB"


def test_a_line_with_far_too_many_values_is_refused_not_folded_into_a_word(tmp_path: Path) -> None:
    many = "w " + " ".join(["0.5"] * 2_000_000)
    path = write_lines(tmp_path / "ragged.txt", ["a 1 2 3", "b 4 5 6", many, "c 7 8 9"])
    with pytest.raises(InputFileError) as info:
        Store().import_file(path, "r")
    assert info.value.line == 3  # (8 MB of values: over the line limit)
    assert str(info.value) == f"{path}:3: the line is longer than 4,194,304 bytes, the longest vecstore reads"
    shorter = write_lines(tmp_path / "ragged2.txt", ["a 1 2 3", "b 4 5 6", "w " + " ".join(["0.5"] * 300)])
    with pytest.raises(InputFileError, match=r"ragged2.txt:3: expected 3 values after 'w', found 300 \(a word may "
                                             r"hold spaces, but not end in a number"):
        Store().import_file(shorter, "r")


def test_words_with_spaces_still_import(tmp_path: Path) -> None:
    # GloVe 840B's tokens with spaces: the rule refuses only a word ending in a number.
    lines = ["the 1 2 3", ". . . 0.1 0.2 0.3", "at name@domain.com 4 5 6", "- - - 7 8 9", "1990 1 1 1"]
    imported = Store().import_file(write_lines(tmp_path / "840b.txt", lines), "s")
    assert Store().get("s").words == ["the", ". . .", "at name@domain.com", "- - -", "1990"]
    assert imported.info.count == 5


def import_in_process(store: Path, source: Path, name: str, replace: bool) -> subprocess.Popen:
    code = ("import sys; from vecstore.cli.app import main; sys.argv = ['vecstore', *sys.argv[1:]]; main()")
    args = [sys.executable, "-c", code, "--store", str(store), "import", str(source), "--name", name, "--json"]
    if replace:
        args.append("--replace")
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def big_file(path: Path, value: float, rows: int = 200_000) -> Path:
    path.write_text("".join(f"w{i} {value} {i % 97} 1\n" for i in range(rows)))
    return path


def test_two_replacing_imports_of_one_name_at_once_both_succeed_in_turn(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    Store(store).import_file(write_lines(tmp_path / "seed.txt", ["a 1 2 3"]), "x")
    sources = [big_file(tmp_path / "one.txt", 0.25), big_file(tmp_path / "two.txt", 0.75)]
    runs = [import_in_process(store, source, "x", replace=True) for source in sources]
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    statuses = sorted(json.loads(out)["status"] for out, _ in results)
    assert statuses == ["replaced", "replaced"]
    with Store(store) as s:
        (info,) = s.sets()
        assert info.name == "x" and info.count == 200_000
        assert info.content_checksum in {json.loads(out)["content_checksum"] for out, _ in results}
        assert s.check().ok and s.check().findings == []


def test_two_new_imports_of_one_name_at_once_one_wins_the_other_is_told(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    Store(store).upgrade()
    sources = [big_file(tmp_path / "one.txt", 0.25), big_file(tmp_path / "two.txt", 0.75)]
    runs = [import_in_process(store, source, "x", replace=False) for source in sources]
    results = [run.communicate(timeout=120) for run in runs]
    assert sorted(run.returncode for run in runs) == [0, 1], results
    loser = next(err for run, (_, err) in zip(runs, results, strict=True) if run.returncode == 1)
    assert loser.startswith("Error: a set named 'x' ") and loser.count("\n") == 1
    assert "pass --replace to overwrite it" in loser
    assert Store(store).check().ok


def test_a_store_locked_too_long_is_busy_not_locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "s.db"
    Store(store).import_file(write_lines(tmp_path / "seed.txt", ["a 1 2 3"]), "x")
    monkeypatch.setattr(vecstore.storage.driver, "BUSY_TIMEOUT", 0.3)
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock
    try:
        result = runner.invoke(app, ["--store", str(store), "import", str(tmp_path / "seed.txt"), "--name", "y"])
        removal = runner.invoke(app, ["--store", str(store), "remove", "x"])
        reading = runner.invoke(app, ["--store", str(store), "vector", "a"])  # readers are never blocked (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for refused in (result, removal):
        assert refused.exit_code == 1
        assert refused.stderr == (f"Error: the store is busy: another process is writing to {store} "
                                  "(waited 0 s); try again when it has finished\n")
    assert reading.exit_code == 0 and reading.stdout.split() == ["1.0", "2.0", "3.0"]
    with pytest.raises(StoreBusyError):
        holder = sqlite3.connect(store, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            Store(store).remove("x")
        finally:
            holder.execute("ROLLBACK")


def test_readers_keep_answering_while_a_set_is_replaced(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    Store(store).import_file(big_file(tmp_path / "one.txt", 0.25, rows=50_000), "x")
    answers: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                with Store(store) as s:
                    answers.append(s.with_set("x", lambda e: e.neighbours("w1", k=1))[0].word)
            except BaseException as exc:  # collected: a dying thread must fail the test, not vanish
                failures.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for value in (0.5, 0.75):
            Store(store).import_file(big_file(tmp_path / f"{value}.txt", value, rows=50_000), "x", replace=True)
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert len(answers) > 3 and all(a.startswith("w") for a in answers)


def test_a_server_store_error_is_one_line_without_sqlalchemy_links() -> None:
    # A server that refuses the connection (nothing listens on port 9 of loopback).
    result = runner.invoke(app, ["--store", "postgresql+psycopg://nobody@127.0.0.1:9/none", "sets"])
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("Error: cannot open the store postgresql+psycopg://nobody@127.0.0.1:9/none: ")
    assert "\n" not in line and "sqlalche.me" not in line and "Background on this error" not in line


def test_a_damaged_store_file_is_one_line_suggesting_check(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    with Store(store) as s:  # closed: the WAL is checkpointed into the file and removed
        s.import_file(write_lines(tmp_path / "seed.txt", ["a 1 2 3"]), "x")
    data = bytearray(store.read_bytes())
    data[0:16] = b"garbage garbage!"  # SQLite's header string
    store.write_bytes(bytes(data))
    result = runner.invoke(app, ["--store", str(store), "sets"])
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {store} is not a readable vecstore store (file is not a database); "
                             f"run: vecstore --store {store} check\n")


def test_vectors_reach_the_store_exactly_through_every_path(tmp_path: Path) -> None:
    # import_vectors is the door every in-memory source (built-in, Keras) goes through.
    store = Store()
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    store.import_vectors("m", ["a", "b", "c", "d"], vectors, source="memory", source_sha256="1" * 64)
    assert np.array_equal(store.get("m").matrix(), vectors) and store.check().ok
    for words, message in ((["a", "b", "a", "d"], "the word 'a' appears more than once"),
                           (["a", "b\nc", "e", "d"], "holds a line break"),
                           (["a", "", "e", "d"], "is empty"),
                           (["a", "\udce9", "e", "d"], "lone surrogate")):
        with pytest.raises(vecstore.InvalidArgumentError, match=message):
            store.import_vectors("n", words, vectors, source="memory", source_sha256="2" * 64)
    assert [s.name for s in store.sets()] == ["m"]
