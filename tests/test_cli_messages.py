"""What the command line says, by class rather than by example: every error names only
flags of the command it came from and has the exit code of its kind; counts agree with
their nouns; lists say when they are empty; records print no Python reprs; collections
are named as collections; set names follow one rule; help reads whole at 80 columns;
third-party output stays off the terminal."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
import typer.main
from conftest import write_lines
from typer.testing import CliRunner

from vecstore import Store
from vecstore.cli.app import app

runner = CliRunner()
WORDS = ["king 1 0 0", "queen 0.9 0.1 0", "man 0.5 -0.5 0", "woman 0.4 -0.4 0.2", "apple 0 0 1", "King 1 0.1 0"]


def invoke(*args: str, **kwargs):
    return runner.invoke(app, list(args), **kwargs)


def command_of(args: list[str]):
    """The click command ``args`` run (its words before the first option or argument)."""
    command = typer.main.get_command(app)
    for word in args:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command = sub
    return command


def flags_of(command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)
            if opt.startswith("-")}


@pytest.fixture
def small(tmp_path: Path, isolated_store: Path) -> Path:
    """A store with set 'small' (5 words, 'King' folded away) and collection 'notes'."""
    source = write_lines(tmp_path / "small.txt", WORDS)
    assert invoke("import", str(source), "--name", "small", "--lowercase").exit_code == 0
    notes = write_lines(tmp_path / "notes.txt", ["the king", "a queen", "an apple"])
    assert invoke("docs", "add", "notes", str(notes), "--set", "small").exit_code == 0
    return tmp_path


#: (arguments, exit code, what the one line says). ``{tmp}``: the fixture's folder.
ERRORS = [
    (["neighbours", "king", "--search-param", "efSearch"], 2, "--search-param is key=value, not 'efSearch'"),
    (["neighbours", "king", "--search-param", "nprobe=4"], 2, "--search-param is for an approximate index"),
    (["docs", "search", "notes", "king", "--search-param", "x"], 2, "--search-param is key=value, not 'x'"),
    (["docs", "similar", "notes", "--id", "1", "--search-param", "=3"], 2, "--search-param is key=value"),
    (["index", "build", "small", "--param", "efSearch"], 2, "--param is key=value, not 'efSearch'"),
    (["index", "build", "small", "--kind", "annoy"], 2, "--kind must be one of flat, hnsw, ivf, ivfpq, pgvector-hnsw, "
     "pgvector-ivfflat"),
    (["index", "remove", "small", "--kind", "annoy"], 2, "--kind must be one of hnsw, ivf, ivfpq, "
     "pgvector-hnsw, pgvector-ivfflat"),
    (["index", "build", "small", "--kind", "ivfpq", "--param", "nbits=4"], 2,
     "--param nbits=4 needs 624 rows to train its 4-bit codes; the set has 5"),
    (["index", "build", "small", "--kind", "ivfpq"], 1,
     "set 'small' has 5 rows, and an ivfpq index needs 9,984 to train its 8-bit codes"),
    (["index", "build", "small", "--kind", "ivf"], 1, "set 'small' has 5 rows, and an ivf index needs 39 to train"),
    (["index", "remove", "small", "--kind", "hnsw"], 1, "set 'small' has no hnsw index"),
    (["docs", "add", "more", "{tmp}/notes.txt", "--set", "small", "--pool", "bogus"], 2,
     "--pool must be one of mean, sum, max, min, idf, sif, not 'bogus'"),
    (["docvec", "{tmp}/notes.txt", "--set", "small", "--pool", "bogus", "--out", "{tmp}/v.npy"], 2,
     "--pool must be one of"),
    (["docvec", "{tmp}/notes.txt", "--set", "small", "--pool", "sif", "--sif-frequency", "x", "--out",
      "{tmp}/v.npy"], 2, "--sif-frequency must be one of rank, texts"),
    (["docvec", "{tmp}/notes.txt", "--set", "small", "--idf", "{tmp}/x.json", "--out", "{tmp}/v.npy"], 2,
     "--idf, --idf-from and --save-idf go with --pool idf"),
    (["matrix", "--set", "small", "--texts", "{tmp}/notes.txt", "--oov", "bogus", "--out", "{tmp}/m.npy"], 2,
     "--oov must be one of"),
    (["matrix", "--set", "small", "--out", "{tmp}/m.npy"], 2, "give the vocabulary with --vocab FILE"),
    (["import", "{tmp}/small.txt", "--name", "x", "--duplicates", "bogus"], 2, "--duplicates must be one of"),
    (["import", "{tmp}/small.txt", "--name", "x", "--format", "bogus"], 2, "--format must be one of"),
    (["import", "{tmp}/small.txt", "--name", "x", "--encoding-errors", "bogus"], 2, "--encoding-errors must be"),
    (["import", "{tmp}/small.txt", "--name", "small"], 1,
     "a set named 'small' already exists, read from the same source with other options: the set was read with "
     "--lowercase"),
    (["import", "{tmp}/small.txt", "--name", "small", "--lowercase", "--limit", "2"], 1,
     "other options: the set was read without --limit"),
    (["import", "{tmp}/small.txt", "--name", "bad name/x"], 2, "--name 'bad name/x' is not a set name: a name is"),
    (["export", "small", "{tmp}/out.txt", "--format", "bogus"], 2, "--format must be one of"),
    (["train", "--example", "tutorial", "--set", "small", "--pool", "bogus"], 2, "--pool must be one of mean-max"),
    (["train", "--example", "tutorial", "--embeddings", "learned", "--set", "small"], 2,
     "--set has no effect here (a learned embedding uses no set)"),
    (["train", "--example", "tutorial", "--set", "small", "--dim", "8"], 2,
     "--dim has no effect here (it is for a learned embedding, with --embeddings learned)"),
    (["train", "--example", "other"], 2, "the shipped example is 'tutorial', not 'other'"),
    (["neighbours"], 2, "give one of: a word, --vector FILE, --input FILE, --vectors FILE.npy"),
    (["neighbours", "kingg", "--set", "small"], 1, "'kingg' is not in set 'small'; did you mean king"),
    (["remove", "nosuch"], 1, "no embedding set named 'nosuch' (sets: small)"),
    (["docs", "remove", "nosuch"], 1, "no collection named 'nosuch' (collections: notes)"),
    (["default", "nosuch"], 1, "no embedding set named 'nosuch'"),
    (["default", "small", "--clear"], 2, "give a NAME or --clear, not both"),
]


@pytest.mark.parametrize(("args", "code", "says"), ERRORS, ids=[" ".join(a) for a, _, _ in ERRORS])
def test_every_error_is_one_line_naming_only_its_commands_flags(small: Path, args: list[str], code: int,
                                                              says: str) -> None:
    args = [a.replace("{tmp}", str(small)) for a in args]
    result = invoke(*args)
    assert result.exit_code == code, (args, result.output)
    assert says in result.stderr, (args, result.stderr)
    line = result.stderr.strip()
    assert line.startswith("Error: ") and "\n" not in line, line
    allowed = flags_of(command_of(args))
    named = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line.removeprefix("Error: ")))
    assert named <= allowed, (args, sorted(named - allowed))
    assert "WARNING" not in result.output  # (FAISS's own words never reach the terminal)


def test_usage_errors_of_typer_and_of_vecstore_share_the_exit_code(small: Path) -> None:
    assert invoke("neighbours", "king", "-k", "0").exit_code == 2  # (Typer's range check)
    assert invoke("neighbours", "king", "--set", "small", "--search-param", "x").exit_code == 2  # (vecstore's)


def test_settings_in_a_message_read_as_python_or_as_flags(tmp_path: Path) -> None:
    from vecstore.cli.errors import cli_message
    from vecstore.errors import SetExistsError
    from vecstore.io.readers import ReadOptions

    source = write_lines(tmp_path / "v.txt", ["a 1 2", "B 3 4", "b 5 6"])
    store = Store()
    store.import_file(source, "v", options=ReadOptions(limit=2, lowercase=True))
    with pytest.raises(SetExistsError) as caught:
        store.import_file(source, "v")
    assert "other options: the set was read with limit=2, with lowercase=True" in str(caught.value)
    import_command = command_of(["import"])
    assert "other options: the set was read with --limit 2, with --lowercase" in cli_message(caught.value,
                                                                                             import_command)


def one_of_each(tmp: Path) -> list[str]:
    """Outputs of commands that count exactly one of something."""
    out = []
    repeated = write_lines(tmp / "one.txt", ["a 1 0", "b 0 1", "a 1 1", "c 1 1"])
    out.append(invoke("import", str(repeated), "--name", "one").output)
    folded = write_lines(tmp / "fold.txt", ["a 1 0", "A 0 1", "b 1 1"])
    out.append(invoke("import", str(folded), "--name", "fold", "--lowercase").output)
    solo = write_lines(tmp / "solo.txt", ["only 1 0"])
    out.append(invoke("import", str(solo), "--name", "solo").output)
    out.append(invoke("neighbours", "only", "--set", "solo", "-k", "3").output)
    out.append(invoke("remove", "solo").output)
    words = write_lines(tmp / "words.txt", ["a", "zzz", "b"])
    out.append(invoke("neighbours", "--input", str(words), "--set", "one").output)
    doc = write_lines(tmp / "doc.txt", ["a b"])
    out.append(invoke("docs", "add", "d", str(doc), "--set", "one").output)
    out.append(invoke("docs", "list").output)
    out.append(invoke("info").output)
    out.append(invoke("check").output)
    two = write_lines(tmp / "two.txt", ["a b", "b c"])
    out.append(invoke("docs", "add", "d2", str(two), "--set", "one").output)
    out.append(invoke("docs", "remove", "d2", "--id", "1", "--id", "1").output)
    out.append(invoke("docs", "remove", "d2").output)
    return out


def test_a_count_of_one_takes_the_singular(tmp_path: Path, isolated_store: Path) -> None:
    outputs = one_of_each(tmp_path)
    text = "\n".join(outputs)
    plural_after_one = re.findall(r"(?<![\d.,])1 (sets|words|documents|texts|collections|rows|vectors|lines|labels|"
                                  r"epochs|other words|repeated words)\b", text)
    assert plural_after_one == [], text
    assert "1 of 3 words is not in set" in text and "removed 1 document from d2; 1 left" in text
    assert "1 repeated word (first kept)" in text and "1 word merged by lower-casing" in text
    assert "has only 0 other words" in text and "removed solo (1 word)" in text


def test_every_list_says_when_it_is_empty(isolated_store: Path) -> None:
    Store().upgrade()
    assert invoke("sets").stdout.strip() == "The store has no sets. Import one: vecstore import glove-6b-50d"
    assert invoke("docs", "list").stdout.strip().startswith("The store has no collections.")
    assert invoke("index", "list").stdout.strip().startswith("The store has no sets, so no indexes.")
    assert invoke("default").stdout.strip() == "no default set: commands use the only set, or need --set"
    for command in (["sets"], ["docs", "list"], ["index", "list"]):
        assert json.loads(invoke(*command, "--json").stdout) == []


def test_records_print_as_people_read_them_never_as_python(small: Path) -> None:
    shown = invoke("docs", "info", "notes").stdout
    assert "options: case_fold=yes" in shown and "count: 3" in shown
    for repr_mark in ("{", "}", "'", "True", "False", "None", "["):
        assert repr_mark not in shown, shown


def test_collections_are_counted_and_named_as_collections_everywhere(small: Path) -> None:
    outputs = {" ".join(c): invoke(*c).output for c in (
        ["check"], ["check", "--json"], ["sets"], ["sets", "--json"], ["info"], ["info", "--json"], ["index", "list"],
        ["index", "list", "--json"], ["docs", "list"], ["docs", "list", "--json"])}
    for command, output in outputs.items():
        assert "\x1f" not in output and "\\u001f" not in output, command
    assert ", 1 set, 1 collection (8 rows): " in outputs["check"]
    assert [(s["kind"], s["name"]) for s in json.loads(outputs["check --json"])["sets"]] == [
        ("set", "small"), ("collection", "notes")]
    assert "collection notes  flat" in outputs["index list"]
    assert "collections: 1: notes (3 documents)" in outputs["info"]


@pytest.mark.parametrize("compression", ["", ".gz", ".bz2", ".zip"])
@pytest.mark.parametrize("suffix", [".txt", ".vec", ".w2v", ".word2vec", ".glove", ".emb", ""])
def test_a_file_names_its_set_without_any_of_its_suffixes(compression: str, suffix: str) -> None:
    from vecstore.names import default_set_name

    assert default_set_name(Path(f"small{suffix}{compression}")) == "small"
    assert default_set_name(Path(f"glove.6B.50d{suffix}{compression}")) == "glove.6B.50d"
    assert default_set_name(Path(f"my vectors (v2){suffix}{compression}")) == "my-vectors-v2"


@pytest.mark.parametrize("name", ["bad name", "a/b", "x'y", "-lead", ".hidden", "_x", "a\tb", "ä" * 201, "a,b"])
def test_a_new_name_holds_only_letters_digits_dots_underscores_and_dashes(name: str, tmp_path: Path) -> None:
    from vecstore.errors import InvalidArgumentError

    source = write_lines(tmp_path / "v.txt", ["a 1 2"])
    with pytest.raises(InvalidArgumentError, match="is not a set name: a name is 1 to 200 letters"):
        Store().import_file(source, name)
    with pytest.raises(InvalidArgumentError, match="is not a collection name: a name is"):
        Store().add_documents(name, ["1"], ["a"], set_name="v")


@pytest.mark.parametrize("name", ["glove-6b-50d", "glove.6B.100d", "cc.fr.300", "vecteurs_été", "数据2"])
def test_names_people_use_are_accepted(name: str, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "v.txt", ["a 1 2"])
    assert Store().import_file(source, name).info.name == name


def test_a_set_named_before_the_rule_still_opens_lists_and_goes(tmp_path: Path, isolated_store: Path) -> None:
    source = write_lines(tmp_path / "v.txt", ["a 1 2", "b 2 1"])
    Store().import_file(source, "v")
    with sqlite3.connect(isolated_store) as db:
        db.execute("UPDATE embedding_sets SET name = 'old name/1' WHERE name = 'v'")
    assert invoke("neighbours", "a", "--set", "old name/1").exit_code == 0
    assert "old name/1" in invoke("sets").stdout
    assert invoke("remove", "old name/1").exit_code == 0


def test_a_default_set_answers_when_none_is_named(small: Path) -> None:
    other = write_lines(small / "other.txt", ["king 0 1 0", "pawn 0 0.9 0"])
    assert invoke("import", str(other), "--name", "other").exit_code == 0
    refused = invoke("neighbours", "king")
    assert refused.exit_code == 1 and "or make one the default: vecstore default NAME" in refused.stderr
    assert invoke("default", "other").stdout == "default set: other\n"
    assert invoke("neighbours", "king", "-k", "1").stdout.startswith("pawn ")
    assert "* other" in invoke("sets").stdout
    assert [s["default"] for s in json.loads(invoke("sets", "--json").stdout)] == [True, False]
    assert json.loads(invoke("default", "--json").stdout) == {"default": "other"}
    assert Store().default_set() == "other" and Store().pick().name == "other"
    assert invoke("remove", "other").exit_code == 0  # (the default goes with its set)
    assert Store().default_set() is None and invoke("neighbours", "king", "-k", "1").stdout.startswith("queen ")
    assert invoke("default", "small").exit_code == 0 and invoke("default", "--clear").exit_code == 0
    assert Store().default_set() is None


def all_help_commands() -> list[list[str]]:
    group = typer.main.get_command(app)
    found: list[list[str]] = [[]]
    for name, command in group.commands.items():
        found.append([name])
        found += [[name, sub] for sub in getattr(command, "commands", {})]
    return found


@pytest.mark.parametrize("command", all_help_commands(), ids=lambda c: " ".join(c) or "vecstore")
def test_help_reads_whole_at_80_columns(command: list[str]) -> None:
    text = invoke(*command, "--help", env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"}).stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    click_command = command_of(command)
    for flag in flags_of(click_command):  # (every option's every name, whole)
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), flag
    joined = " ".join(text.split())
    for name, sub in getattr(click_command, "commands", {}).items():  # (a group lists each command's summary whole)
        from vecstore.cli.app import summary

        assert f"{name} {summary(sub)}" in joined, name
        assert "..." not in summary(sub)
