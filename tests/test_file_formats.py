"""Real files' oddities, every format and compression, streamed in blocks, with both parsers."""

from __future__ import annotations

import bz2
import gzip
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import read_text, write_lines

import vecstore.io.readers
from vecstore import InputFileError, Store
from vecstore.io.readers import ReadOptions

ROWS = [("the", [0.1, 0.2, -0.3]), ("cat", [1.5, -2.25, 3e-05]), ("dog", [-0.5, 0.125, 7.0])]
GLOVE_LINES = [f"{w} " + " ".join(repr(v) for v in vec) for w, vec in ROWS]
VECTORS = np.array([vec for _, vec in ROWS], dtype=np.float32)


@pytest.fixture(autouse=True, params=["C parser", "Python parser"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "Python parser":
        monkeypatch.setattr(vecstore.io.readers, "_fastparse", None)
    else:
        assert vecstore.io.readers._fastparse is not None, "the C extension was not built"
    return request.param


@pytest.fixture(params=["one block", "tiny blocks"])
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run twice: whole, and cut into 64-byte blocks so rows and errors straddle block edges."""
    if request.param == "tiny blocks":
        monkeypatch.setattr(vecstore.io.readers, "BLOCK_BYTES", 64)
    return request.param


def word2vec_binary(rows: list[tuple[str, list[float]]], *, newline: bool = True) -> bytes:
    out = f"{len(rows)} {len(rows[0][1])}\n".encode()
    for word, vec in rows:
        out += word.encode() + b" " + struct.pack(f"<{len(vec)}f", *vec) + (b"\n" if newline else b"")
    return out


def test_words_with_spaces_take_the_vector_from_the_right(tmp_path: Path, blocks: str) -> None:
    # GloVe 840B has lines like ". . . 0.1 ..." and "at home 0.1 ...": the last dim fields are the vector.
    parsed = read_text(write_lines(tmp_path / "840b.txt", ["the 1 2 3", "at home 4 5 6", ". . . 7 8 9"]))
    assert parsed.words == ["the", "at home", ". . ."]
    np.testing.assert_array_equal(parsed.vectors, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])


def test_unicode_spaces_are_word_characters(tmp_path: Path, blocks: str) -> None:
    words = ["a\u00a0b", "x\u0085y", "tab\u2003em", "ok"]
    parsed = read_text(write_lines(tmp_path / "u.txt", [f"{w} 1 2" for w in words]))
    assert parsed.words == words


def test_bom_crlf_trailing_spaces_and_no_final_newline(tmp_path: Path, blocks: str) -> None:
    raw = b"\xef\xbb\xbf" + b"\r\n".join(line.encode() + b" " for line in GLOVE_LINES)
    parsed = read_text(write_lines(tmp_path / "odd.txt", raw))
    assert parsed.words == ["the", "cat", "dog"]
    np.testing.assert_array_equal(parsed.vectors, VECTORS)
    with_header = b"\xef\xbb\xbf3 3\n" + "\n".join(GLOVE_LINES).encode() + b"\n"
    assert read_text(write_lines(tmp_path / "odd.w2v.txt", with_header)).words == ["the", "cat", "dog"]


def test_fasttext_vec_with_header_and_trailing_spaces(tmp_path: Path, blocks: str) -> None:
    parsed = read_text(write_lines(tmp_path / "wiki.en.vec", ["3 3", *(line + " " for line in GLOVE_LINES)]))
    assert parsed.format == "fasttext"
    np.testing.assert_array_equal(parsed.vectors, VECTORS)


@pytest.mark.parametrize("compress", ["gz", "bz2", "zip"])
def test_compressed_files_are_detected_by_content(tmp_path: Path, compress: str, blocks: str) -> None:
    text = ("\n".join(GLOVE_LINES) + "\n").encode()
    path = tmp_path / "vectors.data"  # no telling suffix: detected by magic bytes
    if compress == "gz":
        path.write_bytes(gzip.compress(text))
    elif compress == "bz2":
        path.write_bytes(bz2.compress(text))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("glove.3d.txt", text)
    parsed = read_text(path)
    assert parsed.words == ["the", "cat", "dog"]
    np.testing.assert_array_equal(parsed.vectors, VECTORS)


def test_a_zip_with_several_files_needs_a_member(tmp_path: Path) -> None:
    path = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("glove.6B.50d.txt", "\n".join(GLOVE_LINES) + "\n")
        archive.writestr("glove.6B.100d.txt", "a 1 2\n")
    with pytest.raises(InputFileError, match=r"glove\.6B\.zip: the zip holds 2 files \(glove\.6B\.50d\.txt, "
                                             r"glove\.6B\.100d\.txt\); name the one to import"):
        read_text(path)
    assert read_text(path, ReadOptions(member="glove.6B.50d.txt")).words == ["the", "cat", "dog"]
    with pytest.raises(InputFileError, match=r"no member 'nope\.txt'; it holds: glove\.6B\.50d\.txt, glove"):
        read_text(path, ReadOptions(member="nope.txt"))


def test_a_corrupt_gzip_is_a_clear_error(tmp_path: Path) -> None:
    data = gzip.compress(("\n".join(GLOVE_LINES * 100) + "\n").encode())
    path = write_lines(tmp_path / "cut.txt.gz", data[: len(data) // 2])
    with pytest.raises(InputFileError, match="cannot decompress"):
        read_text(path)


@pytest.mark.parametrize("newline", [True, False])
def test_word2vec_binary(tmp_path: Path, newline: bool, blocks: str) -> None:
    path = write_lines(tmp_path / "vectors.bin", word2vec_binary(ROWS, newline=newline))
    parsed = read_text(path)
    assert parsed.format == "word2vec-binary" and parsed.words == ["the", "cat", "dog"]
    np.testing.assert_array_equal(parsed.vectors, VECTORS)


def test_word2vec_binary_agrees_with_gensim_on_real_glove(tmp_path: Path, glove_arrays) -> None:
    from gensim.models import KeyedVectors

    words, vectors = glove_arrays
    kv = KeyedVectors(50)
    kv.add_vectors(words[:20000], np.ascontiguousarray(vectors[:20000]))
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    parsed = read_text(tmp_path / "g.bin")
    assert parsed.words == words[:20000]
    assert np.array_equal(parsed.vectors, vectors[:20000])


def test_truncated_binary_and_header_mismatch(tmp_path: Path) -> None:
    data = word2vec_binary(ROWS)
    with pytest.raises(InputFileError, match="record 3: the file ends inside it"):
        read_text(write_lines(tmp_path / "cut.bin", data[:-5]))
    with pytest.raises(InputFileError, match="the header says 4 records but the file has 3"):
        read_text(write_lines(tmp_path / "short.bin", b"4" + data[1:]))


def test_errors_carry_the_right_line_across_blocks(tmp_path: Path, blocks: str) -> None:
    lines = [f"w{i} {i} {i + 1} {i + 2}" for i in range(200)]
    lines[137] = "w137 1 2 x"
    with pytest.raises(InputFileError) as caught:
        read_text(write_lines(tmp_path / "long.txt", ["200 3", *lines]))
    assert caught.value.line == 139 and "value 3 of 'w137' is 'x'" in caught.value.reason


def test_many_blocks_give_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    lines = [f"w{i} " + " ".join(f"{x:.6g}" for x in row) for i, row in enumerate(rng.normal(size=(3000, 7)))]
    path = write_lines(tmp_path / "many.txt", lines)
    whole = read_text(path)
    monkeypatch.setattr(vecstore.io.readers, "BLOCK_BYTES", 100)
    pieces = read_text(path)
    assert pieces.words == whole.words == [f"w{i}" for i in range(3000)]
    assert np.array_equal(pieces.vectors, whole.vectors)


def test_duplicate_policies(tmp_path: Path, blocks: str) -> None:
    path = write_lines(tmp_path / "dups.txt", ["a 1 1", "b 2 2", "a 3 3", "c 4 4", "a 5 5"])
    first = read_text(path)
    assert first.words == ["a", "b", "c"]
    np.testing.assert_array_equal(first.vectors, [[1, 1], [2, 2], [4, 4]])
    last = read_text(path, ReadOptions(duplicates="last"))
    assert last.words == ["a", "b", "c"]
    np.testing.assert_array_equal(last.vectors, [[5, 5], [2, 2], [4, 4]])
    with pytest.raises(InputFileError) as caught:
        read_text(path, ReadOptions(duplicates="error"))
    assert caught.value.line == 3 and "the word 'a' appears again (first as row 1)" in caught.value.reason


def test_limit_and_lowercase(tmp_path: Path, blocks: str) -> None:
    path = write_lines(tmp_path / "cased.txt", ["3 2", "the 1 1", "The 2 2", "Paris 3 3", "paris 4 4"][:5])
    path = write_lines(tmp_path / "cased.txt", ["the 1 1", "The 2 2", "Paris 3 3", "paris 4 4", "x 5 5"])
    folded = read_text(path, ReadOptions(lowercase=True))
    assert folded.words == ["the", "paris", "x"]
    np.testing.assert_array_equal(folded.vectors, [[1, 1], [3, 3], [5, 5]])
    limited = read_text(path, ReadOptions(limit=2))
    assert limited.words == ["the", "The"]
    # a word2vec header's count is not checked when --limit stops early
    headed = write_lines(tmp_path / "headed.txt", ["5 2", "the 1 1", "The 2 2", "Paris 3 3", "paris 4 4", "x 5 5"])
    assert read_text(headed, ReadOptions(limit=3, lowercase=True)).words == ["the", "paris", "x"]


def test_store_import_reports_the_counts(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "dups.txt", ["a 1 1", "b 2 2", "a 3 3", "B 4 4", "c 5 5"])
    result = Store().import_file(path, "d", options=ReadOptions(lowercase=True, duplicates="last"))
    assert result.counts is not None
    assert (result.counts.duplicates, result.counts.case_merged, result.counts.stored) == (1, 1, 3)
    glove = Store().get("d")
    assert glove.words == ["a", "b", "c"]
    np.testing.assert_array_equal(glove.matrix(), [[3, 3], [2, 2], [5, 5]])
    assert glove.neighbours(vector=[3, 3], k=1)[0].word in {"a", "b"}


def test_progress_reports_bytes_and_rows_up_to_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vecstore.io.readers, "BLOCK_BYTES", 256)
    lines = [f"w{i} {i} {i}" for i in range(500)]
    path = write_lines(tmp_path / "p.txt", lines)
    calls: list[tuple[int, int, int]] = []
    Store().import_file(path, "p", progress=lambda done, total, rows: calls.append((done, total, rows)))
    assert len(calls) > 5
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)  # bytes only grow
    assert calls[-1] == (path.stat().st_size, path.stat().st_size, 500)


def test_the_cli_draws_no_progress_bar_when_not_a_terminal(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vecstore.cli.app import app

    result = CliRunner().invoke(app, ["import", str(write_lines(tmp_path / "w.txt", GLOVE_LINES)), "-n", "w"])
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("w: imported 3 words x 3 dims (glove)")
