"""The command line, through Typer's CliRunner on a small store (real GloVe where it matters)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
import typer.core
import typer.main
from conftest import write_lines
from typer.testing import CliRunner

from vecstore import Store
from vecstore.cli.app import app

runner = CliRunner()
WORDS = ["king 1 0 0", "queen 0.9 0.1 0", "man 0.5 -0.5 0", "woman 0.4 -0.4 0.2", "apple 0 0 1"]


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "tiny.txt", WORDS)


@pytest.fixture
def small_store(small_file: Path) -> str:
    result = invoke("import", str(small_file), "--name", "tiny")
    assert result.exit_code == 0, result.output
    return "tiny"


@pytest.mark.both_backends
def test_import_then_sets_json(small_file: Path) -> None:
    result = invoke("import", str(small_file), "--name", "tiny", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "imported"
    sets = json.loads(invoke("sets", "--json").stdout)
    assert [(s["name"], s["count"], s["dim"]) for s in sets] == [("tiny", 5, 3)]
    assert sets[0]["format"] == "glove" and len(sets[0]["sha256"]) == 64
    again = invoke("import", str(small_file), "--name", "tiny")
    assert again.exit_code == 0 and "already imported" in again.stdout


@pytest.mark.both_backends
def test_neighbours_json_and_text(small_store: str) -> None:
    hits = json.loads(invoke("neighbours", "king", "--set", "tiny", "-k", "2", "--json").stdout)
    assert [h["word"] for h in hits] == ["queen", "man"]
    assert set(hits[0]) == {"word", "score"}
    text = invoke("neighbours", "king", "-k", "1").stdout  # the only set is the default
    assert text.split()[0] == "queen"


@pytest.mark.both_backends
def test_neighbours_of_a_vector_from_stdin_and_file(small_store: str, tmp_path: Path) -> None:
    hits = json.loads(invoke("neighbours", "--vector", "-", "-k", "1", "--json", input="0 0 5\n").stdout)
    assert hits[0]["word"] == "apple"
    (tmp_path / "v.json").write_text("[1, 0.05, 0]")
    hits = json.loads(invoke("neighbours", "--vector", str(tmp_path / "v.json"), "-k", "1", "--json").stdout)
    assert hits[0]["word"] == "king"
    wrong = invoke("neighbours", "--vector", "-", input="1 2\n")
    assert wrong.exit_code == 1 and "the vector has 2 values; set 'tiny' has 3" in wrong.stderr


@pytest.mark.both_backends
def test_similarity_analogy_vector(small_store: str) -> None:
    sim = json.loads(invoke("similarity", "king", "queen", "--json").stdout)
    expected = 0.9 / np.linalg.norm([0.9, 0.1, 0])
    assert sim["score"] == pytest.approx(expected, abs=1e-6)
    hits = json.loads(invoke("analogy", "man", "king", "woman", "-k", "1", "--json").stdout)
    assert hits[0]["word"] in {"queen", "apple"} and set(hits[0]) == {"word", "score"}
    vec = json.loads(invoke("vector", "queen", "--json").stdout)
    assert vec == {"word": "queen", "vector": [0.9, 0.1, 0.0], "from_subwords": False}  # (a stored vector)


@pytest.mark.both_backends
def test_errors_are_one_line_with_exit_code_1(small_store: str, tmp_path: Path) -> None:
    unknown = invoke("neighbours", "kng")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "Error: 'kng' is not in set 'tiny'; did you mean king?"
    missing_set = invoke("neighbours", "king", "--set", "nope")
    assert missing_set.exit_code == 1 and "no embedding set named 'nope' (sets: tiny)" in missing_set.stderr
    bad = write_lines(tmp_path / "bad.txt", ["a 1 2", "b 1"])
    bad_import = invoke("import", str(bad))
    assert bad_import.exit_code == 1
    assert bad_import.stderr.strip() == f"Error: {bad}:2: expected 2 values after 'b', found 1"
    nothing = invoke("import", str(tmp_path / "missing.txt"))
    assert nothing.exit_code == 1 and "missing.txt: no such file" in nothing.stderr
    for result in (unknown, missing_set, bad_import, nothing):
        assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.both_backends
def test_choosing_a_set_is_required_when_there_are_several(small_store: str, small_file: Path) -> None:
    invoke("import", str(small_file), "--name", "tiny2")
    result = invoke("neighbours", "king")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: the store has 2 sets (tiny, tiny2); choose one with --set, or make one "
                                     "the default: vecstore default NAME")


@pytest.mark.both_backends
def test_remove(small_store: str) -> None:
    assert invoke("remove", "tiny").exit_code == 0
    assert json.loads(invoke("sets", "--json").stdout) == []
    again = invoke("remove", "tiny")
    assert again.exit_code == 1 and "no embedding set named 'tiny'" in again.stderr


def test_global_store_option_overrides_the_environment(small_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    assert invoke("--store", str(other), "import", str(small_file), "--name", "elsewhere").exit_code == 0
    assert [s.name for s in Store(other).sets()] == ["elsewhere"]
    missing = invoke("sets", "--json")  # the environment's store: never written, so not there
    assert missing.exit_code == 1 and "no store at" in missing.stderr
    url = invoke("--store", f"sqlite:///{other}", "sets", "--json")
    assert [s["name"] for s in json.loads(url.stdout)] == ["elsewhere"]


def test_db_upgrade(tmp_path: Path) -> None:
    from vecstore.storage.statements import SCHEMA_HEAD

    first = invoke("--store", str(tmp_path / "new.db"), "db", "upgrade")
    assert first.exit_code == 0 and f"upgraded from empty to {SCHEMA_HEAD}" in first.stdout
    second = invoke("--store", str(tmp_path / "new.db"), "db", "upgrade")
    assert f"already at revision {SCHEMA_HEAD}" in second.stdout
    as_json = json.loads(invoke("--store", str(tmp_path / "new.db"), "db", "upgrade", "--json").stdout)
    assert as_json["from"] == as_json["to"] == SCHEMA_HEAD


def test_version() -> None:
    from vecstore import __version__

    assert invoke("--version").stdout.strip() == f"vecstore {__version__}"


def all_commands() -> list[tuple[list[str], typer.core.TyperCommand | typer.core.TyperGroup]]:
    """Every command and group of the app, with the words that name it (the root: [])."""
    found, todo = [], [([], typer.main.get_command(app))]
    while todo:
        path, command = todo.pop(0)
        found.append((path, command))
        todo += [([*path, name], sub) for name, sub in getattr(command, "commands", {}).items()]
    return found


def assert_examples_verbatim(help_text: str, printed: str, command: list[str]) -> None:
    """Every line of the help's example appears whole, indented as written (under one common margin)."""
    examples = [line for line in help_text.split("Example:", 1)[1].splitlines() if line.strip() and line != "\b"]
    assert examples and examples[0].strip().startswith("vecstore "), command
    lines = [line.rstrip() for line in printed.splitlines()]
    margins = {line[: -len(examples[0])] for line in lines if line.endswith(examples[0])}
    assert any(not m.strip() and all(m + example in lines for example in examples) for m in margins), (
        command, examples, printed)
    assert "\b" not in printed, command


def test_every_command_has_help_with_an_example_printed_verbatim() -> None:
    """Click's \\b keeps the examples' lines as written, in Rich help (the default) and in plain Click help."""
    for command, click_command in all_commands():
        assert click_command.help and "Example:" in click_command.help, command
        # One verbatim paragraph, "Example:" and its lines, last in the help (Rich shows the \b as a blank line)
        assert "\n\n\b\nExample:\n" in click_command.help, command
        assert "\n\n" not in click_command.help.split("Example:", 1)[1], command
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "60"})
        assert result.exit_code == 0, command
        assert_examples_verbatim(click_command.help, result.stdout, command)
        click_command.rich_markup_mode = None  # as without Rich, or with TYPER_USE_RICH=0
        plain = click_command.get_help(typer.Context(click_command, info_name="vecstore", terminal_width=60))
        assert_examples_verbatim(click_command.help, plain, command)


def test_demo_set_through_the_cli_on_real_glove(glove_store: Path) -> None:
    hits = json.loads(invoke("--store", str(glove_store), "analogy", "man", "king", "woman", "--set", "glove",
                             "-k", "1", "--json").stdout)
    assert hits[0]["word"] == "queen"
