"""The exact cosine FAISS index of each set, persisted beside the store.

An index is ``<uid>.faiss`` plus a manifest ``<uid>.json`` recording what it was built
from (set uid, rows, dim, source sha256, file size). It is used only when the manifest
matches the set's row in the store and the loaded index has the right shape; otherwise
it is rebuilt from the stored vectors and written atomically (temp file + rename), so a
stale, truncated or missing index is never used. The index holds L2-normalised rows in
an ``IndexFlatIP``: inner product of unit vectors is cosine similarity, exactly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from vecstore.catalog import SetInfo

if TYPE_CHECKING:
    import faiss

log = logging.getLogger("vecstore")

INDEX_KIND = "IndexFlatIP/cosine"


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows (all-zero rows stay zero).

    Squared norms are summed in float32 (fast); rows whose sum overflows (values beyond
    about 1e19) or underflows to zero while not zero are redone in float64.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    flat = vectors.reshape(-1, vectors.shape[-1])
    with np.errstate(over="ignore", under="ignore"):
        norms = np.sqrt(np.einsum("ij,ij->i", flat, flat))
    unsafe = ~np.isfinite(norms)
    tiny = np.flatnonzero(norms < 1e-18)  # zero rows, or rows whose squares underflowed
    if tiny.size:
        unsafe[tiny] = flat[tiny].any(axis=1)
    if unsafe.any():
        wide = flat[unsafe].astype(np.float64)
        norms[unsafe] = np.linalg.norm(wide, axis=1)  # (the division below uses these float64 norms)
        out = flat / np.where(norms == 0, 1.0, norms)[:, None]
        out[unsafe] = (wide / np.linalg.norm(wide, axis=1, keepdims=True)).astype(np.float32)
    else:
        norms[norms == 0] = 1.0
        out = flat / norms[:, None]
    return np.ascontiguousarray(out, dtype=np.float32).reshape(vectors.shape)


#: The header of a FAISS ``IndexFlatIP`` file, as ``faiss.write_index`` writes it: fourcc,
#: d, ntotal, two unused int64, is_trained, metric type (0 = inner product), then the
#: number of floats that follow. A test pins it to the installed FAISS byte for byte.
_FLAT_IP_HEADER = struct.Struct("<4siqqq?iQ")


def _flat_ip_header(dim: int, rows: int) -> bytes:
    return _FLAT_IP_HEADER.pack(b"IxFI", dim, rows, 1 << 20, 1 << 20, True, 0, rows * dim)


@dataclass(frozen=True)
class PreparedIndex:
    """An index file written to a temp path, not yet visible (None if it could not be written)."""

    tmp_path: Path | None


class IndexFileWriter:
    """Streams unit rows into a FAISS ``IndexFlatIP`` file while an import runs.

    An import writes its index block by block as the rows arrive, instead of building a
    FAISS index in memory and writing it at the end: the import holds no copy of the
    matrix, and nothing is left to write after the last block. The row count in the
    header is filled in by :meth:`finish`. If the folder cannot be written the writer
    does nothing: the index is a cache, which the first query rebuilds.
    """

    def __init__(self, folder: Path, uid: str, dim: int) -> None:
        self.dim = dim
        self.rows = 0
        self.tmp_path: Path | None = folder / f"{uid}.faiss.{os.getpid()}.tmp"
        self._file: BinaryIO | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._file = open(self.tmp_path, "wb")  # noqa: SIM115 (closed by finish/abandon)
            self._file.write(_flat_ip_header(dim, 0))
        except OSError as exc:
            log.warning("cannot persist an index in %s: %s", folder, exc)
            self._drop()

    def add(self, unit_rows: np.ndarray) -> None:
        """Append rows (float32, already unit length)."""
        self.rows += len(unit_rows)
        if self._file is not None:
            self._guarded(lambda f: f.write(memoryview(np.ascontiguousarray(unit_rows, dtype="<f4")).cast("B")))

    def replace(self, row: int, unit_row: np.ndarray) -> None:
        """Overwrite one row already added (a repeated word given its newest vector)."""
        if self._file is not None:
            offset = _FLAT_IP_HEADER.size + row * self.dim * 4
            data = np.ascontiguousarray(unit_row, dtype="<f4").tobytes()
            self._guarded(lambda f: os.pwrite(f.fileno(), data, offset))

    def finish(self) -> PreparedIndex:
        """Write the final header and close the file."""
        if self._file is not None:
            header = _flat_ip_header(self.dim, self.rows)

            def complete(f: BinaryIO) -> None:
                f.flush()
                os.pwrite(f.fileno(), header, 0)
                f.close()

            self._guarded(complete)
            self._file = None
        return PreparedIndex(self.tmp_path)

    def abandon(self) -> None:
        """Close and delete the temp file (the import failed)."""
        if self._file is not None:
            self._file.close()
        self._drop()

    def _guarded(self, action: Callable[[BinaryIO], object]) -> None:
        assert self._file is not None
        try:
            action(self._file)
        except OSError as exc:  # a full disk costs a rebuild later, not the import
            log.warning("cannot persist an index at %s: %s", self.tmp_path, exc)
            self._file.close()
            self._drop()

    def _drop(self) -> None:
        self._file = None
        if self.tmp_path is not None:
            with contextlib.suppress(OSError):
                self.tmp_path.unlink(missing_ok=True)
        self.tmp_path = None


class IndexFolder:
    """The folder of persisted indexes of one store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def paths(self, uid: str) -> tuple[Path, Path]:
        return self.folder / f"{uid}.faiss", self.folder / f"{uid}.json"

    def manifest_for(self, info: SetInfo, file_size: int) -> dict[str, object]:
        # (No FAISS version: importing FAISS would cost an import 60 ms, and the file is
        # checked by loading it anyway.)
        return {"set_uid": info.uid, "set_name": info.name, "rows": info.count, "dim": info.dim,
                "source_sha256": info.source_sha256, "index": INDEX_KIND, "file_size": file_size}

    def load(self, info: SetInfo) -> faiss.Index | None:
        """The persisted index of ``info`` if its manifest and shape match, else None."""
        index_path, manifest_path = self.paths(info.uid)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            size = index_path.stat().st_size
        except (OSError, ValueError):
            return None
        expected = {"set_uid": info.uid, "rows": info.count, "dim": info.dim,
                    "source_sha256": info.source_sha256, "index": INDEX_KIND, "file_size": size}
        if any(manifest.get(k) != v for k, v in expected.items()):
            log.info("index of %s is stale (manifest %s)", info.name, manifest_path)
            return None
        import faiss

        try:
            # Map the file instead of reading it: opening costs milliseconds, not a copy.
            index = faiss.read_index(str(index_path), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))
        except RuntimeError:
            log.info("index of %s cannot be read; rebuilding", info.name)
            return None
        if index.ntotal != info.count or index.d != info.dim:
            return None
        return index

    def save(self, info: SetInfo, unit_vectors: np.ndarray) -> faiss.Index:
        """Build the index of ``info`` from its unit rows, persist it with its manifest, return it."""
        import faiss

        writer = self.writer(info.uid, info.dim)
        writer.add(unit_vectors)
        self.publish(info, writer.finish())
        index = faiss.IndexFlatIP(info.dim)
        index.add(unit_vectors)
        return index

    def writer(self, uid: str, dim: int) -> IndexFileWriter:
        """A temp index file for set ``uid``, filled as rows arrive and published after the commit."""
        return IndexFileWriter(self.folder, uid, dim)

    def publish(self, info: SetInfo, prepared: PreparedIndex) -> None:
        """Move a prepared index into place, then its manifest (which makes it usable)."""
        if prepared.tmp_path is None:
            return
        index_path, manifest_path = self.paths(info.uid)
        try:
            size = prepared.tmp_path.stat().st_size
            prepared.tmp_path.replace(index_path)
            tmp_manifest = manifest_path.with_name(manifest_path.name + f".{os.getpid()}.tmp")
            tmp_manifest.write_text(json.dumps(self.manifest_for(info, size), indent=1), encoding="utf-8")
            tmp_manifest.replace(manifest_path)
        except OSError as exc:
            log.warning("cannot persist the index of %s in %s: %s", info.name, self.folder, exc)

    def discard(self, uid: str) -> None:
        for path in self.paths(uid):
            path.unlink(missing_ok=True)
