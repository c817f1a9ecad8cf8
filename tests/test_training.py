"""The classifier (issue 11, first part): the tutorial reproduced from the real GloVe, and
a model directory's round trip and tamper check."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from vecstore import InputFileError, InvalidArgumentError
from vecstore.errors import OutputExistsError
from vecstore.keras.training import TrainingOptions, load_classifier, train_classifier
from vecstore.labels import LabelledTexts, tutorial


def test_the_tutorial_frozen_glove_model(glove, tmp_path: Path) -> None:
    classifier = train_classifier(tutorial(), glove, TrainingOptions(pool="flatten", max_length=4,
                                                                     embeddings="frozen", epochs=50))
    report = classifier.report
    assert report is not None
    assert report.parameters == {"frozen": 800, "trainable": 201}  # a (16, 50) frozen embedding, Dense(1) on 200
    assert report.vocabulary_size == 16 and report.training["accuracy"] == 1.0  # 14 words, padding and [UNK]
    assert report.validation is None  # ten rows: no split, and no validation figure pretends otherwise
    texts = ["good work", "poor effort", "an unseen word"]
    saved = classifier.save(tmp_path / "model")
    loaded = load_classifier(saved)
    assert np.allclose(loaded.predict(texts), classifier.predict(texts), atol=1e-6)
    assert loaded.labels == ["0", "1"] and loaded.max_length == 4
    assert classifier.predict(["great work"])[0, 1] > 0.5 and classifier.predict(["poor work"])[0, 0] > 0.5
    with pytest.raises(OutputExistsError):
        classifier.save(saved)
    (saved / "vocabulary.txt").write_text("\nwell\n")  # altered
    with pytest.raises(InputFileError, match=r"vocabulary\.txt: does not match its checksum"):
        load_classifier(saved)
    (saved / "vocabulary.txt").unlink()
    with pytest.raises(InputFileError, match="missing"):
        load_classifier(saved)


def test_training_words_the_set_lacks_start_from_look_alikes_with_oov_similar(glove) -> None:
    # Misspelt training words start from their look-alikes' vectors, and a frozen
    # embedding keeps exactly those rows; zeros leaves them zero.
    from vecstore.labels import labelled

    data = labelled(["greatt work", "excelent effort", "poorr work", "terible effort"] * 3, [1, 1, 0, 0] * 3,
                    source="typos")
    assert not any(w in glove for w in ("greatt", "excelent", "poorr", "terible"))
    options = dict(pool="average", embeddings="frozen", epochs=2, validation_split=0.0)
    similar = train_classifier(data, glove, TrainingOptions(**options, oov="similar"))
    zeros = train_classifier(data, glove, TrainingOptions(**options))
    assert similar.report.coverage["found_similar"] == 4 and zeros.report.coverage["found_similar"] == 0
    expected, found = glove.lookalike_vectors(["greatt", "terible"])
    assert all(found)
    for classifier, rows in ((similar, expected), (zeros, np.zeros_like(expected))):
        weights = classifier.model.get_layer("embedding").get_weights()[0]
        tokens = list(classifier.vocabulary.tokens)
        assert np.allclose(weights[[tokens.index("greatt"), tokens.index("terible")]], rows, atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="oov has no effect here"):
        TrainingOptions(embeddings="learned", oov="similar").check(set_given=False, validation_given=False)


def test_the_tutorial_learned_model() -> None:
    """The tutorial's Embedding(50, 8) -> Flatten -> Dense(1) had 433 parameters: 50 hash
    buckets of 8. The vocabulary built here has the 14 words, padding and [UNK], so 16 x 8
    + 33 (ten rows get no hidden layer unless asked)."""
    epochs: list[tuple[int, int]] = []
    classifier = train_classifier(tutorial(), None, TrainingOptions(pool="flatten", max_length=4, embeddings="learned",
                                                                    dim=8, epochs=50),
                                  on_epoch=lambda epoch, total, figures: epochs.append((epoch, total)))
    report = classifier.report
    assert report is not None
    assert report.parameters == {"frozen": 0, "trainable": 16 * 8 + 8 * 4 + 1}
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
    assert report["parameters"] == {"trainable": 201, "frozen": 800} and report["training"]["accuracy"] == 1.0
    predicted = runner.invoke(app, ["predict", str(out), "great work", "poor effort", "zzyzx qwx", "--json"])
    assert predicted.exit_code == 0, predicted.output
    rows = json.loads(predicted.stdout)
    assert [row["known_tokens"] for row in rows] == [2, 2, 0]
    assert "1 of 3 texts has no word the model knows; its labels are a guess" in predicted.stderr
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


@pytest.fixture(scope="module")
def tutorial_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tutorial's learned model, saved once (tests copy it before changing it)."""
    classifier = train_classifier(tutorial(), None, TrainingOptions(pool="flatten", max_length=4, embeddings="learned",
                                                                    dim=8, epochs=50))
    return classifier.save(tmp_path_factory.mktemp("models") / "tutorial")


def test_every_damaged_or_inconsistent_model_directory_is_one_line(tutorial_model: Path, tmp_path: Path) -> None:
    import hashlib
    import json
    import shutil

    def damaged(change) -> str:
        folder = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
        shutil.copytree(tutorial_model, folder)
        change(folder)
        with pytest.raises(InputFileError) as caught:
            load_classifier(folder)
        assert "\n" not in str(caught.value)
        return str(caught.value)

    def resealed(folder: Path) -> None:  # (checksums rewritten to match: only the consistency checks remain)
        sums = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in json.loads(
            (folder / "checksums.json").read_text())}
        (folder / "checksums.json").write_text(json.dumps(sums))

    def edit_settings(**changes):
        def change(folder: Path) -> None:
            settings = json.loads((folder / "classifier.json").read_text())
            (folder / "classifier.json").write_text(json.dumps({**settings, **changes}))
            resealed(folder)
        return change

    def flip_a_byte(folder: Path) -> None:
        data = bytearray((folder / "model.keras").read_bytes())
        data[len(data) // 2] ^= 1
        (folder / "model.keras").write_bytes(bytes(data))

    assert "model.keras: does not match its checksum" in damaged(flip_a_byte)
    assert "classifier.json: does not match" in damaged(lambda f: (f / "classifier.json").write_text("{}"))
    assert "report.json: missing" in damaged(lambda f: (f / "report.json").unlink())
    assert "not a JSON object of the files' checksums" in damaged(lambda f: (f / "checksums.json").write_text("[]"))
    assert "checksums.json: " in damaged(lambda f: (f / "checksums.json").unlink())
    assert "its input length is 4, and classifier.json" in damaged(edit_settings(max_length=5))
    assert "its outputs is 1" in damaged(edit_settings(kind="multiclass", labels=["0", "1", "2"]))
    assert "not a vecstore classifier's settings (kind 'other')" in damaged(edit_settings(kind="other"))
    assert "(max_length True)" in damaged(edit_settings(max_length=True))
    assert "two or more distinct strings" in damaged(edit_settings(labels=["1", "1"]))

    def one_word_less(folder: Path) -> None:
        (folder / "vocabulary.txt").write_text("".join(f"{t}\n" for t in load_classifier(tutorial_model)
                                                       .vocabulary.tokens[:-1]))
        resealed(folder)

    assert "its vocabulary size is 16, and classifier.json and vocabulary.txt say 15" in damaged(one_word_less)


def test_a_model_directory_is_written_whole_and_never_over_another_folder(tutorial_model: Path,
                                                                          tmp_path: Path) -> None:
    classifier = load_classifier(tutorial_model)
    classifier.report = None
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("keep me")
    with pytest.raises(InputFileError, match="is a folder that is not a model directory"):
        classifier.save(mine, overwrite=True)
    assert (mine / "todo.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputFileError, match="is a file"):
        classifier.save(tmp_path / "file", overwrite=True)
    first = classifier.save(tmp_path / "model")
    replaced = classifier.save(first, overwrite=True)
    assert load_classifier(replaced).labels == ["0", "1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "model", "notes"]  # (no temp folder left)

    def broken_save(path: Path) -> None:
        raise OSError("disk full")

    classifier.model.save = broken_save  # (the model's write fails half way)
    with pytest.raises(OSError):
        classifier.save(tmp_path / "half")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "model", "notes"]


def test_validation_and_evaluation_files(tutorial_model: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from vecstore.cli.app import app
    from vecstore.labels import read_labelled

    runner = CliRunner()
    positives = tmp_path / "positives.csv"
    positives.write_text('text,label\n"great work",1\n"well done",1\n')
    measured = runner.invoke(app, ["evaluate", str(tutorial_model), str(positives), "--json"])
    assert measured.exit_code == 0, measured.output  # (a test set may hold one class)
    assert json.loads(measured.stdout)["per_label"]["1"]["support"] == 2
    unseen = tmp_path / "unseen.csv"
    unseen.write_text('text,label\n"great work",1\n"so so",2\n')
    refused = runner.invoke(app, ["evaluate", str(tutorial_model), str(unseen)])
    assert refused.exit_code == 1
    assert "unseen.csv:3: the label '2' is not one the model was trained on (0, 1)" in refused.output
    with pytest.raises(InputFileError, match=r"unseen\.csv:3: the label '2' is not one"):
        train_classifier(tutorial(), None, TrainingOptions(embeddings="learned", epochs=1),
                         validation=read_labelled(unseen, for_training=False))
    with pytest.raises(InvalidArgumentError, match="not both"):
        train_classifier(tutorial(), None, TrainingOptions(embeddings="learned", epochs=1, validation_split=0.2),
                         validation=read_labelled(positives, for_training=False))
    classifier = train_classifier(tutorial(), None, TrainingOptions(embeddings="learned", epochs=2),
                                  validation=read_labelled(positives, for_training=False))
    assert classifier.report is not None and classifier.report.validation_rows == 2
    assert classifier.report.validation_from.endswith("positives.csv")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    nothing = runner.invoke(app, ["predict", str(tutorial_model), "--input", str(empty)])
    assert nothing.exit_code == 1 and "no texts in" in nothing.output
    table = tmp_path / "new.jsonl"
    table.write_text('{"body": "great work"}\n\n{"body": "poor effort"}\n')
    predicted = runner.invoke(app, ["predict", str(tutorial_model), "--input", str(table), "--text-col", "body",
                                    "--json"])
    assert predicted.exit_code == 0, predicted.output
    assert [row["text"] for row in json.loads(predicted.stdout)] == ["great work", "poor effort"]


def test_multi_label_evaluation_counts_a_row_right_only_with_all_its_labels(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from vecstore.cli.app import app

    data = synthetic("multilabel")
    classifier = train_classifier(data, None, TrainingOptions(embeddings="learned", dim=8, epochs=60, seed=3))
    assert "val_label_accuracy" in classifier.report.history  # (Keras' per-label accuracy while training)
    folder = classifier.save(tmp_path / "topics")
    rows = tmp_path / "topics.jsonl"
    rows.write_text('{"text": "goal team score", "label": ["sport"]}\n'
                    '{"text": "goal team bread soup", "label": ["food", "sport"]}\n')
    measured = CliRunner().invoke(app, ["evaluate", str(folder), str(rows), "--json"])
    assert measured.exit_code == 0, measured.output
    result = json.loads(measured.stdout)
    probabilities = classifier.predict(["goal team score", "goal team bread soup"]) >= 0.5
    names = classifier.labels
    truth = [{"sport"}, {"food", "sport"}]
    expected = sum({names[i] for i in range(len(names)) if p[i]} == t for p, t in zip(probabilities, truth,
                                                                                       strict=True)) / 2
    assert result["accuracy"] == expected and result["confusion"] is None


def test_the_train_command_as_a_user_runs_it(tmp_path: Path) -> None:
    """In a real process: the progress reaches stderr (TensorFlow's native chatter does
    not), the report stdout, and a second run refuses to replace the model unasked."""
    import subprocess
    import sys

    command = [str(Path(sys.executable).with_name("vecstore")), "train", "--example", "tutorial",
               "--embeddings", "learned", "--dim", "8", "--pool", "flatten", "--max-length", "4", "--epochs", "3",
               "--out", str(tmp_path / "model")]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [line for line in done.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in done.stderr.splitlines()] == ["1/3", "2/3", "3/3"]
    assert "parameters: 161 trainable, 0 frozen" in done.stdout and "embedding: (16, 8), learned" in done.stdout
    assert "no validation rows (fewer than 50 rows): the training accuracy says nothing of new texts" in done.stdout
    assert 'Model: "classifier"' in done.stdout  # (Keras' summary of the model, unless --quiet)
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "exists; pass --force" in again.stderr
    from typer.testing import CliRunner  # (--quiet in this process: TensorFlow already started)

    from vecstore.cli.app import app

    quiet = CliRunner().invoke(app, [*command[1:], "--quiet", "--force"])
    assert quiet.exit_code == 0 and quiet.stderr == "" and "Model:" not in quiet.stdout
    assert quiet.stdout.splitlines()[0].startswith("labels (binary): 0, 1; max length 4; 3 epochs")


def test_train_refuses_what_it_would_ignore_before_training(glove_store: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vecstore.cli.app import app

    runner = CliRunner()
    base = ["--store", str(glove_store), "train", "--example", "tutorial", "--out", str(tmp_path / "m")]
    cases = {
        ("--embeddings", "learned", "--set", "glove"): "--set has no effect here",
        ("--set", "glove", "--dim", "8"): "--dim has no effect here",
        ("--set", "glove", "--embeddings", "frozen", "--save-embeddings", "x"): "the vectors are not trained",
        ("--set", "glove", "--save-embeddings", "glove"): "a set named glove exists",  # (the store's state: 1)
        ("--set", "glove", "--validation", str(tmp_path / "v.csv"), "--validation-split", "0.2"):
            "--validation-split has no effect here",
    }
    for extra, message in cases.items():
        refused = runner.invoke(app, [*base, *extra])
        usage = "exists" not in message  # (flags that do not go together: usage errors)
        assert refused.exit_code == (2 if usage else 1) and message in refused.output, (extra, refused.output)
    assert not (tmp_path / "m").exists()


def test_a_large_validation_split_still_leaves_rows_to_train_on() -> None:
    train, held = tutorial().split(0.95, seed=0)
    assert len(train) == 2 and len(held) == 8 and {t[0] for t in train.labels} == {"0", "1"}
