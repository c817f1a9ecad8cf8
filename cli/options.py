"""What several commands share: the global options, opening the store, and the option
types more than one command group declares (each declared once, here)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vecstore.limits import MAX_K

if TYPE_CHECKING:
    from vecstore.store import Store


class GlobalOptions:
    """The options given before the command, kept in the Typer context (``ctx.obj``)."""

    __slots__ = ("store_location",)

    def __init__(self, store_location: str | None = None) -> None:
        self.store_location = store_location


def open_store(ctx: typer.Context) -> Store:
    """The store the global ``--store`` (or ``$VECSTORE_STORE``) names; opened lazily."""
    from vecstore.store import Store

    return Store(ctx.ensure_object(GlobalOptions).store_location)


def key_values(pairs: list[str] | None, subject: str) -> dict[str, str] | None:
    """``key=value`` options as a dict (None when none were given); ``subject`` is the
    library parameter they are, so an error names the flag they came from."""
    if not pairs:
        return None
    from vecstore.index.approximate import params_from_text

    return params_from_text(pairs, subject)


SetOption = Annotated[str | None, typer.Option(
    "--set", "-s", help="Set to query (default: the only set, or the default set).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
KOption = Annotated[int, typer.Option("-k", "--k", min=1, max=MAX_K, help=f"How many results (at most {MAX_K:,}).")]
ForceOption = Annotated[bool, typer.Option(
    "--force", help="Overwrite output files that exist (never the store's own files).")]
TableFormatOption = Annotated[str | None, typer.Option(
    "--format", help="csv, tsv or jsonl (default: from the file name; needed for '-', stdin).")]
TextColOption = Annotated[str, typer.Option(help="The column (or JSON key) holding the text.")]
IdColOption = Annotated[str | None, typer.Option(
    help="The column (or JSON key) holding the id (default: the line or row number).")]
ExactFlag = Annotated[bool, typer.Option(help="Search every row, even when there is an approximate index.")]
SearchOption = Annotated[list[str] | None, typer.Option(
    "--search-param",
    help="A query-time parameter of the approximate index: efSearch=N (hnsw), nprobe=N, rerank=N (ivfpq).")]
PictureOption = Annotated[Path, typer.Option("--out", "-o", help="The picture to write (.png, .svg or .pdf).")]


def check_outputs(store: Store, outputs: dict[str, Path | list[Path] | None], *, force: bool) -> None:
    """Every output a command will write (by the flag that names it: a path, or the
    files it writes), checked before anything is read or written: no two files are one,
    and each is new (or ``--force``) and none of the store's own."""
    import os

    from vecstore.cli.errors import usage
    from vecstore.io.files import check_output

    paths = [path for given in outputs.values() if given is not None
             for path in (given if isinstance(given, list) else [given])]
    if len({os.path.realpath(path) for path in paths}) != len(paths):
        flags = list(outputs)
        raise usage(f"{', '.join(flags[:-1])} and {flags[-1]} must be different files")
    protected = store.location.protected()
    for path in paths:
        check_output(path, overwrite=force, protected=protected)
