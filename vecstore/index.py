"""The exact cosine FAISS index of each set, and the raw copy of its rows, beside the store.

A set's derived files are ``<uid>.faiss`` (an ``IndexFlatIP`` over its L2-normalised
rows: the inner product of unit vectors is cosine similarity, exactly), ``<uid>.rows``
(its rows as stored, raw float32, so a matrix reads just the rows it needs) and a
manifest ``<uid>.json``. Each data file ends with a checksum footer binding it to the
set's uid and content checksum (:mod:`vecstore.integrity`; FAISS ignores bytes after an
index). A file is used only when its manifest and footer match the set's row and the
blocks it is read from match their digests; otherwise it is rebuilt from the stored,
checksummed vectors and written through an exclusive temp file and a rename, so a
stale, swapped, truncated, altered or missing file is never used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from vecstore.catalog import SetInfo
from vecstore.files import create_exclusive, is_temp_name, open_regular, reclaim_temp_files, temp_path
from vecstore.integrity import DerivedFileError, Layout, VerifiedFile, append_footer, index_layout, rows_layout

if TYPE_CHECKING:
    import faiss

log = logging.getLogger("vecstore")

INDEX_KIND = "IndexFlatIP/cosine"


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows (all-zero rows stay zero).

    Squared norms are summed in float32 (fast); rows whose sum overflows (values beyond
    about 1e19) or underflows to zero while not zero are redone in float64.
    """
    return unit_rows(vectors)[0]


def unit_rows(vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`normalized` rows, and the sum of all squared values (float64) it measured on
    the way (an import's statistics need it: one pass instead of two)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    flat = vectors.reshape(-1, vectors.shape[-1])
    with np.errstate(over="ignore", under="ignore"):
        squares = np.einsum("ij,ij->i", flat, flat)
    norms = np.sqrt(squares)
    unsafe = ~np.isfinite(norms)
    tiny = np.flatnonzero(norms < 1e-18)  # zero rows, or rows whose squares underflowed
    if tiny.size:
        unsafe[tiny] = flat[tiny].any(axis=1)
    if unsafe.any():
        wide = flat[unsafe].astype(np.float64)
        wide_norms = np.linalg.norm(wide, axis=1)
        total = float(squares[~unsafe].sum(dtype=np.float64) + (wide_norms**2).sum())
        norms[unsafe] = wide_norms  # (the division below uses these float64 norms)
        out = flat / np.where(norms == 0, 1.0, norms)[:, None]
        out[unsafe] = (wide / wide_norms[:, None]).astype(np.float32)
    else:
        total = float(squares.sum(dtype=np.float64))
        norms[norms == 0] = 1.0
        out = flat / norms[:, None]
    return np.ascontiguousarray(out, dtype=np.float32).reshape(vectors.shape), total


#: The header of a FAISS ``IndexFlatIP`` file, as ``faiss.write_index`` writes it: fourcc,
#: d, ntotal, two unused int64, is_trained, metric type (0 = inner product), then the
#: number of floats that follow. A test pins it to the installed FAISS byte for byte.
FLAT_IP_HEADER = struct.Struct("<4siqqq?iQ")


def flat_ip_header(dim: int, rows: int) -> bytes:
    return FLAT_IP_HEADER.pack(b"IxFI", dim, rows, 1 << 20, 1 << 20, True, 0, rows * dim)




def index_payload_size(count: int, dim: int) -> int:
    return FLAT_IP_HEADER.size + count * dim * 4


@dataclass(frozen=True)
class PreparedIndex:
    """A set's files written to temp paths, not yet visible (None: could not be written)."""

    tmp_path: Path | None  # the FAISS index of unit rows
    rows_tmp_path: Path | None = None  # the stored rows, raw float32


class _TempFile:
    """One file being streamed; on any OS error it is dropped (the files are caches)."""

    def __init__(self, path: Path, head: bytes = b"") -> None:
        self.path: Path | None = path
        self.file: BinaryIO | None = None
        try:
            self.file = create_exclusive(path)  # never through a symlink planted at the name
            self.file.write(head)
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
    """Streams a set's rows into its two derived files beside the store while an import
    runs: the FAISS ``IndexFlatIP`` of its unit rows, and a raw float32 copy of its rows.

    An import writes them block by block as the rows arrive, instead of building a FAISS
    index in memory and writing it at the end: the import holds no copy of the matrix.
    The row count in the index header is filled in, and each file's checksum footer
    appended, by :meth:`finish`. The raw copy lets a matrix read just the rows it needs
    (a mapping, not 1 MiB chunks). Both are caches: if they cannot be written, queries
    rebuild the index and matrices read the stored chunks.
    """

    def __init__(self, folder: Path, uid: str, dim: int) -> None:
        self.dim = dim
        self.rows = 0
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
        self._index = _TempFile(temp_path(folder / f"{uid}.faiss"), flat_ip_header(dim, 0))
        self._raw = _TempFile(temp_path(folder / f"{uid}.rows"))

    def add(self, unit_rows: np.ndarray, rows: np.ndarray) -> None:
        """Append rows: unit length (for the index) and as stored (for the raw copy)."""
        self.rows += len(unit_rows)
        self._index.run(lambda f: f.write(_bytes_of(unit_rows)))
        self._raw.run(lambda f: f.write(_bytes_of(rows)))

    def replace(self, row: int, unit_row: np.ndarray, stored_row: np.ndarray) -> None:
        """Overwrite one row already added (a repeated word given its newest vector)."""
        at = row * self.dim * 4
        self._index.run(lambda f: (f.flush(), os.pwrite(f.fileno(), _bytes_of(unit_row), FLAT_IP_HEADER.size + at)))
        self._raw.run(lambda f: (f.flush(), os.pwrite(f.fileno(), _bytes_of(stored_row), at)))

    def finish(self, info: SetInfo) -> PreparedIndex:
        """Write the final index header, close both files and bind them to ``info``."""
        header = flat_ip_header(self.dim, self.rows)
        self._index.run(lambda f: (f.flush(), os.pwrite(f.fileno(), header, 0)))
        rows = rows_layout(info.uid, info.rows_per_chunk, info.dim)
        return PreparedIndex(self._index.close(index_layout(), info), self._raw.close(rows, info))

    def abandon(self) -> None:
        """Delete the temp files (the import failed)."""
        self._index.drop()
        self._raw.drop()


def _bytes_of(rows: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(rows, dtype="<f4")).cast("B")


_DERIVED = re.compile(r"^(?P<uid>[0-9a-f]{32})\.(?:faiss|rows|json)$")


class IndexFolder:
    """The folder of derived files (indexes, raw row copies, manifests) of one store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def paths(self, uid: str) -> tuple[Path, Path]:
        return self.folder / f"{uid}.faiss", self.folder / f"{uid}.json"

    def rows_path(self, uid: str) -> Path:
        return self.folder / f"{uid}.rows"

    def files_of(self, uid: str) -> list[Path]:
        return [*self.paths(uid), self.rows_path(uid)]

    def manifest_for(self, info: SetInfo, file_size: int, rows_file_size: int | None = None) -> dict[str, object]:
        # (No FAISS version: importing FAISS would cost an import 60 ms, and the file is
        # checked by loading it anyway.)
        return {"set_uid": info.uid, "set_name": info.name, "rows": info.count, "dim": info.dim,
                "content_checksum": info.content_checksum, "index": INDEX_KIND, "file_size": file_size,
                "rows_file_size": rows_file_size}

    def manifest_bytes(self, info: SetInfo, file_size: int, rows_file_size: int | None) -> bytes:
        """The manifest file's exact bytes (``check`` compares them byte for byte)."""
        return json.dumps(self.manifest_for(info, file_size, rows_file_size), indent=1).encode()

    def manifest(self, info: SetInfo) -> dict[str, object] | None:
        """The manifest of ``info``'s files if it describes this very set, else None."""
        _, manifest_path = self.paths(info.uid)
        try:
            with open_regular(manifest_path) as f:
                manifest = json.loads(f.read(1 << 20).decode("utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        expected = {"set_uid": info.uid, "rows": info.count, "dim": info.dim,
                    "content_checksum": info.content_checksum, "index": INDEX_KIND}
        if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expected.items()):
            log.info("the derived files of %s are stale (manifest %s)", info.name, manifest_path)
            return None
        return manifest

    def open_index_file(self, info: SetInfo) -> VerifiedFile:
        """The index file of ``info``, its footer checked (cheap); raises DerivedFileError."""
        index_path, _ = self.paths(info.uid)
        return VerifiedFile(index_path, index_layout(), info.uid, info.content_checksum,
                            index_payload_size(info.count, info.dim))

    def load(self, info: SetInfo) -> faiss.Index | None:
        """The persisted index of ``info`` if its manifest, footer and every block check
        out, else None (the caller rebuilds it).

        Every block is verified, not just the footer: an exact search reads every row
        anyway, and a row changed on disk would otherwise change answers silently.
        """
        index_path, _ = self.paths(info.uid)
        if self.manifest(info) is None:
            return None
        try:
            verified = self.open_index_file(info)
            try:
                verified.verify()
            finally:
                verified.close()
        except DerivedFileError as exc:
            log.warning("not using the index of %s: %s; rebuilding it", info.name, exc)
            return None
        import faiss

        try:
            # Map the file instead of reading it: opening costs milliseconds, not a copy.
            index = faiss.read_index(str(index_path), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))
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
            expected = np.array([int(c, 16) for c in chunk_checksums], dtype="<u8")
            return VerifiedFile(self.rows_path(info.uid), rows_layout(info.uid, info.rows_per_chunk, info.dim),
                                info.uid, info.content_checksum, info.count * info.dim * 4, expected)
        except DerivedFileError as exc:
            log.warning("not using the raw rows of %s: %s", info.name, exc)
            return None

    def save(self, info: SetInfo, unit_vectors: np.ndarray, rows: np.ndarray) -> faiss.Index:
        """Build the index of ``info`` from its unit rows, persist it (and the raw rows) with
        its manifest, return it."""
        import faiss

        self.reclaim()
        writer = self.writer(info.uid, info.dim)
        writer.add(unit_vectors, rows)
        self.publish(info, writer.finish(info))
        index = faiss.IndexFlatIP(info.dim)
        index.add(unit_vectors)
        return index

    def writer(self, uid: str, dim: int) -> IndexFileWriter:
        """Temp files for set ``uid``, filled as rows arrive and published after the commit."""
        return IndexFileWriter(self.folder, uid, dim)

    def publish(self, info: SetInfo, prepared: PreparedIndex) -> None:
        """Move the prepared files into place, then the manifest (which makes them usable)."""
        if prepared.tmp_path is None:
            if prepared.rows_tmp_path is not None:
                prepared.rows_tmp_path.unlink(missing_ok=True)
            return
        index_path, manifest_path = self.paths(info.uid)
        tmp_manifest = temp_path(manifest_path)
        try:
            manifest_path.unlink(missing_ok=True)  # (files are replaced before a manifest vouches for them)
            size = prepared.tmp_path.stat().st_size
            prepared.tmp_path.replace(index_path)
            rows_size = None
            if prepared.rows_tmp_path is not None:
                rows_size = prepared.rows_tmp_path.stat().st_size
                prepared.rows_tmp_path.replace(self.rows_path(info.uid))
            with create_exclusive(tmp_manifest) as f:
                f.write(self.manifest_bytes(info, size, rows_size))
            tmp_manifest.replace(manifest_path)
        except OSError as exc:
            log.warning("cannot persist the index of %s in %s: %s", info.name, self.folder, exc)
            for leftover in (prepared.tmp_path, prepared.rows_tmp_path, tmp_manifest):
                if leftover is not None:
                    with contextlib.suppress(OSError):
                        leftover.unlink(missing_ok=True)

    def discard(self, uid: str) -> None:
        for path in self.files_of(uid):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    def reclaim(self) -> list[Path]:
        """Remove the temp files of writers that died (see :func:`vecstore.files.reclaim_temp_files`)."""
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
