"""fastText binary models (issue 19): the words, their vectors and the n-gram rows of a
``.bin`` are imported, and a word the set lacks gets the vector fastText gives it, equal
to gensim's ``FastTextKeyedVectors`` to 1e-6; hostile ``.bin`` files are refused in one
line with the store unchanged.

The model is trained here by gensim on the Lee background corpus gensim's wheel ships
(``gensim/test/test_data/lee_background.cor``, 300 news texts; LGPL-2.1 with gensim) and
saved in Facebook's format by ``gensim.models.fasttext.save_facebook_model``.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vecstore import InputFileError, InvalidArgumentError, Store
from vecstore.cli.app import app
from vecstore.errors import CorruptionError
from vecstore.subwords import ngram_buckets

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """(path of the .bin, gensim's KeyedVectors): 24 dims, n-grams of 3 to 5 characters
    hashed into 20,000 buckets, trained for three epochs on the Lee corpus."""
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess

    with open(datapath("lee_background.cor"), encoding="utf-8") as f:
        texts = [simple_preprocess(line) for line in f]
    model = FastText(vector_size=24, window=3, min_count=2, bucket=20_000, min_n=3, max_n=5, seed=1, workers=1)
    model.build_vocab(corpus_iterable=texts)
    model.train(corpus_iterable=texts, total_examples=len(texts), epochs=3)
    path = tmp_path_factory.mktemp("fasttext") / "lee.bin"
    save_facebook_model(model, str(path))
    return path, model.wv


@pytest.fixture(scope="module")
def imported(trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = trained
    store_path = tmp_path_factory.mktemp("fasttext-store") / "store.db"
    with Store(store_path) as store:
        store.import_file(path, "lee")
    return store_path


def unseen_words(known: list[str], count: int, seed: int = 0) -> list[str]:
    """Words the model never saw: real words misspelt (a letter dropped, doubled or
    swapped), joined, capitalised, non-ASCII, and short ones."""
    rng = np.random.default_rng(seed)
    vocabulary = set(known)
    out: list[str] = ["a", "zz", "q", "naïve", "café", "日本語", "\U0001f600smile", "x" * 40]
    while len(out) < count:
        word = known[int(rng.integers(len(known)))]
        way = int(rng.integers(5))
        i = int(rng.integers(len(word)))
        made = [word[:i] + word[i + 1:], word[:i] + word[i] + word[i:], word + known[int(rng.integers(len(known)))],
                word.capitalize() + "s", word[::-1]][way]
        if made and made not in vocabulary and made not in out:
            out.append(made)
    return [w for w in out if w not in vocabulary][:count]


def test_every_stored_word_and_a_thousand_unseen_words_get_gensims_vectors(trained, imported: Path) -> None:
    _, kv = trained
    with Store(imported) as store:
        lee = store.get("lee")
        assert lee.words == kv.index_to_key and lee.info.format == "fasttext-bin"
        assert lee.subwords is not None and lee.subwords.to_dict() == {"minn": 3, "maxn": 5, "bucket": 20_000}
        stored = lee.matrix()
        assert np.abs(stored - kv.vectors).max() <= 1e-6  # (the word's row and its n-grams', as fastText gives them)
        unseen = unseen_words(kv.index_to_key, 1_000)
        assert len(unseen) == 1_000
        computed = lee.subword_vectors(unseen)
        expected = np.stack([kv.get_vector(w) for w in unseen])
        assert np.abs(computed - expected).max() <= 1e-6
        for word in unseen[:50]:  # (through each door a word comes in by)
            assert word not in lee and lee.computed(word)
            assert np.abs(lee.vector(word) - kv.get_vector(word)).max() <= 1e-6
        assert abs(lee.similarity(unseen[10], "government") - float(kv.similarity(unseen[10], "government"))) < 1e-5
        assert not lee.computed("government")


def test_an_unseen_words_neighbours_are_the_exact_neighbours_of_its_subword_vector(trained, imported: Path) -> None:
    _, kv = trained
    with Store(imported) as store:
        lee = store.get("lee")
        matrix = lee.matrix()
        unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        asked = unseen_words(kv.index_to_key, 20, seed=3)
        batch = lee.neighbours_many(asked, k=5)
        for word, many in zip(asked, batch.results, strict=True):
            query = kv.get_vector(word)
            scores = unit @ (query / np.linalg.norm(query))
            best = [kv.index_to_key[i] for i in np.argsort(-scores, kind="stable")[:5]]
            single = lee.neighbours(word, k=5)
            assert many == single, word
            # (the model is small and barely trained: its cosines crowd near 1, so ties
            # within float32 rounding may swap places; every hit is among the exact best)
            fifth = float(np.sort(scores)[-5])
            for hit in single:
                row = kv.key_to_index[hit.word]
                assert abs(hit.score - float(scores[row])) < 1e-5 and scores[row] >= fifth - 1e-5, (word, hit)
            assert [h.word for h in single][:1] == best[:1] or abs(single[0].score - float(scores.max())) < 1e-5
        hits = lee.analogy("government", "australia", asked[0], k=3)
        assert len(hits) == 3 and all(h.word not in ("government", "australia") for h in hits)


def test_matrix_oov_subword_fills_the_missing_words_and_counts_them_apart(trained, imported: Path) -> None:
    _, kv = trained
    unseen = unseen_words(kv.index_to_key, 30, seed=5)
    vocabulary = ["government", "australia", "Police", *unseen]
    with Store(imported) as store:
        lee = store.get("lee")
        built = lee.embedding_matrix(vocabulary, oov="subword")
        zeros = lee.embedding_matrix(vocabulary)
    tokens = list(vocabulary)
    for i, word in enumerate(tokens):
        if word in unseen:
            assert np.abs(built.matrix[i] - kv.get_vector(word)).max() <= 1e-6
    report = built.coverage
    assert (report.found_exact, report.found_case_folded, report.found_subword) == (2, 1, 30)
    assert report.missing == [] and zeros.coverage.missing == unseen and zeros.coverage.found_subword == 0
    assert "30 more computed from their subwords" in report.summary()
    assert report.to_dict()["found_subword"] == 30


def test_the_commands_say_which_words_were_computed(trained, imported: Path, tmp_path: Path) -> None:
    _, kv = trained
    word = unseen_words(kv.index_to_key, 1, seed=7)[0]
    base = ["--store", str(imported)]
    done = runner.invoke(app, [*base, "vector", word, "--set", "lee", "--json"])
    assert done.exit_code == 0, done.output
    found = json.loads(done.stdout)
    assert found["from_subwords"] is True and np.abs(np.array(found["vector"]) - kv.get_vector(word)).max() <= 1e-6
    assert f"{word} is not in set 'lee': its vector is computed from character n-grams" in done.stderr
    near = runner.invoke(app, [*base, "neighbours", word, "--set", "lee", "-k", "3"])
    assert near.exit_code == 0 and len(near.stdout.splitlines()) == 3 and "computed from character" in near.stderr
    known = runner.invoke(app, [*base, "neighbours", "government", "--set", "lee", "-k", "3"])
    assert known.exit_code == 0 and known.stderr == ""
    texts = tmp_path / "t.txt"
    texts.write_text(f"the government said {word}\n", encoding="utf-8")
    matrix = runner.invoke(app, [*base, "matrix", "--set", "lee", "--texts", str(texts), "--out",
                                 str(tmp_path / "m.npy"), "--oov", "subword"])
    assert matrix.exit_code == 0, matrix.output
    assert "1 more computed from their subwords" in matrix.output and "missing 0" in matrix.output


def test_oov_subword_on_a_set_without_subwords_is_a_usage_error(glove_store: Path, tmp_path: Path) -> None:
    with Store(glove_store) as store, pytest.raises(InvalidArgumentError, match="no subword model"):
        store.get("glove").embedding_matrix(["king", "kingz"], oov="subword")
    texts = tmp_path / "t.txt"
    texts.write_text("the kingz\n")
    done = runner.invoke(app, ["--store", str(glove_store), "matrix", "--set", "glove", "--texts", str(texts),
                               "--out", str(tmp_path / "m.npy"), "--oov", "subword"])
    assert done.exit_code == 2 and done.output.count("\n") == 1 and "--oov" in done.output


def test_damaged_ngram_rows_are_found_by_check_and_never_used(trained, tmp_path: Path) -> None:
    store_path = tmp_path / "store.db"
    with Store(store_path) as store:
        store.import_file(trained[0], "lee")
    with sqlite3.connect(store_path) as db:
        (data,) = db.execute("SELECT data FROM ngram_chunks WHERE chunk_no = 1").fetchone()
        damaged = bytearray(data)
        damaged[12] ^= 0x10
        db.execute("UPDATE ngram_chunks SET data = ? WHERE chunk_no = 1", (bytes(damaged),))
    with Store(store_path) as store:
        report = store.check()
        assert not report.ok and any("n-gram chunk 1: fails its checksum" in f.message for f in report.findings)
        lee = store.get("lee")
        per = lee.info.rows_per_chunk
        word = next(w for w in unseen_words(lee.words, 500, seed=9)
                    if any(b // per == 1 for b in ngram_buckets(w, 3, 5, 20_000)))
        with pytest.raises(CorruptionError, match="n-gram chunk 1 fails its checksum"):
            lee.vector(word)
    with sqlite3.connect(store_path) as db:  # (a setting edited: the model's checksum no longer matches)
        db.execute("UPDATE ngram_chunks SET data = ? WHERE chunk_no = 1", (bytes(data),))
        db.execute("UPDATE subword_models SET maxn = 6")
    with Store(store_path) as store, pytest.raises(CorruptionError, match="do not match their recorded checksum"):
        store.get("lee").vector("zzqqxx")


# -- hostile files ---------------------------------------------------------------------------


def _header_offsets(data: bytes) -> dict[str, int]:
    """Where the fields a hostile file edits are (after the magic and version)."""
    args = 8
    dictionary = args + struct.calcsize("<12id")
    return {"dim": args, "bucket": args + 8 * 4, "minn": args + 9 * 4, "maxn": args + 10 * 4,
            "entries": dictionary, "nwords": dictionary + 4, "nlabels": dictionary + 8, "pruned": dictionary + 20}


def _matrix_at(data: bytes) -> int:
    """The offset of the quant_input flag (after the dictionary's last entry)."""
    offsets = _header_offsets(data)
    (entries,) = struct.unpack_from("<i", data, offsets["entries"])
    at = offsets["entries"] + struct.calcsize("<3i2q")
    for _ in range(entries):
        at = data.index(b"\0", at) + 1 + 9
    return at


def hostile_files(original: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, what the one-line refusal says)."""
    offsets = _header_offsets(original)

    def edited(field: str, fmt: str, value: int) -> bytes:
        data = bytearray(original)
        struct.pack_into(fmt, data, offsets[field], value)
        return bytes(data)

    quant = bytearray(original)
    quant[_matrix_at(original)] = 1
    not_utf8 = bytearray(original)
    first_word = offsets["entries"] + struct.calcsize("<3i2q")
    not_utf8[first_word] = 0xFF
    return {
        "wrong magic": (b"\x01\x02\x03\x04" + original[4:], "not valid UTF-8"),  # (then it is no model)
        "an unknown version": (original[:4] + struct.pack("<i", 99) + original[8:], "format version 99"),
        "absurd dimensions": (edited("dim", "<i", 1 << 30), "dimensions"),
        "zero dimensions": (edited("dim", "<i", 0), "dimensions"),
        "absurd buckets": (edited("bucket", "<i", 2_000_000_000), "n-gram buckets"),
        "negative buckets": (edited("bucket", "<i", -5), "n-gram buckets"),
        "a bucket count the matrix lacks": (edited("bucket", "<i", 30_000), "the header asks for"),
        "n-grams longer than they can be": (edited("maxn", "<i", 1_000), "n-grams of"),
        "minn above maxn": (edited("minn", "<i", 9), "n-grams of"),
        "absurd entries": (edited("entries", "<i", 2_000_000_000), "dictionary header is inconsistent"),
        "more words than entries": (edited("nwords", "<i", 1 << 28), "dictionary header is inconsistent"),
        "a supervised model": (_supervised(original, offsets), "supervised"),
        "a pruned model": (edited("pruned", "<q", 12), "pruned"),
        "a quantized model (.ftz)": (bytes(quant), "quantized"),
        "a word that is not UTF-8": (bytes(not_utf8), "is not UTF-8"),
    }


def _supervised(original: bytes, offsets: dict[str, int]) -> bytes:
    data = bytearray(original)
    (entries,) = struct.unpack_from("<i", data, offsets["entries"])
    struct.pack_into("<i", data, offsets["nwords"], entries - 3)
    struct.pack_into("<i", data, offsets["nlabels"], 3)
    return bytes(data)


def test_hostile_models_are_refused_in_one_line_and_leave_the_store_unchanged(trained, tmp_path: Path) -> None:
    path, _ = trained
    original = path.read_bytes()
    store_path = tmp_path / "store.db"
    with Store(store_path) as store:
        store.import_file(path, "kept")
        before = store.sets()
    cases = hostile_files(original)
    matrix_at = _matrix_at(original)
    for cut in (8, 40, 60, 80, 200, matrix_at - 3, matrix_at + 5, len(original) // 2, len(original) - 4):
        cases[f"truncated at {cut:,} bytes"] = (original[:cut], "truncated")
    for name, (data, message) in cases.items():
        bad = tmp_path / "bad.bin"
        bad.write_bytes(data)
        with Store(store_path) as store:
            with pytest.raises(InputFileError) as refused:
                store.import_file(bad, "bad")
            assert message in str(refused.value) and "\n" not in str(refused.value), (name, str(refused.value))
            assert str(refused.value).startswith(str(bad)), name
            assert store.sets() == before, name
    done = subprocess.run([str(Path(sys.executable).with_name("vecstore")), "--store", str(store_path), "import",
                           str(tmp_path / "bad.bin")], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "truncated" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_compressed_model_is_refused_with_what_to_do(trained, tmp_path: Path) -> None:
    import gzip

    path, _ = trained
    packed = tmp_path / "lee.bin.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    with Store(tmp_path / "store.db") as store:
        with pytest.raises(InputFileError, match="a fastText binary model compressed with gzip: decompress it first"):
            store.import_file(packed)
        with pytest.raises(InvalidArgumentError, match="only limit applies"):
            from vecstore.io.readers import ReadOptions

            store.import_file(path, options=ReadOptions(lowercase=True))
        limited = store.import_file(path, "top", options=ReadOptions(limit=100))
        assert limited.info.count == 100 and store.get("top").subwords is not None
        assert store.import_file(path, "top", options=ReadOptions(limit=100)).status == "unchanged"


def test_documents_of_a_fasttext_set_pool_the_subword_vectors_of_the_words_it_lacks(trained, imported: Path) -> None:
    _, kv = trained
    unseen = unseen_words(kv.index_to_key, 5, seed=11)
    texts = ["the government said", " ".join(unseen), "police " + unseen[0]]
    with Store(imported) as store:
        pooled = store.get("lee").document_vectors(texts, pool="mean")
    expected = [np.mean([kv.get_vector(w) for w in text.split()], axis=0) for text in texts]
    assert np.abs(pooled.vectors - np.stack(expected)).max() <= 1e-5
    report = pooled.report
    assert report.from_subwords == 5 and report.unknown_tokens == 0 and report.unknown_distinct == 0
    assert "5 distinct from their subwords" in report.summary()


def test_facebooks_own_fasttext_gives_the_same_vectors(trained, imported: Path) -> None:
    # fastText's Python binding (the fasttext-wheel build of Facebook's 0.9.2, in the test
    # extra where a wheel exists) reads the same .bin: its get_word_vector, for stored and
    # unseen words, equals vecstore's.
    fasttext = pytest.importorskip("fasttext")
    path, kv = trained
    model = fasttext.load_model(str(path))
    with Store(imported) as store:
        lee = store.get("lee")
        for word in lee.words[:500] + unseen_words(kv.index_to_key, 500, seed=13):
            assert np.abs(lee.vector(word) - model.get_word_vector(word)).max() <= 1e-6, word


def write_model(path: Path, words: list[str], dim: int = 4, bucket: int = 50, minn: int = 2, maxn: int = 3,
                pruned: int = -1, seed: int = 0) -> np.ndarray:
    """A small fastText .bin in Facebook's format (random rows): its input matrix."""
    rows = np.random.default_rng(seed).normal(size=(len(words) + bucket, dim)).astype("<f4")
    with path.open("wb") as f:
        f.write(struct.pack("<2i", 793712314, 12) + struct.pack("<12id", dim, 5, 5, 1, 5, 1, 1, 2, bucket, minn,
                                                                 maxn, 100, 1e-4))
        f.write(struct.pack("<3i2q", len(words), len(words), 0, 1000, pruned))
        for word in words:
            f.write(word.encode() + b"\0" + struct.pack("<qb", 10, 0))
        f.write(b"\0" + struct.pack("<2q", *rows.shape) + rows.tobytes())
        f.write(b"\0" + struct.pack("<2q", len(words), dim) + np.zeros((len(words), dim), "<f4").tobytes())
    return rows


def test_the_end_of_sentence_token_keeps_its_own_row_as_fasttext_does(tmp_path: Path) -> None:
    # fastText gives </s> (its end-of-sentence token, first in every real model) no n-grams.
    path = tmp_path / "eos.bin"
    rows = write_model(path, ["</s>", "cat", "dog"])
    with Store(tmp_path / "s.db") as store:
        store.import_file(path, "m")
        m = store.get("m")
        assert np.array_equal(m.vector("</s>"), rows[0])
        grams = ngram_buckets("cat", 2, 3, 50)
        expected = (rows[1] + rows[3 + np.array(grams)].sum(axis=0)) / np.float32(len(grams) + 1)
        assert np.abs(m.vector("cat") - expected).max() <= 1e-6
    fasttext = pytest.importorskip("fasttext")
    model = fasttext.load_model(str(path))
    with Store(tmp_path / "s.db") as store:
        m = store.get("m")
        for word in ["</s>", "cat", "dog", "cats", "zebra"]:
            assert np.abs(m.vector(word) - model.get_word_vector(word)).max() <= 1e-6, word


def test_models_without_ngrams_or_words(tmp_path: Path) -> None:
    for name, options, has in (("pruned to nothing", {"pruned": 0}, False), ("no buckets", {"bucket": 0}, False),
                               ("maxn 0", {"minn": 0, "maxn": 0}, False), ("full", {}, True)):
        path = tmp_path / "m.bin"
        rows = write_model(path, ["cat", "dog"], **options)
        with Store(tmp_path / f"{len(name)}.db") as store:
            store.import_file(path, "m", replace=True)
            m = store.get("m")
            assert (m.subwords is not None) == has, name
            if not has:  # (fastText gives such a model's words their own rows)
                assert np.array_equal(m.vector("cat"), rows[0]) and "zebra" not in m and not m.computed("zebra")
    write_model(tmp_path / "empty.bin", [])
    with Store(tmp_path / "e.db") as store, pytest.raises(InputFileError, match="a fastText model of no words"):
        store.import_file(tmp_path / "empty.bin")


def test_a_plain_model_with_a_forced_format_or_a_member_is_told_why(trained, tmp_path: Path) -> None:
    from vecstore.io.readers import ReadOptions

    path, _ = trained
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(InputFileError, match="a fastText binary model, read as one only when no format is "
                                                 "forced \\(not glove\\)"):
            store.import_file(path, options=ReadOptions(format="glove"))
        with pytest.raises(InvalidArgumentError, match="member has no effect on a fastText model"):
            store.import_file(path, options=ReadOptions(member="x"))
        assert store.exists() is False or store.sets() == []


def test_a_lost_subword_model_is_found_and_a_damaged_one_refused_every_time(trained, tmp_path: Path) -> None:
    store_path = tmp_path / "store.db"
    with Store(store_path) as store:
        store.import_file(trained[0], "lee")
    with sqlite3.connect(store_path) as db:
        db.execute("UPDATE subword_models SET bucket = 1073741824")
    with Store(store_path) as store:
        lee = store.get("lee")
        for _ in range(2):  # (not forgotten after the first refusal)
            with pytest.raises(CorruptionError, match="do not match their recorded checksum"):
                lee.vector("zzqqxx")
        report = store.check()  # (the settings against the checksum first: no million chunk reads)
        assert any("checksum does not match its n-gram settings and chunks" in f.message for f in report.findings)
    with sqlite3.connect(store_path) as db:
        db.execute("DELETE FROM subword_models")
    with Store(store_path) as store:
        assert any("its subword model is missing from the store" in f.message for f in store.check().findings)
        with pytest.raises(CorruptionError, match="its subword model is missing"):
            store.get("lee").vector("zzqqxx")
