"""The store's commands: import, sets, default, info, check, export, remove, db upgrade."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vecstore.cli.errors import EXIT_CODES, reports_errors
from vecstore.cli.options import ForceOption, JsonOption, open_store
from vecstore.cli.output import on_terminal, print_json, progress_bar
from vecstore.errors import counted, printable, printable_path

commands = typer.Typer()
db_app = typer.Typer(help="Manage the store's database schema.\n\n\b\nExample:\n  vecstore db upgrade",
                     no_args_is_help=True, epilog=EXIT_CODES)


@commands.command("import")
@reports_errors
def import_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(
        help="An embedding file (GloVe, word2vec text or binary, fastText .vec; plain, .gz, .bz2 or .zip), "
             "or a built-in source name.")],
    name: Annotated[str | None, typer.Option(
        "--name", "-n", help="Set name: letters, digits, '.', '_' and '-' (default: the file's, or zip "
                             "member's, name without suffixes).")] = None,
    format: Annotated[str | None, typer.Option(
        help="Force the format: glove, word2vec, fasttext or word2vec-binary (default: detected).")] = None,
    member: Annotated[str | None, typer.Option(help="The file to import from a zip holding several.")] = None,
    duplicates: Annotated[str, typer.Option(
        help="A word seen again keeps its first vector, takes the last, or is an error: first|last|error.")] = "first",
    limit: Annotated[int | None, typer.Option(
        min=1, help="Import only the first N words (the most frequent, in these files).")] = None,
    lowercase: Annotated[bool, typer.Option(
        "--lowercase", help="Fold words to lower case, keeping the first (most frequent) vector.")] = False,
    encoding_errors: Annotated[str, typer.Option(
        help="Bytes that are not UTF-8: 'strict' (an error naming the line) or 'replace' (with U+FFFD).")
    ] = "strict",
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a set of that name.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Import embeddings into the store, all or nothing, and build their index.

    \b
    Example:
      vecstore import ~/glove.6B.100d.txt \\
        --name glove-100d
    """
    from vecstore.io.builtin import BUILTINS
    from vecstore.io.readers import ReadOptions

    options = ReadOptions(format=format, member=member, encoding_errors=encoding_errors, duplicates=duplicates,
                          limit=limit, lowercase=lowercase)
    with open_store(ctx) as store, progress_bar(on_terminal(quiet, as_json)) as progress:
        if source in BUILTINS and not Path(source).exists():
            result = store.import_builtin(source, name, replace=replace)
        else:
            result = store.import_file(source, name, options=options, replace=replace, progress=progress)
    if as_json:
        print_json(result.to_dict())
        return
    info = result.info
    if result.status == "unchanged":
        print_unchanged(info, "source")
        return
    typer.echo(f"{printable(info.name)}: {result.status} {counted(info.count, 'word')} x {info.dim} dims "
               f"({info.format}) in {result.seconds:.2f} s")
    counts = result.counts
    if counts is not None and (counts.duplicates or counts.case_merged or counts.limited):
        notes = []
        if counts.duplicates:
            notes.append(f"{counted(counts.duplicates, 'repeated word')} ({duplicates} kept)")
        if counts.case_merged:
            notes.append(f"{counted(counts.case_merged, 'word')} merged by lower-casing (the first kept)")
        if counts.limited:
            notes.append(f"stopped at --limit {limit:,} after {counted(counts.lines_read, 'line')}")
        typer.echo("  " + "; ".join(notes))


def print_unchanged(info: Any, what: str) -> None:
    """What an import of what is there already says (``what``: the source, the model file)."""
    typer.echo(f"{printable(info.name)}: already imported from the same {what} (sha256 {info.source_sha256[:12]}); "
               "nothing to do (--replace re-imports)")


def _describe_store(info: Any) -> list[str]:
    sizes = f"database {info.database_bytes / 1e6:,.1f} MB, " if info.database_bytes is not None else ""
    return [f"store: {info.location} ({info.backend}, schema {info.revision})",
            f"disk: {sizes}derived files {info.derived_bytes / 1e6:,.1f} MB in {info.derived_folder}"]


@commands.command("sets")
@reports_errors
def sets_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the sets in the store (on a terminal, with where the store is); * marks the
    default set.

    \b
    Example:
      vecstore sets --json
    """
    with open_store(ctx) as store:
        sets = store.sets()
        default = store.default_set() if sets else None
        header = _describe_store(store.info()) if sys.stdout.isatty() and not as_json else []
    if as_json:
        print_json([{**s.to_dict(), "default": s.name == default} for s in sets])
        return
    for line in header:
        typer.echo(line)
    if not sets:
        typer.echo("The store has no sets. Import one: vecstore import glove-6b-50d")
        return
    names = {s.uid: s.name for s in sets}

    def source(s: Any) -> str:
        if s.parent_uid is None:
            return s.source
        return f"{s.source} (seeded from {names.get(s.parent_uid, 'a removed set')})"

    rows = [("name", "words", "dims", "format", "imported at (UTC)", "sha256", "source")]
    rows += [(("* " if s.name == default else "") + printable(s.name), f"{s.count:,}", str(s.dim), s.format,
              s.created_at.strftime("%Y-%m-%d %H:%M:%S"), s.source_sha256[:12], printable(source(s))) for s in sets]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1])


@commands.command("default")
@reports_errors
def default_command(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="The set to make the default (none: show it).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Have no default set.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show or choose the default set: the one commands use when --set is not given and
    the store holds more than one.

    \b
    Example:
      vecstore default glove-6b-50d
    """
    from vecstore.cli.errors import usage

    if clear and name is not None:
        raise usage("give a NAME or --clear, not both")
    with open_store(ctx) as store:
        if name is not None or clear:
            store.set_default(name)
        default = store.default_set()
    if as_json:
        print_json({"default": default})
    elif default is None:
        typer.echo("no default set: commands use the only set, or need --set")
    else:
        typer.echo(f"default set: {printable(default)}")


@commands.command("info")
@reports_errors
def info_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Where the store is, its schema revision, its sets and the disk they use.

    \b
    Example:
      vecstore --store ~/team.db info
    """
    with open_store(ctx) as store:
        info = store.info()
    if as_json:
        print_json(info.to_dict())
        return
    for line in _describe_store(info):
        typer.echo(line)
    listing = ", ".join(f"{printable(s.name)} ({s.count:,} x {s.dim})" for s in info.sets)
    typer.echo(f"sets: {len(info.sets)}" + (f": {listing}" if info.sets else ""))
    if info.default_set is not None:
        typer.echo(f"default set: {printable(info.default_set)}")
    if info.collections:
        typer.echo(f"collections: {len(info.collections)}: " + ", ".join(
            f"{printable(c.name)} ({counted(c.count, 'document')})" for c in info.collections))


@commands.command("check")
@reports_errors
def check_command(
    ctx: typer.Context,
    repair: Annotated[bool, typer.Option(
        "--repair", help="Rebuild derived files that are missing or wrong, remove orphans and leftovers "
                         "(never a set's stored vectors).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Verify every byte: schema, every set's chunks and content checksum, every derived
    file, orphaned files. Exits 1 with one line per finding when anything is wrong.

    \b
    Example:
      vecstore check --repair
    """
    with open_store(ctx) as store:
        report = store.check(repair=repair)
    if as_json:
        print_json(report.to_dict())
    else:
        for finding in report.findings:
            typer.echo(finding.line(), err=finding.severity == "problem" and not finding.repaired)
        typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(1)


@commands.command("export")
@reports_errors
def export_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The set to export.")],
    out: Annotated[Path, typer.Argument(help="The file to write (.gz or .bz2 compresses it).")],
    format: Annotated[str, typer.Option(
        help="glove, word2vec, word2vec-binary, csv, npy (the matrix; the words go to OUT.words.txt), or "
             "projector (TensorBoard's Embedding Projector: the vectors in OUT, the words in OUT's name with "
             ".metadata.tsv for .tsv).")
    ] = "glove",
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write a set back out; importing the result gives bit-identical vectors. An existing
    file is kept unless --force; the store's own files are never written.

    \b
    Example:
      vecstore export glove-6b-50d \\
        glove.6B.50d.txt --format glove
    """
    with open_store(ctx) as store:
        result = store.export(name, out, format, overwrite=force)
    if as_json:
        print_json(result.to_dict())
        return
    also = f" (words in {result.words_path})" if result.words_path else ""
    typer.echo(f"wrote {counted(result.rows, 'vector')} of {printable(name)} to {printable_path(result.path)} as "
               f"{format}, {result.bytes / 1e6:,.1f} MB{also}")


@commands.command("remove")
@reports_errors
def remove_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The set to delete.")],
    as_json: JsonOption = False,
) -> None:
    """Delete a set and its derived files from the store.

    \b
    Example:
      vecstore remove glove-100d
    """
    with open_store(ctx) as store:
        info = store.remove(name)
    if as_json:
        print_json({"removed": info.name, "count": info.count})
    else:
        typer.echo(f"removed {printable(info.name)} ({counted(info.count, 'word')})")


@db_app.command("upgrade")
@reports_errors
def db_upgrade_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Create the store if needed and apply the schema migrations (also done automatically
    when a store is opened).

    \b
    Example:
      vecstore db upgrade
    """
    with open_store(ctx) as store:
        before, now = store.upgrade()
        where = store.location.display()
    if as_json:
        print_json({"store": where, "from": before, "to": now})
    elif before == now:
        typer.echo(f"{where}: schema already at revision {now}")
    else:
        typer.echo(f"{where}: schema upgraded from {before or 'empty'} to {now}")
