"""Export writes every format back; import -> export -> import is bit-identical."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_lines
from typer.testing import CliRunner

import vecstore.io.export
import vecstore.io.readers
from vecstore import InvalidArgumentError, Store
from vecstore.cli.app import app
from vecstore.io.export import export_set


@pytest.fixture(scope="module")
def glove(glove_store: Path):
    with Store(glove_store) as store:
        yield store.get("glove")


@pytest.mark.parametrize("format", ["glove", "word2vec", "word2vec-binary"])
def test_real_glove_round_trips_bit_identically(glove, glove_text: Path, tmp_path: Path, format: str) -> None:
    out = tmp_path / f"out.{format}.txt.gz"
    result = export_set(glove, out, format)
    assert result.rows == 400_000
    store = Store(tmp_path / "again.db")
    again = store.import_file(out, "again")
    assert again.info.format == format
    back = store.get("again")
    assert back.words == glove.words
    assert np.array_equal(back.matrix().view(np.uint32), glove.matrix().view(np.uint32))


def test_glove_export_reproduces_the_stanford_text(glove, glove_text: Path, tmp_path: Path) -> None:
    # The values were printed by Stanford with 6 significant digits: shortest-float32 printing gives them back.
    out = export_set(glove, tmp_path / "glove.txt", "glove").path
    assert out.read_bytes() == glove_text.read_bytes()


def test_npy_export_writes_the_matrix_and_the_words(glove, tmp_path: Path) -> None:
    result = export_set(glove, tmp_path / "glove.npy", "npy")
    assert np.array_equal(np.load(result.path, allow_pickle=False), glove.matrix())
    assert result.words_path is not None
    assert result.words_path.read_text(encoding="utf-8").splitlines() == glove.words


@pytest.mark.parametrize("parser", ["C", "Python"])
def test_awkward_values_and_words_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parser: str) -> None:
    if parser == "Python":
        monkeypatch.setattr(vecstore.io.export, "_fastparse", None)
        monkeypatch.setattr(vecstore.io.readers, "_fastparse", None)
    rng = np.random.default_rng(11)
    vectors = np.concatenate([rng.normal(size=(50, 4)), rng.normal(scale=1e-30, size=(5, 4)),
                              rng.normal(scale=1e30, size=(5, 4))]).astype(np.float32)
    vectors[0] = [0.0, -0.0, np.float32(1 / 3), np.finfo(np.float32).tiny]
    words = ["at home", "a\u00a0b", "x\u0085y", "東京", *(f"w{i}" for i in range(56))]
    lines = [f"{w} " + " ".join(f"{v:.9g}" for v in row) for w, row in zip(words, vectors.tolist(), strict=True)]
    store = Store()
    store.import_file(write_lines(tmp_path / "in.txt", lines), "odd")
    original = store.get("odd")
    assert np.array_equal(original.matrix().view(np.uint32), vectors.view(np.uint32))
    export_set(original, tmp_path / "out.txt", "glove")
    store.import_file(tmp_path / "out.txt", "back")
    back = store.get("back")
    assert back.words == words
    assert np.array_equal(back.matrix().view(np.uint32), vectors.view(np.uint32))
    with pytest.raises(InvalidArgumentError, match="'at home' holds a space"):
        export_set(original, tmp_path / "out.bin", "word2vec-binary")
    assert not (tmp_path / "out.bin").exists()


def test_export_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    source = write_lines(tmp_path / "w.txt", ["a 1 2", "b 3.5 -4"])
    assert runner.invoke(app, ["import", str(source), "--name", "w"]).exit_code == 0
    result = runner.invoke(app, ["export", "w", str(tmp_path / "w.w2v.txt"), "--format", "word2vec", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 2
    assert (tmp_path / "w.w2v.txt").read_text() == "2 2\na 1 2\nb 3.5 -4\n"
    bad = runner.invoke(app, ["export", "w", str(tmp_path / "x"), "--format", "tsv"])
    assert bad.exit_code == 2 and "--format must be one of glove, word2vec" in bad.stderr and "not 'tsv'" in bad.stderr


def test_csv_export_quotes_words_and_round_trips_values(tmp_path: Path) -> None:
    import csv

    words = ["plain", "comma,word", 'say "hi"', "padded "]
    lines = [f"{w} 0.1 -3e-05" for w in words[:3]]
    store = Store(tmp_path / "s.db")
    store.import_file(write_lines(tmp_path / "w.txt", lines), "w")
    # a word ending in a space (the vector is the last fields; the other lines give the dim)
    store.import_file(write_lines(tmp_path / "p.txt", [f"{words[3]} 1.5 2", "x 1 2", "y 3 4"]), "p")
    export_set(store.get("w"), tmp_path / "w.csv", "csv")
    with (tmp_path / "w.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["word", "v1", "v2"]
    assert [r[0] for r in rows[1:]] == words[:3]
    assert np.array_equal(np.array([r[1:] for r in rows[1:]], dtype=np.float32), store.get("w").matrix())
    export_set(store.get("p"), tmp_path / "p.csv", "csv")
    with (tmp_path / "p.csv").open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f))[1] == ["padded ", "1.5", "2"]
