"""Documents: one vector per document (docvec), and searchable collections (the docs
group: add, search, similar, list, info, remove, plot, export)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vecstore.cli.errors import EXIT_CODES, reports_errors, usage
from vecstore.cli.options import (
    ExactFlag,
    ForceOption,
    IdColOption,
    JsonOption,
    KOption,
    PictureOption,
    SearchOption,
    SetOption,
    TextColOption,
    check_outputs,
    key_values,
    open_store,
)
from vecstore.cli.output import on_terminal, print_fields, print_json, progress_bar
from vecstore.errors import counted, printable, printable_path

commands = typer.Typer()
docs_app = typer.Typer(
    help="Document collections: documents stored with their pooled vectors, searchable.\n\n"
    "\b\nExample:\n  vecstore docs add reviews reviews.csv --set glove-6b-50d\n"
    "  vecstore docs search reviews \"a moving film\" -k 5",
    no_args_is_help=True, epilog=EXIT_CODES)

CollectionArgument = Annotated[str, typer.Argument(help="The collection.")]


@commands.command("docvec")
@reports_errors
def docvec_command(
    ctx: typer.Context,
    documents: Annotated[str, typer.Argument(
        help="One document a line, '-' for stdin, or a .csv/.tsv/.jsonl file (.gz, .bz2 too) with --text-col.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write: .npy (ids beside it), or see --format.")],
    set_name: SetOption = None,
    pool: Annotated[str, typer.Option(help="mean, sum, max, min, idf (IDF-weighted mean) or sif (Arora et al.).")]
    = "mean",
    format: Annotated[str, typer.Option("--format", help="npy (with OUT.ids.txt), csv or jsonl.")] = "npy",
    text_col: TextColOption = "text",
    id_col: IdColOption = None,
    idf_file: Annotated[Path | None, typer.Option(
        "--idf", help="With --pool idf: read document frequencies from this JSON (default: fit on the input).")]
    = None,
    idf_collection: Annotated[str | None, typer.Option(
        "--idf-from", help="With --pool idf: use the document frequencies of this collection (pooled with idf).")]
    = None,
    save_idf: Annotated[Path | None, typer.Option(
        help="With --pool idf: write the document frequencies used here (JSON), for later documents.")] = None,
    sif_frequency: Annotated[str, typer.Option(
        help="With --pool sif: word frequencies from the set's row order (rank, Zipf) or the input (texts).")]
    = "rank",
    case_fold: Annotated[bool, typer.Option(
        "--case-fold/--no-case-fold", help="Look up 'Über' as 'über' when 'Über' is missing.")] = True,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Average (or otherwise pool) word vectors into one vector per document.

    Tokens are those of the matrix builder. Unknown tokens are skipped and
    counted; a document without a known token gets a zero vector.

    \b
    Example:
      vecstore docvec reviews.csv --text-col text \\
        --pool sif --out reviews.npy
    """
    from vecstore.documents import Idf, fit_idf
    from vecstore.io.documents import output_paths, read_documents, save_document_vectors

    if (idf_file is not None or save_idf is not None or idf_collection is not None) and pool != "idf":
        raise usage("--idf, --idf-from and --save-idf go with --pool idf")
    if idf_file is not None and idf_collection is not None:
        raise usage("give --idf FILE or --idf-from COLLECTION, not both")
    with open_store(ctx) as store:
        check_outputs(store, {"--out": output_paths(out, format), "--save-idf": save_idf}, force=force)
        docs = read_documents(documents, text_col=text_col, id_col=id_col)
        idf = None
        if idf_collection is not None:
            idf = store.collection(idf_collection).idf()
        elif idf_file is not None:
            idf = Idf.read(idf_file)
        elif pool == "idf":
            idf = fit_idf(docs.texts)
        built = store.with_set(set_name, lambda s: s.document_vectors(
            docs.texts, pool=pool, idf=idf, sif_frequency=sif_frequency, case_fold=case_fold))
        protected = store.location.protected()
        written = save_document_vectors(out, docs.ids, built.vectors, format, overwrite=force, protected=protected)
        if save_idf is not None and idf is not None:
            idf.write(save_idf, overwrite=force, protected=protected)
    if as_json:  # (the documents without a known token by their ids)
        print_json({"out": [str(p) for p in written], **built.report.to_dict(),
                    "empty": [docs.ids[i] for i in built.report.empty]})
        return
    typer.echo(built.report.summary(docs.ids), err=True)
    typer.echo(f"wrote {', '.join(str(p) for p in written)}")


def _print_hits(hits: list[Any], as_json: bool) -> None:
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    for h in hits:
        text = printable(h.text)
        score = "     -" if h.score is None else f"{h.score:.4f}"
        ranks = (f"  v{h.vector_rank or '-'} t{h.text_rank or '-'}" if getattr(h, "ranked", False) else "")
        typer.echo(f"{score}{ranks}  {printable(h.id)}  {text if len(text) <= 100 else text[:97] + '...'}")


@docs_app.command("add")
@reports_errors
def docs_add_command(
    ctx: typer.Context,
    collection: CollectionArgument,
    documents: Annotated[str, typer.Argument(
        help="One document a line, '-' for stdin, or a .csv/.tsv/.jsonl file (.gz, .bz2 too).")],
    set_name: SetOption = None,
    pool: Annotated[str | None, typer.Option(
        help="For a new collection: mean (default), sum, max, min, idf or sif.")] = None,
    text_col: TextColOption = "text",
    id_col: IdColOption = None,
    meta_cols: Annotated[list[str] | None, typer.Option(
        "--meta-col", help="Keep this column (a .csv/.tsv column, a .jsonl key) as each document's metadata, "
                           "for docs search --where (repeatable; replaces what those documents had).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Add documents to a collection (created if new); a known id with the same text is
    left alone, a changed text gets a new vector.

    \b
    Example:
      vecstore docs add reviews reviews.csv \\
        --id-col id --set glove-6b-50d --pool sif \\
        --meta-col movie_name --meta-col category
    """
    from vecstore.io.documents import read_documents

    docs = read_documents(documents, text_col=text_col, id_col=id_col, meta_cols=meta_cols or ())
    with open_store(ctx) as store, progress_bar(on_terminal(as_json), "adding", "steps") as bar:
        report = store.add_documents(collection, docs.ids, docs.texts, set_name=set_name, pool=pool, progress=bar,
                                     metadata=docs.metadata)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(report.summary())


@docs_app.command("search")
@reports_errors
def docs_search_command(
    ctx: typer.Context,
    collection: CollectionArgument,
    query: Annotated[str | None, typer.Argument(help="The text to search for.")] = None,
    k: KOption = 5,
    vector: Annotated[str | None, typer.Option(
        help="Search by a vector read from this file ('-' for stdin) instead of a text.")] = None,
    exact: ExactFlag = False,
    search: SearchOption = None,
    where: Annotated[list[str] | None, typer.Option(
        "--where", help="Only documents whose metadata meet this: COL=VALUE, COL!=VALUE, 'COL in A,B,C', COL<N, "
                        "COL>N, COL<=N, COL>=N (repeatable: all must hold; a document without COL meets none).")]
    = None,
    text_match: Annotated[bool, typer.Option(
        "--text-match", help="Rank by full-text search of the query's words (SQLite FTS5 bm25, PostgreSQL "
                             "ts_rank_cd) instead of by vector.")] = False,
    hybrid: Annotated[bool, typer.Option(
        "--hybrid", help="Fuse the vector and the full-text rankings (reciprocal rank fusion, k=60); --json "
                         "gives both ranks.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The k documents most similar to a text (pooled as the documents were), best first;
    with --where, the k best of the documents that match (exactly k when k match).

    \b
    Example:
      vecstore docs search reviews "a moving film" -k 5 \\
        --where category=fresh --hybrid
    """
    from vecstore.io.queries import read_vector

    if (query is None) == (vector is None):
        raise usage("give a query text or --vector FILE, not both")
    if text_match and hybrid:
        raise usage("give --text-match or --hybrid, not both")
    if (text_match or hybrid) and query is None:
        raise usage("--text-match and --hybrid match the words of a query text, not --vector")
    values = read_vector(vector) if vector is not None else None
    mode = "text" if text_match else "hybrid" if hybrid else "vector"
    with open_store(ctx) as store:
        hits = store.collection(collection).search(query, vector=values, k=k, exact=exact,
                                                   search=key_values(search, "search"), where=where, mode=mode)
    _print_hits(hits, as_json)


@docs_app.command("similar")
@reports_errors
def docs_similar_command(
    ctx: typer.Context,
    collection: CollectionArgument,
    doc_id: Annotated[str, typer.Option("--id", help="The document whose neighbours to find.")],
    k: KOption = 5,
    exact: ExactFlag = False,
    search: SearchOption = None,
    as_json: JsonOption = False,
) -> None:
    """The k documents most similar to a stored document (itself excluded).

    \b
    Example:
      vecstore docs similar reviews --id r42 -k 5
    """
    with open_store(ctx) as store:
        hits = store.collection(collection).similar(doc_id, k=k, exact=exact, search=key_values(search, "search"))
    _print_hits(hits, as_json)


@docs_app.command("list")
@reports_errors
def docs_list_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The store's collections.

    \b
    Example:
      vecstore docs list --json
    """
    with open_store(ctx) as store:
        collections = store.collections()
    if as_json:
        print_json([c.to_dict() for c in collections])
        return
    if not collections:
        typer.echo("The store has no collections. Add one: vecstore docs add NAME FILE")
    for c in collections:
        typer.echo(f"{printable(c.name)}  {counted(c.count, 'document')}  set {printable(c.word_set_name)}  "
                   f"pool {c.pool}  updated {c.updated_at:%Y-%m-%d %H:%M}")


@docs_app.command("info")
@reports_errors
def docs_info_command(ctx: typer.Context, collection: CollectionArgument, as_json: JsonOption = False) -> None:
    """A collection's set, pooling, size and dates.

    \b
    Example:
      vecstore docs info reviews
    """
    with open_store(ctx) as store:
        found = store.collection(collection).info
    if as_json:
        print_json(found.to_dict())
        return
    print_fields(found.to_dict())


@docs_app.command("remove")
@reports_errors
def docs_remove_command(
    ctx: typer.Context,
    collection: CollectionArgument,
    doc_ids: Annotated[list[str] | None, typer.Option("--id", help="Remove only this document (repeatable).")]
    = None,
) -> None:
    """Remove a collection, or some of its documents (--id).

    \b
    Example:
      vecstore docs remove reviews --id r42
    """
    with open_store(ctx) as store:
        if doc_ids:
            left = store.remove_documents(collection, doc_ids)
            typer.echo(f"removed {counted(len(set(doc_ids)), 'document')} from {printable(collection)}; "
                       f"{left:,} left")
        else:
            removed = store.remove_collection(collection)
            typer.echo(f"removed collection {printable(removed.name)} ({counted(removed.count, 'document')})")


@docs_app.command("plot")
@reports_errors
def docs_plot_command(
    ctx: typer.Context,
    collection: CollectionArgument,
    out: PictureOption,
    doc_ids: Annotated[list[str] | None, typer.Option("--id", help="Draw this document (repeatable).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Without --id: draw the first N documents.")] = 200,
    force: ForceOption = False,
) -> None:
    """Draw a collection's documents on a 2-D map (PCA of their vectors), labelled by id.

    \b
    Example:
      vecstore docs plot reviews --limit 100 --out docs.png
    """
    from vecstore.io.files import check_output
    from vecstore.plot import document_projection, draw

    with open_store(ctx) as store:
        protected = store.location.protected()
        check_output(out, overwrite=force, protected=protected)
        projection = document_projection(store.collection(collection), doc_ids, limit=limit)
        what = counted(len(projection.labels), "document")
        draw(projection, out, title=f"{printable(collection)}: {what}, PCA", overwrite=force, protected=protected)
    typer.echo(f"wrote {printable_path(out)} ({what})")


@docs_app.command("export")
@reports_errors
def docs_export_command(
    ctx: typer.Context,
    collection: CollectionArgument,
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    format: Annotated[str, typer.Option(
        "--format", help="npy (with OUT.ids.txt), csv, jsonl, or projector (the vectors in OUT, ids and texts "
                         "in OUT's name with .metadata.tsv for .tsv).")]
    = "npy",
    force: ForceOption = False,
) -> None:
    """Write a collection's vectors with its documents' ids (projector: ids and texts).

    \b
    Example:
      vecstore docs export reviews reviews.tsv \\
        --format projector
    """
    from vecstore.collection import export_collection

    with open_store(ctx) as store:
        written = export_collection(store.collection(collection), out, format, overwrite=force,
                                    protected=store.location.protected())
    typer.echo(f"wrote {', '.join(printable_path(p) for p in written)}")
