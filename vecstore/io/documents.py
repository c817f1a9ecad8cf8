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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vecstore.errors import InputFileError, InvalidArgumentError, quoted
from vecstore.io.files import NOTHING_PROTECTED, AtomicOutput, ProtectedFiles, check_output, open_input
from vecstore.limits import MAX_DOCUMENTS, MAX_LINE_BYTES, MAX_TEXTS_BYTES

INPUT_FORMATS = ("lines", "csv", "tsv", "jsonl")
OUTPUT_FORMATS = ("npy", "csv", "jsonl")


#: Bounds of a document's metadata (``docs add --meta-col``, ``metadata=``): far above a
#: real use (a year, a category, a title), low enough that a wrong column (a text) or a
#: hostile input is refused in one line instead of filling the store.
MAX_METADATA_KEYS = 64
MAX_METADATA_KEY_CHARS = 200
MAX_METADATA_VALUE_CHARS = 4_096


@dataclass
class Documents:
    ids: list[str]
    texts: list[str]
    #: One mapping a document (``meta_cols``' values), or None when no column was asked for.
    metadata: list[dict[str, str]] | None = None


def metadata_problem(key: object, value: object) -> str | None:
    """What is wrong with one metadata entry (None: nothing): a key is a non-empty string
    and a value a string, both within the bounds and without NUL (PostgreSQL's text has none)."""
    if not isinstance(key, str) or not key:
        return f"the metadata key {quoted(str(key))} is not a non-empty string"
    if len(key) > MAX_METADATA_KEY_CHARS:
        return f"the metadata key {quoted(key)} has {len(key):,} characters, more than {MAX_METADATA_KEY_CHARS}"
    if not isinstance(value, str):
        return f"the value of metadata key {quoted(key)} is a {type(value).__name__}, not a string"
    if len(value) > MAX_METADATA_VALUE_CHARS:
        return (f"the value of metadata key {quoted(key)} has {len(value):,} characters, more than "
                f"{MAX_METADATA_VALUE_CHARS:,}")
    if "\x00" in key or "\x00" in value:
        return f"the metadata key {quoted(key)} or its value holds a NUL character"
    return None


def _metadata_value(value: object) -> str | None:
    """A JSON value as metadata text (numbers and booleans as JSON writes them; null: none)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise ValueError(type(value).__name__)


def input_format(path: str) -> str:
    """The format a name says (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``, else lines)."""
    name = path.lower().removesuffix(".gz").removesuffix(".bz2")
    for suffix, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"), (".ndjson", "jsonl")):
        if name.endswith(suffix):
            return fmt
    return "lines"


def read_documents(source: str, *, format: str | None = None, text_col: str = "text",
                   id_col: str | None = None, meta_cols: Sequence[str] = ()) -> Documents:
    """The documents of ``source`` (a path, or ``-`` for standard input) in order, with
    their ids (``id_col``, else the 1-based line or row number) and, for ``meta_cols``
    (columns of a table or keys of JSON Lines), their metadata: a JSON number or boolean
    as JSON writes it, a JSON null as no value."""
    fmt = format or input_format(source)
    if fmt not in INPUT_FORMATS:
        raise InvalidArgumentError(f"must be one of {', '.join(INPUT_FORMATS)}, not {quoted(fmt)}", subject="format")
    label = "stdin" if source == "-" else source
    if meta_cols and fmt == "lines":
        raise InvalidArgumentError(f"reads columns of a .csv, .tsv or .jsonl file, and {quoted(label)} is one "
                                   "document a line", subject="meta_cols")
    if len(set(meta_cols)) > MAX_METADATA_KEYS:
        raise InvalidArgumentError(f"names {len(set(meta_cols))} columns; a document has at most "
                                   f"{MAX_METADATA_KEYS} metadata keys", subject="meta_cols")
    if fmt != "lines":
        columns = {**dict.fromkeys(meta_cols, "meta_cols"), text_col: "text_col",
                   **({id_col: "id_col"} if id_col is not None else {})}
        try:
            records = read_records(source, columns, format=fmt)
        except InputFileError as exc:
            if exc.hint is None or exc.hint[0] != "meta_cols":
                raise
            raise InputFileError(exc.path, exc.reason, exc.line) from None  # (no "meta_cols=" hint: it is a list)
        return _documents(records, label, text_col, id_col, numbered_by_line=fmt == "jsonl",
                          meta_cols=list(dict.fromkeys(meta_cols)))
    text = _decoded(_read_bounded(source, label), label)
    if text.count("\n") > MAX_DOCUMENTS:
        raise InputFileError(label, f"more than {MAX_DOCUMENTS:,} documents", MAX_DOCUMENTS + 1)
    texts = text.split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    texts = [t.removesuffix("\r") for t in texts]
    return Documents([str(i + 1) for i in range(len(texts))], texts)


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


@dataclass
class Record:
    """One row of a table or JSON Lines file: where it is, and the wanted columns' values."""

    line: int
    values: dict[str, object]


def read_records(source: str, columns: dict[str, str | None], *, format: str | None = None,
                 what: str = "documents") -> list[Record]:
    """The rows of a CSV, TSV or JSON Lines ``source`` (``-``: standard input), each with
    the values of ``columns`` (the column or key -> the parameter that names it, for the
    message when it is missing; a column mapped to None may be absent from a row). A CSV or
    TSV value is a string; a JSON value is as written (a label may be a list)."""
    if format is not None and format not in ("csv", "tsv", "jsonl"):
        raise InvalidArgumentError(f"must be csv, tsv or jsonl, not {quoted(format)}", subject="format")
    fmt = format or input_format(source)
    if fmt not in ("csv", "tsv", "jsonl"):
        raise InvalidArgumentError(f"{what} are read from .csv, .tsv or .jsonl files, and {quoted(source)} is none",
                                   hint=("table_format", "format='csv', 'tsv' or 'jsonl' says which it is"))
    label = "stdin" if source == "-" else source
    text = _decoded(_read_bounded(source, label), label)
    return _json_records(text, label, columns) if fmt == "jsonl" else _table_records(
        text, label, "," if fmt == "csv" else "\t", columns)


def _decoded(raw: bytes, label: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(label, "not valid UTF-8", raw.count(b"\n", 0, exc.start) + 1) from None


def _json_records(text: str, label: str, columns: dict[str, str | None]) -> list[Record]:
    records = []
    for number, line in enumerate(text.split("\n"), 1):  # (not splitlines: U+2028 may sit inside a JSON string)
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise InputFileError(label, "not a JSON object", number) from None
        if not isinstance(record, dict):
            raise InputFileError(label, "not a JSON object", number)
        for key, option in columns.items():
            if option is not None and key not in record:
                raise InputFileError(label, f"no key {quoted(key)} in this object", number,
                                     hint=(option, f"{option}= names the key"))
        records.append(Record(number, {key: record.get(key) for key in columns}))
        if len(records) > MAX_DOCUMENTS:
            raise InputFileError(label, f"more than {MAX_DOCUMENTS:,} rows", number)
    return records


def _table_records(text: str, label: str, delimiter: str, columns: dict[str, str | None]) -> list[Record]:
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = []
    try:
        header = next(reader, None)
        if header is None:
            raise InputFileError(label, "empty: expected a header row naming the columns")
        at = {name: i for i, name in enumerate(header)}
        for wanted, option in columns.items():
            if option is not None and wanted not in at:
                raise InputFileError(label, f"no column {quoted(wanted)} (columns: "
                                            f"{', '.join(quoted(c) for c in header[:20])})", 1,
                                     hint=(option, f"{option}= names the column"))
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):  # (more would shift a column: a label taken from a text's words)
                raise InputFileError(label, f"{len(row)} fields, {'fewer' if len(row) < len(header) else 'more'} "
                                     f"than the header's {len(header)}"
                                     + (" (an unquoted separator in a text?)" if len(row) > len(header) else ""),
                                     reader.line_num)
            records.append(Record(reader.line_num, {c: row[at[c]] if c in at else None for c in columns}))
            if len(records) > MAX_DOCUMENTS:
                raise InputFileError(label, f"more than {MAX_DOCUMENTS:,} rows", reader.line_num)
    except csv.Error as exc:
        raise InputFileError(label, f"not valid {'CSV' if delimiter == ',' else 'TSV'}: {exc}",
                             reader.line_num) from None
    return records


def _documents(records: list[Record], label: str, text_col: str, id_col: str | None, *,
               numbered_by_line: bool, meta_cols: list[str]) -> Documents:
    """Without an id column, a document's id is its line (JSON Lines: blank lines skipped
    keep their numbers) or its row (CSV and TSV: a text may span lines)."""
    ids, texts = [], []
    metadata: list[dict[str, str]] | None = [] if meta_cols else None
    for record in records:
        text = record.values[text_col]
        if not isinstance(text, str):
            raise InputFileError(label, f"no text in {quoted(text_col)} (a string there)", record.line)
        texts.append(text)
        ids.append(_id(record.values[id_col], label, record.line) if id_col is not None
                   else str(record.line if numbered_by_line else len(texts)))
        if metadata is not None:
            metadata.append(_record_metadata(record, meta_cols, label))
    return Documents(ids, texts, metadata)


def _record_metadata(record: Record, meta_cols: list[str], label: str) -> dict[str, str]:
    found = {}
    for key in meta_cols:
        try:
            value = _metadata_value(record.values[key])
        except ValueError as exc:
            raise InputFileError(label, f"the value of {quoted(key)} is a JSON {exc}, not a string, number or "
                                        "boolean", record.line) from None
        if value is None:
            continue
        problem = metadata_problem(key, value)
        if problem is not None:
            raise InputFileError(label, problem, record.line)
        found[key] = value
    return found


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
