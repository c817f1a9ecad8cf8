"""Importing GloVe and word2vec text: detection, exact values, and one-line errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import read_text, store_fingerprint, write_lines

from vecstore import InputFileError, SetExistsError, Store
from vecstore.io.readers import ReadOptions


@pytest.fixture(autouse=True, params=["C parser", "Python parser"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs against both parsers: they must agree on values and errors."""
    import vecstore.io.readers

    if request.param == "C parser":
        assert vecstore.io.readers._fastparse is not None, "the C extension was not built"
    else:
        monkeypatch.setattr(vecstore.io.readers, "_fastparse", None)
    return request.param


SMALL = ["the 0.1 0.2 -0.3", "cat 1.5 -2.25 3e-05", "dog -0.5 0.125 7"]
SMALL_VECTORS = np.array([[0.1, 0.2, -0.3], [1.5, -2.25, 3e-05], [-0.5, 0.125, 7]], dtype=np.float32)


def test_glove_text_values_are_exact(tmp_path: Path) -> None:
    parsed = read_text(write_lines(tmp_path / "small.txt", SMALL))
    assert parsed.format == "glove"
    assert parsed.words == ["the", "cat", "dog"]
    np.testing.assert_array_equal(parsed.vectors, SMALL_VECTORS)
    assert parsed.sha256 == hashlib.sha256((tmp_path / "small.txt").read_bytes()).hexdigest()


def random_decimal(rng: np.random.Generator) -> str:
    """A decimal token of a random shape: sign, 0-9 integer digits (leading zeros too),
    an optional point with 0-10 fraction digits, sometimes an exponent."""
    digits = "".join(rng.choice(list("0123456789"), size=int(rng.integers(0, 10))))
    if rng.random() < 0.8:
        digits += "." + "".join(rng.choice(list("0123456789"), size=int(rng.integers(0, 11))))
    if not any(c.isdigit() for c in digits):
        digits = "0" + digits
    exponent = f"e{int(rng.integers(-20, 21))}" if rng.random() < 0.15 else ""
    return str(rng.choice(["", "-", "+"], p=[0.5, 0.45, 0.05])) + digits + exponent


def test_every_number_shape_is_rounded_correctly_to_float32(tmp_path: Path) -> None:
    # The C parser has a branch-free path for short decimals and a general one; both,
    # and the Python parser, must give the correctly rounded float32 of every token.
    rng = np.random.default_rng(2026)
    rows = [[random_decimal(rng) for _ in range(7)] for _ in range(3000)]
    lines = [f"w{i} " + " ".join(tokens) for i, tokens in enumerate(rows)]
    parsed = read_text(write_lines(tmp_path / "shapes.txt", lines))
    # float() rounds correctly to float64; rounding that to float32 rounds twice, which
    # differs from one correct rounding only for a decimal within 2**-53 of a float32
    # midpoint (about one token in 2**29): none of these fixed, seeded tokens.
    expected = np.array([[float(t) for t in tokens] for tokens in rows]).astype(np.float32)
    np.testing.assert_array_equal(parsed.vectors, expected)
    assert np.array_equal(np.signbit(parsed.vectors), np.signbit(expected))  # -0 stays -0


def test_word2vec_header_is_detected(tmp_path: Path) -> None:
    parsed = read_text(write_lines(tmp_path / "small.w2v.txt", ["3 3", *SMALL]))
    assert parsed.format == "word2vec"
    assert parsed.words == ["the", "cat", "dog"]
    np.testing.assert_array_equal(parsed.vectors, SMALL_VECTORS)


def test_a_two_dimensional_glove_line_of_integers_is_not_a_header_when_forced(tmp_path: Path) -> None:
    # "3 3" looks like a header; --format glove reads it as the word "3" with one value.
    parsed = read_text(write_lines(tmp_path / "ints.txt", ["3 3", "4 4"]), ReadOptions(format="glove"))
    assert parsed.words == ["3", "4"]
    np.testing.assert_array_equal(parsed.vectors, [[3.0], [4.0]])


def test_crlf_and_missing_final_newline(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "crlf.txt", b"the 0.1 0.2 -0.3\r\ncat 1.5 -2.25 3e-05\r\ndog -0.5 0.125 7")
    parsed = read_text(path)
    assert parsed.words == ["the", "cat", "dog"]
    np.testing.assert_array_equal(parsed.vectors, SMALL_VECTORS)


def test_non_ascii_words_are_utf8(tmp_path: Path) -> None:
    parsed = read_text(write_lines(tmp_path / "u.txt", ["café 1 2", "naïve 3 4", "東京 5 6"]))
    assert parsed.words == ["café", "naïve", "東京"]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (["the 0.1 0.2 -0.3", "cat 1.5 -2.25", "dog 1 2 3"], 2, "expected 3 values after 'cat', found 2"),
        (["the 0.1 0.2 -0.3", "cat 1.5 abc 3"], 2, "value 2 of 'cat' is 'abc', not a number"),
        (["the 0.1 0.2 -0.3", "cat 1.5 nan 3"], 2, "value 2 of 'cat' is 'nan', not a finite number"),
        (["the 0.1 0.2 -0.3", "dog 1 2 3", "cat 1.5 2 -Infinity"], 3, "value 3 of 'cat' is '-Infinity', not a finite"),
        (["the 0.1 0.2 -0.3", "cat 1.5 2 1e39"], 2, "value 3 of 'cat' is '1e39', beyond the float32 range"),
        (["the 0.1 0.2 -0.3", "cat 1_000 2 3"], 2, "value 1 of 'cat' is '1_000', not a number"),
        (["the 0.1 0.2 -0.3", "cat 0x1p3 2 3"], 2, "value 1 of 'cat' is '0x1p3', not a number"),
        (["the 0.1 0.2 -0.3", "cat 1  2 3"], 2, "value 1 of 'cat 1' is '', not a number"),
        (["the 0.1 0.2 -0.3", "cat 1 2\t3"], 2, "expected 3 values after 'cat', found 2"),
        (["the 0.1 0.2 -0.3", "cat 1 2 1e"], 2, "value 3 of 'cat' is '1e', not a number"),
        (["the 0.1 0.2 -0.3", "", "cat 1 2 3"], 2, "empty line"),
        (["the 0.1 0.2 -0.3", " 1 2 3"], 2, "the word is empty"),
        (["the 0.1 0.2 -0.3", "   1 2 3"], 2, "the word is empty"),
        (["5 3", *SMALL], 1, "the header says 5 vectors but the file has 3"),
        (["3 4", *SMALL], 2, "expected 4 values after 'the', found 3"),
        (["the"], 1, "expected a word followed by its vector values"),
    ],
)
def test_malformed_files_name_file_line_and_fault(tmp_path: Path, content: list[str], line: int,
                                                  message: str) -> None:
    path = write_lines(tmp_path / "bad.txt", content)
    with pytest.raises(InputFileError) as caught:
        read_text(path)
    assert caught.value.line == line
    assert message in caught.value.reason
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(caught.value)


def test_invalid_utf8_names_the_line_and_byte(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "latin1.txt", "the 1 2\ncaf\xe9 3 4\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"latin1\.txt:2: not valid UTF-8 \(byte 0xe9 at column 4\)"):
        read_text(path)
    replaced = read_text(path, ReadOptions(encoding_errors="replace"))
    assert replaced.words == ["the", "caf\ufffd"]
    np.testing.assert_array_equal(replaced.vectors, [[1, 2], [3, 4]])


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b""), "empty file"),
])
def test_unreadable_sources(tmp_path: Path, setup, message: str) -> None:
    path = tmp_path / "x.txt"
    setup(path)
    with pytest.raises(InputFileError, match=message):
        read_text(path)


@pytest.mark.both_backends
def test_failed_import_leaves_the_store_exactly_as_it_was(tmp_path: Path) -> None:
    store = Store()
    store.import_file(write_lines(tmp_path / "good.txt", SMALL), "good")
    before = store_fingerprint()
    bad = write_lines(tmp_path / "bad.txt", [*SMALL[:2], "dog 1 2 x"])
    with pytest.raises(InputFileError, match=r"bad\.txt:3"):
        store.import_file(bad, "bad")
    with pytest.raises(InputFileError):
        store.import_file(bad, "good", replace=True)
    assert store_fingerprint() == before
    assert [s.name for s in store.sets()] == ["good"]
    np.testing.assert_array_equal(store.get("good").matrix(), SMALL_VECTORS)


@pytest.mark.both_backends
def test_reimport_of_the_same_source_is_a_no_op(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "good.txt", SMALL)
    store = Store()
    first = store.import_file(path, "small")
    before = store_fingerprint()
    again = store.import_file(path, "small")
    assert (first.status, again.status) == ("imported", "unchanged")
    assert again.info.uid == first.info.uid
    assert store_fingerprint() == before


@pytest.mark.both_backends
def test_other_content_under_an_existing_name_needs_replace(tmp_path: Path) -> None:
    store = Store()
    store.import_file(write_lines(tmp_path / "a.txt", SMALL), "small")
    changed = write_lines(tmp_path / "b.txt", [*SMALL[:2], "dog 9 9 9"])
    with pytest.raises(SetExistsError, match="replace=True"):
        store.import_file(changed, "small")
    result = store.import_file(changed, "small", replace=True)
    assert result.status == "replaced"
    np.testing.assert_array_equal(store.get("small").vector("dog"), [9, 9, 9])
    assert len(store.sets()) == 1


@pytest.mark.both_backends
def test_default_set_name_is_the_file_stem(tmp_path: Path) -> None:
    result = Store().import_file(write_lines(tmp_path / "glove.6B.3d.txt", SMALL))
    assert result.info.name == "glove.6B.3d"
