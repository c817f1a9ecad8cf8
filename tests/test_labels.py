"""Labelled texts for the classifier (issue 11): label kinds, names, targets, an honest
stratified split, and bad training files refused in one line naming the row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vecstore import InputFileError
from vecstore.labels import labelled, read_labelled, tutorial


def test_the_tutorial_is_binary_with_its_labels() -> None:
    data = tutorial()
    assert len(data) == 10 and data.kind == "binary" and data.names == ["0", "1"]
    assert data.targets().tolist() == [1.0] * 5 + [0.0] * 5 and data.targets().dtype == np.float32


@pytest.mark.parametrize(("labels", "kind", "names"), [
    (["fresh", "rotten", "fresh"], "binary", ["fresh", "rotten"]),
    (["True", "False", "True"], "binary", ["False", "True"]),
    ([1, 0, 1], "binary", ["0", "1"]),
    (["a", "b", "c"], "multiclass", ["a", "b", "c"]),
])
def test_label_kinds_and_names(labels: list, kind: str, names: list[str]) -> None:
    data = labelled(["x y", "y z", "z x"], labels)
    assert (data.kind, data.names) == (kind, names)
    assert data.targets().dtype == (np.float32 if kind == "binary" else np.int64)


def test_multi_label_rows_from_lists_or_a_separator(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"text": "a", "tags": ["x", "y"]}, {"text": "b", "tags": ["y"]},
                                                       {"text": "c", "tags": ["z", "x"]}]))
    data = read_labelled(path, label_col="tags", multi_label=True)
    assert data.kind == "multilabel" and data.names == ["x", "y", "z"]
    assert data.targets().tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    joined = labelled(["a", "b"], ["x|y", "z"], multi_label=True, separator="|")
    assert joined.labels == [("x", "y"), ("z",)]


def test_bad_training_files_name_the_row(tmp_path: Path) -> None:
    cases = {
        "no label": ('text,label\n"good",1\n"bad",\n', "m.csv:3: no label"),
        "empty text": ('text,label\n"good",1\n"  ",0\n', "m.csv:3: an empty text"),
        "no such column": ('body,label\n"good",1\n', "m.csv:1: no column 'text'"),
        "one class": ('text,label\n"good",1\n"fine",1\n', "every row has the label '1'"),
        "the wrong column": ("text,label\n" + "".join(f"t{i},l{i}\n" for i in range(60)), "has its own label"),
        "a label too many": ("text,label\n" + "".join(f"t{i},l{i % 10_001}\n" for i in range(20_002)),
                             "10,001 different labels"),
        "no label (JSON Lines)": ('{"text": "good", "label": 1}\n{"text": "bad"}\n', "m.jsonl:2: no key 'label'"),
        "a null label": ('{"text": "good", "label": 1}\n{"text": "bad", "label": null}\n', "m.jsonl:2: no label"),
        "a list for one label": ('{"text": "good", "label": 1}\n{"text": "bad", "label": [0]}\n',
                                 "m.jsonl:2: a list of labels in a single-label file"),
        "empty text (TSV)": ("text\tlabel\ngood\t1\n\t0\n", "m.tsv:3: an empty text"),
        "no label column": ('text,grade\n"good",1\n', "m.csv:1: no column 'label'"),
        "a field too many": ('text,label\n"good",1\ngreat, fun work,1\n',
                             "m.csv:3: 3 fields, more than the header's 2 (an unquoted separator in a text?)"),
        "a lone surrogate (JSON)": ('{"text": "good", "label": 1}\n{"text": "bad \\ud800", "label": 0}\n',
                                    "m.jsonl:2: a lone surrogate"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / ("m.jsonl" if "JSON" in name or "null" in name or "list" in name
                           else "m.tsv" if "TSV" in name else "m.csv")
        path.write_text(content)
        with pytest.raises(InputFileError) as caught:
            read_labelled(path)
        assert message in str(caught.value) and "\n" not in str(caught.value), name


def test_the_split_is_stratified_seeded_and_disjoint() -> None:
    texts = [f"t{i}" for i in range(100)]
    data = labelled(texts, ["a"] * 70 + ["b"] * 20 + ["c"] * 10)
    train, held = data.split(0.2, seed=1)
    assert len(train) + len(held) == 100 and not set(train.texts) & set(held.texts)
    assert sorted(held.labels) == sorted([("a",)] * 14 + [("b",)] * 4 + [("c",)] * 2)
    assert data.split(0.2, seed=1)[1].texts == held.texts and data.split(0.2, seed=2)[1].texts != held.texts
