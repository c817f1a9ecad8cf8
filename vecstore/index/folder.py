"""The folder of derived files beside a store: each set's raw rows, index and manifest.

A set's derived files are ``<uid>.rows`` (its rows as stored, raw float32: the exact
search scans them and a matrix reads just the rows it needs; a cache of the stored
chunks, its blocks those chunks with their digests), a manifest ``<uid>.json`` naming
the index kind (:data:`vecstore.index.KINDS`) and its parameters, and, for a kind that
has one, the index's own file ``<uid>.faiss`` (the default rows kind has none). Each data file ends
with a checksum footer binding it to the set's uid and content checksum
(:mod:`vecstore.integrity`; FAISS ignores bytes after an index). A file is used only
when its manifest and footer match the set's row and the blocks it is read from match
their digests; otherwise it is rebuilt from the stored, checksummed vectors and written
through an exclusive temp file and a rename, so a stale, swapped, truncated, altered or
missing file is never used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from vecstore.errors import InvalidArgumentError
from vecstore.index import DEFAULT_KIND, KINDS, has_file
from vecstore.index.approximate import APPROXIMATE_KINDS, ApproximateKind, recorded_params, resolve
from vecstore.index.kind import IndexKind, IndexWriter
from vecstore.integrity import DerivedFileError, Layout, VerifiedFile, append_footer, footer_kind, rows_layout
from vecstore.io.files import create_exclusive, is_temp_name, open_regular, reclaim_temp_files, temp_path
from vecstore.storage.records import SetInfo

if TYPE_CHECKING:
    import numpy as np
else:  # (imported on first use: a cold exact query needs no numpy; see vecstore._lazy)
    from vecstore._lazy import numpy as np

if TYPE_CHECKING:
    import faiss

log = logging.getLogger("vecstore")


@dataclass(frozen=True)
class PreparedIndex:
    """A set's files written to temp paths, not yet visible (None: could not be written,
    or, for ``tmp_path``, a kind without a file of its own)."""

    tmp_path: Path | None  # the index's own file (a kind that has one)
    rows_tmp_path: Path | None = None  # the stored rows, raw float32
    kind: IndexKind = DEFAULT_KIND

    @property
    def complete(self) -> bool:
        """Whether every file the kind needs was written."""
        return self.rows_tmp_path is not None and (self.tmp_path is not None or not has_file(self.kind))


class _TempFile:
    """One file being streamed; on any OS error it is dropped (the files are caches)."""

    def __init__(self, path: Path) -> None:
        self.path: Path | None = path
        self.file: BinaryIO | None = None
        try:
            self.file = create_exclusive(path)  # never through a symlink planted at the name
        except OSError as exc:
            log.warning("cannot persist %s: %s", path, exc)
            self.drop()

    def run(self, action: Callable[[BinaryIO], object]) -> None:
        if self.file is None:
            return
        try:
            action(self.file)
        except OSError as exc:  # a full disk costs a rebuild later, not the import
            log.warning("cannot persist %s: %s", self.path, exc)
            self.drop()

    def close(self, layout: Layout, info: SetInfo) -> Path | None:
        """Close the file and append its footer, binding it to ``info``'s content."""
        if self.file is not None:
            self.run(lambda f: f.close())
            self.file = None
        if self.path is not None:
            try:
                append_footer(self.path, layout, info.uid, info.content_checksum)
            except OSError as exc:
                log.warning("cannot persist %s: %s", self.path, exc)
                self.drop()
        return self.path

    def drop(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
        self.file = None
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
        self.path = None


class IndexFileWriter:
    """Streams a set's rows into its derived files beside the store while an import runs:
    a raw float32 copy of its rows and, for a kind that has one, its index's file (fed
    the unit rows).

    An import writes them block by block as the rows arrive, instead of building an
    index in memory and writing it at the end: the import holds no copy of the matrix.
    A kind completes its file, and each file's checksum footer is appended, in
    :meth:`finish`. The raw copy is the exact search's data and lets a matrix read just
    the rows it needs (a mapping, not 1 MiB chunks). Both are caches: if they cannot be
    written, queries rebuild them and matrices read the stored chunks.
    """

    def __init__(self, folder: Path, uid: str, dim: int, kind: IndexKind = DEFAULT_KIND) -> None:
        self.dim = dim
        self.rows = 0
        self.kind = kind
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
        #: Whether :meth:`add` needs the unit rows (a kind with a file of its own does).
        self.needs_unit_rows = has_file(kind)
        self._index: _TempFile | None = None
        self._kind_writer: IndexWriter | None = None
        if self.needs_unit_rows:
            self._index = _TempFile(temp_path(folder / f"{uid}.faiss"))
            self._index.run(lambda f: setattr(self, "_kind_writer", kind.writer(f, dim)))
        self._raw = _TempFile(temp_path(folder / f"{uid}.rows"))

    def add(self, unit_rows: np.ndarray | None, rows: np.ndarray) -> None:
        """Append rows as stored (for the raw copy) and, when :attr:`needs_unit_rows`,
        of unit length (for the index's file)."""
        self.rows += len(rows)
        if self._index is not None:
            self._index.run(lambda f: self._kind_writer.add(unit_rows))
        self._raw.run(lambda f: f.write(_bytes_of(rows)))

    def replace(self, row: int, unit_row: np.ndarray, stored_row: np.ndarray) -> None:
        """Overwrite one row already added (a repeated word given its newest vector)."""
        if self._index is not None:
            self._index.run(lambda f: self._kind_writer.replace(row, unit_row))
        self._raw.run(lambda f: (f.flush(), os.pwrite(f.fileno(), _bytes_of(stored_row), row * self.dim * 4)))

    def finish(self, info: SetInfo) -> PreparedIndex:
        """Complete the files and bind them to ``info``."""
        index = None
        if self._index is not None:
            self._index.run(lambda f: self._kind_writer.finish(self.rows))
            index = self._index.close(self.kind.layout(), info)
        rows = rows_layout(info.uid, info.rows_per_chunk, info.dim)
        return PreparedIndex(index, self._raw.close(rows, info), self.kind)

    def abandon(self) -> None:
        """Delete the temp files (the import failed)."""
        if self._index is not None:
            self._index.drop()
        self._raw.drop()


def _bytes_of(rows: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(rows, dtype="<f4")).cast("B")


_DERIVED = re.compile(r"^(?P<uid>[0-9a-f]{32})(?:\.(?:hnsw|ivf|ivfpq))?\.(?:faiss|rows|json)$")


class IndexFolder:
    """The folder of derived files (indexes, raw row copies, manifests) of one store."""

    def __init__(self, folder: Path, kind: IndexKind = DEFAULT_KIND) -> None:
        self.folder = folder
        #: The kind of index built for a set (every set's, for now); a set's files of
        #: another kind in :data:`~vecstore.index.KINDS` are used as they are.
        self.kind = kind

    def paths(self, uid: str) -> tuple[Path, Path]:
        return self.folder / f"{uid}.faiss", self.folder / f"{uid}.json"

    def rows_path(self, uid: str) -> Path:
        return self.folder / f"{uid}.rows"

    def files_of(self, uid: str) -> list[Path]:
        return [*self.paths(uid), self.rows_path(uid),
                *(path for short in APPROXIMATE_KINDS for path in self.approximate_paths(uid, short))]

    # -- approximate indexes (built on demand: vecstore.index.build) --------------------------

    def approximate_paths(self, uid: str, short: str) -> tuple[Path, Path]:
        """The file and manifest of set ``uid``'s approximate index of kind ``short``."""
        return self.folder / f"{uid}.{short}.faiss", self.folder / f"{uid}.{short}.json"

    def approximate_manifest(self, info: SetInfo, short: str) -> dict[str, Any] | None:
        """The manifest of ``info``'s ``short`` index if there is one and it describes this
        very set and a kind vecstore knows, else None."""
        _, manifest_path = self.approximate_paths(info.uid, short)
        manifest = _read_manifest(manifest_path)
        expected = {"set_uid": info.uid, "rows": info.count, "dim": info.dim,
                    "content_checksum": info.content_checksum, "kind": short}
        if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expected.items()):
            return None
        try:
            kind = resolve(short, info.count, info.dim, recorded_params(manifest))
        except (InvalidArgumentError, KeyError, TypeError, AttributeError):
            return None
        if kind.params != manifest["params"]:
            return None
        return manifest

    def approximate_manifests(self, info: SetInfo) -> list[dict[str, Any]]:
        """The valid manifests of ``info``'s approximate indexes, the latest built first."""
        found = [m for short in APPROXIMATE_KINDS if (m := self.approximate_manifest(info, short)) is not None]
        return sorted(found, key=lambda m: str(m.get("built_at", "")), reverse=True)

    def load_approximate(self, info: SetInfo, manifest: dict[str, Any]) -> tuple[ApproximateKind, faiss.Index] | None:
        """The approximate index a manifest describes, its footer and every block checked,
        else None (the caller rebuilds it or searches exactly)."""
        import faiss

        kind = resolve(manifest["kind"], info.count, info.dim, recorded_params(manifest))
        path, _ = self.approximate_paths(info.uid, kind.short)
        try:
            self.verify_approximate(info, manifest)
            # (mapped where FAISS can: an hnsw index's stored rows are not copied, so a
            # 189 MB index opens in tens of milliseconds, not half a second)
            index = faiss.read_index(str(path), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))
        except (DerivedFileError, RuntimeError) as exc:
            log.warning("not using the %s index of %s: %s", kind.short, info.name, exc)
            return None
        if index.ntotal != info.count or index.d != info.dim:
            return None
        return kind, index

    def verify_approximate(self, info: SetInfo, manifest: dict[str, Any]) -> ApproximateKind:
        """Check the footer and every block of the approximate index a (valid) manifest
        describes, the manifest's facts with them (they seed the blocks' digests); return
        its kind, or raise :class:`DerivedFileError`."""
        kind = resolve(manifest["kind"], info.count, info.dim, recorded_params(manifest))
        path, _ = self.approximate_paths(info.uid, kind.short)
        layout = kind.layout(manifest)
        if footer_kind(path) == kind.layout().kind:  # (built before footers bound manifests: accepted as it is)
            layout = kind.layout()
        verified = VerifiedFile(path, layout, info.uid, info.content_checksum, manifest.get("file_size"))
        try:
            verified.verify()
        finally:
            verified.close()
        return kind

    def publish_approximate(self, info: SetInfo, kind: ApproximateKind, index: faiss.Index,
                            facts: dict[str, Any]) -> Path:
        """Write ``index`` through a temp file with its footer, then its manifest (with
        ``facts``: recall, build time...): the previous index of the kind stays in use
        until the new one is complete."""
        import faiss

        from vecstore.io.readers import file_sha256

        self.reclaim()
        self.folder.mkdir(parents=True, exist_ok=True)
        path, _ = self.approximate_paths(info.uid, kind.short)
        tmp = temp_path(path)
        try:
            create_exclusive(tmp).close()  # (claims the name; FAISS writes the file without a copy in memory)
            faiss.write_index(index, str(tmp))
            size = tmp.stat().st_size
            manifest = {"set_uid": info.uid, "set_name": info.name, "rows": info.count, "dim": info.dim,
                        "content_checksum": info.content_checksum, "kind": kind.short, "index": kind.name,
                        "params": kind.params, "search": kind.search, "file_size": size, **facts}
            append_footer(tmp, kind.layout(manifest), info.uid, info.content_checksum)  # (binding the facts)
            manifest["sha256"] = file_sha256(tmp)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        self.install_approximate(info, kind.short, tmp, manifest)
        return path

    def approximate_temp(self, info: SetInfo, short: str) -> Path:
        """A new temp file beside where ``info``'s ``short`` index goes (created, empty)."""
        self.reclaim()
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(self.approximate_paths(info.uid, short)[0])
        create_exclusive(tmp).close()
        return tmp

    def mark_approximate(self, info: SetInfo, short: str, facts: dict[str, Any]) -> None:
        """Add ``facts`` to the manifest of ``info``'s ``short`` index (replaced atomically)."""
        manifest = self.approximate_manifest(info, short)
        if manifest is None:
            return
        _, manifest_path = self.approximate_paths(info.uid, short)
        tmp = _temp_manifest(manifest_path, {**manifest, **facts})
        try:
            tmp.replace(manifest_path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise

    def install_approximate(self, info: SetInfo, short: str, tmp: Path, manifest: dict[str, Any]) -> None:
        """Put the complete index file ``tmp`` in place, then ``manifest``, which vouches
        for it (the file is replaced before a manifest names it). ``tmp`` is gone after."""
        path, manifest_path = self.approximate_paths(info.uid, short)
        tmp_manifest = None
        try:
            tmp_manifest = _temp_manifest(manifest_path, manifest)
            manifest_path.unlink(missing_ok=True)
            tmp.replace(path)
            tmp_manifest.replace(manifest_path)
        except BaseException:
            for leftover in (tmp, tmp_manifest):
                with contextlib.suppress(OSError):
                    if leftover is not None:
                        leftover.unlink(missing_ok=True)
            raise

    def remove_approximate(self, uid: str, short: str) -> bool:
        """Delete set ``uid``'s ``short`` index; whether there was one."""
        removed = False
        for path in reversed(self.approximate_paths(uid, short)):  # (the manifest first: it vouches for the file)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed = True
        return removed

    def manifest_for(self, info: SetInfo, file_size: int | None, rows_file_size: int | None = None,
                     kind: IndexKind | None = None) -> dict[str, object]:
        # (No FAISS version: importing FAISS would cost an import 60 ms, and the file is
        # checked by loading it anyway.) A kind without parameters writes none: the
        # manifests of flat indexes are byte for byte those of earlier vecstores.
        kind = kind or self.kind
        return {"set_uid": info.uid, "set_name": info.name, "rows": info.count, "dim": info.dim,
                "content_checksum": info.content_checksum, "index": kind.name,
                **({"params": kind.params} if kind.params else {}), "file_size": file_size,
                "rows_file_size": rows_file_size}

    def manifest_bytes(self, info: SetInfo, file_size: int | None, rows_file_size: int | None,
                       kind: IndexKind | None = None) -> bytes:
        """The manifest file's exact bytes (``check`` compares them byte for byte)."""
        return json.dumps(self.manifest_for(info, file_size, rows_file_size, kind), indent=1).encode()

    def kind_of(self, manifest: dict[str, object] | None) -> IndexKind:
        """The kind a (valid) manifest records; the folder's own kind without one."""
        return KINDS[str(manifest["index"])] if manifest is not None else self.kind

    def manifest(self, info: SetInfo) -> dict[str, object] | None:
        """The manifest of ``info``'s files if it describes this very set, else None."""
        _, manifest_path = self.paths(info.uid)
        manifest = _read_manifest(manifest_path)
        if manifest is None:
            return None
        expected = {"set_uid": info.uid, "rows": info.count, "dim": info.dim,
                    "content_checksum": info.content_checksum}
        kind = KINDS.get(manifest.get("index")) if isinstance(manifest, dict) else None  # type: ignore[arg-type]
        if kind is None or manifest.get("params") != (kind.params or None) or \
                any(manifest.get(k) != v for k, v in expected.items()):
            log.info("the derived files of %s are stale (manifest %s)", info.name, manifest_path)
            return None
        return manifest

    def open_index_file(self, info: SetInfo, kind: IndexKind | None = None) -> VerifiedFile:
        """The index file of ``info`` (of ``kind``: the folder's by default), its footer
        checked (cheap); raises DerivedFileError."""
        kind = kind or self.kind
        index_path, _ = self.paths(info.uid)
        return VerifiedFile(index_path, kind.layout(), info.uid, info.content_checksum,
                            kind.payload_size(info.count, info.dim))

    def load(self, info: SetInfo) -> faiss.Index | None:
        """The persisted index of ``info`` if its manifest, footer and every block check
        out, else None (the caller rebuilds it).

        Every block is verified, not just the footer: an exact search reads every row
        anyway, and a row changed on disk would otherwise change answers silently.
        """
        index_path, _ = self.paths(info.uid)
        manifest = self.manifest(info)
        if manifest is None:
            return None
        kind = self.kind_of(manifest)
        if not has_file(kind):  # (the rows kind: the caller searches the raw rows)
            return None
        try:
            verified = self.open_index_file(info, kind)
            try:
                verified.verify()
            finally:
                verified.close()
        except DerivedFileError as exc:
            log.warning("not using the index of %s: %s; rebuilding it", info.name, exc)
            return None
        try:
            index = kind.load(index_path)
        except RuntimeError:
            log.warning("the index of %s cannot be read; rebuilding it", info.name)
            return None
        if index.ntotal != info.count or index.d != info.dim:
            return None
        return index

    def rows(self, info: SetInfo, chunk_checksums: list[str]) -> VerifiedFile | None:
        """The raw copy of ``info``'s rows, mapped read-only, its footer checked against the
        stored chunks' ``chunk_checksums`` (its blocks are those chunks); each read verifies
        the blocks it touches. None when it is missing or does not belong."""
        if info.count == 0 or self.manifest(info) is None:
            return None
        try:
            expected = [int(c, 16) for c in chunk_checksums]
            return VerifiedFile(self.rows_path(info.uid), rows_layout(info.uid, info.rows_per_chunk, info.dim),
                                info.uid, info.content_checksum, info.count * info.dim * 4, expected)
        except DerivedFileError as exc:
            log.warning("not using the raw rows of %s: %s", info.name, exc)
            return None

    def save(self, info: SetInfo, unit_vectors: np.ndarray, rows: np.ndarray) -> Any:
        """Build the index of ``info`` from its unit rows, persist it (and the raw rows) with
        its manifest, return it."""
        self.reclaim()
        writer = self.writer(info.uid, info.dim)
        writer.add(unit_vectors, rows)
        self.publish(info, writer.finish(info))
        return self.kind.build(unit_vectors)

    def upgrade_legacy(self, info: SetInfo, manifest: dict[str, object]) -> None:
        """Replace a legacy flat index (FAISS ``IndexFlatIP``: a second copy of the rows,
        unit length) by the rows kind, whose exact search reads the raw rows already
        there: a new manifest, then the old file gone. A folder that cannot be written
        keeps the old files (they stay valid)."""
        index_path, manifest_path = self.paths(info.uid)
        try:
            tmp = _temp_manifest(manifest_path, self.manifest_for(info, None, manifest.get("rows_file_size"),
                                                                  DEFAULT_KIND))
            tmp.replace(manifest_path)
            index_path.unlink(missing_ok=True)
        except OSError as exc:
            log.info("keeping the flat index of %s: %s", info.name, exc)

    def writer(self, uid: str, dim: int) -> IndexFileWriter:
        """Temp files for set ``uid``, filled as rows arrive and published after the commit."""
        return IndexFileWriter(self.folder, uid, dim, self.kind)

    def publish(self, info: SetInfo, prepared: PreparedIndex) -> None:
        """Move the prepared files into place, then the manifest (which makes them usable)."""
        if not prepared.complete:
            for leftover in (prepared.tmp_path, prepared.rows_tmp_path):
                if leftover is not None:
                    leftover.unlink(missing_ok=True)
            return
        index_path, manifest_path = self.paths(info.uid)
        tmp_manifest = temp_path(manifest_path)
        try:
            manifest_path.unlink(missing_ok=True)  # (files are replaced before a manifest vouches for them)
            size = None
            if prepared.tmp_path is not None:
                size = prepared.tmp_path.stat().st_size
                prepared.tmp_path.replace(index_path)
            else:
                index_path.unlink(missing_ok=True)  # (a flat index of the set, rebuilt: the rows kind has none)
            rows_size = None
            if prepared.rows_tmp_path is not None:
                rows_size = prepared.rows_tmp_path.stat().st_size
                prepared.rows_tmp_path.replace(self.rows_path(info.uid))
            with create_exclusive(tmp_manifest) as f:
                f.write(self.manifest_bytes(info, size, rows_size, prepared.kind))
            tmp_manifest.replace(manifest_path)
        except OSError as exc:
            log.warning("cannot persist the index of %s in %s: %s", info.name, self.folder, exc)
            for leftover in (prepared.tmp_path, prepared.rows_tmp_path, tmp_manifest):
                if leftover is not None:
                    with contextlib.suppress(OSError):
                        leftover.unlink(missing_ok=True)

    def discard_index(self, uid: str) -> None:
        """Delete set ``uid``'s exact index and raw rows (rebuilt on first use), not its
        approximate indexes."""
        for path in (*self.paths(uid), self.rows_path(uid)):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    def discard(self, uid: str) -> None:
        for path in self.files_of(uid):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    def reclaim(self) -> list[Path]:
        """Remove the temp files of writers that died (see :func:`vecstore.io.files.reclaim_temp_files`)."""
        removed = reclaim_temp_files(self.folder)
        for path in removed:
            log.info("removed %s, left by an interrupted write", path)
        return removed

    def tidy(self, current_uids: Callable[[], set[str]]) -> None:
        """What every write to the store does first: remove the temp files of writers that
        died and the derived files of sets that are gone."""
        self.reclaim()
        self.remove_orphans(current_uids)

    def orphans(self, current_uids: Callable[[], set[str]]) -> list[Path]:
        """Derived files whose set is gone (a set replaced or removed by a process killed
        before it deleted them).

        The folder is listed *before* the sets are (``current_uids`` is called after):
        an import publishes its files only after its commit, so a file seen here belongs
        to a set that the listing, later, sees, unless that set is really gone. A new
        set's files can never be taken for orphans, whatever runs at the same time.
        """
        derived = [(Path(e.path), m["uid"]) for e in self._entries() if (m := _DERIVED.match(e.name))]
        if not derived:
            return []
        uids = current_uids()
        return [path for path, uid in derived if uid not in uids]

    def remove_orphans(self, current_uids: Callable[[], set[str]]) -> list[Path]:
        """Remove the derived files of sets that are gone (see :meth:`orphans`)."""
        removed = []
        for path in self.orphans(current_uids):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
                log.info("removed %s, a derived file of a set that is gone", path)
        return removed

    def unknown_files(self) -> list[Path]:
        """Files in the folder that vecstore does not write (neither derived nor temp)."""
        return [Path(e.path) for e in self._entries()
                if _DERIVED.match(e.name) is None and not is_temp_name(e.name)]

    def _entries(self) -> list[os.DirEntry]:
        try:
            return sorted(os.scandir(self.folder), key=lambda e: e.name)
        except OSError:
            return []


def _temp_manifest(manifest_path: Path, manifest: dict[str, Any]) -> Path:
    """``manifest`` written to a new temp file beside ``manifest_path`` (removed if the
    write fails), for the caller to rename into place."""
    tmp = temp_path(manifest_path)
    try:
        with create_exclusive(tmp) as f:
            f.write(json.dumps(manifest, indent=1).encode())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return tmp


def _read_manifest(path: Path) -> object | None:
    """A manifest file's JSON (at most 1 MiB, never through a FIFO), or None when it is
    missing or unreadable."""
    try:
        with open_regular(path) as f:
            return json.loads(f.read(1 << 20).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
