"""Checksums: every stored chunk and every derived file is bound to its set's content.

For each kind of file a set has (the raw copy of its rows, which the exact search scans,
its manifest, a legacy store's FAISS flat index, and its vector and word chunks in the
database), damage it the ways a disk,
a careless user or a hostile tester would, then show that every answer is exact (the
same as from the undamaged store) or refused with an error naming the set, and that
``check`` finds it and ``check --repair`` mends what is derived.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_lines
from typer.testing import CliRunner

from vecstore import EmbeddingSet, Store
from vecstore.cli.app import app
from vecstore.cosine import normalized
from vecstore.errors import CorruptionError

rng = np.random.default_rng(11)
COUNT, DIM = 3000, 16
VECTORS = rng.normal(size=(COUNT, DIM)).astype(np.float32)
WORDS = [f"w{i}" for i in range(COUNT)]
LINES = [f"{w} " + " ".join(str(x) for x in row) for w, row in zip(WORDS, VECTORS.tolist(), strict=True)]
QUERIES = ["w0", "w7", "w1500", "w2999"]


def exact_neighbours(word: str, k: int = 10) -> list[str]:
    unit = normalized(VECTORS)
    scores = unit @ unit[WORDS.index(word)]
    scores[WORDS.index(word)] = -np.inf
    return [WORDS[i] for i in np.argsort(-scores, kind="stable")[:k]]


def legacy(store: Store) -> Store:
    """``store`` writing its derived files as vecstore did before the rows kind: a FAISS
    flat index of unit rows beside the raw rows."""
    from vecstore.index.flat import FlatIndex
    from vecstore.index.folder import IndexFolder

    store.indexes = IndexFolder(store.location.index_dir, FlatIndex())
    return store


@pytest.fixture
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    s = Store(tmp_path / "s.db")
    if getattr(request, "param", None) == "legacy":
        legacy(s)
    s.import_file(write_lines(tmp_path / "w.txt", LINES), "w")
    # Another set of the same shape: its files are what a swapped file would be.
    s.import_file(write_lines(tmp_path / "v.txt", [f"{w} " + " ".join(str(x) for x in row) for w, row in
                                                   zip(WORDS, rng.normal(size=(COUNT, DIM)).tolist(), strict=True)]),
                  "v")
    s.close()
    return Store(tmp_path / "s.db")


def files_of(store: Store, name: str) -> dict[str, Path]:
    uid = store.get(name).info.uid
    index, manifest = store.indexes.paths(uid)
    return {"index": index, "rows": store.indexes.rows_path(uid), "manifest": manifest}


def flip(path: Path, offset: int, mask: int = 0x40) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ mask]))


def answers(path: Path) -> dict[str, object]:
    """Every kind of answer, from a fresh process-like opening of the store."""
    with Store(path) as s:
        w = s.get("w")
        return {
            "neighbours": {q: [(h.word, round(h.score, 5)) for h in w.neighbours(q, k=10)] for q in QUERIES},
            "vector": {q: w.vector(q).tolist() for q in QUERIES},
            "rows": w.vectors_of_rows([2999, 0, 1234]).tolist(),
            "matrix": w.matrix().tobytes(),
            "similarity": round(w.similarity("w1", "w2"), 6),
            "analogy": [h.word for h in w.analogy("w1", "w2", "w3", k=5)],
        }


def copy_of(path: Path) -> Path:
    """A copy of the SQLite store at ``path`` and its folder (reading it leaves ``path`` as it is)."""
    copy = path.with_name("copy.db")
    shutil.copy(path, copy)
    shutil.copytree(path.with_name(path.name + ".indexes"), copy.with_name("copy.db.indexes"))
    return copy


def row_offset(kind: str, row: int, column: int = 3) -> int:
    header = 45 if kind == "index" else 0  # the FAISS IndexFlatIP header
    return header + (row * DIM + column) * 4


# The damage done to a derived file: each must leave every answer exact.
DERIVED_DAMAGE = {
    "flip a byte of a neighbour's row": lambda store, path, kind: flip(
        path, row_offset(kind, WORDS.index(exact_neighbours("w0")[0]))),
    "flip the exponent of a far row": lambda store, path, kind: flip(path, row_offset(kind, 2500) + 3, 0x7F),
    "another set's file of the same shape": lambda store, path, kind: shutil.copy(
        files_of(store, "v")[kind], path),
    "truncated": lambda store, path, kind: path.write_bytes(path.read_bytes()[:-100]),
    "footer removed": lambda store, path, kind: path.write_bytes(path.read_bytes()[:row_offset(kind, COUNT, 0)]),
    "zero-filled": lambda store, path, kind: path.write_bytes(bytes(path.stat().st_size)),
    "deleted": lambda store, path, kind: path.unlink(),
}


@pytest.mark.parametrize(("kind", "store"), [("index", "legacy"), ("rows", "rows")], indirect=["store"],
                         ids=["a legacy store's flat index", "the raw rows"])
@pytest.mark.parametrize("damage", list(DERIVED_DAMAGE))
def test_a_damaged_derived_file_never_changes_an_answer(store: Store, kind: str, damage: str) -> None:
    path = store.location.sqlite_path
    assert path is not None
    expected = answers(copy_of(path))  # (read from a copy: reading a legacy store replaces its flat index)
    assert [w for w, _ in expected["neighbours"]["w0"]] == exact_neighbours("w0")
    DERIVED_DAMAGE[damage](store, files_of(store, "w")[kind], kind)
    report = store.check()
    if damage != "deleted":
        assert not report.ok and any(f.subject == "set 'w'" and f.severity == "problem" for f in report.findings)
    assert answers(path) == expected  # exact: the file was refused, or rebuilt, before any answer used it
    assert store.check(repair=True).ok and store.check().ok


def test_check_compares_a_manifest_byte_for_byte(store: Store) -> None:
    manifest = files_of(store, "w")["manifest"]
    manifest.write_text(manifest.read_text().replace('"set_name": "w"', '"set_name": "x"'))
    report = store.check()
    assert [f.line() for f in report.findings] == [
        f"problem: set 'w': {manifest.name}: differs from what this set's files say"]
    assert store.check(repair=True).ok and store.check().findings == []


def test_an_edited_manifest_is_never_trusted(store: Store) -> None:
    path = store.location.sqlite_path
    expected = answers(path)
    manifest = files_of(store, "w")["manifest"]
    other = json.loads(files_of(store, "v")["manifest"].read_text())
    manifest.write_text(json.dumps(other))  # another set's manifest under this set's name
    assert answers(path) == expected
    assert store.check().ok  # the first answer rebuilt the files


def test_a_changed_chunk_is_refused_naming_the_set_and_check_finds_it(store: Store) -> None:
    path = store.location.sqlite_path
    w = store.get("w").info
    store.close()
    with sqlite3.connect(path) as db:  # 16 bytes changed inside a chunk: SQLite's own check still passes
        db.execute("UPDATE vector_chunks SET data = CAST(substr(data, 1, 100) || zeroblob(16) || substr(data, 117) "
                   "AS BLOB) WHERE set_id = ? AND chunk_no = 0", (w.id,))
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Store(path) as s:
        for read in (lambda: s.get("w").matrix(), lambda: s.export("w", path.parent / "out.txt")):
            with pytest.raises(CorruptionError, match="set 'w': vector chunk 0 fails its checksum"):
                read()
        assert not (path.parent / "out.txt").exists()
        assert s.get("v").neighbours("w1")  # the other set is fine
        report = s.check(repair=True)
    assert not report.ok
    assert [f.line() for f in report.findings if not f.repaired] == [
        "problem: set 'w': chunk 0: its vectors fail their checksum"]
    with sqlite3.connect(path) as db:  # repair never touches stored vectors
        (data,) = db.execute("SELECT data FROM vector_chunks WHERE set_id = ? AND chunk_no = 0", (w.id,)).fetchone()
    assert data[100:116] == bytes(16)


def test_a_changed_word_chunk_is_refused(store: Store) -> None:
    path = store.location.sqlite_path
    set_id = store.get("w").info.id
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE word_chunks SET data = replace(data, CAST('w17' AS BLOB), CAST('w71' AS BLOB)) "
                   "WHERE set_id = ?", (set_id,))
    with Store(path) as s, pytest.raises(CorruptionError, match="set 'w': word chunk 0 fails its checksum"):
        s.get("w").neighbours("w1")
    result = CliRunner().invoke(app, ["--store", str(path), "check"])
    assert result.exit_code == 1
    assert "problem: set 'w': chunk 0: its words fail their checksum" in result.stderr


def test_a_chunk_whose_checksum_was_forged_still_fails_the_content_checksum(store: Store) -> None:
    # Changing a chunk and its recorded checksum together (as a careless repair script
    # might) is caught by the set's content checksum, over every chunk's checksum.
    from vecstore.integrity import chunk_digest

    path = store.location.sqlite_path
    info = store.get("w").info
    store.close()
    with sqlite3.connect(path) as db:
        (data,) = db.execute("SELECT data FROM vector_chunks WHERE set_id = ? AND chunk_no = 0", (info.id,)).fetchone()
        changed = bytes(16) + data[16:]
        db.execute("UPDATE vector_chunks SET data = ?, checksum = ? WHERE set_id = ? AND chunk_no = 0",
                   (changed, chunk_digest(changed, info.uid, "vectors", 0), info.id))
    report = Store(path).check()
    assert "problem: set 'w': its content checksum does not match its chunks' checksums" in [
        f.line() for f in report.findings]
    with Store(path) as s, pytest.raises(CorruptionError, match="its chunks do not give its content checksum"):
        s.get("w").matrix()  # any read of every chunk checks the content checksum too


def test_a_chunk_swapped_between_sets_is_refused(store: Store, tmp_path: Path) -> None:
    # The same chunk position in two sets of one shape: swap data and checksum together.
    path = store.location.sqlite_path
    w, v = store.get("w").info, store.get("v").info
    store.close()
    with sqlite3.connect(path) as db:
        rows = {sid: db.execute("SELECT data, checksum FROM vector_chunks WHERE set_id = ? AND chunk_no = 0",
                                (sid,)).fetchone() for sid in (w.id, v.id)}
        for sid, other in ((w.id, v.id), (v.id, w.id)):
            db.execute("UPDATE vector_chunks SET data = ?, checksum = ? WHERE set_id = ? AND chunk_no = 0",
                       (*rows[other], sid))
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Store(path) as s:
        shutil.rmtree(s.indexes.folder)  # so nothing derived stands between the query and the chunks
        for read in (lambda: s.get("w").vector("w1"), lambda: s.get("w").neighbours("w1"),
                     lambda: s.export("w", tmp_path / "exported.txt")):
            with pytest.raises(CorruptionError, match="set 'w': vector chunk 0 fails its checksum"):
                read()
    assert not (tmp_path / "exported.txt").exists()


def test_a_set_replaced_under_an_open_handle_is_said_not_mixed(tmp_path: Path) -> None:
    from vecstore.errors import SetChangedError

    path = tmp_path / "s.db"
    with Store(path) as s:
        s.import_file(write_lines(tmp_path / "a.txt", ["king 1 1 1", "queen 2 2 2"]), "a")
    held = Store(path).get("a")  # a long-lived handle, rows not read yet
    with Store(path) as other:  # another process removes it and imports another set: the row id is reused
        other.remove("a")
        other.import_file(write_lines(tmp_path / "b.txt", ["king -5 -5 -5", "queen -6 -6 -6"]), "b")
        assert other.get("b").info.id == held.info.id
    for read in (lambda: held.vector("king"), held.matrix):
        with pytest.raises(SetChangedError, match="set 'a' was replaced or removed since it was opened"):
            read()


def test_a_one_shot_query_opens_a_replaced_set_again(tmp_path: Path) -> None:
    from vecstore.errors import SetChangedError

    path = tmp_path / "s.db"
    Store(path).import_file(write_lines(tmp_path / "a.txt", ["king 1 1 1", "queen 2 2 2"]), "a")
    replacement = write_lines(tmp_path / "b.txt", ["king -5 -5 -5", "queen -6 -6 -6"])
    opened: list[str] = []

    def replaced_while_reading(embedding_set: EmbeddingSet) -> list[float]:
        opened.append(embedding_set.info.uid)
        if len(opened) == 1:  # another process replaces the set between opening and reading it
            Store(path).import_file(replacement, "a", replace=True)
        return embedding_set.vector("king").tolist()

    with Store(path) as s:
        assert s.with_set("a", replaced_while_reading) == [-5.0, -5.0, -5.0]
        assert len(opened) == 2 and opened[0] != opened[1]

        def always_replaced(embedding_set: EmbeddingSet) -> None:
            raise SetChangedError(embedding_set.name)

        with pytest.raises(SetChangedError):  # bounded: a set replaced on every attempt is said, not looped on
            s.with_set("a", always_replaced)


def test_check_reports_and_repairs_orphans_and_leftovers(store: Store, tmp_path: Path) -> None:
    folder = store.indexes.folder
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    leftover = folder / f"{'a' * 32}.faiss.{pid}.t0badc0de.tmp"
    leftover.write_bytes(b"half an index")
    orphan = folder / f"{'b' * 32}.rows"
    orphan.write_bytes(b"rows of a removed set")
    alive = folder / f"{'c' * 32}.rows.{os.getpid()}.t12345678.tmp"  # a live writer's: never touched
    alive.write_bytes(b"being written")
    legacy = folder / f"{'d' * 32}.faiss.{pid}.tmp"  # as vecstore named them before schema 0003
    legacy.write_bytes(b"half an older index")
    mine = folder / "notes.txt"  # not vecstore's: reported, left alone
    mine.write_text("a user's file")
    result = CliRunner().invoke(app, ["--store", str(store.location.sqlite_path), "check", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {(f["subject"], f["severity"], f["repaired"]) for f in report["findings"]} == {
        (f"file {orphan.name}", "problem", False), (f"file {leftover.name}", "problem", False),
        (f"file {legacy.name}", "problem", False), ("file notes.txt", "note", False)}
    repaired = CliRunner().invoke(app, ["--store", str(store.location.sqlite_path), "check", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert not leftover.exists() and not orphan.exists() and not legacy.exists()
    assert alive.exists() and mine.exists()
    assert CliRunner().invoke(app, ["--store", str(store.location.sqlite_path), "check"]).exit_code == 0


KILLED_IMPORT = """
import sys, threading, os, signal, time
import vecstore.importer
from vecstore import EmbeddingSet, Store
original = vecstore.importer.SetBuilder.add
def add_then_die(self, words, vectors):
    original(self, words, vectors)
    if self.count > 100_000:  # the temp files are half written
        os.kill(os.getpid(), signal.SIGKILL)
vecstore.importer.SetBuilder.add = add_then_die
Store(sys.argv[1]).import_file(sys.argv[2], "killed")
"""


def test_the_leftovers_of_a_killed_import_are_reclaimed_by_the_next_write(tmp_path: Path, glove_text: Path) -> None:
    store_path = tmp_path / "s.db"
    Store(store_path).import_file(write_lines(tmp_path / "a.txt", ["a 1 2"]), "a")
    folder = Store(store_path).indexes.folder
    seen: set[str] = set()
    for _ in range(3):  # each killed import leaves its temp file (the raw rows); the next import reclaims them
        killed = subprocess.run([sys.executable, "-c", KILLED_IMPORT, str(store_path), str(glove_text)])
        assert killed.returncode == -signal.SIGKILL
        leftovers = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
        assert len(leftovers) == 1 and sum(p.stat().st_size for p in leftovers) > 10_000_000
        assert not seen & {p.name for p in leftovers}
        seen |= {p.name for p in leftovers}
    with Store(store_path) as store:
        assert [s.name for s in store.sets()] == ["a"]  # the killed imports left nothing in the store
        store.import_file(write_lines(tmp_path / "b.txt", ["b 3 4"]), "b")  # the next write
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert Store(store_path).check().ok


def test_check_on_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("hello " * 1000)
    result = CliRunner().invoke(app, ["--store", str(notes), "check"])
    assert result.exit_code == 1
    assert f"problem: store: {notes} is not a readable vecstore store (file is not a database)" in result.output


def test_check_verifies_the_real_glove_and_repair_builds_its_files(glove_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store.db"
    shutil.copy(glove_store, copy)  # the database only: no derived files beside it
    report = Store(copy).check()
    assert report.ok, [f.line() for f in report.findings]
    assert [(s.name, s.count, s.stored_ok) for s in report.sets] == [("glove", 400_000, True)]
    assert [f.line() for f in report.findings] == ["note: set 'glove': no derived files yet (they are built on "
                                                   "first use)"]
    assert Store(copy).check(repair=True).findings[0].repaired
    again = Store(copy).check()
    assert again.ok and again.findings == []


def test_check_goes_on_past_a_damaged_page(store: Store) -> None:
    # Overwrite a page of the database file in the middle of the vector chunks: SQLite
    # itself finds the file malformed; check says so, per set, instead of stopping.
    path = store.location.sqlite_path
    store.close()
    with sqlite3.connect(path) as db:
        page = db.execute("PRAGMA page_size").fetchone()[0]
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # a page holding vector chunk data (an overflow page of a chunk's blob)
        number = db.execute("SELECT max(pageno) FROM dbstat WHERE name = 'vector_chunks' AND "
                            "pagetype = 'overflow'").fetchone()[0]
    data = bytearray(path.read_bytes())
    data[(number - 1) * page:number * page] = b"\xff" * page
    path.write_bytes(bytes(data))
    report = Store(path).check()
    assert not report.ok
    lines = [f.line() for f in report.findings]
    assert any(line.startswith("problem: database: SQLite integrity check:") for line in lines), lines
    assert len(report.sets) == 2, lines


def test_orphans_of_a_kill_after_the_commit_go_at_the_next_write(store: Store, tmp_path: Path) -> None:
    # A replace or remove killed after its commit, before it deleted the old set's files.
    folder = store.indexes.folder
    for writes in (lambda: store.import_file(write_lines(tmp_path / "x.txt", ["x 1 2"]), "x"),
                   lambda: store.remove("x")):
        orphans = [folder / f"{'e' * 32}{suffix}" for suffix in (".faiss", ".rows", ".json")]
        for path in orphans:
            path.write_bytes(b"files of a set that is gone")
        writes()
        assert not any(p.exists() for p in orphans)
        assert store.check().ok


def test_a_new_sets_files_are_never_taken_for_orphans(store: Store, tmp_path: Path) -> None:
    # The folder is listed before the sets: files published (after their commit) between
    # the two listings belong to a set the second listing sees.
    folder = store.indexes.folder
    published = folder / f"{'f' * 32}.faiss"

    def sets_after_an_import_published() -> set[str]:
        published.write_bytes(b"published after the folder was listed")
        return {s.uid for s in store.sets()}

    assert store.indexes.orphans(sets_after_an_import_published) == []  # not seen in the folder's listing
    assert published.exists()
    assert store.indexes.orphans(lambda: {s.uid for s in store.sets()} | {"f" * 32}) == []


def test_a_users_file_that_looks_like_an_old_temp_name_is_never_removed(tiny_store: Path, tmp_path: Path) -> None:
    mine = tmp_path / "vectors.txt.20240101.tmp"
    mine.write_text("a user's backup")
    assert CliRunner().invoke(app, ["--store", str(tiny_store), "export", "t", str(tmp_path / "vectors.txt")]
                              ).exit_code == 0
    assert mine.read_text() == "a user's backup"


@pytest.fixture
def tiny_store(tmp_path: Path) -> Path:
    path = tmp_path / "tiny" / "s.db"
    with Store(path) as s:
        s.import_file(write_lines(tmp_path / "t.txt", ["king 1 0 0", "queen 0.9 0.1 0", "apple 0 0 1"]), "t")
    return path


def test_a_fifo_or_folder_at_a_derived_files_name_never_hangs_or_crashes(tiny_store: Path) -> None:
    uid = Store(tiny_store).get("t").info.uid
    folder = tiny_store.with_name("s.db.indexes")
    rows = folder / f"{uid}.rows"
    rows.unlink()
    os.mkfifo(rows)  # a FIFO where the raw rows were: opening it to read would wait forever
    code = ("import sys; from vecstore import Store; s = Store(sys.argv[1]); print(s.get('t').vector('queen'));"
            "print(s.check().ok)")
    done = subprocess.run([sys.executable, "-c", code, str(tiny_store)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[0.9 0.1 0. ]" and done.stdout.split("\n")[1] == "False"
    rows.unlink()
    rows.mkdir()  # a folder where the raw rows (the exact index's data) were: repair cannot mend it
    report = Store(tiny_store).check(repair=True)
    assert not report.ok  # said, not claimed repaired
    assert any("still, after the repair" in f.message for f in report.findings)


def test_derived_files_of_an_older_vecstore_are_a_note_not_damage(tiny_store: Path) -> None:
    info = Store(tiny_store).get("t").info
    folder = tiny_store.with_name("s.db.indexes")
    rows = folder / f"{info.uid}.rows"  # as written before footers: no footer
    rows.write_bytes(rows.read_bytes()[:100])
    (folder / f"{info.uid}.faiss").write_bytes(bytes(100))  # (and the flat index vecstore wrote then)
    (folder / f"{info.uid}.json").write_text(json.dumps({"set_uid": info.uid, "rows": 3, "dim": 3,
                                                         "source_sha256": info.source_sha256}))
    report = Store(tiny_store).check()
    assert report.ok and [f.line() for f in report.findings] == [
        "note: set 't': its derived files are from a vecstore before checksums (they are rebuilt on first use)"]
    assert Store(tiny_store).get("t").neighbours("king", k=1)[0].word == "queen"
    assert Store(tiny_store).check().findings == []


def test_check_does_not_call_a_set_replaced_meanwhile_damaged(tiny_store: Path, tmp_path: Path) -> None:
    store = Store(tiny_store)
    catalog = store.open()
    listed = catalog.list_sets

    def list_then_replace():
        sets = listed()
        with Store(tiny_store) as other:  # another process replaces the set just after the listing
            other.import_file(write_lines(tmp_path / "t2.txt", ["king 5 5 5", "queen 6 6 6"]), "t", replace=True)
        return sets

    catalog.list_sets = list_then_replace  # type: ignore[method-assign]
    report = store.check()
    assert report.ok, [f.line() for f in report.findings]
    assert [f.line() for f in report.findings] == [
        "note: set 't': replaced or removed while the check ran; not checked"]


def test_names_from_older_stores_are_printed_escaped(tiny_store: Path) -> None:
    # vecstore before issue 8 accepted control characters in set names
    with sqlite3.connect(tiny_store) as db:
        db.execute("UPDATE embedding_sets SET name = ?", ("evil\x1b]0;PWNED\x07\x1b[2J",))
    for command in (["sets"], ["info"]):
        result = CliRunner().invoke(app, ["--store", str(tiny_store), *command])
        assert result.exit_code == 0 and "\x1b" not in result.stdout and "evil\\x1b]0;PWNED" in result.stdout
