"""A small, bounded grid of training options tried on the same validation rows; the best
model is kept.

:func:`tune_classifier` trains one model for each combination of :data:`TUNE_GRID` (or
the grid given), every one on the same training rows and scored on the same validation
rows, and returns the one with the best validation accuracy (ties: the better validation
macro-F1, then the earlier combination), its report listing every trial. The test rows a user holds back are never
seen, so its test figure stays honest.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from vecstore.errors import InvalidArgumentError
from vecstore.keras.options import TrainingOptions

if TYPE_CHECKING:
    from vecstore.keras.training import Classifier
    from vecstore.labels import LabelledTexts
    from vecstore.query import EmbeddingSet

#: What ``vecstore train --tune`` tries: the levers that moved accuracy in ``make
#: bench-train`` (docs/classifier.md), each at two values: 8 trainings. (IDF weights gain
#: 4 points on 20 Newsgroups and lose 1 to 2 on reviews: the data decides.)
TUNE_GRID: dict[str, tuple[Any, ...]] = {"pool": ("mean-max", "idf-mean-max"), "hidden": (256, 0),
                                         "learning_rate": (0.001, 0.003)}
#: The most trials a grid may make.
MAX_TRIALS = 32


def tune_classifier(data: LabelledTexts, embedding_set: EmbeddingSet | None, options: TrainingOptions | None = None,
                    *, grid: Mapping[str, Sequence[Any]] | None = None, validation: LabelledTexts | None = None,
                    on_trial: Callable[[int, int, dict[str, Any], dict[str, Any] | None], None] | None = None,
                    ) -> Classifier:
    """The best of one training per combination of ``grid`` (option name -> values),
    the other options those of ``options``. ``on_trial(trial, trials, settings, result)``
    is called before each trial (``result`` None) and after it (its validation accuracy,
    macro-F1, epochs and seconds)."""
    from vecstore.keras.training import _fit, _split, check_request

    base = options or TrainingOptions()
    grid = dict(grid if grid is not None else TUNE_GRID)
    # (the embedding and its set are chosen together, and the seed and split are the trials' common ground)
    fields = set(TrainingOptions.__dataclass_fields__) - {"seed", "validation_split", "embeddings", "dim", "oov"}
    for name, values in grid.items():
        if name not in fields:
            raise InvalidArgumentError(f"{name!r} is not a training option a grid may vary (those are "
                                       f"{', '.join(sorted(fields))})", subject="grid")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise InvalidArgumentError(f"{name!r} needs a list of values to try, not {values!r}", subject="grid")
    combinations = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    if len(combinations) > MAX_TRIALS:
        raise InvalidArgumentError(f"makes {len(combinations):,} trials, more than the {MAX_TRIALS} a tuning may "
                                   "make", subject="grid")
    trials = []
    for combination in combinations:  # (each checked before any training)
        try:
            trials.append(replace(base, **combination))
        except TypeError:
            raise InvalidArgumentError(f"{combination!r} holds a value of the wrong type", subject="grid") from None
        check_request(data, embedding_set, trials[-1], validation)
    train, held, validation_from = _split(data, validation, base)
    if held is None:
        raise InvalidArgumentError(f"needs validation rows to choose by, and there are none ({validation_from})",
                                   subject="tune")
    best: Classifier | None = None
    best_result: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    for number, (combination, trial) in enumerate(zip(combinations, trials, strict=True), start=1):
        if on_trial is not None:
            on_trial(number, len(trials), combination, None)
        classifier = _fit(data, train, held, validation_from, embedding_set, trial, None, time.perf_counter())
        report = classifier.report
        assert report is not None and report.validation is not None
        result = {"settings": combination, "validation_accuracy": report.validation["accuracy"],
                  "validation_macro_f1": report.validation["macro_f1"], "epochs": report.epochs_run,
                  "seconds": report.seconds}
        results.append(result)
        if on_trial is not None:
            on_trial(number, len(trials), combination, result)
        if best is None or _ranked(result) > _ranked(best_result):
            best, best_result = classifier, result
    assert best is not None and best.report is not None
    best.report.trials = sorted(results, key=_ranked, reverse=True)  # (stable: ties keep the grid's order)
    return best


def _ranked(result: dict[str, Any]) -> tuple[float, float]:
    return result["validation_accuracy"], result["validation_macro_f1"]
