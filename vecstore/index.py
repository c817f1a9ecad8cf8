"""The exact cosine FAISS index of each set, persisted beside the store.

An index is ``<uid>.faiss`` plus a manifest ``<uid>.json`` recording what it was built
from (set uid, rows, dim, source sha256, file size). It is used only when the manifest
matches the set's row in the store and the loaded index has the right shape; otherwise
it is rebuilt from the stored vectors and written atomically (temp file + rename), so a
stale, truncated or missing index is never used. The index holds L2-normalised rows in
an ``IndexFlatIP``: inner product of unit vectors is cosine similarity, exactly.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
    unsafe = ~np.isfinite(norms) | ((norms < 1e-18) & flat.any(axis=1))
    if unsafe.any():
        wide = flat[unsafe].astype(np.float64)
        norms[unsafe] = np.linalg.norm(wide, axis=1)  # (the division below uses these float64 norms)
        out = flat / np.where(norms == 0, 1.0, norms)[:, None]
        out[unsafe] = (wide / np.linalg.norm(wide, axis=1, keepdims=True)).astype(np.float32)
    else:
        norms[norms == 0] = 1.0
        out = flat / norms[:, None]
    return np.ascontiguousarray(out, dtype=np.float32).reshape(vectors.shape)


@dataclass(frozen=True)
class PreparedIndex:
    """A built index and the temp file it was written to (None if it could not be written)."""

    index: faiss.Index
    tmp_path: Path | None


class IndexFolder:
    """The folder of persisted indexes of one store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def paths(self, uid: str) -> tuple[Path, Path]:
        return self.folder / f"{uid}.faiss", self.folder / f"{uid}.json"

    def manifest_for(self, info: SetInfo, file_size: int) -> dict[str, object]:
        import faiss

        return {"set_uid": info.uid, "set_name": info.name, "rows": info.count, "dim": info.dim,
                "source_sha256": info.source_sha256, "index": INDEX_KIND, "file_size": file_size,
                "faiss_version": faiss.__version__}

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
        """Build the index of ``info`` from its unit rows and persist it with its manifest."""
        prepared = self.prepare(info.uid, unit_vectors)
        self.publish(info, prepared)
        return prepared.index

    def prepare(self, uid: str, unit_vectors: np.ndarray) -> PreparedIndex:
        """Build an index and write it to a temp file, not yet visible (see :meth:`publish`).

        An import prepares the index while the database transaction is written (FAISS and
        SQLite both release the GIL) and publishes it only after the commit.
        """
        import faiss

        index = faiss.IndexFlatIP(unit_vectors.shape[1])
        index.add(unit_vectors)
        return self.prepare_built(uid, index)

    def prepare_built(self, uid: str, index: faiss.Index) -> PreparedIndex:
        """Write an index built elsewhere (an import builds it block by block) to a temp file."""
        import faiss

        tmp = self.folder / f"{uid}.faiss.{os.getpid()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            faiss.write_index(index, str(tmp))
        except (OSError, RuntimeError) as exc:
            # The index is a cache: a read-only folder costs a rebuild per process, not a failure.
            log.warning("cannot persist an index in %s: %s", self.folder, exc)
            return PreparedIndex(index, None)
        return PreparedIndex(index, tmp)

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

    def abandon(self, prepared: PreparedIndex) -> None:
        if prepared.tmp_path is not None:
            prepared.tmp_path.unlink(missing_ok=True)

    def discard(self, uid: str) -> None:
        for path in self.paths(uid):
            path.unlink(missing_ok=True)
