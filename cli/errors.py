"""Library errors in this command line's words, and the exit codes they give.

The library words its messages for Python callers (:mod:`vecstore.errors`): an error
about a parameter names it as its ``subject``, mentions other parameters' values as its
``settings``, and suggests a remedy as a ``hint``. Here each becomes one line on stderr
that names the running command's own flags: the flag for a subject is read from the
command's declared options (a parameter of the same name), so a message can only name a
flag the command has. Exit codes: 2 when the error is about an option's (or an argument's) value or a
combination of options (a usage error, as Typer's own), 1 for anything else the library
raises on purpose; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from vecstore.errors import InvalidArgumentError, SetChoiceError, VecstoreError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES = "Exit codes: 0 success, 1 an error (one line on stderr), 2 a usage error."
USAGE_EXIT = 2

#: The flag of a library parameter that no command declares under the same name.
CLI_FLAGS = {"table_format": "--format", "search": "--search-param", "mode": "--text-match/--hybrid",
             "metadata": "--meta-col"}
#: This command line's words for each suggestion (``hint``) the library makes; ``{...}``
#: are the error's attributes.
CLI_HINTS = {
    "replace": "pass --replace to overwrite it, or --name to import under another name",
    "set_name": "choose one with --set, or make one the default: vecstore default NAME",
    "member": "choose one with --member NAME",
    "overwrite": "pass --force to overwrite it",
    "create": "check --store or VECSTORE_STORE (vecstore import creates a store)",
    "check": "run: vecstore --store {location} check",
    "damage": "vecstore check lists the damage; import the set again with --replace to mend it",
    "duplicates": "--duplicates first|last keeps one",
    "layer": "choose one with --layer",
    "name": "give it one with --name",
    "no-member": "leave --member out",
    "text_col": "name the text's column with --text-col",
    "id_col": "name the id's column with --id-col",
    "label_col": "name the label's column with --label-col",
    "multi_label": "pass --multi-label to read a list of labels a row",
    "separator": "--separator splits a string of labels",
    "rebuild": "run vecstore docs remove {collection}, then docs add its documents again",
    "table_format": "--format csv, tsv or jsonl says which it is",
    "new_name": "give --save-embeddings another name (vecstore remove NAME frees it)",
    "small_set": "a set this small is searched exactly as fast; an hnsw index needs no training (--kind hnsw)",
}


def flag_of(name: str, command: Any) -> str | None:
    """The running command's words for library parameter ``name``: the first declared
    option of the command's parameter of that name (``-k``, ``--set``), or the argument's
    name in capitals (``COLLECTION``); else :data:`CLI_FLAGS`. ``command``: the running
    (click) command, or None."""
    for param in getattr(command, "params", ()):
        if param.name == name:
            return param.opts[0] if param.param_type_name == "option" else name.upper()
    return CLI_FLAGS.get(name)


def cli_setting(command: Any) -> Callable[[str, object], str]:
    """How this command line shows a parameter set to a value: ``--lowercase``, ``without
    --lowercase``, ``--limit 2``, ``--embeddings learned``."""

    def shown(name: str, value: object) -> str:
        flag = flag_of(name, command) or f"--{name.replace('_', '-')}"
        if value is True:
            return flag
        if value is False or value is None:
            return f"without {flag}"
        return f"{flag} {value}"

    return shown


def cli_message(exc: VecstoreError, command: Any = None) -> str:
    """A library error in this command line's words: its flags, its commands."""
    if isinstance(exc, SetChoiceError) and not exc.available:
        return "the store has no sets; import one first: vecstore import glove-6b-50d"
    subject = flag_of(exc.subject, command) if exc.subject else None
    hint = None
    if exc.hint is not None and exc.hint[0] in CLI_HINTS:
        hint = CLI_HINTS[exc.hint[0]].format(**vars(exc))
    return exc.render(subject, hint, cli_setting(command))


def exit_code(exc: VecstoreError, command: Any = None) -> int:
    """2 for a bad option value or combination (an :class:`InvalidArgumentError` about a
    parameter the command has, or raised by :func:`usage`), else the error's own code."""
    if isinstance(exc, InvalidArgumentError) and (
            getattr(exc, "usage", False) or (exc.subject is not None and flag_of(exc.subject, command) is not None)):
        return USAGE_EXIT
    return exc.exit_code


def usage(message: str) -> InvalidArgumentError:
    """A usage error of this command line's own (options that do not go together): one
    line, exit code 2."""
    error = InvalidArgumentError(message)
    error.usage = True  # type: ignore[attr-defined]
    return error


def reports_errors(func: F) -> F:
    """Turn library errors into one line on stderr and their exit code. The command takes
    ``ctx: typer.Context`` (its flags are read from it)."""
    code = func.__code__  # (not inspect.signature: this runs for every command at start-up)
    if "ctx" not in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]:
        raise TypeError(f"{func.__name__} must take ctx: typer.Context")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except VecstoreError as exc:
            command = getattr(kwargs.get("ctx"), "command", None)
            typer.echo(f"Error: {cli_message(exc, command)}", err=True)
            raise typer.Exit(exit_code(exc, command)) from None

    return wrapper  # type: ignore[return-value]
