"""Reading embedding files (GloVe, word2vec text and binary, fastText ``.vec``), plain or
compressed, as a stream of parsed blocks, or saying exactly which line is wrong.

The file is read in blocks of :data:`BLOCK_BYTES`; the next block is read (and
decompressed) in a background thread while the current one is parsed, so memory stays
bounded whatever the file's size. The hot loop is a small C extension
(``vecstore._fastparse``): each text block is split at a line near its middle and both
halves are parsed at once with the GIL released, rounding every value correctly to
float32. Where the extension could not be compiled, a pure-Python parser gives the same
words and errors (values may differ in the last bit when they have more than 7
significant digits), at the tutorial's speed.

Text grammar (the line scan :func:`line_problem` defines it and words every error):
a word, then ``dim`` decimal values, separated by single spaces (byte 0x20 only: NBSP,
NEL and other Unicode spaces are word characters); trailing spaces and a ``\\r`` before
the ``\\n`` are ignored; a word may itself contain spaces (GloVe 840B), the vector being
the last ``dim`` fields. word2vec and fastText files start with a ``count dim`` header.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import hashlib
import mmap
import os
import re
import sys
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, ZipMemberError, quoted
from vecstore.io.files import open_input
from vecstore.limits import MAX_DIM, MAX_LINE_BYTES

try:
    from vecstore import _fastparse
except ImportError:  # no C compiler at install time: the Python parser below
    _fastparse = None

GLOVE = "glove"
WORD2VEC = "word2vec"
FASTTEXT = "fasttext"
WORD2VEC_BINARY = "word2vec-binary"
FORMATS = (GLOVE, WORD2VEC, FASTTEXT, WORD2VEC_BINARY)
DUPLICATE_POLICIES = ("first", "last", "error")
ENCODING_ERRORS = ("strict", "replace")

#: Bytes read per block: large enough that per-block costs vanish, small enough that
#: memory stays bounded (a block and the next one in flight).
BLOCK_BYTES = 16 << 20

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ReadOptions:
    """How to read a source: its format (None: detect), a zip member, and what to do with
    bad bytes, repeated words, case and length."""

    format: str | None = None
    member: str | None = None
    encoding_errors: str = "strict"
    duplicates: str = "first"
    limit: int | None = None
    lowercase: bool = False

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise InvalidArgumentError(f"must be one of {', '.join(FORMATS)}, not {quoted(self.format)}",
                                       subject="format")
        if self.encoding_errors not in ENCODING_ERRORS:
            raise InvalidArgumentError(f"must be one of {', '.join(ENCODING_ERRORS)}, "
                                       f"not {quoted(self.encoding_errors)}", subject="encoding_errors")
        if self.duplicates not in DUPLICATE_POLICIES:
            raise InvalidArgumentError(f"must be one of {', '.join(DUPLICATE_POLICIES)}, "
                                       f"not {quoted(self.duplicates)}", subject="duplicates")
        if self.limit is not None and self.limit < 1:
            raise InvalidArgumentError(f"must be at least 1, not {self.limit}", subject="limit")

    def shaping(self, member: str | None = None) -> dict[str, object]:
        """The options that decide what a file's import holds, with the zip member actually
        read: with the source's sha256, what makes two imports the same."""
        return {"member": member, "encoding_errors": self.encoding_errors, "duplicates": self.duplicates,
                "limit": self.limit, "lowercase": self.lowercase}


@dataclass(frozen=True)
class Layout:
    """What the start of the file tells: format, vector length, the header's count."""

    format: str
    dim: int
    header_count: int | None
    compression: str | None

    @property
    def binary(self) -> bool:
        return self.format == WORD2VEC_BINARY


@dataclass
class Block:
    """Consecutive rows of the file, parsed: ``first_line`` is the 1-based line (or, for
    binary files, record) number of ``words[0]``."""

    words: list[str]
    vectors: np.ndarray
    first_line: int


@dataclass(frozen=True)
class Embeddings:
    """Words in row order with their vectors, and where they came from."""

    words: list[str]
    vectors: np.ndarray  # (count, dim) float32, C order
    format: str
    source: str
    sha256: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def file_sha256(path: Path) -> str:
    """The sha256 of a file: hashed from a mapping (no copies, the GIL released), or read
    in 4 MiB blocks where the file cannot be mapped."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        try:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # empty, or not a regular file
            mapped = None
        if mapped is not None:
            with mapped, memoryview(mapped) as view:
                step = 16 << 20  # (a multiple of the page size, as madvise needs)
                for start in range(0, len(mapped), step):
                    digest.update(view[start:start + step])
                    if hasattr(mapped, "madvise"):  # hashed pages leave this process's memory
                        mapped.madvise(mmap.MADV_DONTNEED, start, min(step, len(mapped) - start))
            return digest.hexdigest()
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


# -- opening --------------------------------------------------------------------------------

@dataclass
class EmbeddingFile:
    """An open embedding file: its layout, and its rows as a stream of blocks."""

    path: Path
    options: ReadOptions
    layout: Layout = field(init=False)
    member: str | None = field(init=False)  # the zip member read, if the file is a zip
    raw: BinaryIO = field(init=False)
    size: int = field(init=False)
    _stream: BinaryIO = field(init=False)
    _head: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.raw, self.size = _open_raw(self.path)
        try:
            self._stream, compression, self.member = _decompressed(self.path, self.raw, self.options.member)
            self._head = _read_full(self._stream, 1 << 20, self.path)
            self.layout = _detect(self.path, self._head, self.options.format, compression)
        except BaseException:
            self.raw.close()
            raise

    def __enter__(self) -> EmbeddingFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stream.close()
        self.raw.close()

    @property
    def source(self) -> str:
        """The source as a set records it: the resolved path, with ``#member`` for a zip's member."""
        where = str(self.path.resolve())
        return f"{where}#{self.member}" if self.member else where

    @property
    def bytes_read(self) -> int:
        """Bytes of the file (compressed, if it is) consumed so far, for progress."""
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0

    def blocks(self) -> Iterator[Block]:
        """The file's rows in order, in blocks, each line validated."""
        head = self._head.removeprefix(BOM)
        skip = 0 if self.layout.header_count is None else head.index(b"\n") + 1 if b"\n" in head else len(head)
        line = 1 if self.layout.binary else (1 if self.layout.header_count is None else 2)
        if self.layout.compression is None and not self.layout.binary:
            # A plain file is mapped: blocks are parsed in place, no copies, and each
            # block's pages are released once parsed so memory stays bounded.
            yield from self._mapped_text_blocks(len(self._head) - len(head) + skip, line)
        elif self.layout.binary:
            yield from self._binary_blocks(head[skip:], line)  # numbered by record
        else:
            yield from self._text_blocks(head[skip:], line)

    def _mapped_text_blocks(self, start: int, line: int) -> Iterator[Block]:
        with mmap.mmap(self.raw.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            size = len(mapped)
            while start < size:
                end = min(start + BLOCK_BYTES, size)
                cut = size if end == size else mapped.rfind(b"\n", start, end) + 1
                while cut <= start:  # a line longer than a block: take more, up to the limit
                    if end - start > MAX_LINE_BYTES:
                        raise _too_long(self.path, line)
                    end = min(end + BLOCK_BYTES, size)
                    cut = size if end == size else mapped.rfind(b"\n", start, end) + 1
                blocks = self._parse_text(mapped, start, cut, line)
                self.raw.seek(cut)  # for bytes_read (progress)
                if hasattr(mapped, "madvise"):
                    page = start - start % mmap.PAGESIZE
                    mapped.madvise(mmap.MADV_DONTNEED, page, cut - page)
                line += sum(len(block.words) for block in blocks)
                start = cut
                yield from blocks

    def _chunks_of_bytes(self, first: bytes) -> Iterator[bytes]:
        """The stream's bytes in blocks, the next one read in a background thread."""
        with ThreadPoolExecutor(1) as reader:
            pending = reader.submit(_read_full, self._stream, BLOCK_BYTES, self.path)
            yield first
            while True:
                data = pending.result()
                if not data:
                    return
                pending = reader.submit(_read_full, self._stream, BLOCK_BYTES, self.path)
                yield data

    def _text_blocks(self, first: bytes, line: int) -> Iterator[Block]:
        carry = b""
        pending: list[bytes] = []
        for data in self._chunks_of_bytes(first):
            pending.append(data)
            if sum(map(len, pending)) < BLOCK_BYTES // 2:
                continue  # the first block is small (the head): let it grow first
            text = carry + b"".join(pending)
            pending = []
            cut = text.rfind(b"\n") + 1
            if cut == 0:
                if len(text) > MAX_LINE_BYTES:
                    raise _too_long(self.path, line)
                carry = text
                continue
            blocks = self._parse_text(text, 0, cut, line)
            carry = text[cut:]
            line += sum(len(block.words) for block in blocks)
            yield from blocks
        text = carry + b"".join(pending)
        if text:
            yield from self._parse_text(text, 0, len(text), line)

    def _parse_text(self, text: bytes | mmap.mmap, start: int, end: int, line: int) -> list[Block]:
        """Parse the lines of ``text[start:end]``, the first being line ``line`` of the file."""
        if _fastparse is None:
            return [self._parse_text_python(bytes(text[start:end]), line)]
        # Two line-aligned halves, one per core (small blocks are not worth a split).
        middle = (text.find(b"\n", (start + end) // 2, end) + 1 or end) if end - start > 1 << 16 else end
        spans = [(start, middle), (middle, end)] if middle < end else [(start, end)]
        with ThreadPoolExecutor(len(spans)) as pool:
            halves = list(pool.map(lambda span: self._parse_span(text, *span), spans))
        blocks = []
        for (span_start, span_end), (vectors, bounds, rows, failed) in zip(spans, halves, strict=True):
            if failed:
                self._raise_at(bytes(text[span_start:span_end]), line, rows)
            try:
                words = _fastparse.decode_words(text, bounds, rows, self.options.encoding_errors)
            except UnicodeError as exc:
                self._raise_at(bytes(text[span_start:span_end]), line, int(str(exc)))
            blocks.append(Block(words, vectors[:rows], line))
            line += rows
        return blocks

    def _parse_span(self, text: bytes | mmap.mmap, start: int, end: int) -> tuple[np.ndarray, np.ndarray, int, bool]:
        """C-parse ``text[start:end]`` into arrays sized for its most possible rows.

        A line takes at least ``2 * dim + 1`` bytes (a word and dim one-digit values), so
        that many rows always fit; counting the lines first would read the block twice.
        The C parser also rejects values beyond float32, so no finiteness pass is needed.
        """
        dim = self.layout.dim
        most = (end - start) // (2 * dim + 1) + 1
        vectors = np.empty((most, dim), dtype=np.float32)
        bounds = np.empty((most, 2), dtype=np.int64)
        rows, failed = _fastparse.parse_lines(text, start, end, dim, vectors, bounds, 0, most)
        return vectors, bounds, rows, failed

    def _parse_text_python(self, text: bytes, line: int) -> Block:
        dim, errors = self.layout.dim, self.options.encoding_errors
        lines = text.split(b"\n")
        if lines[-1] == b"":
            lines.pop()  # the final newline ends the last line; it does not start another
        words: list[str] = []
        values: list[list[bytes]] = []
        for row, raw in enumerate(lines):
            if len(raw) > MAX_LINE_BYTES:
                self._raise_at(text, line, row)
            fields = raw.rstrip(b" \r").split(b" ")
            if len(fields) <= dim:
                self._raise_at(text, line, row)
            cut = len(fields) - dim
            word = b" ".join(fields[:cut])
            if not word.strip(b" ") or b"".join(fields[cut:]).translate(None, b"0123456789+-.eE"):
                self._raise_at(text, line, row)  # (a character no decimal number has)
            if cut > 1 and _NUMBER_BYTES.fullmatch(fields[cut - 1]):
                self._raise_at(text, line, row)  # a ragged line, not a word with spaces
            try:
                words.append(word.decode("utf-8", errors))
            except UnicodeDecodeError:
                self._raise_at(text, line, row)
            values.append(fields[cut:])
        try:
            with np.errstate(over="ignore"):  # beyond float32's range becomes inf, reported below
                vectors = np.array(values, dtype=np.float32).reshape(len(words), dim)
        except ValueError:
            for row, fields in enumerate(values):
                try:
                    np.array(fields, dtype=np.float32)
                except ValueError:
                    self._raise_at(text, line, row)
            raise
        self._check_finite(text, 0, len(text), line, vectors)
        return Block(words, vectors, line)

    def _check_finite(self, text: bytes | mmap.mmap, start: int, end: int, line: int, vectors: np.ndarray) -> None:
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            self._raise_at(bytes(text[start:end]), line, int(np.argmin(finite)))

    def _raise_at(self, text: bytes, first_line: int, row: int) -> None:
        """Raise the error of the ``row``-th line of ``text`` (the block starting at ``first_line``)."""
        start = 0
        for _ in range(row):
            start = text.index(b"\n", start) + 1
        end = text.find(b"\n", start)
        raw = text[start:] if end < 0 else text[start:end]
        problem = line_problem(raw, self.layout.dim, self.options.encoding_errors)
        if problem is None:  # the parsers and the scan disagree: a bug, reported as such
            raise AssertionError(f"{self.path}:{first_line + row}: rejected, but the line scan finds no fault")
        raise InputFileError(self.path, problem, first_line + row)

    def _binary_blocks(self, first: bytes, record: int) -> Iterator[Block]:
        dim, carry = self.layout.dim, b""
        chunks = self._chunks_of_bytes(first)
        data = next(chunks, b"")
        while True:
            following = next(chunks, None)
            text = carry + data
            final = following is None
            most = len(text) // (4 * dim) + 1
            vectors = np.empty((most, dim), dtype=np.float32)
            bounds = np.empty((most, 2), dtype=np.int64)
            rows, consumed, failed = _parse_binary(text, dim, vectors, bounds, most, final)
            if failed:
                rest = text[consumed:].lstrip(b"\n")
                space = rest.find(b" ", 0, MAX_LINE_BYTES + 1)
                if rest.startswith(b" "):
                    what = "the word is empty"
                elif space < 0 and len(rest) > MAX_LINE_BYTES:
                    what = f"no space within {MAX_LINE_BYTES:,} bytes: a word longer than vecstore reads"
                elif space < 0:
                    what = "no space after the word"
                else:
                    what = "the file ends inside it"
                raise InputFileError(self.path, f"record {record + rows}: {what}")
            if rows:
                words = self._decode_binary_words(text, bounds, rows, record)
                vectors = vectors[:rows]
                if sys.byteorder == "big":
                    vectors.byteswap(inplace=True)
                finite = np.isfinite(vectors).all(axis=1)
                if not finite.all():
                    bad = int(np.argmin(finite))
                    raise InputFileError(self.path, f"record {record + bad}: the vector of {quoted(words[bad])} "
                                                    "holds a value that is not a finite number")
                yield Block(words, vectors, record)
                record += rows
            carry = text[consumed:]
            if final:
                return
            if len(carry) > MAX_LINE_BYTES + 4 * dim:
                raise InputFileError(self.path, f"record {record}: no space within {MAX_LINE_BYTES:,} bytes: "
                                                "a word longer than vecstore reads")
            data = following

    def _decode_binary_words(self, text: bytes, bounds: np.ndarray, rows: int, record: int) -> list[str]:
        errors = self.options.encoding_errors
        words: list[str] | None = None
        if _fastparse is not None:
            try:
                words = _fastparse.decode_words(text, bounds, rows, errors)
            except UnicodeError as exc:
                bad = int(str(exc))
        else:
            try:
                words = [text[s:e].decode("utf-8", errors) for s, e in bounds[:rows].tolist()]
            except UnicodeDecodeError:
                bad = next(i for i, (s, e) in enumerate(bounds[:rows].tolist()) if not _is_utf8(text[s:e]))
        if words is not None:
            if "\n".join(words).count("\n") != len(words) - 1:  # a line break inside a word (C-speed check)
                bad = next(i for i, w in enumerate(words) if "\n" in w)
                raise InputFileError(self.path, f"record {record + bad}: the word {quoted(words[bad])} holds "
                                                "a line break")
            return words
        s, e = bounds[bad].tolist()
        raise InputFileError(self.path, f"record {record + bad}: the word is not valid UTF-8 ({quoted(text[s:e])})")


def _too_long(path: Path, line: int) -> InputFileError:
    return InputFileError(path, f"the line is longer than {MAX_LINE_BYTES:,} bytes, the longest vecstore reads", line)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _parse_binary(text: bytes, dim: int, vectors: np.ndarray, bounds: np.ndarray, most: int,
                  final: bool) -> tuple[int, int, bool]:
    if _fastparse is not None:
        return _fastparse.parse_binary(text, 0, len(text), dim, vectors, bounds, 0, most, final)
    size, p, row = 4 * dim, 0, 0
    while row < most:
        w = p
        while w < len(text) and text[w] == 0x0A:
            w += 1
        if w == len(text):
            p = w
            break
        space = text.find(b" ", w, w + MAX_LINE_BYTES + 1)
        if space < 0 and len(text) - w > MAX_LINE_BYTES:
            return row, w, True  # a word too long
        if space < 0 or len(text) - (space + 1) < size:
            return row, p, final
        if space == w:
            return row, w, True
        vectors[row] = np.frombuffer(text, dtype="<f4", count=dim, offset=space + 1)
        bounds[row] = (w, space)
        row += 1
        p = space + 1 + size
    return row, p, False


def _open_raw(path: Path) -> tuple[BinaryIO, int]:
    """Open an embedding file (a regular one, see :func:`vecstore.io.files.open_input`), not empty."""
    raw = open_input(path, "an embedding file (vecstore reads regular files)")
    size = os.fstat(raw.fileno()).st_size
    if size == 0:
        raw.close()
        raise InputFileError(path, "empty file")
    return raw, size


def _decompressed(path: Path, raw: BinaryIO, member: str | None) -> tuple[BinaryIO, str | None, str | None]:
    """The stream of the file's content, by its magic bytes: plain, gzip, bzip2 or a zip
    member; its compression; and the zip member it reads, if any."""
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        _no_member(path, member)
        return gzip.GzipFile(fileobj=raw, mode="rb"), "gzip", None
    if magic.startswith(b"BZh"):
        _no_member(path, member)
        return bz2.BZ2File(raw, mode="rb"), "bzip2", None
    if magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # a zip (the second: one with no files)
        archive, member = _zip_member(path, raw, member)
        try:
            return archive.open(member), "zip", member
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError) as exc:
            raise InputFileError(path, f"cannot read member {quoted(member)} of the zip: {exc}") from None
    _no_member(path, member)
    return raw, None, None


def _no_member(path: Path, member: str | None) -> None:
    if member is not None:
        raise InputFileError(path, "is not a zip file, so it has no member to choose",
                             hint=("no-member", "leave member= out"))


def _zip_member(path: Path, raw: BinaryIO, member: str | None) -> tuple[zipfile.ZipFile, str]:
    """The zip archive and the member to read: ``member``, or the only file it holds."""
    try:
        archive = zipfile.ZipFile(raw)
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise InputFileError(path, f"not a readable zip file: {exc}") from None
    if member is None:
        if len(names) != 1:
            raise ZipMemberError(path, names, None)
        return archive, names[0]
    if member not in names:
        raise ZipMemberError(path, names, member)
    return archive, member


def source_identity(path: Path, member: str | None = None) -> tuple[str, str | None]:
    """The sha256 of the content an import reads, and the zip member it is in.

    A plain or gzip/bzip2 file is hashed whole; a zip's member is hashed by its own
    (decompressed) bytes, so two members of one zip are two sources.
    """
    raw, _ = _open_raw(path)
    with raw:
        stream, compression, member = _decompressed(path, raw, member)
        if compression != "zip":
            return file_sha256(path), None
        digest = hashlib.sha256()
        with stream:
            while block := _read_full(stream, 1 << 22, path):
                digest.update(block)
        return digest.hexdigest(), member


def _read_full(stream: BinaryIO, size: int, path: Path | None = None) -> bytes:
    """Up to ``size`` bytes (fewer only at the end); decompression errors become input errors."""
    try:
        data = stream.read(size)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, ValueError) as exc:
        name = path or getattr(stream, "name", None) or getattr(getattr(stream, "fileobj", None), "name", "input")
        raise InputFileError(str(name), f"cannot decompress: {quoted(str(exc))[1:-1]}") from None
    return data


def _detect(path: Path, head: bytes, forced: str | None, compression: str | None) -> Layout:
    """Tell GloVe (no header) from word2vec/fastText text and binary (``count dim`` header)."""
    from vecstore.io.fasttext_bin import looks_like_fasttext_bin

    if looks_like_fasttext_bin(head):  # (a plain one is read by vecstore.io.fasttext_bin before this)
        if compression is None:
            raise InputFileError(path, "a fastText binary model, read as one only when no format is forced"
                                       + (f" (not {forced})" if forced else ""))
        raise InputFileError(path, f"a fastText binary model compressed with {compression}: decompress it first "
                                   "(its n-gram rows are mapped, and read a few at a time)")
    head = head.removeprefix(BOM)
    end = head.find(b"\n")
    line = (head if end < 0 else head[:end]).rstrip(b" \r")
    if not line:
        raise InputFileError(path, "empty file" if not head else "the first line is empty", 1 if head else None)
    fields = line.split(b" ")
    is_header = len(fields) == 2 and all(f.isdigit() and f.isascii() for f in fields)
    if forced in (WORD2VEC, FASTTEXT, WORD2VEC_BINARY) and not is_header:
        raise InputFileError(path, f"{forced} files start with a 'count dim' header line", 1)
    if is_header and forced != GLOVE:
        if any(len(f) > 15 for f in fields):
            raise InputFileError(path, f"the header {quoted(line)} holds a number too large to be a count "
                                       "or a dimension", 1)
        count, dim = int(fields[0]), int(fields[1])
        if not 1 <= dim <= MAX_DIM:
            raise InputFileError(path, f"the header says {dim:,} dimensions (vecstore reads 1 to {MAX_DIM:,})", 1)
        body = head[end + 1:] if end >= 0 else b""
        binary = forced == WORD2VEC_BINARY or (forced is None and _looks_binary(body, dim))
        text_format = forced or (FASTTEXT if path.name.removesuffix(".gz").endswith(".vec") else WORD2VEC)
        return Layout(WORD2VEC_BINARY if binary else text_format, dim, count, compression)
    if len(fields) < 2:
        raise InputFileError(path, "expected a word followed by its vector values", 1)
    # The most common field count of the first lines: a first word holding spaces
    # (GloVe 840B) must not set the dimension.
    lines = [x.rstrip(b" \r") for x in head.split(b"\n")[:100]]
    counts = Counter(x.count(b" ") for x in (lines[:-1] if len(lines) > 1 else lines) if x)
    dim = counts.most_common(1)[0][0] if counts else len(fields) - 1
    if dim < 1:
        # Most of the first lines hold no space: whatever this is, it is not word vectors.
        problem = line_problem(line, 1, "strict") or "expected a word followed by its vector values"
        raise InputFileError(path, problem if problem.startswith("not valid UTF-8") else
                             "most of the first lines hold no values: not an embedding file", 1)
    if dim > MAX_DIM:
        raise InputFileError(path, f"the first lines hold {dim:,} values (vecstore reads 1 to {MAX_DIM:,} "
                                   "dimensions)", 1)
    return Layout(GLOVE, dim, None, compression)


def _looks_binary(body: bytes, dim: int) -> bool:
    """After the header: a text file's first line parses as text; failing that, the bytes
    after the first word tell: text is UTF-8 without control characters, while float32
    data almost never is (0.1 is cd cc cc 3d)."""
    end = body.find(b"\n")
    if line_problem(body if end < 0 else body[:end], dim, "replace") is None:
        return False
    space = body.find(b" ")
    if space < 0:
        return False
    try:
        sample, _ = codecs.utf_8_decode(body[space + 1:space + 1 + 4 * dim], "strict", False)
    except UnicodeDecodeError:
        return True
    return any(ord(c) < 32 and c not in "\n\r\t" for c in sample)


# -- the line scan --------------------------------------------------------------------------

def line_problem(raw: bytes, dim: int, encoding_errors: str = "strict") -> str | None:
    """What is wrong with one text line (without its ``\\n``), or None: the format's definition.

    A word may hold spaces (GloVe 840B has a few such tokens, e.g. ``. . .``): the vector
    is the last ``dim`` fields and the word everything before them. But a word whose last
    field is itself a number is not a word with spaces: the line has more values than
    the file's vectors (a ragged line), and it is refused.
    """
    if len(raw) > MAX_LINE_BYTES:
        return f"the line is longer than {MAX_LINE_BYTES:,} bytes, the longest vecstore reads"
    body = raw.rstrip(b" \r")
    try:
        line = body.decode("utf-8", encoding_errors)
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{body[exc.start]:02x} at column {exc.start + 1})"
    if not line:
        return "empty line"
    fields = line.split(" ")
    if len(fields) <= dim:
        return f"expected {dim} values after {quoted(fields[0])}, found {len(fields) - 1}"
    word, values = " ".join(fields[:-dim]), fields[-dim:]
    if not word.strip(" "):
        return "the line starts with a space: the word is empty"
    for i, value in enumerate(values, start=1):
        if _NUMBER.fullmatch(value):
            if abs(float(value)) < _FLOAT32_OVERFLOW:
                continue
            return f"value {i} of {quoted(word)} is {quoted(value)}, beyond the float32 range"
        if _NON_FINITE.fullmatch(value):
            return f"value {i} of {quoted(word)} is {quoted(value)}, not a finite number"
        return f"value {i} of {quoted(word)} is {quoted(value)}, not a number"
    if len(fields) > dim + 1 and _NUMBER.fullmatch(fields[-dim - 1]):
        return (f"expected {dim} values after {quoted(fields[0])}, found {len(fields) - 1} (a word may hold "
                "spaces, but not end in a number: this line has more values than the file's vectors)")
    return None


# The decimal numbers a vector value may be (what the C parser accepts), and the
# spellings of infinity and NaN that deserve their own message.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMBER_BYTES = re.compile(_NUMBER.pattern.encode())
_NON_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
# Decimals from here up round to infinity in float32 (FLT_MAX plus half an ulp).
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103


# -- whole files ----------------------------------------------------------------------------

@dataclass
class RowFilter:
    """Applies the duplicate, case-folding and limit rules to rows as they stream in.

    ``accept`` returns the rows of a block to store; ``patches`` collects, for the
    ``last`` policy, the newest vector of each repeated word by its stored row.
    """

    path: Path
    options: ReadOptions
    seen: set[str] = field(default_factory=set)
    stored: list[str] = field(default_factory=list)
    originals: set[str] = field(default_factory=set)
    patches: dict[int, np.ndarray] = field(default_factory=dict)
    duplicates: int = 0
    case_merged: int = 0
    lines_read: int = 0
    full: bool = False
    _rows: dict[str, int] | None = None

    def accept(self, block: Block) -> tuple[list[str], np.ndarray]:
        options = self.options
        keys = [w.lower() for w in block.words] if options.lowercase else block.words
        room = None if options.limit is None else options.limit - len(self.stored)
        if room is None or len(keys) < room:
            fresh = set(keys)
            if len(fresh) == len(keys) and self.seen.isdisjoint(fresh):
                # No repeats and no limit in this block (the usual case): set work in C.
                self.seen |= fresh
                self.stored += keys
                if options.lowercase:
                    self.originals.update(block.words)
                self.lines_read += len(keys)
                return keys, block.vectors
        return self._accept_row_by_row(block, keys)

    def row_of(self, word: str) -> int:
        """The stored row of ``word`` (a dict built on the first repeat: repeats are rare)."""
        if self._rows is None:
            self._rows = {w: i for i, w in enumerate(self.stored)}
        return self._rows[word]

    def _accept_row_by_row(self, block: Block, keys: list[str]) -> tuple[list[str], np.ndarray]:
        words, keep = [], []
        options = self.options
        for i, (original, word) in enumerate(zip(block.words, keys, strict=True)):
            if self.full:
                break
            self.lines_read += 1
            if word not in self.seen:
                self.seen.add(word)
                if self._rows is not None:
                    self._rows[word] = len(self.stored)
                self.stored.append(word)
                if options.lowercase:
                    self.originals.add(original)
                words.append(word)
                keep.append(i)
                self.full = options.limit is not None and len(self.stored) >= options.limit
                continue
            if options.lowercase and original not in self.originals:
                self.originals.add(original)
                self.case_merged += 1  # "Paris" after "paris": the first, most frequent, stays
                continue
            self.duplicates += 1
            row = self.row_of(word)
            if options.duplicates == "error":
                raise InputFileError(self.path, f"the word {quoted(original)} appears again (first as row "
                                                f"{row + 1})", block.first_line + i,
                                     hint=("duplicates", "duplicates='first' or 'last' keeps one"))
            if options.duplicates == "last":
                self.patches[row] = block.vectors[i].copy()
        if len(keep) == len(block.words):
            return words, block.vectors
        return words, block.vectors[keep]


def check_complete(path: Path, layout: Layout, rows: RowFilter, stored: int) -> None:
    """After the last block: something was read, and a header's count matches the body."""
    if stored == 0:
        raise InputFileError(path, "no vectors after the header" if layout.header_count is not None else "no vectors")
    if layout.header_count is not None and not rows.full and rows.lines_read != layout.header_count:
        what = "records" if layout.binary else "vectors"
        raise InputFileError(path, f"the header says {layout.header_count} {what} but the file has "
                                   f"{rows.lines_read}", 1)
