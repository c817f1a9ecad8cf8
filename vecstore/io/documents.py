"""Documents in and document vectors out.

Input: a text file (one document a line), ``-`` for standard input, or a CSV, TSV or
JSON Lines file whose ``text_col`` holds the text (and ``id_col`` the id); ``.gz`` and
``.bz2`` are read compressed. Output: ``.npy`` (float32, one row per document, in input
order) with the ids in ``<name>.ids.txt`` beside it, or CSV (``id,v0,v1,...``) or JSON
Lines (``{"id", "vector"}``), values printed with the fewest digits that read back as
the same float32. Outputs go through :class:`~vecstore.io.files.AtomicOutput`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, quoted
from vecstore.io.files import NOTHING_PROTECTED, AtomicOutput, ProtectedFiles, check_output, open_input
from vecstore.limits import MAX_DOCUMENTS, MAX_LINE_BYTES, MAX_TEXTS_BYTES

INPUT_FORMATS = ("lines", "csv", "tsv", "jsonl")
OUTPUT_FORMATS = ("npy", "csv", "jsonl")


@dataclass
class Documents:
    ids: list[str]
    texts: list[str]


def input_format(path: str) -> str:
    """The format a name says (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``, else lines)."""
    name = path.lower().removesuffix(".gz").removesuffix(".bz2")
    for suffix, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"), (".ndjson", "jsonl")):
        if name.endswith(suffix):
            return fmt
    return "lines"


def read_documents(source: str, *, format: str | None = None, text_col: str = "text",
                   id_col: str | None = None) -> Documents:
    """The documents of ``source`` (a path, or ``-`` for standard input) in order, with
    their ids (``id_col``, else the 1-based line or row number)."""
    fmt = format or input_format(source)
    if fmt not in INPUT_FORMATS:
        raise InvalidArgumentError(f"must be one of {', '.join(INPUT_FORMATS)}, not {quoted(fmt)}", subject="format")
    label = "stdin" if source == "-" else source
    raw = _read_bounded(source, label)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputFileError(label, "not valid UTF-8", line) from None
    if fmt == "lines":
        if text.count("\n") > MAX_DOCUMENTS:
            raise InputFileError(label, f"more than {MAX_DOCUMENTS:,} documents", MAX_DOCUMENTS + 1)
        texts = text.split("\n")
        if texts and texts[-1] == "":
            texts.pop()
        texts = [t.removesuffix("\r") for t in texts]
        return Documents([str(i + 1) for i in range(len(texts))], texts)
    if fmt == "jsonl":
        return _json_lines(text, label, text_col, id_col)
    return _table(text, label, "," if fmt == "csv" else "\t", text_col, id_col)


def _read_bounded(source: str, label: str) -> bytes:
    if source == "-":
        raw = sys.stdin.buffer.read(MAX_TEXTS_BYTES + 1)
    else:
        path = Path(source)
        with open_input(path, "documents") as f:
            stream = f
            if path.suffix == ".gz":
                import gzip

                stream = gzip.GzipFile(fileobj=f)  # type: ignore[assignment]
            elif path.suffix == ".bz2":
                import bz2

                stream = bz2.BZ2File(f)  # type: ignore[assignment]
            try:
                raw = stream.read(MAX_TEXTS_BYTES + 1)
            except (OSError, EOFError, ValueError) as exc:
                raise InputFileError(path, f"cannot decompress: {exc}") from None
    if len(raw) > MAX_TEXTS_BYTES:
        raise InputFileError(label, f"more than {MAX_TEXTS_BYTES:,} bytes of documents")
    return raw


def _json_lines(text: str, label: str, text_col: str, id_col: str | None) -> Documents:
    ids, texts = [], []
    for number, line in enumerate(text.split("\n"), 1):  # (not splitlines: U+2028 may sit inside a JSON string)
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise InputFileError(label, "not a JSON object", number) from None
        if not isinstance(record, dict) or not isinstance(record.get(text_col), str):
            raise InputFileError(label, f"no text in {quoted(text_col)} (a JSON object with a string there)", number)
        texts.append(record[text_col])
        ids.append(_id(record.get(id_col), label, number) if id_col is not None else str(number))
        if len(texts) > MAX_DOCUMENTS:
            raise InputFileError(label, f"more than {MAX_DOCUMENTS:,} documents", number)
    return Documents(ids, texts)


def _table(text: str, label: str, delimiter: str, text_col: str, id_col: str | None) -> Documents:
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise InputFileError(label, "empty: expected a header row naming the columns")
        columns = {name: i for i, name in enumerate(header)}
        for wanted, option in ((text_col, "text_col"), (id_col, "id_col")):
            if wanted is not None and wanted not in columns:
                raise InputFileError(label, f"no column {quoted(wanted)} (columns: "
                                            f"{', '.join(quoted(c) for c in header[:20])})", 1,
                                     hint=(option, f"{option}= names the column"))
        at_text, at_id = columns[text_col], columns.get(id_col) if id_col is not None else None
        ids, texts = [], []
        for row in reader:
            if not row:
                continue
            if len(row) <= max(at_text, at_id or 0):
                raise InputFileError(label, f"{len(row)} fields, fewer than the header's {len(header)}",
                                     reader.line_num)
            texts.append(row[at_text])
            ids.append(_id(row[at_id], label, reader.line_num) if at_id is not None else str(len(texts)))
            if len(texts) > MAX_DOCUMENTS:
                raise InputFileError(label, f"more than {MAX_DOCUMENTS:,} documents", reader.line_num)
    except csv.Error as exc:
        raise InputFileError(label, f"not valid {'CSV' if delimiter == ',' else 'TSV'}: {exc}",
                             reader.line_num) from None
    return Documents(ids, texts)


def _id(value: object, label: str, line: int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or (isinstance(value, str) and (
            not value or "\n" in value or "\r" in value)):
        raise InputFileError(label, f"the id {quoted(str(value))} is not a one-line string or an integer", line)
    return str(value)


def output_paths(out: Path, format: str) -> list[Path]:
    """The files a document-vector output writes (``.npy`` has its ids beside it)."""
    if format == "npy":
        return [out, out.with_name(out.name.removesuffix(".npy") + ".ids.txt")]
    return [out]


def save_document_vectors(out: str | Path, ids: list[str], vectors: np.ndarray, format: str = "npy", *,
                          overwrite: bool = False, protected: ProtectedFiles = NOTHING_PROTECTED) -> list[Path]:
    """Write the vectors and their ids (see the module docstring); return the paths written."""
    from vecstore.io.export import _format_csv, value_lines

    if format not in OUTPUT_FORMATS:
        raise InvalidArgumentError(f"must be one of {', '.join(OUTPUT_FORMATS)}, not {quoted(format)}",
                                   subject="format")
    paths = output_paths(Path(out), format)
    for path in paths:  # every output checked before anything is written
        check_output(path, overwrite=overwrite, protected=protected)
    if format == "npy":
        with AtomicOutput(paths[0], overwrite=overwrite, protected=protected, compress=False) as f:
            np.save(f, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        with AtomicOutput(paths[1], overwrite=overwrite, protected=protected) as f:
            f.write("".join(i + "\n" for i in ids).encode())
        return paths
    with AtomicOutput(paths[0], overwrite=overwrite, protected=protected) as f:
        if format == "csv":
            f.write(("id," + ",".join(f"v{i}" for i in range(vectors.shape[1])) + "\n").encode())
            f.write(_format_csv(ids, vectors))
        else:
            f.write("".join(f'{{"id": {json.dumps(doc_id)}, "vector": [{values.replace(" ", ", ")}]}}\n'
                            for doc_id, values in zip(ids, value_lines(vectors), strict=True)).encode())
    return paths
