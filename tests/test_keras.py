"""Keras 3: seeded Embedding layers (frozen, trainable, new words only) and trained weights back."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import keras  # the test extra installs TensorFlow: these tests never skip
import numpy as np
import pytest
from test_vocabulary import TUTORIAL_DOCS
from typer.testing import CliRunner

import vecstore.keras as vskeras
from vecstore import InputFileError, InvalidArgumentError, Store
from vecstore.cli.app import app
from vecstore.keras import import_keras
from vecstore.vocabulary import Vocabulary

runner = CliRunner()
LABELS = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype="float32")


@pytest.fixture
def store(glove_store: Path, tmp_path: Path) -> Store:
    """A writable store holding a copy of the real GloVe (the shared one is read-only)."""
    s = Store(tmp_path / "k.db")
    with Store(glove_store) as shared:
        glove = shared.get("glove")
        top = glove.words[:20_000]
        vectors = glove.vectors_of_rows(range(20_000))
    s.import_vectors("glove", top, vectors, source="test copy", source_sha256="0" * 64, format="glove")
    return s


def tutorial_model(layer: keras.layers.Layer, length: int = 4) -> keras.Model:
    """The tutorial's model: Embedding -> Flatten -> Dense(1, sigmoid) (layers made with
    mask_zero=False, as Flatten cannot carry a mask)."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((length,), dtype="int32"), layer, keras.layers.Flatten(),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_frozen_layer_holds_the_matrix(store: Store) -> None:
    vocab = Vocabulary.fit(TUTORIAL_DOCS)
    layer, coverage = vskeras.embedding_layer(store, vocab)
    expected = store.get("glove").embedding_matrix(vocab).matrix
    assert np.array_equal(np.asarray(layer.get_weights()[0]), expected)
    assert layer.trainable is False and layer.mask_zero is True
    assert layer.name == f"vecstore_{store.get('glove').info.uid}"
    assert coverage.found_exact == 14 and coverage.oov_rows == [1]
    layer, _ = vskeras.embedding_layer(store, vocab, mask_zero=False)
    model = tutorial_model(layer)
    model.fit(vocab.encode(TUTORIAL_DOCS, length=4), LABELS, epochs=5, verbose=0)
    assert np.array_equal(np.asarray(layer.get_weights()[0]), expected)  # frozen: unchanged
    assert model.count_params() == 16 * 50 + 201  # the tutorial's frozen (16, 50) embedding + Dense(1)


def test_new_words_only_trains_the_rows_glove_lacks(store: Store) -> None:
    docs = [*TUTORIAL_DOCS[:-1], "Could have done betterrr qwzx"]  # two words GloVe lacks
    vocab = Vocabulary.fit(docs)
    layer, coverage = vskeras.embedding_layer(store, vocab, trainable="new", oov="random", mask_zero=False)
    new_rows = [*sorted(vocab.tokens.index(w) for w in coverage.missing), vocab.oov]
    assert sorted(layer.trainable_rows) == sorted(new_rows)
    before = layer.embeddings.copy()
    assert np.array_equal(before, store.get("glove").embedding_matrix(vocab, oov="random").matrix)
    model = tutorial_model(layer, length=5)
    model.fit(vocab.encode(docs, length=5), LABELS, epochs=20, verbose=0)
    after = layer.embeddings
    pretrained = [i for i in range(len(vocab)) if i not in new_rows]
    assert np.array_equal(after[pretrained], before[pretrained])  # not one bit moved
    moved = [i for i in new_rows if i != vocab.oov]  # (no OOV token occurs in the training texts)
    assert all(not np.array_equal(after[i], before[i]) for i in moved)
    assert len(layer.trainable_weights) == 1 and tuple(layer.trainable_weights[0].shape) == (len(new_rows), 50)


def test_trained_embedding_comes_back_as_a_set(store: Store, tmp_path: Path) -> None:
    vocab = Vocabulary.fit(TUTORIAL_DOCS)
    layer, _ = vskeras.embedding_layer(store, vocab, trainable=True, mask_zero=False)
    model = tutorial_model(layer)
    model.fit(vocab.encode(TUTORIAL_DOCS, length=4), LABELS, epochs=10, verbose=0)
    trained = np.asarray(layer.get_weights()[0])
    assert not np.array_equal(trained, store.get("glove").embedding_matrix(vocab).matrix)  # it did train
    path = tmp_path / "model.keras"
    model.save(path)
    vocab.write(tmp_path / "vocab.txt")
    result = import_keras(store, path, tmp_path / "vocab.txt", "tutorial-trained")
    info = result.info
    assert result.status == "imported" and info.count == 14 and info.dim == 50 and info.format == "keras"
    assert info.parent_uid == store.get("glove").info.uid
    assert info.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    learned = store.get("tutorial-trained")
    assert learned.words == list(vocab.tokens[2:])  # padding and [UNK] dropped
    for index, word in enumerate(vocab.tokens[2:], start=2):
        assert np.array_equal(learned.vector(word), trained[index])
    assert learned.neighbours("good", k=3)  # indexed and queryable like any set
    again = import_keras(store, path, vocab, "tutorial-trained")
    assert again.status == "unchanged"


def test_partly_trainable_layer_saves_loads_and_imports(store: Store, tmp_path: Path) -> None:
    docs = [*TUTORIAL_DOCS[:-1], "Could have done betterrr"]
    vocab = Vocabulary.fit(docs)
    layer, _ = vskeras.embedding_layer(store, vocab, trainable="new", mask_zero=False)
    model = tutorial_model(layer)
    model.fit(vocab.encode(docs, length=4), LABELS, epochs=5, verbose=0)
    expected = layer.embeddings
    model.save(tmp_path / "partly.keras")
    loaded = keras.saving.load_model(tmp_path / "partly.keras", safe_mode=True)
    x = vocab.encode(docs, length=4)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    import_keras(store, tmp_path / "partly.keras", vocab, "partly")
    assert np.array_equal(store.get("partly").vector("betterrr"), expected[vocab.tokens.index("betterrr")])


def test_h5_models_and_layer_choice(store: Store, tmp_path: Path) -> None:
    vocab = Vocabulary.fit(TUTORIAL_DOCS)
    first, _ = vskeras.embedding_layer(store, vocab, name="words_a")
    second = keras.layers.Embedding(len(vocab), 8, name="words_b")
    inputs = keras.Input((4,), dtype="int32")
    merged = keras.layers.Concatenate()([keras.layers.Flatten()(first(inputs)), keras.layers.Flatten()(second(inputs))])
    model = keras.Model(inputs, keras.layers.Dense(1)(merged))
    path = tmp_path / "two.h5"
    model.save(path)
    with pytest.raises(InputFileError, match=r"2 embedding layers \(words_a, words_b\); pass layer= to choose one"):
        import_keras(store, path, vocab, "x")
    with pytest.raises(InputFileError, match="no embedding layer named 'nope'"):
        import_keras(store, path, vocab, "x", layer="nope")
    assert [s.name for s in store.sets()] == ["glove"]  # refused before anything was written
    result = import_keras(store, path, vocab, "b", layer="words_b", parent="glove")
    assert result.info.dim == 8 and result.info.parent_uid == store.get("glove").info.uid
    second_weights = np.asarray(second.get_weights()[0])
    assert np.array_equal(store.get("b").vector("work"), second_weights[vocab.tokens.index("work")])
    assert import_keras(store, path, vocab, "a", layer="words_a").info.parent_uid is None  # named by hand


def test_models_are_loaded_in_safe_mode(store: Store, tmp_path: Path) -> None:
    vocab = Vocabulary.fit(TUTORIAL_DOCS)
    inputs = keras.Input((4,), dtype="int32")
    embedded = keras.layers.Embedding(len(vocab), 4)(inputs)
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(embedded))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(InputFileError, match="cannot load the model"):
        import_keras(store, tmp_path / "lambda.keras", vocab, "unsafe")
    assert [s.name for s in store.sets()] == ["glove"]


def test_a_vocabulary_of_the_wrong_size_is_refused(store: Store, tmp_path: Path) -> None:
    layer, _ = vskeras.embedding_layer(store, Vocabulary.fit(TUTORIAL_DOCS), mask_zero=False)
    tutorial_model(layer).save(tmp_path / "m.keras")
    files_before = sorted((p.name, p.stat().st_size) for p in store.indexes.folder.iterdir())
    with pytest.raises(InvalidArgumentError, match="has 16 rows but the fitted vocabulary has 10 indexes"):
        import_keras(store, tmp_path / "m.keras", Vocabulary.fit(TUTORIAL_DOCS, max_tokens=10), "x")
    with pytest.raises(InputFileError, match="no such model file"):
        import_keras(store, tmp_path / "none.keras", Vocabulary.fit(TUTORIAL_DOCS), "x")
    assert [s.name for s in store.sets()] == ["glove"]  # the store is as it was, and its folder: no leftovers
    assert sorted((p.name, p.stat().st_size) for p in store.indexes.folder.iterdir()) == files_before


def test_textvectorization_layer_as_the_vocabulary(store: Store) -> None:
    vectorizer = keras.layers.TextVectorization(output_sequence_length=4)
    vectorizer.adapt(TUTORIAL_DOCS)
    layer, coverage = vskeras.embedding_layer(store.get("glove"), vectorizer)
    assert coverage.vocabulary_kind == "TextVectorization" and coverage.input_dim == 16
    ids = np.asarray(vectorizer(["good work"]))[0]
    weights = np.asarray(layer.get_weights()[0])
    assert np.array_equal(weights[ids[0]], store.get("glove").vector("good"))
    with pytest.raises(InvalidArgumentError, match="trainable must be"):
        vskeras.embedding_layer(store, vectorizer, trainable="some")


def test_cli_import_keras_and_csv_export(store: Store, tmp_path: Path) -> None:
    vocab = Vocabulary.fit(TUTORIAL_DOCS)
    layer, _ = vskeras.embedding_layer(store, vocab, trainable=True, mask_zero=False)
    model = tutorial_model(layer)
    model.fit(vocab.encode(TUTORIAL_DOCS, length=4), LABELS, epochs=3, verbose=0)
    model.save(tmp_path / "m.keras")
    vocab.write(tmp_path / "vocab.txt")
    location = str(store.location.sqlite_path)
    result = runner.invoke(app, ["--store", location, "import-keras", str(tmp_path / "m.keras"),
                                 "--vocab", str(tmp_path / "vocab.txt"), "--name", "learned", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["status"] == "imported" and report["parent"] == "glove" and report["count"] == 14
    listed = runner.invoke(app, ["--store", location, "sets"])
    assert "m.keras#vecstore_" in listed.output and "(seeded from glove)" in listed.output
    out = tmp_path / "learned.csv"
    exported = runner.invoke(app, ["--store", location, "export", "learned", str(out), "--format", "csv"])
    assert exported.exit_code == 0, exported.output
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["word", *(f"v{i}" for i in range(1, 51))]
    weights = np.asarray(layer.get_weights()[0])
    assert [r[0] for r in rows[1:]] == list(vocab.tokens[2:])
    assert np.array_equal(np.array([r[1:] for r in rows[1:]], dtype=np.float32), weights[2:])
    glove_txt = tmp_path / "learned.txt"
    assert runner.invoke(app, ["--store", location, "export", "learned", str(glove_txt)]).exit_code == 0
    assert glove_txt.read_text().splitlines()[0].split(" ")[0] == vocab.tokens[2]
    bad = runner.invoke(app, ["--store", location, "import-keras", str(tmp_path / "m.keras"),
                              "--vocab", str(tmp_path / "vocab.txt"), "--name", "x", "--layer", "nope"])
    assert bad.exit_code == 1 and "no embedding layer named 'nope'" in bad.output


def test_import_keras_is_quiet_unless_verbose(store: Store, tmp_path: Path) -> None:
    # In a fresh process TensorFlow logs its CUDA probe and CPU features at start-up;
    # the command prints its own result line and nothing else unless --verbose, which sets
    # TensorFlow's own switch (TF_CPP_MIN_LOG_LEVEL) for the library's Keras door to leave
    # it speaking. (The library's first Keras use is quiet for a Python caller too: every
    # docs block runs with an empty stderr, tests/test_docs.py.)
    vocab = Vocabulary.fit(TUTORIAL_DOCS)
    layer, _ = vskeras.embedding_layer(store, vocab, mask_zero=False)
    tutorial_model(layer).save(tmp_path / "m.keras")
    vocab.write(tmp_path / "vocab.txt")
    code = "import sys; from vecstore.cli.app import main; sys.argv = ['vecstore', *sys.argv[1:]]; main()"
    base = [sys.executable, "-c", code, "--store", str(store.location.sqlite_path), "import-keras",
            str(tmp_path / "m.keras"), "--vocab", str(tmp_path / "vocab.txt")]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([*base, "--name", "quiet"], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and quiet.stdout.startswith("quiet: imported 14 words x 50 dims from ")
    verbose = subprocess.run([*base, "--name", "verbose", "--verbose"], capture_output=True, text=True, env=env)
    assert verbose.returncode == 0 and verbose.stdout.startswith("verbose: imported")
    assert verbose.stderr.strip() != ""  # (TensorFlow's own lines: its CPU features, its CUDA probe)

