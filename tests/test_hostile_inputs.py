"""A hostile tester's corpus: every bad input is refused in one line, and the store is unchanged.

Each case below is one kind of bad input to ``import``, ``matrix --vocab``, set names,
query words, store paths or output paths. Each goes through the real command line
(Typer's CliRunner) against a store holding two sets, and must give exit code 1, one
line on stderr naming the problem, no traceback, at most a few hundred characters
(however large the input), and leave every set, chunk and derived file as it was.
Then a property-based test (hypothesis) feeds random bytes and random mutations of
valid files of every format to the importer: only typed errors, never a partial set.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import shutil
import sqlite3
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import store_fingerprint as fingerprint
from conftest import write_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import vecstore.io.readers
from vecstore import Store, VecstoreError
from vecstore.cli.app import app
from vecstore.io.readers import MAX_LINE_BYTES, ReadOptions

runner = CliRunner()
GOOD = ["king 0.5 0.25 1", "queen 0.5 0.3 1", "apple -1 0 0.125"]
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    with Store(folder / "store.db") as store:
        store.import_file(write_lines(folder / "good.txt", GOOD), "good")
        store.import_file(write_lines(folder / "other.txt", ["a 1 2", "b 3 4"]), "other")
        store.get("good").neighbours("king")
    return folder / "store.db"


@pytest.fixture
def store_path(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store" / "store.db"
    path.parent.mkdir()
    shutil.copy(template, path)
    shutil.copytree(template.with_name("store.db.indexes"), path.with_name("store.db.indexes"))
    return path


def binary_record(word: bytes, values: list[float]) -> bytes:
    return word + b" " + struct.pack(f"<{len(values)}f", *values)


def gzip_bytes(text: bytes) -> bytes:
    return gzip.compress(text)


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


GOOD_TEXT = "".join(f"{line}\n" for line in GOOD).encode()
BIG_GOOD = "".join(f"w{i} {i % 7} 0.5 -1\n" for i in range(5000)).encode()


def file_case(content: bytes | Callable[[Path], None], *extra: str) -> Callable[[Path, Path], list[str]]:
    """A case importing a file holding ``content`` (or made by a function)."""

    def make(tmp: Path, _store: Path) -> list[str]:
        path = tmp / "input.txt"
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        return ["import", str(path), "--name", "x", *extra]

    return make


def path_case(make_path: Callable[[Path, Path], str], *extra: str) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, store: Path) -> list[str]:
        return ["import", make_path(tmp, store), "--name", "x", *extra]

    return make


def fifo(tmp: Path, _store: Path) -> str:
    os.mkfifo(tmp / "pipe")
    return str(tmp / "pipe")


def dangling(tmp: Path, _store: Path) -> str:
    (tmp / "link.txt").symlink_to(tmp / "gone.txt")
    return str(tmp / "link.txt")


def vocab_case(content: bytes | str) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, _store: Path) -> list[str]:
        if isinstance(content, str):
            vocab = content  # a path
        else:
            (tmp / "vocab.txt").write_bytes(content)
            vocab = str(tmp / "vocab.txt")
        return ["matrix", "--set", "good", "--vocab", vocab, "--out", str(tmp / "m.npy")]

    return make


def argv_case(*args: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, store: list(args)


def store_case(make_store: Callable[[Path], str], *command: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, store: ["--store", make_store(tmp), *command]


def foreign_db(tmp: Path) -> str:
    with sqlite3.connect(tmp / "app.db") as db:
        db.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    return str(tmp / "app.db")


def export_case(make_out: Callable[[Path, Path], Path], *extra: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, store: ["export", "good", str(make_out(tmp, store)), *extra]


def existing(tmp: Path, _store: Path) -> Path:
    (tmp / "out.txt").write_text("my notes, not to be lost\n")
    return tmp / "out.txt"


def symlink_to_store(tmp: Path, store: Path) -> Path:
    (tmp / "innocent.txt").symlink_to(store)
    return tmp / "innocent.txt"


def hardlink_to_store(tmp: Path, store: Path) -> Path:
    os.link(store, tmp / "hard.txt")
    return tmp / "hard.txt"


def index_file(_tmp: Path, store: Path) -> Path:
    return next(store.with_name("store.db.indexes").glob("*.rows"))


BAD_UTF8 = os.fsdecode(b"caf\xe9")  # a name made of bytes that are not UTF-8, as argv brings them

CASES: dict[str, tuple[Callable[[Path, Path], list[str]], str]] = {
    # -- file contents ----------------------------------------------------------------------
    "empty file": (file_case(b""), "empty file"),
    "only newlines": (file_case(b"\n\n\n"), "the first line is empty"),
    "only a BOM": (file_case(BOM), "empty file"),
    "random bytes": (file_case(np.random.default_rng(1).bytes(65536)), "input.txt:1: "),
    "a 2 MiB line of NUL bytes": (file_case(bytes(2 << 20)), "input.txt:1: "),
    "a first line of half a million values": (file_case(b"a " * (MAX_LINE_BYTES // 2 + 10)),
                                              "input.txt:1: the first lines hold 524,287 values"),
    "a last line longer than the limit": (file_case(GOOD_TEXT + b"x" * (MAX_LINE_BYTES + 10)),
                                          "input.txt:4: the line is longer than 4,194,304 bytes"),
    "an over-long line among good ones": (file_case(GOOD_TEXT + b"big " + b"1 " * (3 << 20) + b"\n" + GOOD_TEXT),
                                          "input.txt:4: the line is longer than"),
    "a ragged line (too many values)": (file_case(GOOD_TEXT + b"pear 1 2 3 4 5 6\n"),
                                        "input.txt:4: expected 3 values after 'pear', found 6"),
    "too few values": (file_case(GOOD_TEXT + b"pear 1 2\n"), "input.txt:4: expected 3 values after 'pear', found 2"),
    "a value that is not a number": (file_case(GOOD_TEXT + b"pear 1 x 2\n"), "value 2 of 'pear' is 'x', not a number"),
    "nan": (file_case(GOOD_TEXT + b"pear 1 nan 2\n"), "'nan', not a finite number"),
    "inf": (file_case(GOOD_TEXT + b"pear -inf 1 2\n"), "'-inf', not a finite number"),
    "beyond float32": (file_case(GOOD_TEXT + b"pear 1 1e39 2\n"), "beyond the float32 range"),
    "a word that is not UTF-8": (file_case(GOOD_TEXT + b"p\xffar 1 2 3\n"), "input.txt:4: not valid UTF-8"),
    "an empty word": (file_case(GOOD_TEXT + b" 1 2 3\n"), "the word is empty"),
    "an empty line inside": (file_case(GOOD_TEXT + b"\n" + GOOD_TEXT), "input.txt:4: empty line"),
    "tab-separated values": (file_case(b"a\t1\t2\nb\t3\t4\n"), "input.txt:1: "),
    "two spaces between values": (file_case(GOOD_TEXT + b"pear 1  2 3\n"), "input.txt:4: "),
    "a header that promises more": (file_case(b"5 3\n" + GOOD_TEXT), "the header says 5 vectors but the file has 3"),
    "a header that promises fewer": (file_case(b"2 3\n" + GOOD_TEXT), "the header says 2 vectors but the file has 3"),
    "a header of 0 dimensions": (file_case(b"2 0\na\nb\n"), "the header says 0 dimensions"),
    "a header of 2^31 dimensions": (file_case(b"1 2147483648\na 1\n"), "2,147,483,648 dimensions"),
    "a header with 5,000 digits": (file_case(b"1 " + b"9" * 5000 + b"\na 1\n"), "holds a number too large"),
    "a header and no vectors": (file_case(b"5 3\n"), "no vectors after the header"),
    "a truncated binary record": (file_case(b"2 3\n" + binary_record(b"a", [1, 2, 3]) + b"\nb " + b"\x00" * 5),
                                  "record 2: the file ends inside it"),
    "a binary word with no space in 5 MiB": (file_case(b"1 3\n" + binary_record(b"a", [1, 2, 3])[:2] +
                                                       b"\x01" * (5 << 20)), "input.txt"),
    "a binary NaN": (file_case(b"1 3\n" + binary_record(b"a", [1, float("nan"), 3])), "not a finite number"),
    "a binary word holding a line break": (file_case(b"2 3\n" + binary_record(b"a\nb", [1, 2, 3]) + b"\n" +
                                                     binary_record(b"c", [1, 2, 3])), "holds a line break"),
    "a binary word that is not UTF-8": (file_case(b"1 3\n" + binary_record(b"\xff\xfe", [1, 2, 3])),
                                        "record 1: the word is not valid UTF-8"),
    "a truncated gzip": (file_case(gzip_bytes(BIG_GOOD)[:2000]), "cannot decompress"),
    "a corrupt gzip": (file_case(lambda p: p.write_bytes(
        (lambda d: d[:40] + bytes(b ^ 0x55 for b in d[40:200]) + d[200:])(gzip_bytes(BIG_GOOD)))),
        "cannot decompress"),
    "a corrupt bzip2": (file_case(lambda p: p.write_bytes(
        (lambda d: d[:40] + bytes(b ^ 0x55 for b in d[40:200]) + d[200:])(bz2.compress(BIG_GOOD)))),
        "cannot decompress"),
    "a zip of two files, no member named": (file_case(zipped({"a.txt": GOOD_TEXT, "b.txt": GOOD_TEXT})),
                                            "the zip holds 2 files (a.txt, b.txt); choose one with --member NAME"),
    "a zip without that member": (file_case(zipped({"a.txt": GOOD_TEXT}), "--member", "nope.txt"),
                                  "the zip has no member 'nope.txt'; it holds: a.txt"),
    "a zip of 5,000 files": (file_case(zipped({f"f{i}.txt": b"" for i in range(5000)})),
                             "and 4,980 more); choose one with --member NAME"),
    "a truncated zip": (file_case(zipped({"a.txt": GOOD_TEXT})[:60]), "not a readable zip file"),
    "an empty zip": (file_case(zipped({})), "input.txt: the zip holds no files"),
    "a member named for a plain file": (file_case(GOOD_TEXT, "--member", "a.txt"),
                                        "is not a zip file, so it has no member to choose; leave --member out"),
    "word2vec forced on a GloVe file": (file_case(GOOD_TEXT, "--format", "word2vec"),
                                        "word2vec files start with a 'count dim' header line"),
    "a repeated word with --duplicates error": (file_case(GOOD_TEXT + b"king 1 1 1\n", "--duplicates", "error"),
                                                "input.txt:4: the word 'king' appears again"),
    "an unknown --encoding-errors": (file_case(GOOD_TEXT, "--encoding-errors", "ignore"),
                                     "--encoding-errors must be one of strict, replace"),
    "an unknown --format": (file_case(GOOD_TEXT, "--format", "fasttext-bin"),
                           "--format must be one of glove, word2vec, fasttext, word2vec-binary, not 'fasttext-bin'"),
    "old Mac line ends (CR only)": (file_case(b"a 1 2\rb 1 2\rc 1 2\r"), "input.txt:1: "),
    # -- what the path is --------------------------------------------------------------------
    "a folder": (path_case(lambda tmp, s: str(tmp)), "is a directory, not an embedding file"),
    "a missing file": (path_case(lambda tmp, s: str(tmp / "nope.txt")), "nope.txt: no such file"),
    "a dangling symlink": (path_case(dangling), "a symbolic link to a file that does not exist"),
    "/dev/zero": (path_case(lambda tmp, s: "/dev/zero"), "/dev/zero: is a character device, not an embedding file"),
    "/dev/urandom": (path_case(lambda tmp, s: "/dev/urandom"), "/dev/urandom: is a character device"),
    "a named pipe": (path_case(fifo), "is a named pipe (FIFO), not an embedding file"),
    "the store's own database": (path_case(lambda tmp, s: str(s)), "is one of the store's own files (its database), "
                                                                   "not an embedding file"),
    "the store's index file": (path_case(lambda tmp, s: str(index_file(tmp, s))),
                               "is inside the store's folder of derived files"),
    # -- names, words and stores ----------------------------------------------------------------
    "an empty set name": (file_case(GOOD_TEXT, "--name", ""), "--name '' is not a set name"),
    "a set name of spaces": (file_case(GOOD_TEXT, "--name", "   "), "--name '' is not a set name"),
    "a set name with a line break": (file_case(GOOD_TEXT, "--name", "a\nb"), "--name 'a\\nb' is not a set name"),
    "a set name of 5,000 characters": (file_case(GOOD_TEXT, "--name", "n" * 5000), "(5,000 characters)"),
    "a set name that is not UTF-8": (file_case(GOOD_TEXT, "--name", BAD_UTF8), "is not valid UTF-8"),
    "--set that is not UTF-8": (argv_case("neighbours", "king", "--set", BAD_UTF8), "is not valid UTF-8"),
    "a query word that is not UTF-8": (argv_case("neighbours", BAD_UTF8, "--set", "good"),
                                       "'caf\\udce9' is not in set 'good'"),
    "a query word of 100,000 characters": (argv_case("vector", "w" * 100_000, "--set", "good"),
                                           "(100,000 characters) is not in set 'good'"),
    "a set that is not there": (argv_case("neighbours", "king", "--set", "nope"),
                                "no embedding set named 'nope' (sets: good, other)"),
    "no --set with two sets": (argv_case("neighbours", "king"), "the store has 2 sets (good, other); choose one"),
    "a store that is a text file": (store_case(lambda tmp: (tmp / "notes.txt").write_text("hi " * 999) and
                                               str(tmp / "notes.txt"), "sets"),
                                    "is not a readable vecstore store (file is not a database); run: vecstore"),
    "a store that is a folder": (store_case(lambda tmp: str(tmp), "sets"), "is a directory; a store is a regular file"),
    "a store that is /dev/zero": (store_case(lambda tmp: "/dev/zero", "import", "glove-6b-50d"),
                                  "/dev/zero is a character device; a store is a regular file"),
    "a store path that is not UTF-8": (store_case(lambda tmp: os.fsdecode(os.fsencode(tmp) + b"/\xff.db"), "sets"),
                                       "is not valid UTF-8"),
    "a store that is another program's database": (store_case(foreign_db, "import", "glove-6b-50d"),
                                                   "is a SQLite database of another program (tables: users)"),
    "a mistyped store": (store_case(lambda tmp: str(tmp / "sotre.db"), "neighbours", "king"), "no store at"),
    # -- outputs ------------------------------------------------------------------------------------
    "export over an existing file": (export_case(existing), "out.txt exists; pass --force to overwrite it"),
    "export over the store's database": (export_case(lambda tmp, s: s),
                                         "is one of the store's own files (its database); vecstore never writes"),
    "export over the store's database, forced": (export_case(lambda tmp, s: s, "--force"), "never writes over it"),
    "export over the store's WAL, forced": (export_case(lambda tmp, s: s.with_name("store.db-wal"), "--force"),
                                            "never writes over it"),
    "export through a symlink to the store": (export_case(symlink_to_store, "--force"), "never writes over it"),
    "export through a hard link to the store": (export_case(hardlink_to_store, "--force"),
                                                "a link to the store's database"),
    "export into the index folder": (export_case(lambda tmp, s: s.with_name("store.db.indexes") / "x.txt"),
                                     "inside the store's folder of derived files"),
    "export as npy over existing words": (lambda tmp, s: (tmp / "m.words.txt").write_text("mine") and [
        "export", "good", str(tmp / "m.npy"), "--format", "npy"], "m.words.txt exists; pass --force"),
    "matrix over an existing file": (lambda tmp, s: (tmp / "vocab.txt").write_text("\nking\n") and (
        tmp / "m.npy").write_text("keep") and ["matrix", "--set", "good", "--vocab", str(tmp / "vocab.txt"),
                                               "--out", str(tmp / "m.npy")], "m.npy exists; pass --force"),
    # -- vocabularies ---------------------------------------------------------------------------------
    "a vocabulary repeating a token": (vocab_case(b"\nking\nqueen\nking\n"), "vocab.txt:4: 'king' is also on line 2"),
    "a vocabulary with an empty token": (vocab_case(b"\nking\n\nqueen\n"), "vocab.txt:3: empty token"),
    "a vocabulary that is not UTF-8": (vocab_case(b"\nking\nqu\xffeen\n"), "vocab.txt:3: not valid UTF-8"),
    "a broken Tokenizer JSON": (vocab_case(b'{"config": {"word_index": 5}}'), "the Tokenizer's word_index is empty"),
    "a JSON vocabulary of numbers": (vocab_case(b"[1, 2, 3]"), "a JSON vocabulary must be a list of strings"),
    "an empty vocabulary": (vocab_case(b""), "the vocabulary is empty"),
    "a vocabulary that is /dev/zero": (vocab_case("/dev/zero"), "is a character device, not a vocabulary file"),
    "a vocabulary that is missing": (vocab_case("/nonexistent/vocab.txt"), "no such file"),
    "a query vector of words": (lambda tmp, s: (tmp / "v.txt").write_text("one two") and [
        "neighbours", "--vector", str(tmp / "v.txt"), "--set", "good"], "expected numbers separated by spaces"),
    "a query vector that is /dev/zero": (argv_case("neighbours", "--vector", "/dev/zero", "--set", "good"),
                                         "is a character device"),
    "a query vector holding NaN": (lambda tmp, s: (tmp / "v.json").write_text("[1, NaN, 2]") and [
        "neighbours", "--vector", str(tmp / "v.json"), "--set", "good"], "not finite numbers"),
    "a query vector nested 200,000 deep": (lambda tmp, s: (tmp / "v.json").write_text("[" * 200_000) and [
        "neighbours", "--vector", str(tmp / "v.json"), "--set", "good"], "expected numbers separated by spaces"),
    "a query vector of a 400-digit number": (lambda tmp, s: (tmp / "v.json").write_text(f"[1{'0' * 400}, 1, 2]") and [
        "neighbours", "--vector", str(tmp / "v.json"), "--set", "good"], "a value is too large to be a float"),
    "a vocabulary nested 200,000 deep": (vocab_case(b"[" * 200_000), "JSON nested too deeply to be a vocabulary"),
    "a Tokenizer JSON nested 200,000 deep": (vocab_case(b'{"config": ' * 1 + b"[" * 200_000),
                                             "vocab.txt: "),
    "matrix outputs that are one file": (lambda tmp, s: (tmp / "vocab.txt").write_text("\nking\n") and [
        "matrix", "--set", "good", "--vocab", str(tmp / "vocab.txt"), "--out", str(tmp / "m.npy"),
        "--missing", str(tmp / "m.npy")], "--out, --missing and --vocab-out must be different files"),
    "a set name with a terminal escape": (file_case(GOOD_TEXT, "--name", "evil\x1b[2J"),
                                          "--name 'evil\\x1b[2J' is not a set name"),
    "a file name that cannot name a set": (lambda tmp, s: (tmp / os.fsdecode(b"\xff.txt")).write_bytes(GOOD_TEXT)
                                           and ["import", str(tmp / os.fsdecode(b"\xff.txt"))],
                                           "cannot name a set (its bytes are not UTF-8, or it holds no letter or "
                                           "digit); give it one with --name"),
    "export over another store's database": (lambda tmp, s: (Store(tmp / "other.db").upgrade() and None) or [
        "export", "good", str(tmp / "other.db"), "--force"], "is a SQLite database (a store's, perhaps)"),
    "export into another store's folder": (lambda tmp, s: (Store(tmp / "other.db").upgrade() and None) or (
        tmp / "other.db.indexes").mkdir() or ["export", "good", str(tmp / "other.db.indexes" / "x.txt")],
        "inside a store's folder of derived files"),
    "export over a FIFO, forced": (lambda tmp, s: os.mkfifo(tmp / "pipe") or [
        "export", "good", str(tmp / "pipe"), "--force"], "is a named pipe (FIFO); vecstore writes regular files"),
    "a Tokenizer JSON with a string index": (vocab_case(b'{"config": {"word_index": {"a": "x"}}}'),
                                             "gives 'a' the index 'x', not one of 1 to 1"),
    "a Tokenizer JSON with a null index": (vocab_case(b'{"word_index": {"a": null}}'), "the index None"),
    "a Tokenizer JSON with a negative index": (vocab_case(b'{"word_index": {"a": -3}}'), "the index -3"),
    "a Tokenizer JSON with an index of 5e9": (vocab_case(b'{"word_index": {"a": 5000000000}}'),
                                              "the index 5000000000, not one of 1 to 1"),
    "a Tokenizer JSON with a huge float index": (vocab_case(b'{"word_index": {"a": 1e400}}'), "the index inf"),
    "a Tokenizer JSON with a list as oov_token": (vocab_case(b'{"word_index": {"a": 1}, "oov_token": ["x"]}'),
                                                  "oov_token is ['x'], not a string"),
    "a Tokenizer JSON with a text num_words": (vocab_case(b'{"word_index": {"a": 1}, "num_words": "abc"}'),
                                               "num_words is 'abc', not a positive whole number"),
    "eval similarity with a NaN score": (lambda tmp, s: (tmp / "pairs.tsv").write_text(
        "king\tqueen\t9\nking\tapple\tnan\n") and ["eval", "similarity", str(tmp / "pairs.tsv"), "--set", "good"],
        "pairs.tsv:2: the score 'nan' is not a finite number"),
}


#: The cases that are a bad option value or combination: a usage error, exit code 2 (the rest: 1).
USAGE_ERRORS = {"an unknown --encoding-errors", "an unknown --format", "matrix outputs that are one file",
                "an empty set name", "a set name of spaces", "a set name with a line break",
                "a set name with a terminal escape", "a set name of 5,000 characters"}


def test_the_corpus_is_at_least_forty_kinds() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_refused_in_one_line_and_changes_nothing(case: str, store_path: Path,
                                                                  tmp_path: Path) -> None:
    make, expected = CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    before = fingerprint(store_path)
    argv = make(work, store_path)
    if argv[0] != "--store":
        argv = ["--store", str(store_path), *argv]
    result = runner.invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == (2 if case in USAGE_ERRORS else 1), (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    assert expected in lines[0], lines[0]
    assert len(lines[0]) < 500
    assert fingerprint(store_path) == before
    assert not [p for p in work.rglob("*") if ".part" in p.name or p.name.endswith(".tmp")]


def test_protected_files_are_not_touched(store_path: Path, tmp_path: Path) -> None:
    # The cases above refuse; here, the bytes of the database and of the file behind a
    # link are the same afterwards.
    (tmp_path / "link.db").symlink_to(store_path)
    before = store_path.read_bytes()
    for target in (store_path, tmp_path / "link.db"):
        result = runner.invoke(app, ["--store", str(store_path), "export", "good", str(target), "--force"])
        assert result.exit_code == 1
    assert store_path.read_bytes() == before and (tmp_path / "link.db").is_symlink()


# -- the property-based test ------------------------------------------------------------------

VALID_FILES = {
    "glove": GOOD_TEXT,
    "word2vec": b"3 3\n" + GOOD_TEXT,
    "fasttext": b"3 3\n" + GOOD_TEXT.replace(b"\n", b" \n"),
    "binary": b"2 3\n" + binary_record(b"king", [0.5, 0.25, 1]) + b"\n" + binary_record(b"queen", [0.5, 0.3, 1]),
    "spaced words": b". . . 0.1 0.2 0.3\nat name@domain.com 1 2 3\n" + GOOD_TEXT,
}


def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Apply (kind, position, bytes) edits: flip, insert, delete, duplicate, truncate, replace."""
    out = bytearray(data)
    for kind, position, payload in edits:
        at = position % (len(out) + 1)
        if kind == 0 and out:
            out[at % len(out)] ^= (payload[0] if payload else 0x20) or 1
        elif kind == 1:
            out[at:at] = payload
        elif kind == 2:
            del out[at:at + 1 + len(payload)]
        elif kind == 3:
            out[at:at] = out[at:at + 1 + len(payload) * 4]
        elif kind == 4:
            del out[at:]
        else:
            out[at:at + len(payload)] = payload
    return bytes(out)


def fuzz_import(store: Store, path: Path, data: bytes, options: ReadOptions) -> None:
    """Import ``data``: a typed error and an unchanged store, or a complete, checked set."""
    path.write_bytes(data)
    before = fingerprint(store.location.sqlite_path)
    try:
        result = store.import_file(path, "fuzz", options=options, replace=True)
    except VecstoreError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)
        assert fingerprint(store.location.sqlite_path) == before
        return
    # Accepted: the whole set is there, as the file says, and every byte checks out.
    fuzz = store.get("fuzz")
    assert len(fuzz.words) == result.info.count == fuzz.matrix().shape[0] > 0
    assert np.isfinite(fuzz.matrix()).all()
    report = store.check()
    assert report.ok, [f.line() for f in report.findings]
    store.remove("fuzz")


edits = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1 << 16), st.binary(max_size=6)), min_size=1,
                 max_size=6)


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("fuzz")
    store = Store(folder / "store.db")
    store.import_file(write_lines(folder / "good.txt", GOOD), "good")
    return store


#: A file of several blocks when blocks are made small, and of more than the 64 KiB above
#: which the C parser splits a block in two halves: mutations reach block edges and halves.
LARGE = "".join(f"w{i} {i % 7}.5 -{i % 3} 0.{i}\n" for i in range(4000)).encode()


@pytest.mark.parametrize("parser", ["C", "Python"])
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(sorted(VALID_FILES)), changes=edits, noise=st.binary(max_size=300),
       as_random=st.booleans(), duplicates=st.sampled_from(["first", "last", "error"]))
def test_random_bytes_and_mutations_give_typed_errors_or_whole_sets(
        fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory, parser: str, source: str,
        changes: list[tuple[int, int, bytes]], noise: bytes, as_random: bool, duplicates: str) -> None:
    data = noise if as_random else mutate(VALID_FILES[source], changes)
    path = tmp_path_factory.getbasetemp() / f"fuzz-{parser}.txt"
    saved = vecstore.io.readers._fastparse
    if parser == "Python":
        vecstore.io.readers._fastparse = None
    try:
        fuzz_import(fuzz_store, path, data, ReadOptions(duplicates=duplicates))
        fuzz_import(fuzz_store, path.with_suffix(".gz"), gzip.compress(data), ReadOptions())
    finally:
        vecstore.io.readers._fastparse = saved


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.integers(0, 5), st.integers(0, len(LARGE)), st.binary(max_size=6)),
                        min_size=1, max_size=4),
       block=st.sampled_from([4096, 1 << 16]), as_word2vec=st.booleans())
def test_mutations_of_a_large_file_across_block_edges(
        fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory, changes: list[tuple[int, int, bytes]],
        block: int, as_word2vec: bool) -> None:
    data = mutate((b"4000 3\n" if as_word2vec else b"") + LARGE, changes)
    saved = vecstore.io.readers.BLOCK_BYTES
    vecstore.io.readers.BLOCK_BYTES = block  # many blocks; each over 64 KiB is parsed in two halves
    try:
        fuzz_import(fuzz_store, tmp_path_factory.getbasetemp() / "fuzz-large.txt", data, ReadOptions())
    finally:
        vecstore.io.readers.BLOCK_BYTES = saved


def test_the_c_and_python_parsers_pin_the_same_line_limit() -> None:
    from vecstore import _fastparse

    assert _fastparse.MAX_LINE_BYTES == MAX_LINE_BYTES


def test_json_cases_name_their_line(store_path: Path, tmp_path: Path) -> None:
    # (not a hostile input: a word2vec header is numbers only, so a JSON file is GloVe that fails on line 1)
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"king": [1, 2, 3]}))
    result = runner.invoke(app, ["--store", str(store_path), "import", str(path)])
    assert result.exit_code == 1 and f"{path}:1: " in result.stderr
