"""What a new user meets: which store is in use, help, limits, logs.

Issue 8's items 12 (a mistyped store is never created; ``info``), 13 (library messages
name parameters, not flags; the README's Python blocks: tests/test_docs.py) and 15
(-k capped, ``vector --json`` piped into ``neighbours``, help examples that do not wrap,
exit codes, progress on long evaluations, quiet TensorFlow).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_lines
from typer.testing import CliRunner

from vecstore import Store
from vecstore.cli.app import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
WORDS = ["king 1 0 0", "queen 0.9 0.1 0", "man 0.5 -0.5 0", "woman 0.4 -0.4 0.2", "apple 0 0 1"]


@pytest.fixture
def tiny(tmp_path: Path, isolated_store: Path) -> Path:
    result = runner.invoke(app, ["import", str(write_lines(tmp_path / "tiny.txt", WORDS)), "--name", "tiny"])
    assert result.exit_code == 0, result.output
    return isolated_store


@pytest.mark.parametrize("command", [["sets"], ["neighbours", "king"], ["vector", "king"], ["info"], ["check"],
                                     ["export", "tiny", "out.txt"], ["remove", "tiny"]])
def test_a_mistyped_store_is_never_created(tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "sotre.db"
    for args in (["--store", str(typo), *command], command):
        env = {"VECSTORE_STORE": str(typo)} if args is command else {}
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 1
        assert f"no store at {typo}" in result.output
    assert not typo.exists() and not typo.with_name("sotre.db.indexes").exists()


def test_info_says_where_the_store_is_and_what_it_holds(tiny: Path) -> None:
    from vecstore.storage.statements import SCHEMA_HEAD

    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"store: {tiny} (sqlite, schema {SCHEMA_HEAD})"
    assert re.fullmatch(rf"disk: database [\d.]+ MB, derived files [\d.]+ MB in {re.escape(str(tiny))}\.indexes",
                        lines[1])
    assert lines[2] == "sets: 1: tiny (5 x 3)"
    data = json.loads(runner.invoke(app, ["info", "--json"]).stdout)
    assert data["store"] == str(tiny) and data["revision"] == SCHEMA_HEAD and data["derived_bytes"] > 0
    assert [s["name"] for s in data["sets"]] == ["tiny"]


def test_k_larger_than_the_set_is_capped_and_said(tiny: Path) -> None:
    result = runner.invoke(app, ["neighbours", "king", "-k", "100"])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 4
    assert result.stderr == "note: set 'tiny' has only 4 other words; showing all of them (-k 100 asked for more)\n"
    too_many = runner.invoke(app, ["neighbours", "king", "-k", "1000000"])
    assert too_many.exit_code == 2 and "10000" in too_many.stderr


def test_vector_json_pipes_into_neighbours(tiny: Path) -> None:
    vector = runner.invoke(app, ["vector", "queen", "--json"]).stdout
    hits = json.loads(runner.invoke(app, ["neighbours", "--vector", "-", "-k", "2", "--json"], input=vector).stdout)
    assert [h["word"] for h in hits] == ["queen", "king"] and hits[0]["score"] == pytest.approx(1.0)


def all_commands() -> list[tuple[list[str], object]]:
    """Every command of the app, as its words and its click command."""
    import typer.main

    group = typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", {})
        found += [([name, sub], c) for sub, c in subcommands.items()] if subcommands else [([name], command)]
    return found


def help_commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    commands = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        commands.append([name])
        commands += [[name, sub] for sub in getattr(command, "commands", {})]
    return commands


@pytest.mark.parametrize("columns", ["60", "80"])
def test_every_help_has_an_example_that_does_not_wrap(columns: str) -> None:
    for command in [[], *help_commands()]:
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": columns, "TERMINAL_WIDTH": columns})
        assert result.exit_code == 0, command
        text = result.stdout
        assert "Example:" in text, command
        example = text.split("Example:", 1)[1].splitlines()[1:]
        ends = next((i for i, line in enumerate(example) if line.strip() and not line.startswith(" ")), None)
        lines = [line.strip() for line in example[:ends] if line.strip()]  # (up to the next section's heading)
        assert lines and lines[0].startswith("vecstore"), (command, lines)
        for line in lines:  # each line of an example is whole: a command, or a continuation of one
            assert line.startswith(("vecstore", "--", "-")) or lines[lines.index(line) - 1].endswith("\\"), (
                command, line)


def test_exit_codes_are_documented() -> None:
    assert "Exit codes: 0 success, 1 an error (one line on stderr), 2 a usage error." in runner.invoke(
        app, ["--help"], env={"COLUMNS": "200"}).stdout
    assert "Exit codes" in (ROOT / "README.md").read_text()


def test_evaluation_reports_progress(glove) -> None:
    questions = Path(__import__("gensim.test.utils", fromlist=["datapath"]).datapath("questions-words.txt"))
    seen: list[tuple[int, int]] = []
    glove.evaluate_analogies(questions, restrict_vocab=30_000, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] > 0 and [d for d, _ in seen] == sorted(d for d, _ in seen)


def library_messages() -> list[tuple[str, int, str]]:
    """Every string literal in a raise of the library (not the CLI), with where it is."""
    found = []
    for path in sorted((ROOT / "vecstore").rglob("*.py")):  # (every package of the library)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) or (isinstance(node, ast.ClassDef) and node.name.endswith("Error")):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                        found.append((path.name, inner.lineno, inner.value))
    return found


def test_library_messages_name_parameters_not_command_line_flags() -> None:
    messages = library_messages()
    assert {"readers.py", "catalog.py", "trained.py", "files.py"} <= {name for name, _, _ in messages}
    flags = [(name, line, text) for name, line, text in messages  # (pip's flags in an install hint are not ours)
             if re.search(r"(^|\s)--[a-z]|\bvecstore (import|export|check|sets|info|neighbours|matrix|remove|docvec)\b",
                          re.sub(r"pip install [^:;]*", "", text))]
    assert flags == []


def test_every_parameter_a_library_message_names_has_command_line_words() -> None:
    """The converse: an error about a parameter (``subject=``) or suggesting one
    (``hint=``) reads on the command line with its flag, never with a Python keyword."""
    from vecstore.cli.errors import CLI_FLAGS, CLI_HINTS

    library = ROOT / "vecstore"
    source = "\n".join(path.read_text() for path in library.rglob("*.py"))
    subjects = set(re.findall(r'subject="(\w+)"', source))
    from vecstore.errors import InvalidArgumentError
    from vecstore.keras.training import TrainingOptions

    bad = {"pool": "?", "embeddings": "?", "hidden": -1, "bigrams": -1, "dropout": 1.0, "learning_rate": 0.0}
    for field in ("pool", "embeddings", "epochs", "batch_size", "dim", "max_length", "hidden", "bigrams", "dropout",
                  "learning_rate"):  # (checked by name)
        with pytest.raises(InvalidArgumentError) as caught:
            TrainingOptions(**{field: bad.get(field, 0)})
        subjects.add(caught.value.subject)
    hints = set(re.findall(r'hint=\("([\w-]+)"', source))
    hints |= {"text_col", "id_col", "label_col"}  # (read_records names the column's parameter)
    # (no flag: PartlyTrainableEmbedding's argument, SIF's constant, tune_classifier's grid: --tune's is fixed)
    python_only = {"trainable", "sif_a", "grid"}
    assert {"epochs", "batch_size", "dim", "embeddings", "hidden", "bigrams", "learning_rate"} <= subjects
    declared = {param.name for _, command in all_commands() for param in command.params
                if param.param_type_name == "option"}  # (a subject reads as the option of that name)
    assert sorted(subjects - declared - set(CLI_FLAGS) - python_only) == []
    assert sorted(hints - set(CLI_HINTS)) == []


def test_the_store_in_python_messages(tiny: Path) -> None:
    from vecstore.errors import SetChoiceError

    runner.invoke(app, ["import", str(write_lines(tiny.parent / "b.txt", WORDS)), "--name", "tiny2"])
    with pytest.raises(SetChoiceError) as info:
        Store().pick()
    assert str(info.value) == "the store has 2 sets (tiny, tiny2); name the one to use"


def test_a_full_disk_during_an_export_is_one_line_and_leaves_no_file(tiny: Path, tmp_path: Path) -> None:
    # A file size limit (as a full disk) hit halfway through the output.
    big = write_lines(tmp_path / "big.txt", [f"w{i} {i} 0.5 -1" for i in range(30_000)])
    assert runner.invoke(app, ["import", str(big), "--name", "big"]).exit_code == 0
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000));"
            "from vecstore.cli.app import main; sys.argv = ['vecstore', *sys.argv[1:]]; main()")
    out = tmp_path / "out.txt"
    done = subprocess.run([sys.executable, "-c", code, "--store", str(tiny), "export", "big", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == f"Error: {out}: cannot write: File too large\n"
    assert list(tmp_path.glob("*out.txt*")) == []


def test_words_with_control_characters_are_printed_escaped(tmp_path: Path, isolated_store: Path) -> None:
    # A hostile file's words must not send escape sequences to the terminal.
    path = write_lines(tmp_path / "evil.txt", ["king 1 0 0", "\x1b[2Jqueen 0.9 0.1 0", "apple 0 0 1"])
    assert runner.invoke(app, ["import", str(path), "--name", "evil"]).exit_code == 0
    shown = runner.invoke(app, ["neighbours", "king", "-k", "1"]).stdout
    assert shown.startswith("\\x1b[2Jqueen") and "\x1b" not in shown
    assert json.loads(runner.invoke(app, ["neighbours", "king", "-k", "1", "--json"]).stdout)[0]["word"] == \
        "\x1b[2Jqueen"  # JSON keeps the word as it is (escaped by JSON itself)


def test_python_outputs_never_overwrite_a_store_even_when_asked(tiny: Path, tmp_path: Path) -> None:
    from vecstore.errors import ProtectedPathError
    from vecstore.matrix import save_matrix
    from vecstore.vocabulary import Vocabulary

    vocab = Vocabulary.from_tokens(["", "king"])
    built = Store(tiny).get("tiny").embedding_matrix(vocab)
    before = tiny.read_bytes()
    for write in (lambda: save_matrix(built, tiny, overwrite=True), lambda: vocab.write(tiny, overwrite=True),
                  lambda: save_matrix(built, tiny.with_name("store.db.indexes") / "m.npy", overwrite=True)):
        with pytest.raises(ProtectedPathError):
            write()
    assert tiny.read_bytes() == before
