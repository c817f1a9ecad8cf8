"""Keras in and out: the embedding matrix of a model's vocabulary, and a trained
embedding stored back as a set (import-keras)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vecstore.cli.errors import reports_errors, usage
from vecstore.cli.options import ForceOption, JsonOption, check_outputs, open_store
from vecstore.cli.output import print_json
from vecstore.cli.store import print_unchanged
from vecstore.errors import printable, printable_path

commands = typer.Typer()


@commands.command("matrix")
@reports_errors
def matrix_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="The .npy file to write (input_dim x dim, float32).")],
    set_name: Annotated[str | None, typer.Option("--set", "-s", help="The set to take vectors from "
                                                 "(default: the only set, or the default set).")] = None,
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
        help="Fill the OOV row and missing words with: zeros, random (the set's mean and std), mean, "
             "subword (a fastText .bin set: the vector fastText computes from a word's character n-grams) or "
             "similar (any set: from the known words whose character n-grams look most alike).")
    ] = "zeros",
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
    from vecstore.matrix import save_matrix
    from vecstore.vocabulary import Vocabulary

    if (vocab is None) == (texts is None):
        raise usage("give the vocabulary with --vocab FILE, or texts to fit one with --texts FILE")
    with open_store(ctx) as store:
        check_outputs(store, {"--out": out, "--missing": missing, "--vocab-out": vocab_out}, force=force)
        if texts is not None:
            vocabulary = Vocabulary.fit_file(texts, max_tokens=max_tokens, min_count=min_count)
        else:
            assert vocab is not None
            vocabulary = Vocabulary.read(vocab)
        built = store.with_set(set_name, lambda s: s.embedding_matrix(vocabulary, oov=oov, case_fold=case_fold,
                                                                      seed=seed))
        save_matrix(built, out, missing, overwrite=force, protected=store.location.protected())
        if vocab_out is not None:
            vocabulary.write(vocab_out, overwrite=force)
    if as_json:
        print_json({"out": str(out), **built.coverage.to_dict()})
        return
    typer.echo(built.coverage.summary())
    typer.echo(f"wrote {out}" + (f"; missing words in {missing}" if missing else ""))


@commands.command("import-keras")
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
    if verbose:  # (TensorFlow's own switch: the library keeps it quiet when it is not set)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    with open_store(ctx) as store:
        result = import_keras(store, model, vocabulary, name, layer=layer, parent=parent, replace=replace)
        parent_name = next((s.name for s in store.sets() if s.uid == result.info.parent_uid), None)
    if as_json:
        print_json({**result.to_dict(), "parent": parent_name})
        return
    info = result.info
    if result.status == "unchanged":
        print_unchanged(info, "model file")
        return
    typer.echo(f"{printable(info.name)}: {result.status} {info.count:,} words x {info.dim} dims from "
               f"{printable_path(model)}"
               + (f" (seeded from {parent_name})" if parent_name else ""))
