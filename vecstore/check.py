"""``vecstore check``: verify every byte of a store, and repair what is derived.

What is checked, in order:

1. the store opens: its file is a SQLite database of vecstore's (or the server answers),
   its schema revision is known, and (SQLite) ``PRAGMA integrity_check`` passes;
2. every set: its chunks are numbered 0..n-1 in both tables, each has the size its rows
   need and the checksum recorded with it, its words are valid UTF-8 and as many as its
   rows, and the chunk checksums give the set's content checksum;
3. every derived file of every set: its manifest, its footer (bound to the set's uid and
   content checksum), every block against its digest, and its bytes against what the
   stored vectors say they must be (the unit rows, the raw rows);
4. the folder of derived files: files of sets that no longer exist, and temp files left
   by writers that died.

``repair`` rebuilds derived files that are missing or wrong (from the verified stored
vectors) and removes orphans and leftovers. It never touches a set's stored vectors or
words: damage there is reported, and the remedy is to import the set again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vecstore.catalog import SCHEMA_HEAD, SetInfo, SqliteCatalog
from vecstore.errors import StoreError
from vecstore.files import reclaim_temp_files
from vecstore.index import (
    _FLAT_IP_HEADER,
    INDEX_FILE_KIND,
    ROWS_FILE_KIND,
    _flat_ip_header,
    index_payload_size,
    normalized,
)
from vecstore.integrity import BLOCK_BYTES, DerivedFileError, VerifiedFile, content_checksum, digest

if TYPE_CHECKING:
    from vecstore.store import Store

#: Chunks read per query while checking (bounded memory: about this many MiB).
_BATCH = 16


@dataclass
class Finding:
    """One thing found wrong (``problem``) or worth knowing (``note``)."""

    severity: str  # "problem" or "note"
    subject: str
    message: str
    repaired: bool = False

    def line(self) -> str:
        state = "repaired" if self.repaired else self.severity
        return f"{state}: {self.subject}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"severity": self.severity, "subject": self.subject, "message": self.message,
                "repaired": self.repaired}


@dataclass
class SetCheck:
    name: str
    uid: str
    count: int
    content_checksum: str
    stored_ok: bool = True
    derived_ok: bool = True

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "uid": self.uid, "count": self.count, "content_checksum": self.content_checksum,
                "stored_ok": self.stored_ok, "derived_ok": self.derived_ok}


@dataclass
class CheckReport:
    store: str
    revision: str | None = None
    head: str = SCHEMA_HEAD
    sets: list[SetCheck] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (any more: repaired findings count as fixed)."""
        return not any(f.severity == "problem" and not f.repaired for f in self.findings)

    def problem(self, subject: str, message: str) -> Finding:
        finding = Finding("problem", subject, message)
        self.findings.append(finding)
        return finding

    def note(self, subject: str, message: str) -> Finding:
        finding = Finding("note", subject, message)
        self.findings.append(finding)
        return finding

    def summary(self) -> str:
        rows = sum(s.count for s in self.sets)
        state = "OK" if self.ok else "DAMAGED"
        return (f"{self.store}: schema {self.revision or '-'}, {len(self.sets)} sets ({rows:,} rows): every chunk "
                f"and derived file checked: {state} ({self.seconds:.2f} s)")

    def to_dict(self) -> dict[str, object]:
        return {"store": self.store, "revision": self.revision, "head": self.head, "ok": self.ok,
                "seconds": round(self.seconds, 3), "sets": [s.to_dict() for s in self.sets],
                "findings": [f.to_dict() for f in self.findings]}


def check_store(store: Store, *, repair: bool = False) -> CheckReport:
    """Check ``store`` as the module docstring says; see :meth:`vecstore.store.Store.check`."""
    started = time.perf_counter()
    report = CheckReport(store.location.display())
    try:
        catalog = store.catalog
        report.revision = catalog.revision()
        sets = catalog.list_sets()
    except StoreError as exc:  # not found, damaged, of another program, busy
        report.problem("store", str(exc))
        return _done(report, started)
    if report.revision != SCHEMA_HEAD:
        report.problem("store", f"schema at revision {report.revision}, not {SCHEMA_HEAD}")
    if isinstance(catalog, SqliteCatalog):
        for message in catalog.integrity_check()[:20]:
            report.problem("database", f"SQLite integrity check: {message}")
    for info in sets:
        result = SetCheck(info.name, info.uid, info.count, info.content_checksum)
        report.sets.append(result)
        _check_set(store, info, result, report, repair)
    _check_folder(store, {s.uid for s in sets}, report, repair)
    return _done(report, started)


def _done(report: CheckReport, started: float) -> CheckReport:
    report.seconds = time.perf_counter() - started
    return report


class _Derived:
    """One derived file of a set under check: missing, wrong (``problem``), or open and
    so far matching the stored vectors."""

    def __init__(self, path: Path, kind: str, info: SetInfo, payload_size: int, offset: int) -> None:
        self.path = path
        self.offset = offset  # where the rows start in the payload
        self.file: VerifiedFile | None = None
        self.problem: str | None = None
        self.missing = not path.exists()
        if not self.missing:
            try:
                self.file = VerifiedFile(path, kind, info.uid, info.content_checksum, payload_size)
            except DerivedFileError as exc:
                self.problem = _reason(exc)

    def compare(self, expected: np.ndarray, first_row: int, dim: int) -> None:
        if self.file is not None and self.problem is None:
            self.problem = _compare(self.file, expected, self.offset + first_row * dim * 4)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _check_set(store: Store, info: SetInfo, result: SetCheck, report: CheckReport, repair: bool) -> None:
    subject = f"set {info.name!r}"
    catalog = store.catalog
    per = info.rows_per_chunk
    chunks = -(-info.count // per)
    index_path, manifest_path = store.indexes.paths(info.uid)
    files = [_Derived(index_path, INDEX_FILE_KIND, info, index_payload_size(info.count, info.dim),
                      _FLAT_IP_HEADER.size),
             _Derived(store.indexes.rows_path(info.uid), ROWS_FILE_KIND, info, info.count * info.dim * 4, 0)]
    vector_nos, word_nos = catalog.chunk_numbers(info.id)
    for table, numbers in (("vector", vector_nos), ("word", word_nos)):
        extra = sorted(set(numbers) - set(range(chunks)))
        if extra:
            report.problem(subject, f"{len(extra)} {table} chunks beyond its {info.count:,} rows "
                                    f"(from chunk {extra[0]})")
            result.stored_ok = False
    digests: list[tuple[str, str]] = []
    for first in range(0, chunks, _BATCH):
        numbers = list(range(first, min(first + _BATCH, chunks)))
        vectors = {c.number: c for c in catalog.vector_chunks(info.id, numbers)}
        words = {c.number: c for c in catalog.word_chunks(info.id, numbers)}
        for number in numbers:
            rows_here = min(per, info.count - number * per)
            problem = _chunk_problem(vectors.get(number), words.get(number), rows_here, info.dim)
            if problem is not None:
                report.problem(subject, f"chunk {number}: {problem}")
                result.stored_ok = False
                continue
            digests.append((vectors[number].checksum, words[number].checksum))
            stored = np.frombuffer(vectors[number].data, dtype="<f4").reshape(rows_here, info.dim)
            files[0].compare(normalized(stored), number * per, info.dim)
            files[1].compare(stored, number * per, info.dim)
    if result.stored_ok and content_checksum(info.dim, info.count, digests) != info.content_checksum:
        report.problem(subject, "its content checksum does not match its chunks' checksums")
        result.stored_ok = False
    index = files[0]
    if index.file is not None and index.problem is None and \
            bytes(index.file.payload[:_FLAT_IP_HEADER.size]) != _flat_ip_header(info.dim, info.count):
        index.problem = "its FAISS header is not that of this set"
    for derived in files:
        derived.close()
    _report_derived(store, info, files, manifest_path, result, report, subject, repair)


def _report_derived(store: Store, info: SetInfo, files: list[_Derived], manifest_path: Path, result: SetCheck,
                    report: CheckReport, subject: str, repair: bool) -> None:
    findings = []
    if all(f.missing for f in files):
        findings.append(report.note(subject, "no derived files yet (they are built on first use)"))
    else:
        for derived in files:
            if derived.missing:
                findings.append(report.note(subject, f"{derived.path.name} is missing (rebuilt on first use)"))
            elif derived.problem is not None:
                findings.append(report.problem(subject, f"{derived.path.name}: {derived.problem}"))
                result.derived_ok = False
        if store.indexes.manifest(info) is None:
            findings.append(report.problem(subject, f"{manifest_path.name}: missing, or not this set's manifest"))
            result.derived_ok = False
    if findings and repair and result.stored_ok:
        store.indexes.discard(info.uid)
        embedding_set = store.get(info.name)
        embedding_set.index()  # rebuilt from the verified stored vectors, and persisted
        embedding_set.close()
        for finding in findings:
            finding.repaired = True


def _reason(exc: DerivedFileError) -> str:
    """The error without the file name it starts with (the finding names the file)."""
    return str(exc).split(": ", 1)[-1]


def _chunk_problem(vectors, words, rows: int, dim: int) -> str | None:
    if vectors is None or words is None:
        return "missing from the " + ("vector" if vectors is None else "word") + " chunks"
    if digest(vectors.data) != vectors.checksum:
        return "its vectors fail their checksum"
    if digest(words.data) != words.checksum:
        return "its words fail their checksum"
    if len(vectors.data) != rows * dim * 4:
        return f"holds {len(vectors.data):,} bytes of vectors where its {rows:,} rows need {rows * dim * 4:,}"
    try:
        count = len(words.data.decode("utf-8").split("\n"))
    except UnicodeDecodeError:
        return "its words are not valid UTF-8"
    if count != rows:
        return f"holds {count:,} words for {rows:,} rows"
    return None


def _compare(opened: VerifiedFile, expected: np.ndarray, offset: int) -> str | None:
    """Whether ``opened``'s payload holds ``expected`` (float32 rows) at ``offset``,
    after verifying the blocks those bytes are in."""
    data = np.ascontiguousarray(expected, dtype="<f4").tobytes()
    end = offset + len(data)
    try:
        opened.verify(offset, end)
    except DerivedFileError as exc:
        return _reason(exc)
    if bytes(opened.payload[offset:end]) != data:
        block = offset // BLOCK_BYTES
        return f"holds other values than the stored vectors (from block {block})"
    return None


def _check_folder(store: Store, uids: set[str], report: CheckReport, repair: bool) -> None:
    folder = store.indexes.folder
    for path in store.indexes.orphans(uids):
        finding = report.problem(f"file {path.name}", "belongs to no set (an orphan)")
        if repair:
            path.unlink(missing_ok=True)
            finding.repaired = True
    for path in reclaim_temp_files(folder, dry_run=not repair):
        finding = report.problem(f"file {path.name}", "left by a write that was interrupted")
        finding.repaired = repair
