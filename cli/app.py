"""The ``vecstore`` command line: the Typer app, its global options, and ``main``.

Each command group lives in a module of its own and is registered here, in the order
``vecstore --help`` lists them; :mod:`vecstore.cli.errors` turns library errors into one
line and an exit code, :mod:`vecstore.cli.output` prints. The modules import nothing
heavy at the top: a cold ``vecstore neighbours`` pays only for what it uses.

Help is click's plain formatter (``rich_markup_mode=None``): it wraps to the terminal and
never cuts an option's name, at 80 columns as at 200.
"""

from __future__ import annotations

import copy
import sys
from typing import Annotated, Any, ClassVar

import typer
from typer.core import TyperGroup
from typer.models import DefaultPlaceholder

from vecstore.cli import classifier, docs, index, matrix, store, words
from vecstore.cli.errors import EXIT_CODES
from vecstore.cli.options import GlobalOptions

#: The top-level help's sections, each a group module's commands and sub-apps, in order.
SECTIONS: list[tuple[str, typer.Typer | None, list[tuple[typer.Typer, str]]]] = [
    ("The store", store.commands, [(store.db_app, "db")]),
    ("Words", words.commands, [(words.eval_app, "eval")]),
    ("Keras matrices and embeddings", matrix.commands, []),
    ("Documents", docs.commands, [(docs.docs_app, "docs")]),
    ("Indexes", None, [(index.index_app, "index")]),
    ("The classifier", classifier.commands, []),
]


def summary(command: Any) -> str:
    """A command's first paragraph, whole, as one line (click would cut it at 45 characters)."""
    text = (command.short_help or command.help or "").split("\n\n")[0]
    return " ".join(text.replace("\b", "").split())


class SectionedGroup(TyperGroup):
    """A group whose help lists its commands under section headings (the top level), or
    in one list, each with its whole first paragraph, wrapped to the terminal."""

    sections: ClassVar[list[tuple[str, list[str]]]] = []

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        names = [name for name in self.list_commands(ctx) if not self.commands[name].hidden]
        sections = self.sections or [("Commands", names)]
        for title, members in sections:
            rows = [(name, summary(self.commands[name])) for name in members if name in names]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


app = typer.Typer(
    name="vecstore",
    help="Import word embeddings once; query them from every project.\n\n"
    "\b\nExample:\n  vecstore import glove-6b-50d\n  vecstore neighbours king",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=type("TopLevelGroup", (SectionedGroup,), {"sections": [
        (title, [c.name for c in (group.registered_commands if group else [])] + [name for _, name in sub_apps])
        for title, group, sub_apps in SECTIONS]}),
)

for _title, group, sub_apps in SECTIONS:
    if group is not None:
        app.add_typer(group)
    for sub_app, name in sub_apps:
        sub_app.rich_markup_mode = None
        sub_app.info.cls = SectionedGroup
        app.add_typer(sub_app, name=name)


def _print_version(value: bool) -> None:
    if value:
        from vecstore import __version__

        typer.echo(f"vecstore {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    store_location: Annotated[str | None, typer.Option(
        "--store", envvar="VECSTORE_STORE",
        help="Store path or SQLAlchemy URL (default: one file in your user data folder).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = GlobalOptions(store_location=store_location)


def invoked_name(args: list[str]) -> str | None:
    """The command (or command group) ``args`` invoke: the first argument that is not
    ``--store`` or its value; None for ``--help``, ``--version``, another option first, or
    no command."""
    at = 0
    while at < len(args):
        if args[at] == "--store":
            at += 2
        elif args[at].startswith("--store="):
            at += 1
        else:
            return None if args[at].startswith("-") else args[at]
    return None


def app_for(args: list[str]) -> typer.Typer:
    """The app with only the command ``args`` invoke, when it is one: Typer converts every
    command's signature to click's before running one (80 ms of a cold ``vecstore
    neighbours``, half of it a query's own work). The top-level options and settings are
    the app's own. Help, a mistyped command (its suggestions list them all) or no command:
    the whole app."""
    name = invoked_name(args)
    for info in app.registered_groups:
        group = info.typer_instance
        if info.name == name:
            trimmed = copy.copy(app)
            trimmed.registered_groups = [info]
            return trimmed
        if isinstance(info.name, DefaultPlaceholder) and group is not None:
            commands = [c for c in group.registered_commands if c.name == name]
            if commands:
                only = copy.copy(group)
                only.registered_commands = commands
                trimmed = copy.copy(app)
                trimmed.registered_groups = [copy.copy(info)]
                trimmed.registered_groups[0].typer_instance = only
                return trimmed
    return app


def main() -> None:
    """The ``vecstore`` console script."""
    app_for(sys.argv[1:])()
