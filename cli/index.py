"""A set's indexes: build (and measure) an approximate one, list them, remove one."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vecstore.cli.errors import EXIT_CODES, reports_errors
from vecstore.cli.options import JsonOption, key_values, open_store
from vecstore.cli.output import on_terminal, print_json, progress_bar
from vecstore.errors import printable

index_app = typer.Typer(
    help="A set's indexes: the exact one, and approximate ones that queries then use: FAISS's hnsw, ivf and "
    "ivfpq, and on a PostgreSQL store with pgvector, pgvector-hnsw and pgvector-ivfflat (built and searched in "
    "the server).\n\n"
    "\b\nExample:\n  vecstore index build glove-6b-50d --kind hnsw\n  vecstore index list",
    no_args_is_help=True, epilog=EXIT_CODES)

NameArgument = Annotated[str, typer.Argument(help="The set (or, with --collection, the collection).")]
KindOption = Annotated[str, typer.Option(help="flat, hnsw, ivf or ivfpq; pgvector-hnsw or pgvector-ivfflat on a "
                                              "PostgreSQL store with pgvector.")]
CollectionFlag = Annotated[bool, typer.Option("--collection", help="NAME is a document collection, not a set.")]


@index_app.command("build")
@reports_errors
def index_build_command(
    ctx: typer.Context,
    name: NameArgument,
    kind: KindOption = "hnsw",
    param: Annotated[list[str] | None, typer.Option(
        help="key=value: M, efConstruction, efSearch (hnsw); nlist, nprobe (ivf); nlist, m, nbits, nprobe, "
             "rerank (ivfpq); m, ef_construction, ef_search, halfvec=0|1 (pgvector-hnsw); lists, probes, "
             "halfvec=0|1 (pgvector-ivfflat).")] = None,
    collection: CollectionFlag = False,
    as_json: JsonOption = False,
) -> None:
    """Build an index of a set, measure its recall@10 against the exact search on 1,000 of
    the set's rows, and make queries use it.

    \b
    Example:
      vecstore index build glove-6b-50d \\
        --kind hnsw --param efSearch=128
      vecstore --store postgresql+psycopg://db/vectors \\
        index build glove-6b-50d --kind pgvector-hnsw
    """
    with open_store(ctx) as store, progress_bar(on_terminal(as_json), f"building {kind}", "rows") as bar:
        report = store.build_index(name, kind, key_values(param, "param"), collection=collection, progress=bar,
                                   phases=bar.phase if bar is not None else None)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(_index_line(report))


def _index_line(report: Any) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in {**report.params, **report.search}.items()) or "exact"
    recall = f"recall@10 {report.recall_at_10:.3f}" + (f" on {report.recall_sample:,} rows" if report.recall_sample
                                                       else "")
    built = f", built in {report.build_seconds:,.1f} s" if report.build_seconds is not None else ""
    if len(report.tuning) > 1:  # (the build widened a query-time parameter to reach its recall)
        first = report.tuning[0]
        widened = ", ".join(f"{k}={v}" for k, v in first["search"].items() if report.search.get(k) != v)
        recall += f" (from {first['recall_at_10']:.3f} at {widened})"
    owner = f"{'collection ' if report.collection else ''}{printable(report.set_name)}"
    return (f"{'*' if report.chosen else ' '} {owner}  {report.kind}  {settings}  {recall}  "
            f"{report.file_size / 1e6:,.1f} MB{built}")


@index_app.command("list")
@reports_errors
def index_list_command(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this set's indexes.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Each set's indexes: kind, parameters, recall@10, size, build time; * marks the one
    queries use.

    \b
    Example:
      vecstore index list glove-6b-50d
    """
    with open_store(ctx) as store:
        reports = store.index_reports(name)
    if as_json:
        print_json([r.to_dict() for r in reports])
        return
    if not reports:
        typer.echo("The store has no sets, so no indexes. Import one: vecstore import glove-6b-50d")
    for report in reports:
        typer.echo(_index_line(report))


@index_app.command("remove")
@reports_errors
def index_remove_command(
    ctx: typer.Context,
    name: NameArgument,
    kind: KindOption = "hnsw",
    collection: CollectionFlag = False,
) -> None:
    """Remove an approximate index (queries then use the next one, or search exactly).

    \b
    Example:
      vecstore index remove glove-6b-50d --kind hnsw
    """
    with open_store(ctx) as store:
        store.remove_index(name, kind, collection=collection)
    typer.echo(f"removed the {kind} index of {'collection ' if collection else ''}{printable(name)}")
