"""The ``vecstore`` command line: parses options, calls the library, prints results.

Library errors (:class:`vecstore.errors.VecstoreError`) become one line on stderr and
exit code 1 (usage errors: 2, from Typer); anything else is a bug and keeps its
traceback. The library words its messages for Python callers; :func:`cli_message` says
the same with this command line's flags. Heavy modules are imported inside commands so
that ``vecstore neighbours`` pays only for what it uses.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from vecstore.errors import InvalidArgumentError, SetChoiceError, VecstoreError, printable, printable_path
from vecstore.limits import MAX_K, MAX_TEXTS_BYTES, MAX_VECTOR_BYTES

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES = "Exit codes: 0 success, 1 an error (one line on stderr), 2 a usage error."

app = typer.Typer(
    name="vecstore",
    help="Import word embeddings once; query them from every project.\n\n"
    "\b\nExample:\n  vecstore import glove-6b-50d\n  vecstore neighbours king",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(
    help="Evaluate a set on analogy or word-similarity benchmarks.\n\n"
    "\b\nExample:\n  vecstore eval analogies \\\n    questions-words.txt --set glove-6b-50d",
    no_args_is_help=True, epilog=EXIT_CODES)
db_app = typer.Typer(help="Manage the store's database schema.\n\n\b\nExample:\n  vecstore db upgrade",
                     no_args_is_help=True, epilog=EXIT_CODES)
docs_app = typer.Typer(
    help="Document collections: documents stored with their pooled vectors, searchable.\n\n"
    "\b\nExample:\n  vecstore docs add reviews reviews.csv --set glove-6b-50d\n"
    "  vecstore docs search reviews \"a moving film\" -k 5",
    no_args_is_help=True, epilog=EXIT_CODES)
app.add_typer(eval_app, name="eval")
app.add_typer(db_app, name="db")
index_app = typer.Typer(
    help="A set's indexes: the exact one, and approximate ones (hnsw, ivf, ivfpq) that queries then use.\n\n"
    "\b\nExample:\n  vecstore index build glove-6b-50d --kind hnsw\n  vecstore index list",
    no_args_is_help=True, epilog=EXIT_CODES)
app.add_typer(docs_app, name="docs")
app.add_typer(index_app, name="index")


SetOption = Annotated[str | None, typer.Option("--set", "-s", help="Set to query (default: the only set).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
KOption = Annotated[int, typer.Option("-k", "--k", min=1, max=MAX_K, help=f"How many results (at most {MAX_K:,}).")]
RestrictOption = Annotated[int, typer.Option(help="Use only the first N (most frequent) words, as gensim.")]
CaseOption = Annotated[bool, typer.Option("--case-sensitive", help="Do not fold case (gensim folds by default).")]
TableFormatOption = Annotated[str | None, typer.Option(
    "--format", help="csv, tsv or jsonl (default: from the file name; needed for '-', stdin).")]
ForceOption = Annotated[bool, typer.Option(
    "--force", help="Overwrite output files that exist (never the store's own files).")]


@dataclass(frozen=True)
class GlobalOptions:
    """The options given before the command, kept in the Typer context (``ctx.obj``)."""

    store_location: str | None = None


#: The flag of each library parameter an error can be about (its ``subject``).
CLI_FLAGS = {
    "format": "--format", "member": "--member", "encoding_errors": "--encoding-errors",
    "duplicates": "--duplicates", "limit": "--limit", "k": "-k", "restrict_vocab": "--restrict-vocab",
    "oov": "--oov", "max_tokens": "--max-tokens", "min_count": "--min-count", "layer": "--layer",
    "pool": "--pool", "sif_frequency": "--sif-frequency", "neighbours": "--neighbours", "set_name": "--set",
    "embeddings": "--embeddings", "epochs": "--epochs", "batch_size": "--batch-size", "dim": "--dim",
    "max_length": "--max-length", "validation_split": "--validation-split", "kind": "--kind",
    "param": "--param", "search": "--search-param",
}
#: This command line's words for each suggestion (``hint``) the library makes; ``{...}``
#: are the error's attributes.
CLI_HINTS = {
    "replace": "pass --replace to overwrite it, or --name to import under another name",
    "set_name": "choose one with --set",
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
}


def cli_message(exc: VecstoreError) -> str:
    """A library error in this command line's words: its flags, its commands."""
    if isinstance(exc, SetChoiceError) and not exc.available:
        return "the store has no sets; import one first: vecstore import glove-6b-50d"
    subject = CLI_FLAGS.get(exc.subject) if exc.subject else None
    hint = None
    if exc.hint is not None and exc.hint[0] in CLI_HINTS:
        hint = CLI_HINTS[exc.hint[0]].format(**vars(exc))
    return exc.render(subject, hint)


def _print_version(value: bool) -> None:
    if value:
        from vecstore import __version__

        typer.echo(f"vecstore {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    store: Annotated[str | None, typer.Option(
        "--store", envvar="VECSTORE_STORE",
        help="Store path or SQLAlchemy URL (default: one file in your user data folder).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = GlobalOptions(store_location=store)


def _store(ctx: typer.Context):
    from vecstore.store import Store

    return Store(ctx.ensure_object(GlobalOptions).store_location)


def reports_errors(func: F) -> F:
    """Turn library errors into one line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except VecstoreError as exc:
            typer.echo(f"Error: {cli_message(exc)}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _print_json(value: object) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _note(text: str) -> None:
    typer.echo(f"note: {text}", err=True)


def _print_neighbours(hits, as_json: bool) -> None:
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    words = [printable(h.word) for h in hits]  # a word may hold control characters; a terminal must not run them
    width = max(map(len, words), default=0)
    for word, h in zip(words, hits, strict=True):
        typer.echo(f"{word:<{width}}  {h.score:.4f}")


def _key_values(pairs: list[str] | None) -> dict[str, str] | None:
    from vecstore.index.approximate import params_from_text

    return params_from_text(pairs) if pairs else None


def _batch_neighbours(ctx: typer.Context, set_name: str | None, k: int, input_file: str | None,
                      vectors_file: Path | None, as_json: bool, exact: bool, search: dict[str, str] | None) -> None:
    """Answer many queries, a batch at a time, printing as the answers come: one line a
    query (``word: n1 0.8236, n2 ...``), or one JSON list streamed item by item."""
    import numpy as np

    from vecstore.errors import listed
    from vecstore.io.documents import read_documents
    from vecstore.io.files import read_npy_matrix
    from vecstore.query import query_batch

    words = read_documents(input_file, format="lines").texts if input_file is not None else None
    matrix = read_npy_matrix(vectors_file) if vectors_file is not None else None
    total = len(words) if words is not None else len(matrix)
    unknown: list[str] = []
    with _store(ctx) as store:
        embedding_set = store.pick(set_name)
        if as_json:
            typer.echo("[", nl=False)
        step = query_batch(k)  # (answers printed a batch at a time: memory bounded whatever k)
        for start in range(0, total, step):
            stop = min(start + step, total)
            if words is not None:
                answers = embedding_set.neighbours_many(words[start:stop], k=k, exact=exact, search=search)
            else:
                answers = embedding_set.neighbours_many(vectors=np.asarray(matrix[start:stop]), k=k, exact=exact,
                                                        search=search)
            unknown += answers.unknown
            if as_json:
                items = answers.to_list()
                for i, item in enumerate(items):
                    if "vector" in item:
                        item["vector"] = start + i
                    typer.echo(("\n" if start + i == 0 else ",\n") + json.dumps(item, ensure_ascii=False), nl=False)
                continue
            for i, (query, hits) in enumerate(zip(answers.queries, answers.results, strict=True)):
                label = printable(query) if words is not None else f"#{start + i}"
                shown = "(not in the set)" if hits is None else ", ".join(
                    f"{printable(h.word)} {h.score:.4f}" for h in hits)
                typer.echo(f"{label}: {shown}")
        if as_json:
            typer.echo("\n]")
        if unknown:
            _note(f"{len(unknown):,} of {total:,} words are not in set {embedding_set.name!r}: "
                  f"{listed(unknown)}")


def _say_if_fewer(hits: list, k: int, set_name: str) -> None:
    if len(hits) < k:
        _note(f"set {set_name!r} has only {len(hits):,} other words; showing all of them (-k {k:,} asked for more)")


@app.command("import")
@reports_errors
def import_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(
        help="An embedding file (GloVe, word2vec text or binary, fastText .vec; plain, .gz, .bz2 or .zip), "
             "or a built-in source name.")],
    name: Annotated[str | None, typer.Option(
        "--name", "-n", help="Set name (default: the file's, or zip member's, name without suffixes).")] = None,
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
    with _store(ctx) as store, _progress_bar(not quiet and not as_json and sys.stderr.isatty()) as progress:
        if source in BUILTINS and not Path(source).exists():
            result = store.import_builtin(source, name, replace=replace)
        else:
            result = store.import_file(source, name, options=options, replace=replace, progress=progress)
    if as_json:
        _print_json(result.to_dict())
        return
    info = result.info
    if result.status == "unchanged":
        _print_unchanged(info, "source")
        return
    typer.echo(f"{printable(info.name)}: {result.status} {info.count:,} words x {info.dim} dims ({info.format}) "
               f"in {result.seconds:.2f} s")
    counts = result.counts
    if counts is not None and (counts.duplicates or counts.case_merged or counts.limited):
        notes = []
        if counts.duplicates:
            notes.append(f"{counts.duplicates:,} repeated words ({duplicates} kept)")
        if counts.case_merged:
            notes.append(f"{counts.case_merged:,} words merged by lower-casing (the first kept)")
        if counts.limited:
            notes.append(f"stopped at --limit {limit:,} after {counts.lines_read:,} lines")
        typer.echo("  " + "; ".join(notes))


def _print_unchanged(info, what: str) -> None:
    typer.echo(f"{printable(info.name)}: already imported from the same {what} (sha256 {info.source_sha256[:12]}); "
               "nothing to do (--replace re-imports)")


@contextmanager
def _progress_bar(enabled: bool, label: str = "importing",
                  units: str = "bytes") -> Iterator[Callable[..., None] | None]:
    """A progress bar on stderr when it is a terminal: bytes (MB/s, rows, ETA) or items."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    if units == "bytes":
        columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TextColumn("{task.fields[rows]:,} rows"), TimeRemainingColumn())
    else:
        columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(units), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None, rows=0)

        def update(done: int, total: int, rows: int = 0) -> None:
            bar.update(task, completed=done, total=total, rows=rows)

        yield update


def _describe_store(info) -> list[str]:
    sizes = f"database {info.database_bytes / 1e6:,.1f} MB, " if info.database_bytes is not None else ""
    return [f"store: {info.location} ({info.backend}, schema {info.revision})",
            f"disk: {sizes}derived files {info.derived_bytes / 1e6:,.1f} MB in {info.derived_folder}"]


@app.command("sets")
@reports_errors
def sets_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the sets in the store (on a terminal, with where the store is).

    \b
    Example:
      vecstore sets --json
    """
    with _store(ctx) as store:
        sets = store.sets()
        header = _describe_store(store.info()) if sys.stdout.isatty() and not as_json else []
    if as_json:
        _print_json([s.to_dict() for s in sets])
        return
    for line in header:
        typer.echo(line)
    if not sets:
        typer.echo("The store has no sets. Import one: vecstore import glove-6b-50d")
        return
    names = {s.uid: s.name for s in sets}

    def source(s) -> str:
        if s.parent_uid is None:
            return s.source
        return f"{s.source} (seeded from {names.get(s.parent_uid, 'a removed set')})"

    rows = [("name", "words", "dims", "format", "imported at (UTC)", "sha256", "source")]
    rows += [(printable(s.name), f"{s.count:,}", str(s.dim), s.format, s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
              s.source_sha256[:12], printable(source(s))) for s in sets]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1])


@app.command("info")
@reports_errors
def info_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Where the store is, its schema revision, its sets and the disk they use.

    \b
    Example:
      vecstore --store ~/team.db info
    """
    with _store(ctx) as store:
        info = store.info()
    if as_json:
        _print_json(info.to_dict())
        return
    for line in _describe_store(info):
        typer.echo(line)
    listing = ", ".join(f"{printable(s.name)} ({s.count:,} x {s.dim})" for s in info.sets)
    typer.echo(f"sets: {len(info.sets)}" + (f": {listing}" if info.sets else ""))


@app.command("check")
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
    with _store(ctx) as store:
        report = store.check(repair=repair)
    if as_json:
        _print_json(report.to_dict())
    else:
        for finding in report.findings:
            typer.echo(finding.line(), err=finding.severity == "problem" and not finding.repaired)
        typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(1)


def _read_vector(spec: str) -> list[float]:
    """A query vector: numbers separated by spaces, a JSON list, or the JSON object
    ``vector --json`` prints (``{"word", "vector"}``)."""
    from vecstore.errors import InputFileError
    from vecstore.io.files import read_whole

    label = "stdin" if spec == "-" else spec
    limit = MAX_VECTOR_BYTES
    raw = sys.stdin.buffer.read(limit + 1) if spec == "-" else read_whole(Path(spec), limit, "vector")
    if len(raw) > limit:
        raise InputFileError(label, f"more than {limit:,} bytes: not one vector")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputFileError(label, "not valid UTF-8") from None
    try:
        values = json.loads(text) if text[:1] in "[{" and text else [float(v) for v in text.split()]
    except (ValueError, RecursionError):
        raise InputFileError(label, "expected numbers separated by spaces, a JSON list, or the JSON of "
                                    "'vecstore vector --json'") from None
    if isinstance(values, dict):
        values = values.get("vector")
    if not isinstance(values, list) or not values or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise InputFileError(label, "expected a non-empty list of numbers")
    try:
        return [float(v) for v in values]
    except OverflowError:
        raise InputFileError(label, "a value is too large to be a float") from None


ExactFlag = Annotated[bool, typer.Option(help="Search every row, even when there is an approximate index.")]
SearchParamOption = Annotated[list[str] | None, typer.Option(
    help="A query-time parameter of the approximate index: efSearch=N (hnsw), nprobe=N, rerank=N (ivfpq).")]


@app.command("neighbours")
@reports_errors
def neighbours_command(
    ctx: typer.Context,
    word: Annotated[str | None, typer.Argument(help="The word whose neighbours to find.")] = None,
    set_name: SetOption = None,
    k: KOption = 10,
    vector: Annotated[str | None, typer.Option(
        help="Find the neighbours of a vector read from this file ('-' for stdin): numbers, a JSON list, "
             "or what 'vecstore vector --json' prints.")] = None,
    input_file: Annotated[str | None, typer.Option(
        "--input", help="Many queries: one word a line ('-' for stdin); unknown words are reported.")] = None,
    vectors: Annotated[Path | None, typer.Option(
        help="Many queries: a .npy file of float vectors, one a row.")] = None,
    exact: ExactFlag = False,
    search_param: SearchParamOption = None,
    as_json: JsonOption = False,
) -> None:
    """The k nearest words by cosine similarity (the word itself excluded).

    \b
    Example:
      vecstore neighbours king -k 10
      vecstore vector king --json \\
        | vecstore neighbours --vector -
      vecstore neighbours --input words.txt --json
    """
    if sum(x is not None for x in (word, vector, input_file, vectors)) != 1:
        raise InvalidArgumentError("give one of: a word, --vector FILE, --input FILE, --vectors FILE.npy")
    search = _key_values(search_param)
    if input_file is not None or vectors is not None:
        _batch_neighbours(ctx, set_name, k, input_file, vectors, as_json, exact, search)
        return
    query = _read_vector(vector) if vector is not None else None
    with _store(ctx) as store:
        name, hits = store.with_set(set_name, lambda s: (s.name, s.neighbours(word, vector=query, k=k, exact=exact,
                                                                              search=search)))
    _print_neighbours(hits, as_json)
    _say_if_fewer(hits, k, name)


@app.command("similarity")
@reports_errors
def similarity_command(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(help="A word.")],
    second: Annotated[str, typer.Argument(help="Another word.")],
    set_name: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cosine similarity of two words.

    \b
    Example:
      vecstore similarity king queen
    """
    with _store(ctx) as store:
        score = store.with_set(set_name, lambda s: s.similarity(first, second))
    if as_json:
        _print_json({"first": first, "second": second, "score": score})
    else:
        typer.echo(f"{score:.4f}")


@app.command("analogy")
@reports_errors
def analogy_command(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="a, as in: a is to b as c is to ?")],
    b: Annotated[str, typer.Argument(help="b")],
    c: Annotated[str, typer.Argument(help="c")],
    set_name: SetOption = None,
    k: KOption = 10,
    as_json: JsonOption = False,
) -> None:
    """a is to b as c is to ?  (3CosAdd: nearest to b - a + c; a, b, c excluded).

    \b
    Example:
      vecstore analogy man king woman -k 1
    """
    with _store(ctx) as store:
        name, hits = store.with_set(set_name, lambda s: (s.name, s.analogy(a, b, c, k=k)))
    _print_neighbours(hits, as_json)
    _say_if_fewer(hits, k, name)


@app.command("vector")
@reports_errors
def vector_command(
    ctx: typer.Context,
    word: Annotated[str, typer.Argument(help="The word.")],
    set_name: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the stored vector of a word.

    \b
    Example:
      vecstore vector king --json
    """
    with _store(ctx) as store:
        values = store.with_set(set_name, lambda s: s.vector(word))
    if as_json:
        # str() of a float32 is its shortest exact decimal: the JSON round-trips bit for bit.
        _print_json({"word": word, "vector": [float(str(v)) for v in values]})
    else:
        typer.echo(" ".join(str(v) for v in values))


@app.command("export")
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
    with _store(ctx) as store:
        result = store.export(name, out, format, overwrite=force)
    if as_json:
        _print_json(result.to_dict())
        return
    also = f" (words in {result.words_path})" if result.words_path else ""
    typer.echo(f"wrote {result.rows:,} vectors of {printable(name)} to {printable_path(result.path)} as {format}, "
               f"{result.bytes / 1e6:,.1f} MB{also}")


@app.command("matrix")
@reports_errors
def matrix_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="The .npy file to write (input_dim x dim, float32).")],
    set_name: Annotated[str | None, typer.Option("--set", "-s", help="The set to take vectors from "
                                                 "(default: the only set).")] = None,
    vocab: Annotated[Path | None, typer.Option(
        help="The model's vocabulary: a word list (line i = index i), a TextVectorization vocabulary "
             "(one token per line or a JSON list) or a Keras Tokenizer JSON.")] = None,
    texts: Annotated[Path | None, typer.Option(
        help="Instead of --vocab: fit a vocabulary on these texts (one per line) as TextVectorization does.")] = None,
    max_tokens: Annotated[int | None, typer.Option(
        min=3, help="With --texts: the vocabulary size, padding and OOV included.")] = None,
    min_count: Annotated[int, typer.Option(min=1, help="With --texts: drop words seen fewer times.")] = 1,
    vocab_out: Annotated[Path | None, typer.Option(
        help="With --texts: write the fitted vocabulary here (one token per line), for prediction time.")] = None,
    oov: Annotated[str, typer.Option(
        help="Fill the OOV row and missing words with: zeros, random (the set's mean and std) or mean.")] = "zeros",
    seed: Annotated[int, typer.Option(help="Seed of --oov random.")] = 0,
    case_fold: Annotated[bool, typer.Option(
        "--case-fold/--no-case-fold", help="Look up 'Paris' as 'paris' when 'Paris' is missing.")] = True,
    missing: Annotated[Path | None, typer.Option(help="Write the missing words here, one per line.")] = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Build the embedding matrix of a model's vocabulary: row i is the vector of index i.

    Row 0 is padding (zeros) when the vocabulary has it; only the needed vectors are read.
    Load it with keras.layers.Embedding(n, dim, embeddings_initializer=
    keras.initializers.Constant(np.load(OUT))).

    \b
    Example:
      vecstore matrix --vocab vocab.txt \\
        --out matrix.npy --missing missing.txt
    """
    from vecstore.io.files import check_output
    from vecstore.matrix import save_matrix
    from vecstore.vocabulary import Vocabulary

    if (vocab is None) == (texts is None):
        raise InvalidArgumentError("give the vocabulary with --vocab FILE, or texts to fit one with --texts FILE")
    outputs = [path for path in (out, missing, vocab_out) if path is not None]
    if len({os.path.realpath(path) for path in outputs}) != len(outputs):
        raise InvalidArgumentError("--out, --missing and --vocab-out must be different files")
    with _store(ctx) as store:
        protected = store.location.protected()
        for path in outputs:  # every output is checked before anything is written
            check_output(path, overwrite=force, protected=protected)
        if texts is not None:
            from vecstore.errors import InputFileError
            from vecstore.io.files import read_whole

            try:
                lines = read_whole(texts, MAX_TEXTS_BYTES, "texts").decode("utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise InputFileError(texts, f"not valid UTF-8 (byte {exc.start})") from None
            vocabulary = Vocabulary.fit(lines, max_tokens=max_tokens, min_count=min_count)
        else:
            assert vocab is not None
            vocabulary = Vocabulary.read(vocab)
        built = store.with_set(set_name, lambda s: s.embedding_matrix(vocabulary, oov=oov, case_fold=case_fold,
                                                                      seed=seed))
        save_matrix(built, out, missing, overwrite=force, protected=protected)
        if vocab_out is not None:
            vocabulary.write(vocab_out, overwrite=force)
    if as_json:
        _print_json({"out": str(out), **built.coverage.to_dict()})
        return
    typer.echo(built.coverage.summary())
    typer.echo(f"wrote {out}" + (f"; missing words in {missing}" if missing else ""))


CollectionArgument = Annotated[str, typer.Argument(help="The collection.")]


def _print_hits(hits, as_json: bool) -> None:
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    for h in hits:
        text = printable(h.text)
        typer.echo(f"{h.score:.4f}  {printable(h.id)}  {text if len(text) <= 100 else text[:97] + '...'}")


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
    text_col: Annotated[str, typer.Option(help="The column (or JSON key) holding the text.")] = "text",
    id_col: Annotated[str | None, typer.Option(
        help="The column (or JSON key) holding the id (default: the line or row number).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Add documents to a collection (created if new); a known id with the same text is
    left alone, a changed text gets a new vector.

    \b
    Example:
      vecstore docs add reviews reviews.csv \\
        --id-col id --set glove-6b-50d --pool sif
    """
    from vecstore.io.documents import read_documents

    docs = read_documents(documents, text_col=text_col, id_col=id_col)
    with _store(ctx) as store, _progress_bar(not as_json and sys.stderr.isatty(), "adding", "steps") as bar:
        report = store.add_documents(collection, docs.ids, docs.texts, set_name=set_name, pool=pool, progress=bar)
    if as_json:
        _print_json(report.to_dict())
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
    search_param: SearchParamOption = None,
    as_json: JsonOption = False,
) -> None:
    """The k documents most similar to a text (pooled as the documents were), best first.

    \b
    Example:
      vecstore docs search reviews "a moving film" -k 5
    """
    if (query is None) == (vector is None):
        raise InvalidArgumentError("give a query text or --vector FILE, not both")
    values = _read_vector(vector) if vector is not None else None
    with _store(ctx) as store:
        hits = store.collection(collection).search(query, vector=values, k=k, exact=exact,
                                                   search=_key_values(search_param))
    _print_hits(hits, as_json)


@docs_app.command("similar")
@reports_errors
def docs_similar_command(
    ctx: typer.Context,
    collection: CollectionArgument,
    doc_id: Annotated[str, typer.Option("--id", help="The document whose neighbours to find.")],
    k: KOption = 5,
    exact: ExactFlag = False,
    search_param: SearchParamOption = None,
    as_json: JsonOption = False,
) -> None:
    """The k documents most similar to a stored document (itself excluded).

    \b
    Example:
      vecstore docs similar reviews --id r42 -k 5
    """
    with _store(ctx) as store:
        hits = store.collection(collection).similar(doc_id, k=k, exact=exact, search=_key_values(search_param))
    _print_hits(hits, as_json)


@docs_app.command("list")
@reports_errors
def docs_list_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The store's collections.

    \b
    Example:
      vecstore docs list --json
    """
    with _store(ctx) as store:
        collections = store.collections()
    if as_json:
        _print_json([c.to_dict() for c in collections])
        return
    for c in collections:
        typer.echo(f"{printable(c.name)}  {c.count:,} documents  set {printable(c.word_set_name)}  pool {c.pool}  "
                   f"updated {c.updated_at:%Y-%m-%d %H:%M}")


@docs_app.command("info")
@reports_errors
def docs_info_command(ctx: typer.Context, collection: CollectionArgument, as_json: JsonOption = False) -> None:
    """A collection's set, pooling, size and dates.

    \b
    Example:
      vecstore docs info reviews
    """
    with _store(ctx) as store:
        found = store.collection(collection).info
    if as_json:
        _print_json(found.to_dict())
        return
    for key, value in found.to_dict().items():
        typer.echo(f"{key}: {printable(str(value))}")


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
    with _store(ctx) as store:
        if doc_ids:
            left = store.remove_documents(collection, doc_ids)
            typer.echo(f"removed {len(doc_ids):,} documents from {printable(collection)}; {left:,} left")
        else:
            removed = store.remove_collection(collection)
            typer.echo(f"removed collection {printable(removed.name)} ({removed.count:,} documents)")


@docs_app.command("plot")
@reports_errors
def docs_plot_command(
    ctx: typer.Context,
    collection: CollectionArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="The picture to write (.png, .svg or .pdf).")],
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

    with _store(ctx) as store:
        protected = store.location.protected()
        check_output(out, overwrite=force, protected=protected)
        projection = document_projection(store.collection(collection), doc_ids, limit=limit)
        draw(projection, out, title=f"{printable(collection)}: {len(projection.labels)} documents, PCA",
             overwrite=force, protected=protected)
    typer.echo(f"wrote {printable_path(out)} ({len(projection.labels)} documents)")


@docs_app.command("export")
@reports_errors
def docs_export_command(
    ctx: typer.Context,
    collection: CollectionArgument,
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    out_format: Annotated[str, typer.Option(
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

    with _store(ctx) as store:
        written = export_collection(store.collection(collection), out, out_format, overwrite=force,
                                    protected=store.location.protected())
    typer.echo(f"wrote {', '.join(printable_path(p) for p in written)}")


@app.command("train")
@reports_errors
def train_command(
    ctx: typer.Context,
    data: Annotated[str | None, typer.Argument(help="A .csv, .tsv or .jsonl file of texts and labels.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The model directory to write.")] = Path("model"),
    example: Annotated[str | None, typer.Option(help="Train on a shipped example instead: tutorial.")] = None,
    set_name: SetOption = None,
    text_col: Annotated[str, typer.Option(help="The column (or JSON key) holding the text.")] = "text",
    label_col: Annotated[str, typer.Option(help="The column (or JSON key) holding the label(s).")] = "label",
    multi_label: Annotated[bool, typer.Option(help="Several labels a row (a JSON list, or --separator).")] = False,
    table_format: TableFormatOption = None,
    separator: Annotated[str | None, typer.Option(help="With --multi-label: what separates a row's labels.")]
    = None,
    pool: Annotated[str, typer.Option(help="flatten (over --max-length tokens), average or max.")] = "average",
    max_length: Annotated[int | None, typer.Option(min=1, help="Tokens a text (default: fitted, reported).")]
    = None,
    embeddings: Annotated[str, typer.Option(
        help="trainable (the default: the best on real reviews), frozen, new-only, or learned (no set; --dim).")]
    = "trainable",
    dim: Annotated[int | None, typer.Option(min=1, help="With --embeddings learned: the vectors' size (16).")]
    = None,
    epochs: Annotated[int, typer.Option(min=1, help="At most this many epochs.")] = 30,
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Rows a step (default: 32, fewer below 160 rows so that an epoch makes five steps).")] = None,
    seed: Annotated[int, typer.Option(help="The same seed gives the same model on CPU.")] = 0,
    validation_split: Annotated[float | None, typer.Option(
        help="Held out for validation (default: 0.2 from 50 rows on), stratified by label.")] = None,
    validation: Annotated[str | None, typer.Option(
        help="Validate on this labelled file instead of a split of DATA.")] = None,
    save_embeddings: Annotated[str | None, typer.Option(
        help="Store the trained vectors as a new set of this name (its parent: the set it was seeded from).")]
    = None,
    early_stop: Annotated[bool, typer.Option("--early-stop/--no-early-stop",
                                             help="Stop when validation loss stops improving.")] = True,
    force: ForceOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress line an epoch on stderr.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Train a text classifier from a stored set, and save it with its preprocessing.

    \b
    Example:
      vecstore train --example tutorial \\
        --set glove-6b-50d --pool flatten \\
        --max-length 4 --out tutorial-model
    """
    from vecstore.io.files import NOTHING_PROTECTED, check_output_folder
    from vecstore.labels import read_labelled, tutorial
    from vecstore.names import check_name

    if (data is None) == (example is None):
        raise InvalidArgumentError("give a DATA file or --example tutorial")
    if example is not None and example != "tutorial":
        raise InvalidArgumentError(f"the shipped example is 'tutorial', not {example!r}")
    learned = embeddings == "learned"
    for given, flag, wanted in ((set_name is not None, "--set", not learned), (dim is not None, "--dim", learned),
                                (validation_split is not None and validation is not None, "--validation-split",
                                 False)):
        if given and not wanted:
            raise InvalidArgumentError(f"{flag} has no effect here" + (
                " (--embeddings learned uses no set)" if flag == "--set" else " (it is for --embeddings learned)"
                if flag == "--dim" else " (--validation gives the validation rows)"))
    if save_embeddings is not None and embeddings == "frozen":
        raise InvalidArgumentError("--save-embeddings with --embeddings frozen: the vectors are not trained")
    read = functools.partial(read_labelled, text_col=text_col, label_col=label_col, multi_label=multi_label,
                             separator=separator, format=table_format)
    labelled = tutorial() if example else read(data)
    held = None if validation is None else read(validation, for_training=False)
    needs_store = not learned or save_embeddings is not None  # (a learned embedding alone needs no store)
    with _store(ctx) if needs_store else contextlib.nullcontext() as store:
        check_output_folder(out, "checksums.json", "model directory", overwrite=force,
                            protected=store.location.protected() if store else NOTHING_PROTECTED)
        word_set = None if learned else store.pick(set_name)
        if save_embeddings is not None and any(s.name == check_name(save_embeddings) for s in store.sets()):
            raise InvalidArgumentError(f"a set named {printable(save_embeddings)} exists; give --save-embeddings "
                                       "another name (vecstore remove NAME frees it)")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _native_stderr_quiet(True):  # (TensorFlow's native start-up messages, and its device probe)
            from vecstore.keras.layers import keras
            from vecstore.keras.training import TrainingOptions, train_classifier

            keras.ops.convert_to_tensor([0.0])
        options = TrainingOptions(pool=pool, max_length=max_length, embeddings=embeddings, dim=dim or 16,
                                  epochs=epochs, batch_size=batch_size, seed=seed, validation_split=validation_split,
                                  early_stop=early_stop)
        # (outside the quiet block: the progress goes to the real stderr)
        classifier = train_classifier(labelled, word_set, options, validation=held,
                                      on_epoch=None if quiet else _print_epoch)
        classifier.save(out, overwrite=force)
        saved = classifier.save_embeddings(store, save_embeddings) if save_embeddings is not None else None
    report = classifier.report
    assert report is not None
    if as_json:
        _print_json({"out": str(out), **report.to_dict()})
        return
    typer.echo(report.summary)
    typer.echo(f"labels ({report.kind}): {', '.join(printable(n) for n in report.labels)}; max length "
               f"{report.max_length}{' (fitted)' if report.max_length_fitted else ''}; {report.epochs_run} epochs")
    found = report.coverage
    typer.echo(f"vocabulary: {report.vocabulary_size - 1:,} words and padding" + (
        f"; found in set {printable(report.set_name)}: {found['found_exact'] + found['found_case_folded']:,} "
        f"({100 * found['coverage']:.1f}%, {found['found_case_folded']:,} by case folding), "
        f"missing {found['missing_count']:,} (zero rows{', trained' if report.embeddings != 'frozen' else ''})"
        if found else ""))
    typer.echo(f"parameters: {report.parameters['trainable']:,} trainable, {report.parameters['frozen']:,} frozen")
    exact = " (exact match: every label of a row right)" if report.kind == "multilabel" else ""
    typer.echo(f"training accuracy{exact} {report.training['accuracy']:.3f} on {report.rows:,} rows")
    if report.validation is not None:
        typer.echo(f"validation accuracy{exact} {report.validation['accuracy']:.3f} on {report.validation_rows:,} "
                   f"rows ({printable(report.validation_from)})")
        _print_metrics(report.validation)
    else:
        typer.echo(f"no validation rows ({report.validation_from.removeprefix('none: ')}): the training accuracy "
                   "says nothing of new texts")
    typer.echo(f"saved {printable_path(out)}" + (f"; trained vectors stored as set {printable(saved.info.name)}"
                                                 if saved is not None else ""))


def _print_epoch(epoch: int, epochs: int, logs: dict[str, float]) -> None:
    """One line an epoch on stderr (stdout keeps the report, or the JSON)."""
    order = sorted(logs, key=lambda name: (name.startswith("val_"), not name.endswith("loss"), name))
    figures = "  ".join(f"{name} {logs[name]:.4f}" for name in order)
    typer.echo(f"epoch {epoch}/{epochs}  {figures}", err=True)


def _print_metrics(measured: dict, most: int = 50) -> None:
    """Per label figures (the ``most`` most frequent labels; ``--json`` has them all) and
    the confusion matrix when it was kept."""
    names = sorted(measured["per_label"], key=lambda n: -measured["per_label"][n]["support"])[:most]
    names = [n for n in measured["per_label"] if n in set(names)]  # (in the labels' own order)
    width = max(5, *(len(printable(n)) for n in names))
    typer.echo(f"  {'label':<{width}}  precision  recall     f1  support")
    for name in names:
        m = measured["per_label"][name]
        typer.echo(f"  {printable(name):<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  "
                   f"{m['support']:7,}")
    if len(measured["per_label"]) > most:
        typer.echo(f"  ... and {len(measured['per_label']) - most:,} less frequent labels (--json has them all)")
    if measured.get("confusion") is not None:
        typer.echo("  confusion (rows: true, columns: predicted): " + "; ".join(
            f"{printable(n)} {row}" for n, row in zip(measured["per_label"], measured["confusion"], strict=True)))


@app.command("evaluate")
@reports_errors
def evaluate_command(
    model_dir: Annotated[Path, typer.Argument(help="A model directory written by vecstore train.")],
    data: Annotated[str, typer.Argument(help="A labelled .csv, .tsv or .jsonl file.")],
    text_col: Annotated[str, typer.Option(help="The column (or JSON key) holding the text.")] = "text",
    label_col: Annotated[str, typer.Option(help="The column (or JSON key) holding the label(s).")] = "label",
    separator: Annotated[str | None, typer.Option(help="What separates a row's labels (multi-label).")] = None,
    table_format: TableFormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure a saved model on a labelled file: accuracy, per label precision, recall
    and F1, and the confusion matrix. The file may hold a single class.

    \b
    Example:
      vecstore evaluate model reviews-test.csv
    """
    from vecstore.keras.model_dir import read_model_dir
    from vecstore.labels import read_labelled

    kind = read_model_dir(model_dir).kind  # (the file is read, and refused, before TensorFlow starts)
    labelled = read_labelled(data, text_col=text_col, label_col=label_col, multi_label=kind == "multilabel",
                             separator=separator, format=table_format, for_training=False)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_quiet(True):
        from vecstore.keras.training import load_classifier

        classifier = load_classifier(model_dir)
        measured = classifier.evaluate(labelled).to_dict()
    if as_json:
        _print_json(measured)
        return
    typer.echo(f"accuracy {measured['accuracy']:.3f} on {measured['rows']:,} rows")
    _print_metrics(measured)


@app.command("predict")
@reports_errors
def predict_command(
    model_dir: Annotated[Path, typer.Argument(help="A model directory written by vecstore train.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input_file: Annotated[str | None, typer.Option(
        "--input", help="Texts: one a line, or a .csv, .tsv or .jsonl file's --text-col ('-': stdin).")] = None,
    text_col: Annotated[str, typer.Option(help="With a table --input: the column (or key) of the text.")] = "text",
    table_format: Annotated[str | None, typer.Option(
        "--format", help="--input's format: lines, csv, tsv or jsonl (default: from its name).")] = None,
    threshold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Multi-label: print every label at least this likely.")] = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Classify texts with a saved model, prepared exactly as in training.

    \b
    Example:
      vecstore predict tutorial-model \\
        "great work" "poor effort"
    """
    from vecstore.io.documents import read_documents

    if bool(texts) == (input_file is not None):
        raise InvalidArgumentError("give texts, or --input FILE, not both")
    batch = list(texts or []) if input_file is None else read_documents(input_file, format=table_format,
                                                                        text_col=text_col).texts
    if not batch:
        raise InvalidArgumentError(f"no texts in {printable_path(input_file or '')}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_quiet(True):  # (TensorFlow's native start-up messages)
        from vecstore.keras.training import load_classifier

        classifier = load_classifier(model_dir)
        probabilities = classifier.predict(batch)
    known = classifier.known_tokens(batch)
    rows = []
    for text, p, seen in zip(batch, probabilities, known.tolist(), strict=True):
        ranked = sorted(zip(classifier.labels, p.tolist(), strict=True), key=lambda lp: -lp[1])
        if classifier.kind == "multilabel":
            ranked = [(label, prob) for label, prob in ranked if prob >= threshold]
        rows.append({"text": text, "known_tokens": seen,
                     "labels": [{"label": label, "probability": prob} for label, prob in ranked]})
    blind = int((known == 0).sum())
    if blind:  # (the model still answers, from the padding alone: its answer says nothing of the text)
        typer.echo(f"{blind:,} of {len(batch):,} texts have no word the model knows; their labels are a guess",
                   err=True)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        shown = ", ".join(f"{printable(x['label'])} {x['probability']:.3f}" for x in row["labels"][:3])
        typer.echo(f"{shown or '(no label over the threshold)'}  {printable(row['text'])}")


IndexKindOption = Annotated[str, typer.Option(help="flat, hnsw, ivf or ivfpq.")]
CollectionFlag = Annotated[bool, typer.Option("--collection", help="NAME is a document collection, not a set.")]


@index_app.command("build")
@reports_errors
def index_build_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The set (or, with --collection, the collection).")],
    kind: IndexKindOption = "hnsw",
    param: Annotated[list[str] | None, typer.Option(
        help="key=value: M, efConstruction, efSearch (hnsw); nlist, nprobe (ivf); nlist, m, nbits, nprobe, "
             "rerank (ivfpq).")] = None,
    collection: CollectionFlag = False,
    as_json: JsonOption = False,
) -> None:
    """Build an index of a set, measure its recall@10 against the exact search on 1,000 of
    the set's rows, and make queries use it.

    \b
    Example:
      vecstore index build glove-6b-50d \\
        --kind hnsw --param efSearch=128
    """
    with _store(ctx) as store, _progress_bar(not as_json and sys.stderr.isatty(), f"building {kind}",
                                             "rows") as bar:
        report = store.build_index(name, kind, _key_values(param), collection=collection, progress=bar)
    if as_json:
        _print_json(report.to_dict())
        return
    typer.echo(_index_line(report))


def _index_line(report) -> str:
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
    with _store(ctx) as store:
        reports = store.index_reports(name)
    if as_json:
        _print_json([r.to_dict() for r in reports])
        return
    for report in reports:
        typer.echo(_index_line(report))


@index_app.command("remove")
@reports_errors
def index_remove_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The set (or, with --collection, the collection).")],
    kind: IndexKindOption = "hnsw",
    collection: CollectionFlag = False,
) -> None:
    """Remove an approximate index (queries then use the next one, or search exactly).

    \b
    Example:
      vecstore index remove glove-6b-50d --kind hnsw
    """
    with _store(ctx) as store:
        removed = store.remove_index(name, kind, collection=collection)
    typer.echo(f"removed the {kind} index of {printable(name)}" if removed else
               f"{printable(name)} has no {kind} index")


@app.command("plot")
@reports_errors
def plot_command(
    ctx: typer.Context,
    words: Annotated[list[str], typer.Argument(help="The words to draw.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The picture to write (.png, .svg or .pdf).")],
    set_name: SetOption = None,
    neighbours: Annotated[int, typer.Option(min=0, help="Also draw each word's K nearest words.")] = 0,
    force: ForceOption = False,
) -> None:
    """Draw words (and their neighbours) on a 2-D map: a PCA projection of their vectors.

    \b
    Example:
      vecstore plot king queen man woman \\
        --neighbours 5 --out map.png
    """
    from vecstore.plot import draw, word_projection

    with _store(ctx) as store:
        protected = store.location.protected()
        from vecstore.io.files import check_output

        check_output(out, overwrite=force, protected=protected)
        name, projection = store.with_set(set_name, lambda s: (s.name, word_projection(s, words,
                                                                                       neighbours=neighbours)))
        draw(projection, out, title=f"{printable(name)}: {len(projection.labels)} words, PCA", overwrite=force,
             protected=protected)
    typer.echo(f"wrote {printable_path(out)} ({len(projection.labels)} words)")


@app.command("docvec")
@reports_errors
def docvec_command(
    ctx: typer.Context,
    documents: Annotated[str, typer.Argument(
        help="One document a line, '-' for stdin, or a .csv/.tsv/.jsonl file (.gz, .bz2 too) with --text-col.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write: .npy (ids beside it), or see --format.")],
    set_name: SetOption = None,
    pool: Annotated[str, typer.Option(help="mean, sum, max, min, idf (IDF-weighted mean) or sif (Arora et al.).")]
    = "mean",
    out_format: Annotated[str, typer.Option("--format", help="npy (with OUT.ids.txt), csv or jsonl.")] = "npy",
    text_col: Annotated[str, typer.Option(help="The column (or JSON key) holding the text.")] = "text",
    id_col: Annotated[str | None, typer.Option(
        help="The column (or JSON key) holding the id (default: the line or row number).")] = None,
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
    from vecstore.io.files import check_output, read_whole
    from vecstore.limits import MAX_VOCABULARY_BYTES

    if (idf_file is not None or save_idf is not None or idf_collection is not None) and pool != "idf":
        raise InvalidArgumentError("--idf, --idf-from and --save-idf go with --pool idf")
    if idf_file is not None and idf_collection is not None:
        raise InvalidArgumentError("give --idf FILE or --idf-from COLLECTION, not both")
    outputs = output_paths(out, out_format) + ([save_idf] if save_idf is not None else [])
    if len({os.path.realpath(path) for path in outputs}) != len(outputs):
        raise InvalidArgumentError("--out and --save-idf must be different files")
    with _store(ctx) as store:
        protected = store.location.protected()
        for path in outputs:  # every output is checked before anything is read or written
            check_output(path, overwrite=force, protected=protected)
        docs = read_documents(documents, text_col=text_col, id_col=id_col)
        idf = None
        if idf_collection is not None:
            idf = store.collection(idf_collection).idf()
        elif idf_file is not None:
            try:
                idf = Idf.from_dict(json.loads(read_whole(idf_file, MAX_VOCABULARY_BYTES, "IDF")))
            except (ValueError, RecursionError) as exc:
                from vecstore.errors import InputFileError

                raise InputFileError(idf_file, f"not an IDF file: {exc}") from None
        elif pool == "idf":
            idf = fit_idf(docs.texts)
        built = store.with_set(set_name, lambda s: s.document_vectors(
            docs.texts, pool=pool, idf=idf, sif_frequency=sif_frequency, case_fold=case_fold))
        written = save_document_vectors(out, docs.ids, built.vectors, out_format, overwrite=force, protected=protected)
        if save_idf is not None and idf is not None:
            from vecstore.io.files import AtomicOutput

            with AtomicOutput(save_idf, overwrite=force, protected=protected) as f:
                f.write(json.dumps(idf.to_dict()).encode())
    if as_json:  # (the documents without a known token by their ids)
        _print_json({"out": [str(p) for p in written], **built.report.to_dict(),
                     "empty": [docs.ids[i] for i in built.report.empty]})
        return
    typer.echo(built.report.summary(docs.ids), err=True)
    typer.echo(f"wrote {', '.join(str(p) for p in written)}")


@contextmanager
def _native_stderr_quiet(enabled: bool) -> Iterator[None]:
    """Send what native code (TensorFlow's C++ logging: CUDA probes, CPU features, absl)
    writes to file descriptor 2 to a temp file while the block runs."""
    if not enabled:
        yield
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError, OSError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@app.command("import-keras")
@reports_errors
def import_keras_command(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="A Keras model file (.keras or .h5).")],
    vocab: Annotated[Path, typer.Option(help="The model's vocabulary (as for `vecstore matrix --vocab`).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the new set.")],
    layer: Annotated[str | None, typer.Option(help="The embedding layer, when the model has several.")] = None,
    parent: Annotated[str | None, typer.Option(
        help="The set the embedding was seeded from (default: read from a vecstore_<uid> layer name).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a set of that name.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show TensorFlow's own log lines.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Store a trained Keras embedding as a set, one vector per vocabulary word.

    The model is loaded with safe_mode=True; padding and OOV rows are dropped.

    \b
    Example:
      vecstore import-keras model.keras \\
        --vocab vocab.txt --name my-embedding
    """
    from vecstore.keras import import_keras
    from vecstore.vocabulary import Vocabulary

    vocabulary = Vocabulary.read(vocab)
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _store(ctx) as store:
        with _native_stderr_quiet(not verbose):
            result = import_keras(store, model, vocabulary, name, layer=layer, parent=parent, replace=replace)
        parent_name = next((s.name for s in store.sets() if s.uid == result.info.parent_uid), None)
    if as_json:
        _print_json({**result.to_dict(), "parent": parent_name})
        return
    info = result.info
    if result.status == "unchanged":
        _print_unchanged(info, "model file")
        return
    typer.echo(f"{printable(info.name)}: {result.status} {info.count:,} words x {info.dim} dims from "
               f"{printable_path(model)}"
               + (f" (seeded from {parent_name})" if parent_name else ""))


@app.command("remove")
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
    with _store(ctx) as store:
        info = store.remove(name)
    if as_json:
        _print_json({"removed": info.name, "count": info.count})
    else:
        typer.echo(f"removed {printable(info.name)} ({info.count:,} words)")


@eval_app.command("analogies")
@reports_errors
def eval_analogies_command(
    ctx: typer.Context,
    questions: Annotated[Path, typer.Argument(help="A word2vec questions-words.txt style file.")],
    set_name: SetOption = None,
    restrict_vocab: RestrictOption = 300_000,
    case_sensitive: CaseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Analogy accuracy per section and overall (as gensim's evaluate_word_analogies).

    \b
    Example:
      vecstore eval analogies \\
        questions-words.txt --set glove-6b-50d
    """
    with _store(ctx) as store, _progress_bar(not as_json and sys.stderr.isatty(), "answering", "questions") as bar:
        report = store.with_set(set_name, lambda s: s.evaluate_analogies(
            questions, restrict_vocab=restrict_vocab, case_insensitive=not case_sensitive, progress=bar))
    if as_json:
        _print_json(report.to_dict())
        return
    width = max(len(s.name) for s in [*report.sections, report.total])
    for s in [*report.sections, report.total]:
        typer.echo(f"{printable(s.name):<{width}}  {100 * s.accuracy:6.2f} %  ({s.correct}/{s.correct + s.incorrect})")
    typer.echo(f"questions skipped for out-of-vocabulary words: {report.oov} of {report.questions}"
               f" ({report.oov_ratio:.1f} %)")


@eval_app.command("similarity")
@reports_errors
def eval_similarity_command(
    ctx: typer.Context,
    pairs: Annotated[Path, typer.Argument(help="A WordSim-353 / SimLex-999 style tab-separated file.")],
    set_name: SetOption = None,
    restrict_vocab: RestrictOption = 300_000,
    case_sensitive: CaseOption = False,
    as_json: JsonOption = False,
) -> None:
    """Spearman (and Pearson) correlation with human similarity judgements.

    \b
    Example:
      vecstore eval similarity \\
        wordsim353.tsv --set glove-6b-50d
    """
    with _store(ctx) as store:
        report = store.with_set(set_name, lambda s: s.evaluate_similarity(
            pairs, restrict_vocab=restrict_vocab, case_insensitive=not case_sensitive))
    if as_json:
        _print_json(report.to_dict())
        return
    typer.echo(f"Spearman {report.spearman:.4f}  Pearson {report.pearson:.4f}  pairs {report.pairs}"
               f"  skipped for out-of-vocabulary words {report.oov} ({report.oov_ratio:.1f} %)")


@db_app.command("upgrade")
@reports_errors
def db_upgrade_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Create the store if needed and apply the schema migrations (also done automatically
    when a store is opened).

    \b
    Example:
      vecstore db upgrade
    """
    with _store(ctx) as store:
        before, now = store.upgrade()
        where = store.location.display()
    if as_json:
        _print_json({"store": where, "from": before, "to": now})
    elif before == now:
        typer.echo(f"{where}: schema already at revision {now}")
    else:
        typer.echo(f"{where}: schema upgraded from {before or 'empty'} to {now}")


def main() -> None:
    app()
