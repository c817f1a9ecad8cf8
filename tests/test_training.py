"""The classifier (issue 11, first part): the tutorial reproduced from the real GloVe, and
a model directory's round trip and tamper check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vecstore import InputFileError
from vecstore.keras.training import TrainingOptions, load_classifier, train_classifier
from vecstore.labels import LabelledTexts, tutorial


def test_the_tutorial_frozen_glove_model(glove, tmp_path: Path) -> None:
    classifier = train_classifier(tutorial(), glove, TrainingOptions(pool="flatten", max_length=4,
                                                                     embeddings="frozen", epochs=50))
    report = classifier.report
    assert report is not None
    assert report.parameters == {"frozen": 750, "trainable": 201}  # a (15, 50) frozen embedding, Dense(1) on 200
    assert report.vocabulary_size == 15 and report.training["accuracy"] == 1.0
    assert report.validation is None  # ten rows: no split, and no validation figure pretends otherwise
    texts = ["good work", "poor effort", "an unseen word"]
    saved = classifier.save(tmp_path / "model")
    loaded = load_classifier(saved)
    assert np.allclose(loaded.predict(texts), classifier.predict(texts), atol=1e-6)
    assert loaded.labels == ["0", "1"] and loaded.max_length == 4
    with pytest.raises(Exception, match="not empty"):
        classifier.save(saved)
    (saved / "vocabulary.txt").write_text("\nwell\n")  # altered
    with pytest.raises(InputFileError, match=r"vocabulary\.txt: does not match its checksum"):
        load_classifier(saved)
    (saved / "vocabulary.txt").unlink()
    with pytest.raises(InputFileError, match="missing"):
        load_classifier(saved)


def test_the_tutorial_learned_model() -> None:
    """The tutorial's Embedding(50, 8) -> Flatten -> Dense(1) had 433 parameters: 50 hash
    buckets of 8. The vocabulary built here has the 14 words and padding, so 15 x 8 + 33."""
    epochs: list[tuple[int, int]] = []
    classifier = train_classifier(tutorial(), None, TrainingOptions(pool="flatten", max_length=4, embeddings="learned",
                                                                    dim=8, epochs=50),
                                  on_epoch=lambda epoch, total, figures: epochs.append((epoch, total)))
    report = classifier.report
    assert report is not None
    assert report.parameters == {"frozen": 0, "trainable": 15 * 8 + 8 * 4 + 1}
    assert report.training["accuracy"] == 1.0 and report.batch_size == 2  # ten rows: five steps an epoch
    assert epochs == [(i, 50) for i in range(1, 51)]


def synthetic(kind: str) -> LabelledTexts:
    from vecstore.labels import labelled

    rng = np.random.default_rng(0)
    topics = {"sport": ["goal", "match", "team", "score"], "food": ["bread", "cheese", "soup", "wine"],
              "music": ["song", "band", "guitar", "album"]}
    texts, labels = [], []
    for i in range(120):
        names = list(topics)[:2] if kind == "binary" else list(topics)
        chosen = [names[i % len(names)]] if kind != "multilabel" else sorted({names[i % 3], names[(i // 3) % 3]})
        words = [w for name in chosen for w in rng.choice(topics[name], 3)]
        texts.append(" ".join(rng.permutation(words)))
        labels.append(chosen if kind == "multilabel" else chosen[0])
    return labelled(texts, labels, multi_label=kind == "multilabel")


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_each_label_kind_trains_validates_and_predicts_its_names(kind: str, tmp_path: Path) -> None:
    data = synthetic(kind)
    options = TrainingOptions(embeddings="learned", dim=8, epochs=60, seed=3)
    classifier = train_classifier(data, None, options)
    report = classifier.report
    assert report is not None and report.kind == kind and report.validation_rows == 24  # 0.2 of 120, stratified
    assert report.validation is not None  # (multi-label accuracy counts a row right only with all its labels)
    assert report.validation["accuracy"] >= (0.7 if kind == "multilabel" else 0.9)
    assert set(report.validation["per_label"]) == set(data.names)
    loaded = load_classifier(classifier.save(tmp_path / kind))
    probabilities = loaded.predict(["goal team score", "soup bread wine"])
    assert probabilities.shape == (2, len(data.names))
    assert np.allclose(probabilities, classifier.predict(["goal team score", "soup bread wine"]), atol=1e-6)


def test_a_seed_gives_the_same_model() -> None:
    data = synthetic("binary")
    weights = [train_classifier(data, None, TrainingOptions(embeddings="learned", dim=4, epochs=5, seed=7))
               .model.get_weights() for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


def test_train_and_predict_commands(glove_store: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner
    from vecstore.cli.app import app

    runner = CliRunner()
    out = tmp_path / "tutorial-model"
    done = runner.invoke(app, ["--store", str(glove_store), "train", "--example", "tutorial", "--set", "glove",
                               "--embeddings", "frozen", "--pool", "flatten", "--max-length", "4", "--epochs", "50",
                               "--out", str(out), "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert "epoch 50/50  loss " in done.stderr  # progress on stderr, the report alone on stdout
    assert report["parameters"] == {"trainable": 201, "frozen": 750} and report["training"]["accuracy"] == 1.0
    predicted = runner.invoke(app, ["predict", str(out), "great work", "poor effort", "zzyzx qwx", "--json"])
    assert predicted.exit_code == 0, predicted.output
    rows = json.loads(predicted.stdout)
    assert [row["known_tokens"] for row in rows] == [2, 2, 0]
    assert "1 of 3 texts have no word the model knows" in predicted.stderr
    expected = load_classifier(out).predict(["great work", "poor effort", "zzyzx qwx"])
    for row, p in zip(rows, expected, strict=True):
        assert {x["label"]: round(x["probability"], 5) for x in row["labels"]} == {"0": round(float(p[0]), 5),
                                                                                 "1": round(float(p[1]), 5)}
    labelled_file = tmp_path / "ev.csv"
    labelled_file.write_text('text,label\n"good work",1\n"poor effort",0\n"well done",1\n')
    measured = runner.invoke(app, ["evaluate", str(out), str(labelled_file), "--json"])
    assert measured.exit_code == 0, measured.output
    assert json.loads(measured.stdout)["rows"] == 3 and len(json.loads(measured.stdout)["confusion"]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text('text,label\n"good",1\n"",0\n')
    refused = runner.invoke(app, ["--store", str(glove_store), "train", str(bad), "--set", "glove",
                                  "--out", str(tmp_path / "m2")])
    assert refused.exit_code == 1 and "bad.csv:3: an empty text" in refused.output


def test_trained_vectors_are_stored_back_with_their_parent(glove_store: Path, tmp_path: Path) -> None:
    import shutil

    from vecstore import Store

    path = tmp_path / "s.db"
    shutil.copy(glove_store, path)
    store = Store(path)
    glove = store.get("glove")
    classifier = train_classifier(tutorial(), glove, TrainingOptions(pool="flatten", max_length=4,
                                                                     embeddings="trainable", epochs=20))
    result = classifier.save_embeddings(store, "tuned")
    tuned = store.get("tuned")
    assert result.info.parent_uid == glove.info.uid and len(tuned) == 14 and "work" in tuned
    weights = classifier.model.get_layer("embedding").get_weights()[0]
    assert np.array_equal(tuned.vector("work"), weights[classifier.vocabulary.tokens.index("work")])
