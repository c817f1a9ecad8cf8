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

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vecstore.cosine import normalized
from vecstore.errors import StoreError, counted
from vecstore.index import has_file
from vecstore.integrity import (
    DerivedFileError,
    Layout,
    VerifiedFile,
    chunk_digest,
    content_checksum,
    rows_layout,
)
from vecstore.io.files import open_regular, reclaim_temp_files
from vecstore.storage.records import Chunk, SetInfo
from vecstore.storage.statements import SCHEMA_HEAD

if TYPE_CHECKING:
    from vecstore.storage.catalog import Catalog
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
    """One set checked: a set of words, or a collection's document vectors (``kind``
    ``"collection"``, named as the collection is)."""

    name: str
    uid: str
    count: int
    content_checksum: str
    stored_ok: bool = True
    derived_ok: bool = True
    kind: str = "set"

    @classmethod
    def of(cls, info: SetInfo) -> SetCheck:
        return cls(info.display_name, info.uid, info.count, info.content_checksum,
                   kind="collection" if info.kind == "documents" else "set")

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "uid": self.uid, "count": self.count,
                "content_checksum": self.content_checksum, "stored_ok": self.stored_ok, "derived_ok": self.derived_ok}


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
        collections = sum(s.kind == "collection" for s in self.sets)
        held = counted(len(self.sets) - collections, "set") + (
            f", {counted(collections, 'collection')}" if collections else "")
        return (f"{self.store}: schema {self.revision or '-'}, {held} ({counted(rows, 'row')}): every chunk "
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
        catalog = store.open()
        report.revision = catalog.revision()
        sets = catalog.list_sets()
    except StoreError as exc:  # not found, damaged, of another program, busy
        report.problem("store", exc.message)
        return _done(report, started)
    if report.revision != SCHEMA_HEAD:
        report.problem("store", f"schema at revision {report.revision}, not {SCHEMA_HEAD}")
    try:
        for message in catalog.integrity_check()[:20]:
            report.problem("database", f"SQLite integrity check: {message}")
    except StoreError as exc:
        report.problem("database", exc.message)
    for listed in sorted(sets, key=lambda s: (s.kind != "words", s.display_name)):  # (sets, then collections)
        _check_one_set(store, listed, report, repair)
    _check_server_tables(store, report, repair)
    _check_folder(store, report, repair)
    return _done(report, started)


def _check_one_set(store: Store, listed: SetInfo, report: CheckReport, repair: bool) -> None:
    """Check one set inside a read snapshot, then repair what is derived and check again."""
    subject = listed.subject
    result = SetCheck.of(listed)
    report.sets.append(result)
    first = len(report.findings)
    derived: list[Finding] = []
    try:
        with store.open().snapshot():
            info = store.open().find_set(listed.name)  # again, inside the snapshot
            if info is None or info.uid != listed.uid:
                report.note(subject, "replaced or removed while the check ran; not checked")
                return
            derived = _check_set(store, info, result, report)
    except StoreError as exc:  # a damaged page
        report.problem(subject, exc.message)
        result.stored_ok = False
        return
    if _replaced_since(store, listed):  # its files were being replaced while they were read
        del report.findings[first:]
        report.note(subject, "replaced while the check ran; not checked")
        return
    _check_shared(store, info, report, repair)
    if result.stored_ok:
        _check_server(store, info, report, repair)
    if not (derived and repair and result.stored_ok):
        return
    from vecstore.ann import rebuild_approximate
    from vecstore.query import EmbeddingSet

    recorded = {m["kind"]: m for m in reversed(store.indexes.approximate_manifests(info))}  # (oldest first:
    # rebuilt with the parameters they had, the one that answered built last, so it still answers)
    store.indexes.discard(info.uid)
    embedding_set = EmbeddingSet(info, store.open(), store.indexes)  # (either kind: not through Store.get)
    try:
        embedding_set.index()  # rebuilt from the verified stored vectors, and persisted
        for manifest in recorded.values():
            rebuild_approximate(embedding_set, manifest)
    finally:
        embedding_set.close()
    again = CheckReport(report.store)
    _check_set(store, info, SetCheck.of(info), again)
    left = [f for f in again.findings if f.severity == "problem"]
    for finding in derived:
        finding.repaired = not left
    for finding in left:
        report.problem(subject, f"still, after the repair: {finding.message}")


def _check_shared(store: Store, info: SetInfo, report: CheckReport, repair: bool) -> None:
    """The copies of the set's indexes a server store keeps for every machine; a damaged
    one is removed by ``repair`` (the next build shares a sound one)."""
    from vecstore.index import shared

    catalog = store.open()
    if not shared.is_shared(catalog):
        return
    for kind, problem in shared.verify_shared(catalog, info):
        finding = report.problem(info.subject, f"its shared {kind} index in the store: {problem}")
        if repair:
            catalog.unshare_index(info, kind)
            finding.repaired = True


def _check_server(store: Store, info: SetInfo, report: CheckReport, repair: bool) -> None:
    """The set's pgvector indexes (a server store): each table's rows compared with the unit
    rows of the verified chunks; ``repair`` builds a wrong one again, with its parameters."""
    from vecstore.index import pgvector
    from vecstore.query import EmbeddingSet

    for server_index in pgvector.recorded(store.open(), info):
        embedding_set = EmbeddingSet(info, store.open(), store.indexes)
        try:
            problem = pgvector.verify(embedding_set, server_index)
            if problem is None:
                continue
            finding = report.problem(info.subject, f"its {server_index.kind.short} index in the server: {problem}")
            if repair:
                from vecstore.ann import rebuild_approximate

                try:
                    rebuild_approximate(embedding_set, server_index.manifest)
                except StoreError as exc:  # (a role that may not create tables: said, and the check goes on)
                    finding.message += f" (cannot build it again: {exc.message})"
                    continue
                again = pgvector.recorded(store.open(), info)
                finding.repaired = bool(again) and pgvector.verify(embedding_set, again[0]) is None
        finally:
            embedding_set.close()


def _check_server_tables(store: Store, report: CheckReport, repair: bool) -> None:
    """pgvector tables no set's record names (a set replaced by a role that could not drop
    its owner's table): ``repair`` drops those this role owns."""
    from vecstore.index import pgvector

    try:
        orphans = pgvector.orphan_tables(store.open())
    except StoreError as exc:
        report.problem("database", exc.message)
        return
    for table in orphans:
        finding = report.problem(f"table {table}", "a pgvector index of no set (an orphan)")
        if repair:
            pgvector.drop_orphans(store.open(), [table])
            finding.repaired = table not in pgvector.orphan_tables(store.open())


def _replaced_since(store: Store, listed: SetInfo) -> bool:
    current = store.open().find_set(listed.name)
    return current is None or current.uid != listed.uid


def _done(report: CheckReport, started: float) -> CheckReport:
    report.seconds = time.perf_counter() - started
    return report


class _Derived:
    """One derived file of a set under check: missing, wrong (``problem``), or open and
    so far matching the stored vectors."""

    def __init__(self, path: Path, layout: Layout, info: SetInfo, payload_size: int, offset: int | None,
                 expected: np.ndarray | None = None) -> None:
        self.path = path
        self.offset = offset or 0  # where the rows start in the payload
        self.file: VerifiedFile | None = None
        self.problem: str | None = None
        self.missing = not path.exists()
        if not self.missing:
            try:
                self.file = VerifiedFile(path, layout, info.uid, info.content_checksum, payload_size, expected)
            except DerivedFileError as exc:
                self.problem = _reason(exc)

    @classmethod
    def stray(cls, path: Path, problem: str) -> _Derived:
        """A file of the set that should not be there (a repair removes it)."""
        found = cls.__new__(cls)
        found.path, found.offset, found.file, found.problem, found.missing = path, 0, None, problem, False
        return found

    def compare(self, expected: np.ndarray, first_row: int, dim: int) -> None:
        if self.file is not None and self.problem is None:
            self.problem = _compare(self.file, expected, self.offset + first_row * dim * 4)

    def verify(self) -> None:
        """Every block against its digest (a file that does not hold the rows verbatim)."""
        if self.file is not None and self.problem is None:
            try:
                self.file.verify()
            except DerivedFileError as exc:
                self.problem = _reason(exc)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _check_set(store: Store, info: SetInfo, result: SetCheck, report: CheckReport) -> list[Finding]:
    """Check a set's chunks and derived files; return the findings about derived files."""
    subject = info.subject
    catalog = store.open()
    manifest = store.indexes.manifest(info)  # (read once: its kind, then whether it is this set's)
    index_kind = store.indexes.kind_of(manifest)
    per = info.rows_per_chunk
    chunks = -(-info.count // per)
    vector_sums, word_sums = catalog.chunk_checksums(info.id)
    for kind, recorded in (("vector", vector_sums), ("word", word_sums)):
        extra = sorted(set(recorded) - set(range(chunks)))
        if extra:
            report.problem(subject, f"{len(extra)} {kind} chunks beyond its {info.count:,} rows "
                                    f"(from chunk {extra[0]})")
            result.stored_ok = False
    index_path, manifest_path = store.indexes.paths(info.uid)
    expected_rows = np.array([int(vector_sums.get(n, "0"), 16) for n in range(chunks)], dtype="<u8")
    raw = _Derived(store.indexes.rows_path(info.uid), rows_layout(info.uid, per, info.dim), info,
                   info.count * info.dim * 4, 0, expected_rows)
    index = None  # (the index's own file, for a kind that has one; the rows kind searches the raw rows)
    if has_file(index_kind):
        index = _Derived(index_path, index_kind.layout(), info, index_kind.payload_size(info.count, info.dim),
                         index_kind.rows_offset)
    files = [raw] if index is None else [raw, index]
    digests: list[tuple[str, str]] = []
    for first in range(0, chunks, _BATCH):
        numbers = list(range(first, min(first + _BATCH, chunks)))
        vectors = {c.number: c for c in catalog.vector_chunks(info.id, numbers)}
        words = {c.number: c for c in catalog.word_chunks(info.id, numbers)}
        for number in numbers:
            rows_here = min(per, info.count - number * per)
            problem = _chunk_problem(info.uid, number, vectors.get(number), words.get(number), rows_here, info.dim)
            if problem is not None:
                report.problem(subject, f"chunk {number}: {problem}")
                result.stored_ok = False
                continue
            digests.append((vectors[number].checksum, words[number].checksum))
            stored = np.frombuffer(vectors[number].data, dtype="<f4").reshape(rows_here, info.dim)
            if index is not None and index_kind.rows_offset is not None:  # (an index holding its unit rows)
                index.compare(normalized(stored), number * per, info.dim)
            raw.compare(stored, number * per, info.dim)
    if result.stored_ok and content_checksum(info.dim, info.count, digests) != info.content_checksum:
        report.problem(subject, "its content checksum does not match its chunks' checksums")
        result.stored_ok = False
    if info.format == "fasttext-bin":
        _check_ngrams(catalog, info, result, report, subject)
    if index is not None:
        if index_kind.rows_offset is None:
            index.verify()
        head = index_kind.head(info.dim, info.count)  # (b"" for a kind that has none)
        if index.file is not None and index.problem is None and bytes(index.file.payload[:len(head)]) != head:
            index.problem = "its FAISS header is not that of this set"
    elif index_path.exists():  # (left by an upgrade from the flat kind that could not finish)
        files.append(_Derived.stray(index_path, "a flat index file the set's manifest does not name"))
    for derived in files:
        derived.close()
    findings = _report_derived(store, info, files, manifest_path, manifest, result, report, subject)
    return findings + _check_approximate(store, info, result, report, subject)


def _check_ngrams(catalog: Catalog, info: SetInfo, result: SetCheck, report: CheckReport, subject: str) -> None:
    """A fastText set's n-gram rows: the settings and the recorded digests against the
    subword model's checksum first (an edited bucket count is refused before it is read
    by), then every chunk against its digest."""
    from vecstore.subwords import SubwordModel

    row = catalog.subword_model(info.id)
    recorded = catalog.ngram_checksums(info.id)
    if row is None:
        if info.has_subwords or recorded:
            report.problem(subject, "its subword model is missing from the store"
                           + (f" ({len(recorded):,} n-gram chunks are left)" if recorded else ""))
            result.stored_ok = False
        return  # (a model without n-grams: none were stored)
    model = SubwordModel.recorded(info, row, recorded)
    if model is None:
        report.problem(subject, "its subword model's checksum does not match its n-gram settings and chunks")
        result.stored_ok = False
        return
    per, chunks = info.rows_per_chunk, len(recorded)
    for first in range(0, chunks, _BATCH):
        numbers = list(range(first, min(first + _BATCH, chunks)))
        found = {c.number: c for c in catalog.ngram_chunks(info.id, numbers)}
        for number in numbers:
            chunk, rows_here = found.get(number), min(per, model.bucket - number * per)
            if chunk is None:
                problem = "missing"
            elif len(chunk.data) != rows_here * info.dim * 4:
                problem = f"holds {len(chunk.data):,} bytes, not {rows_here * info.dim * 4:,}"
            elif chunk_digest(chunk.data, info.uid, "ngrams", number) != recorded[number]:
                problem = "fails its checksum"
            else:
                continue
            report.problem(subject, f"n-gram chunk {number}: {problem}")
            result.stored_ok = False


def _check_approximate(store: Store, info: SetInfo, result: SetCheck, report: CheckReport,
                       subject: str) -> list[Finding]:
    """Each approximate index of the set: its manifest this set's, every block matching
    its footer (a repair builds it again with the parameters it recorded)."""
    from vecstore.index.approximate import APPROXIMATE_KINDS

    findings = []
    for short in APPROXIMATE_KINDS:
        path, manifest_path = store.indexes.approximate_paths(info.uid, short)
        if not path.exists() and not manifest_path.exists():
            continue
        manifest = store.indexes.approximate_manifest(info, short)
        if manifest is None:
            findings.append(report.problem(subject, f"{manifest_path.name}: missing, or not this set's manifest"))
            result.derived_ok = False
            continue
        try:
            store.indexes.verify_approximate(info, manifest)
        except DerivedFileError as exc:
            findings.append(report.problem(subject, f"{path.name}: {_reason(exc)}"))
            result.derived_ok = False
    return findings


def _report_derived(store: Store, info: SetInfo, files: list[_Derived], manifest_path: Path,
                    manifest: dict[str, object] | None, result: SetCheck,
                    report: CheckReport, subject: str) -> list[Finding]:
    findings = []
    if all(f.missing for f in files):
        findings.append(report.note(subject, "no derived files yet (they are built on first use)"))
    elif _older_manifest(manifest_path):
        findings.append(report.note(subject, "its derived files are from a vecstore before checksums (they are "
                                             "rebuilt on first use)"))
    else:
        for derived in files:
            if derived.missing:
                findings.append(report.note(subject, f"{derived.path.name} is missing (rebuilt on first use)"))
            elif derived.problem is not None:
                findings.append(report.problem(subject, f"{derived.path.name}: {derived.problem}"))
                result.derived_ok = False
        if manifest is None:
            findings.append(report.problem(subject, f"{manifest_path.name}: missing, or not this set's manifest"))
            result.derived_ok = False
        elif not any(f.missing for f in files) and _read(manifest_path) != store.indexes.manifest_bytes(
                info, files[1].path.stat().st_size if has_file(store.indexes.kind_of(manifest)) else None,
                files[0].path.stat().st_size, store.indexes.kind_of(manifest)):
            findings.append(report.problem(subject, f"{manifest_path.name}: differs from what this set's files say"))
            result.derived_ok = False
    return findings


def _read(path: Path) -> bytes | None:
    try:
        with open_regular(path) as f:
            return f.read(1 << 20)
    except OSError:
        return None


def _older_manifest(path: Path) -> bool:
    """Whether ``path`` is a manifest written before derived files had checksum footers."""
    try:
        manifest = json.loads(_read(path) or b"")
    except (ValueError, RecursionError):
        return False
    return isinstance(manifest, dict) and "source_sha256" in manifest and "content_checksum" not in manifest


def _reason(exc: DerivedFileError) -> str:
    """The error without the file name it starts with (the finding names the file)."""
    return str(exc).split(": ", 1)[-1]


def _chunk_problem(uid: str, number: int, vectors: Chunk | None, words: Chunk | None, rows: int,
                   dim: int) -> str | None:
    if vectors is None or words is None:
        return "missing from the " + ("vector" if vectors is None else "word") + " chunks"
    if chunk_digest(vectors.data, uid, "vectors", number) != vectors.checksum:
        return "its vectors fail their checksum"
    if chunk_digest(words.data, uid, "words", number) != words.checksum:
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
        return f"holds other values than the stored vectors (from byte {offset:,})"
    return None


def _check_folder(store: Store, report: CheckReport, repair: bool) -> None:
    """Orphans (derived files of no set), leftovers of dead writers, and unknown files.
    The folder is listed before the sets (see :meth:`IndexFolder.orphans`): a set
    imported while the check ran keeps its files."""
    folder = store.indexes.folder
    orphans = store.indexes.orphans(lambda: {s.uid for s in store.open().list_sets()})
    leftovers = reclaim_temp_files(folder, dry_run=True)
    for paths, what in ((orphans, "belongs to no set (an orphan)"),
                        (leftovers, "left by a write that was interrupted")):
        for path in paths:
            finding = report.problem(f"file {path.name}", what)
            if repair:
                try:
                    path.unlink(missing_ok=True)
                    finding.repaired = True
                except OSError as exc:
                    finding.message += f" (cannot remove it: {exc.strerror or exc})"
    for path in store.indexes.unknown_files():
        report.note(f"file {path.name}", "not a file vecstore writes (left alone)")
