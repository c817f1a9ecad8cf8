"""The classifier (issue 11, first part): the tutorial reproduced from the real GloVe, and
a model directory's round trip and tamper check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vecstore import InputFileError
from vecstore.keras.training import TrainingOptions, load_classifier, train_classifier
from vecstore.labels import tutorial


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
