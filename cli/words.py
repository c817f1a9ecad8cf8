"""Queries of a word set: neighbours (one or a batch), similarity, analogy, vector, plot,
and the eval group (analogy and word-similarity benchmarks).

This is the cold query's path: it imports nothing at the top but Typer and vecstore's
light modules; each command imports what it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vecstore.cli.errors import EXIT_CODES, reports_errors, usage
from vecstore.cli.options import (
    ExactFlag,
    ForceOption,
    JsonOption,
    KOption,
    PictureOption,
    SearchOption,
    SetOption,
    key_values,
    open_store,
)
from vecstore.cli.output import neighbours_json_lines, note, on_terminal, print_json, print_neighbours, progress_bar
from vecstore.errors import counted, listed, printable, printable_path

commands = typer.Typer()
eval_app = typer.Typer(
    help="Evaluate a set on analogy or word-similarity benchmarks.\n\n"
    "\b\nExample:\n  vecstore eval analogies \\\n    questions-words.txt --set glove-6b-50d",
    no_args_is_help=True, epilog=EXIT_CODES)

RestrictOption = Annotated[int, typer.Option(help="Use only the first N (most frequent) words, as gensim.")]
CaseOption = Annotated[bool, typer.Option("--case-sensitive", help="Do not fold case (gensim folds by default).")]


@commands.command("neighbours")
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
    search: SearchOption = None,
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
    from vecstore.io.queries import read_vector

    if sum(x is not None for x in (word, vector, input_file, vectors)) != 1:
        raise usage("give one of: a word, --vector FILE, --input FILE, --vectors FILE.npy")
    parameters = key_values(search, "search")
    if input_file is not None or vectors is not None:
        _batch_neighbours(ctx, set_name, k, input_file, vectors, as_json, exact or None, parameters)
        return
    query = read_vector(vector) if vector is not None else None
    with open_store(ctx) as store:
        name, hits, computed = store.with_set(set_name, lambda s: (
            s.name, s.neighbours(word, vector=query, k=k, exact=exact or None, search=parameters),
            _computed(s, [word])))
    print_neighbours(hits, as_json)
    _say_if_fewer(hits, k, name)
    _say_computed(computed, name)


def _batch_neighbours(ctx: typer.Context, set_name: str | None, k: int, input_file: str | None,
                      vectors_file: Path | None, as_json: bool, exact: bool | None,
                      search: dict[str, str] | None) -> None:
    """Answer many queries, a batch at a time, printing as the answers come: one line a
    query (``word: n1 0.8236, n2 ...``), or one JSON list streamed item by item."""
    import numpy as np

    from vecstore.io.documents import read_documents
    from vecstore.io.files import read_npy_matrix
    from vecstore.query import query_batch

    words = read_documents(input_file, format="lines").texts if input_file is not None else None
    matrix = read_npy_matrix(vectors_file) if vectors_file is not None else None
    total = len(words) if words is not None else len(matrix)
    unknown: list[str] = []
    with open_store(ctx) as store:
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
                typer.echo(("\n" if start == 0 else ",\n") + ",\n".join(neighbours_json_lines(answers, start)),
                           nl=False)
                continue
            for i, (query, hits) in enumerate(zip(answers.queries, answers.results, strict=True)):
                label = printable(query) if words is not None else f"#{start + i}"
                shown = "(not in the set)" if hits is None else ", ".join(
                    f"{printable(h.word)} {h.score:.4f}" for h in hits)
                typer.echo(f"{label}: {shown}")
        if as_json:
            typer.echo("\n]")
        if unknown:
            note(f"{len(unknown):,} of {counted(total, 'word')} {'is' if len(unknown) == 1 else 'are'} not in set "
                 f"{embedding_set.name!r}: {listed(unknown)}")


def _computed(embedding_set: Any, words: list[str | None]) -> list[str]:
    """The words of a query that a fastText set lacks and computes from their subwords."""
    return [w for w in words if w is not None and embedding_set.computed(w)]


def _say_computed(words: list[str], set_name: str) -> None:
    if words:
        note(f"{listed(words)} {'is' if len(words) == 1 else 'are'} not in set {set_name!r}: "
             f"{'its vector is' if len(words) == 1 else 'their vectors are'} computed from character n-grams, "
             "as fastText does")


def _say_if_fewer(hits: list[Any], k: int, set_name: str) -> None:
    if len(hits) < k:
        note(f"set {set_name!r} has only {counted(len(hits), 'other word')}; showing all of them "
             f"(-k {k:,} asked for more)")


@commands.command("similarity")
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
    with open_store(ctx) as store:
        name, score, computed = store.with_set(set_name, lambda s: (s.name, s.similarity(first, second),
                                                                    _computed(s, [first, second])))
    _say_computed(computed, name)
    if as_json:
        print_json({"first": first, "second": second, "score": score})
    else:
        typer.echo(f"{score:.4f}")


@commands.command("analogy")
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
    with open_store(ctx) as store:
        name, hits, computed = store.with_set(set_name, lambda s: (s.name, s.analogy(a, b, c, k=k),
                                                                   _computed(s, [a, b, c])))
    print_neighbours(hits, as_json)
    _say_if_fewer(hits, k, name)
    _say_computed(computed, name)


@commands.command("vector")
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
    with open_store(ctx) as store:
        name, values, computed = store.with_set(set_name, lambda s: (s.name, s.vector(word), _computed(s, [word])))
    _say_computed(computed, name)
    if as_json:
        # str() of a float32 is its shortest exact decimal: the JSON round-trips bit for bit.
        print_json({"word": word, "vector": [float(str(v)) for v in values], "from_subwords": bool(computed)})
    else:
        typer.echo(" ".join(str(v) for v in values))


@commands.command("plot")
@reports_errors
def plot_command(
    ctx: typer.Context,
    words: Annotated[list[str], typer.Argument(help="The words to draw.")],
    out: PictureOption,
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
    from vecstore.io.files import check_output
    from vecstore.plot import draw, word_projection

    with open_store(ctx) as store:
        protected = store.location.protected()
        check_output(out, overwrite=force, protected=protected)
        name, projection = store.with_set(set_name, lambda s: (s.name, word_projection(s, words,
                                                                                       neighbours=neighbours)))
        draw(projection, out, title=f"{printable(name)}: {counted(len(projection.labels), 'word')}, PCA",
             overwrite=force, protected=protected)
    typer.echo(f"wrote {printable_path(out)} ({counted(len(projection.labels), 'word')})")


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
    with open_store(ctx) as store, progress_bar(on_terminal(as_json), "answering", "questions") as bar:
        report = store.with_set(set_name, lambda s: s.evaluate_analogies(
            questions, restrict_vocab=restrict_vocab, case_insensitive=not case_sensitive, progress=bar))
    if as_json:
        print_json(report.to_dict())
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
    with open_store(ctx) as store:
        report = store.with_set(set_name, lambda s: s.evaluate_similarity(
            pairs, restrict_vocab=restrict_vocab, case_insensitive=not case_sensitive))
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(f"Spearman {report.spearman:.4f}  Pearson {report.pearson:.4f}  pairs {report.pairs}"
               f"  skipped for out-of-vocabulary words {report.oov} ({report.oov_ratio:.1f} %)")
