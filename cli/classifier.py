"""The text classifier: train it from a stored set, predict with what it saved, and
measure it on labelled rows. TensorFlow starts only once the inputs are checked."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Annotated, Any

import typer

from vecstore.cli.errors import reports_errors, usage
from vecstore.cli.options import (
    ForceOption,
    JsonOption,
    SetOption,
    TableFormatOption,
    TextColOption,
    open_store,
)
from vecstore.cli.output import print_json
from vecstore.errors import InvalidArgumentError, counted, printable, printable_path

commands = typer.Typer()

ModelArgument = Annotated[Path, typer.Argument(help="A model directory written by vecstore train.")]
LabelColOption = Annotated[str, typer.Option(help="The column (or JSON key) holding the label(s).")]


@commands.command("train")
@reports_errors
def train_command(
    ctx: typer.Context,
    data: Annotated[str | None, typer.Argument(help="A .csv, .tsv or .jsonl file of texts and labels.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The model directory to write.")] = Path("model"),
    example: Annotated[str | None, typer.Option(help="Train on a shipped example instead: tutorial.")] = None,
    set_name: SetOption = None,
    text_col: TextColOption = "text",
    label_col: LabelColOption = "label",
    multi_label: Annotated[bool, typer.Option(help="Several labels a row (a JSON list, or --separator).")] = False,
    table_format: TableFormatOption = None,
    separator: Annotated[str | None, typer.Option(help="With --multi-label: what separates a row's labels.")]
    = None,
    pool: Annotated[str, typer.Option(
        help="mean-max (the mean and the max of the word vectors side by side), idf-mean-max (the vectors "
             "scaled by inverse document frequency in the mean), average, max, or flatten (over --max-length "
             "tokens).")]
    = "mean-max",
    max_length: Annotated[int | None, typer.Option(min=1, help="Tokens a text (default: fitted, reported).")]
    = None,
    embeddings: Annotated[str, typer.Option(
        help="trainable (the default: the best on reviews and news), frozen, new-only, or learned (no set; "
             "--dim).")] = "trainable",
    dim: Annotated[int | None, typer.Option(min=1, help="With --embeddings learned: the vectors' size (16).")]
    = None,
    oov: Annotated[str, typer.Option(
        help="The starting rows of training words the set lacks: zeros, random, mean, similar (from look-alike "
             "known words) or subword (a fastText .bin set), as for matrix.")] = "zeros",
    hidden: Annotated[int | None, typer.Option(
        min=0, help="Units of a ReLU layer before the head (0: none; default: 256 from 1,000 rows on).")] = None,
    dropout: Annotated[float | None, typer.Option(
        min=0.0, max=0.99, help="Dropout around the hidden layer (default: 0.3 with one, else 0).")] = None,
    learning_rate: Annotated[float, typer.Option(min=1e-6, max=1.0, help="Adam's learning rate.")] = 0.001,
    class_weights: Annotated[bool, typer.Option(
        "--class-weights", help="Weigh each class by the inverse of its share of the rows (for imbalanced labels).")]
    = False,
    bigrams: Annotated[int, typer.Option(
        min=0, help="Give up to this many word pairs (seen twice or more) trainable rows of their own.")] = 0,
    tune: Annotated[bool, typer.Option(
        "--tune", help="Train one model for each of 8 settings (pool mean-max or idf-mean-max x hidden 256 or 0 x "
             "learning rate 0.001 or 0.003), keep the best on the validation rows; a line as each trial starts "
             "and ends.")] = False,
    epochs: Annotated[int, typer.Option(
        min=1, help="At most this many epochs (fewer when early stopping ends the training).")] = 100,
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
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress lines (epochs, --tune's trials) on stderr, and no model summary.")]
    = False,
    as_json: JsonOption = False,
) -> None:
    """Train a text classifier from a stored set, and save it with its preprocessing.

    \b
    Example:
      vecstore train --example tutorial \\
        --set glove-6b-50d --pool flatten \\
        --max-length 4 --out tutorial-model
    """
    from vecstore.io.files import NOTHING_PROTECTED
    from vecstore.keras.model_dir import check_model_dir
    from vecstore.keras.options import TrainingOptions, check_unused_name
    from vecstore.labels import read_labelled, tutorial

    if (data is None) == (example is None):
        raise usage("give a DATA file or --example tutorial")
    if example is not None and example != "tutorial":
        raise usage(f"the shipped example is 'tutorial', not {example!r}")
    options = TrainingOptions(pool=pool, max_length=max_length, embeddings=embeddings, dim=dim, hidden=hidden,
                              dropout=dropout, learning_rate=learning_rate, class_weights=class_weights,
                              bigrams=bigrams, epochs=epochs, batch_size=batch_size, seed=seed,
                              validation_split=validation_split, early_stop=early_stop, oov=oov)
    if tune:
        _refuse_tuned_flags(ctx)
    options.check(set_given=set_name is not None, validation_given=validation is not None,
                  save_embeddings=save_embeddings, multi_label=multi_label)
    read = functools.partial(read_labelled, text_col=text_col, label_col=label_col, multi_label=multi_label,
                             separator=separator, format=table_format)
    labelled = tutorial() if example else read(data)
    held = None if validation is None else read(validation, for_training=False)
    if tune and held is None and (validation_split == 0 or (validation_split is None and len(labelled) < 50)):
        raise usage("--tune chooses on validation rows, and there are none (fewer than 50 rows, or "
                    "--validation-split 0): give --validation FILE")
    learned = embeddings == "learned"
    needs_store = not learned or save_embeddings is not None  # (a learned embedding alone needs no store)
    with open_store(ctx) if needs_store else contextlib.nullcontext() as store:
        check_model_dir(out, overwrite=force, protected=store.location.protected() if store else NOTHING_PROTECTED)
        if save_embeddings is not None:
            check_unused_name(store, save_embeddings)
        word_set = None if learned else store.pick(set_name)
        from vecstore.keras.training import train_classifier  # (TensorFlow starts here, quietly)
        from vecstore.keras.tuning import tune_classifier

        if tune:
            classifier = tune_classifier(labelled, word_set, options, validation=held,
                                         on_trial=None if quiet else _print_trial)
        else:
            classifier = train_classifier(labelled, word_set, options, validation=held,
                                          on_epoch=None if quiet else _print_epoch)
        classifier.save(out, overwrite=force)
        saved = classifier.save_embeddings(store, save_embeddings) if save_embeddings is not None else None
    report = classifier.report
    assert report is not None
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        print_json({"out": str(out), **report.to_dict()})
        return
    if not quiet:
        typer.echo(report.summary)
    _print_report(report)
    typer.echo(f"saved {printable_path(out)}" + (f"; trained vectors stored as set {printable(saved.info.name)}"
                                                 if saved is not None else ""))


def _refuse_tuned_flags(ctx: typer.Context) -> None:
    """--tune chooses these itself: one given beside it would be overruled."""
    from vecstore.keras.tuning import TUNE_GRID

    for name in TUNE_GRID:
        source = ctx.get_parameter_source(name)  # (click's ParameterSource, whose home Typer may vendor)
        if source is not None and source.name != "DEFAULT":
            raise usage(f"--tune chooses --{name.replace('_', '-')} itself; leave it out, or leave out --tune")


def _print_trial(trial: int, trials: int, settings: dict[str, Any], result: dict[str, Any] | None) -> None:
    """A line on stderr as a trial starts (its settings) and as it ends (its figures)."""
    shown = ", ".join(f"{name.replace('_', ' ')} {value:g}" if isinstance(value, float) else
                      f"{name.replace('_', ' ')} {value}" for name, value in settings.items())
    if result is None:
        typer.echo(f"trial {trial}/{trials}: {shown} ...", err=True)
    else:
        typer.echo(f"trial {trial}/{trials}: {shown}: validation accuracy {result['validation_accuracy']:.3f}, "
                   f"macro-F1 {result['validation_macro_f1']:.3f} ({counted(result['epochs'], 'epoch')}, "
                   f"{result['seconds']:.1f} s)", err=True)


def _print_report(report: Any) -> None:
    typer.echo(f"labels ({report.kind}): {', '.join(printable(n) for n in report.labels)}; max length "
               f"{report.max_length}{' (fitted)' if report.max_length_fitted else ''}; "
               f"{counted(report.epochs_run, 'epoch')}")
    found = report.coverage
    bigrams = getattr(report, "bigrams", 0)
    words = report.vocabulary_size - 2 - bigrams
    typer.echo(f"vocabulary: {counted(words, 'word')}" + (f", {counted(bigrams, 'bigram')}" if bigrams else "")
               + ", padding and [UNK]" + (
        f"; found in set {printable(report.set_name)}: {found['found_exact'] + found['found_case_folded']:,} "
        f"({100 * found['coverage']:.1f}%, {found['found_case_folded']:,} by case folding), "
        f"missing {found['missing_count']:,} (zero rows{', trained' if report.embeddings != 'frozen' else ''})"
        if found else ""))
    rows, dims = report.embedding_shape
    typer.echo(f"embedding: ({rows}, {dims}), {report.embeddings}")
    typer.echo(f"parameters: {report.parameters['trainable']:,} trainable, {report.parameters['frozen']:,} frozen")
    exact = " (exact match: every label of a row right)" if report.kind == "multilabel" else ""
    if report.trials:
        best = report.trials[0]["settings"]
        typer.echo(f"tuned: the best of {counted(len(report.trials), 'trial')} on the validation rows: " + ", ".join(
            f"{name.replace('_', ' ')} {value}" for name, value in best.items()))
    typer.echo(f"training accuracy{exact} {report.training['accuracy']:.3f}, macro-F1 "
               f"{report.training['macro_f1']:.3f} on {counted(report.rows, 'row')}")
    if report.validation is not None:
        typer.echo(f"validation accuracy{exact} {report.validation['accuracy']:.3f}, macro-F1 "
                   f"{report.validation['macro_f1']:.3f} on {counted(report.validation_rows, 'row')} "
                   f"({printable(report.validation_from)})")
        _print_metrics(report.validation)
    else:
        typer.echo(f"no validation rows ({report.validation_from.removeprefix('none: ')}): the training accuracy "
                   "says nothing of new texts")


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
        typer.echo(f"  ... and {counted(len(measured['per_label']) - most, 'less frequent label')} "
                   "(--json has them all)")
    if measured.get("confusion") is not None:
        typer.echo("  confusion (rows: true, columns: predicted): " + "; ".join(
            f"{printable(n)} {row}" for n, row in zip(measured["per_label"], measured["confusion"], strict=True)))


@commands.command("evaluate")
@reports_errors
def evaluate_command(
    ctx: typer.Context,
    model_dir: ModelArgument,
    data: Annotated[str, typer.Argument(help="A labelled .csv, .tsv or .jsonl file.")],
    text_col: TextColOption = "text",
    label_col: LabelColOption = "label",
    separator: Annotated[str | None, typer.Option(
        help="What separates a row's labels (multi-label; default: the one the model was trained with).")] = None,
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

    saved = read_model_dir(model_dir)  # (the file is read, and refused, before TensorFlow starts)
    labelled = read_labelled(data, text_col=text_col, label_col=label_col, multi_label=saved.kind == "multilabel",
                             separator=separator if separator is not None else saved.separator,
                             format=table_format, for_training=False)
    from vecstore.keras.training import load_classifier

    measured = load_classifier(model_dir).evaluate(labelled).to_dict()
    if as_json:
        print_json(measured)
        return
    typer.echo(f"accuracy {measured['accuracy']:.3f}, macro-F1 {measured['macro_f1']:.3f} on "
               f"{counted(measured['rows'], 'row')}")
    _print_metrics(measured)


@commands.command("predict")
@reports_errors
def predict_command(
    ctx: typer.Context,
    model_dir: ModelArgument,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input_file: Annotated[str | None, typer.Option(
        "--input", help="Texts: one a line, or a .csv, .tsv or .jsonl file's --text-col ('-': stdin).")] = None,
    text_col: Annotated[str, typer.Option(help="With a table --input: the column (or key) of the text.")] = "text",
    format: Annotated[str | None, typer.Option(
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
        raise usage("give texts, or --input FILE, not both")
    batch = list(texts or []) if input_file is None else read_documents(input_file, format=format,
                                                                        text_col=text_col).texts
    if not batch:
        raise InvalidArgumentError(f"no texts in {printable_path(input_file or '')}")
    from vecstore.keras.training import load_classifier

    predicted = load_classifier(model_dir).predictions(batch, threshold)
    blind = sum(p.known_tokens == 0 for p in predicted)
    if blind:  # (the model still answers, from the padding alone: its answer says nothing of the text)
        typer.echo(f"{blind:,} of {counted(len(batch), 'text')} {'has' if blind == 1 else 'have'} no word the model "
                   f"knows; {'its' if blind == 1 else 'their'} labels are a guess", err=True)
    if as_json:
        print_json([p.to_dict() for p in predicted])
        return
    for p in predicted:
        shown = ", ".join(f"{printable(label)} {prob:.3f}" for label, prob in p.labels[:3])
        typer.echo(f"{shown or '(no label over the threshold)'}  {printable(p.text)}")


@commands.command("export-model")
@reports_errors
def export_model_command(
    ctx: typer.Context,
    model_dir: ModelArgument,
    out: Annotated[Path, typer.Argument(help="The folder to write: model.keras and labels.json.")],
    saved_model: Annotated[bool, typer.Option(
        "--saved-model", help="Also write a TensorFlow SavedModel (OUT/saved_model) for serving.")] = False,
    force: ForceOption = False,
) -> None:
    """Write a saved model as a Keras model that takes raw strings: TextVectorization (the
    same vocabulary, standardisation and length) in front of the trained model, one
    probability a label out. It loads without vecstore, with
    keras.saving.load_model(OUT/model.keras, safe_mode=True).

    \b
    Example:
      vecstore export-model tutorial-model tutorial-export
    """
    from vecstore.keras.model_dir import check_export

    protected = open_store(ctx).location.protected()  # (the store is not opened)
    check_export(model_dir, out, overwrite=force, protected=protected)  # (before TensorFlow starts)
    from vecstore.keras.export import export_model

    done = export_model(model_dir, out, saved_model=saved_model, overwrite=force, protected=protected)
    typer.echo(f"wrote {printable_path(done.folder / 'model.keras')}" + (
        f" and {printable_path(done.folder / 'saved_model')}" if done.saved_model else "")
        + f"; outputs: {', '.join(printable(label) for label in done.labels)} ({done.kind})")
