"""The documentation runs as written: every Python block of the README and of each docs/
page, the README's tour of the command line, the classifier page's quoted output; every
link between pages resolves; the CLI reference is what the commands print; the README is
one sitting."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
VECSTORE = str(Path(sys.executable).with_name("vecstore"))


def blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)


def fresh_env(tmp_path: Path) -> dict[str, str]:
    """A store of its own in ``tmp_path``, and TensorFlow left to speak if vecstore let it
    (no TF_CPP_MIN_LOG_LEVEL): a block must print nothing on stderr."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "VECSTORE_STORE": str(tmp_path / "store" / "store.db"), "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "80"}


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=lambda p: p.name)
def test_every_python_block_runs_as_written_and_quietly(page: Path, tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    for number, block in enumerate(blocks(page, "python"), start=1):
        done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{page.name} block {number} failed:\n{block}\n{done.stderr[-3000:]}"
        assert done.stderr == "", f"{page.name} block {number} wrote to stderr:\n{done.stderr[-3000:]}"


def test_the_readme_has_python_blocks_and_the_docs_more() -> None:
    assert len(blocks(ROOT / "README.md", "python")) >= 1
    assert sum(len(blocks(p, "python")) for p in PAGES) >= 5


def tour() -> list[tuple[str, str]]:
    """The README's tour of the command line: each line's command and its comment."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme.split("## A tour of the command line", 1)[1], flags=re.DOTALL)
    assert block is not None
    lines = [line.partition("  #") for line in block.group(1).splitlines() if line.strip()]
    return [(command.strip(), comment.strip()) for command, _, comment in lines]


#: The tour's queries, whose comments say what they print.
SAYS_WHAT_IT_PRINTS = ("neighbours", "analogy", "similarity")


def test_the_readme_tour_of_the_command_line_runs_as_written(tmp_path: Path) -> None:
    import shlex

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = fresh_env(tmp_path)
    checked = 0
    for command, comment in tour():
        words = shlex.split(command)
        assert words[0] == "vecstore", command
        done = subprocess.run([VECSTORE, *words[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, (command, done.stderr)
        if words[1] in SAYS_WHAT_IT_PRINTS:  # ("prince 0.8236, queen 0.7839, ...": each piece is printed)
            shown = " ".join(done.stdout.split())  # (columns aligned with spaces: compared as words)
            for piece in [p.strip() for p in comment.split(",") if p.strip() != "..."]:
                assert piece in shown, (command, piece, done.stdout)
                checked += 1
    assert checked >= 5


def test_the_classifier_page_quotes_what_train_prints(tmp_path: Path) -> None:
    from vecstore import Store

    page = (ROOT / "docs" / "classifier.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- the output of: (.*?) -->\n```text\n(.*?)```", page, flags=re.DOTALL)
    assert found is not None
    command, quoted = found.group(1).split(), found.group(2)
    assert command[0] == "vecstore"
    env = fresh_env(tmp_path)
    with Store(env["VECSTORE_STORE"]) as store:
        store.import_builtin("glove-6b-50d")
    done = subprocess.run([VECSTORE, *command[1:]], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout == quoted


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as dashes."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_between_pages_resolves(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # (https: and the like: not ours to check here)
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target}"
        if anchor:
            assert anchor in anchors(linked), f"{page.name}: {target} (anchors: {sorted(anchors(linked))})"


def test_the_link_checker_sees_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\n## Some Part\n")
    assert anchors(tmp_path / "a.md") == {"a", "some-part"}
    assert LINK.findall("see [b](b.md#x) and [c](https://c)") == ["b.md#x", "https://c"]


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in (ROOT / "docs").glob("*.md"):
        assert f"(docs/{page.name})" in readme, page.name


def test_the_cli_reference_is_what_the_commands_print() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "cli_reference.py"), "--check"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_readme_is_one_sitting() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300
