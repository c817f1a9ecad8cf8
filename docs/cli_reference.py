"""Write docs/cli.md's reference part: every command's ``--help``, as it prints at 80
columns. ``--check``: exit 1 (saying so) when the page is not what this would write, as
the test suite does, so the reference can never fall behind the commands.

Usage: python docs/cli_reference.py [--check]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PAGE = Path(__file__).with_name("cli.md")
MARKER = "<!-- Everything below is written by docs/cli_reference.py (make docs); edit the commands' help instead. -->"


def commands() -> list[list[str]]:
    """Every command's words, the top level first, in the order ``vecstore --help`` lists them."""
    import typer.main

    from vecstore.cli.app import app

    group = typer.main.get_command(app)
    found: list[list[str]] = [[]]
    for section in group.sections:  # type: ignore[attr-defined]
        for name in section[1]:
            found.append([name])
            found += [[name, sub] for sub in getattr(group.commands[name], "commands", {})]
    return found


def reference() -> str:
    """The generated part: a heading and the help text of each command."""
    from typer.testing import CliRunner

    from vecstore.cli.app import app

    os.environ["COLUMNS"] = os.environ["TERMINAL_WIDTH"] = "80"
    runner = CliRunner()
    parts = [MARKER, ""]
    for words in commands():
        result = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"},
                               prog_name="vecstore")
        if result.exit_code != 0:
            raise SystemExit(f"vecstore {' '.join(words)} --help failed: {result.output}")
        parts += [f"## {' '.join(['vecstore', *words])}", "", "```text", result.stdout.rstrip(), "```", ""]
    return "\n".join(parts)


def main() -> int:
    text = PAGE.read_text(encoding="utf-8")
    head = text.split(MARKER, 1)[0]
    wanted = head + reference()
    if "--check" in sys.argv[1:]:
        if text != wanted:
            print(f"{PAGE} is out of date: run make docs", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(wanted, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
