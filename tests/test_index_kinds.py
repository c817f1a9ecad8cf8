"""Adding an index kind is one class: a kind written here, in the test, and listed in
``vecstore.index.KINDS``, is built by imports, persisted with its manifest and footer,
loaded, searched, checked and repaired, and a store whose folder builds flat indexes
still uses it, all without a change to any other module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import faiss
import numpy as np
import pytest
import xxhash
from conftest import write_lines

import vecstore.index
from vecstore import Store
from vecstore.cosine import normalized
from vecstore.index.folder import IndexFolder
from vecstore.integrity import BLOCK_BYTES, Layout

RNG = np.random.default_rng(9)
VECTORS = RNG.normal(size=(400, 16)).astype(np.float32)
LINES = [f"w{i} " + " ".join(f"{v:.6f}" for v in row) for i, row in enumerate(VECTORS)]


class HnswIndex:
    """An approximate kind: FAISS HNSW over the unit rows, built once every row is in."""

    name = "IndexHNSWFlat/cosine"
    params: ClassVar[dict[str, Any]] = {"M": 16}
    rows_offset = None  # (a graph, not the rows verbatim)

    def layout(self) -> Layout:
        return Layout("faiss-hnsw-test", BLOCK_BYTES, lambda data, _number: xxhash.xxh3_64_intdigest(data))

    def head(self, dim: int, rows: int) -> bytes:
        return b""

    def payload_size(self, count: int, dim: int) -> None:
        return None

    def writer(self, file: BinaryIO, dim: int) -> _HnswWriter:
        return _HnswWriter(self, file, dim)

    def load(self, path: Path) -> faiss.Index:
        return faiss.read_index(str(path))

    def build(self, unit_rows: np.ndarray) -> faiss.Index:
        index = faiss.IndexHNSWFlat(unit_rows.shape[1], self.params["M"], faiss.METRIC_INNER_PRODUCT)
        index.add(unit_rows)
        return index


class _HnswWriter:
    def __init__(self, kind: HnswIndex, file: BinaryIO, dim: int) -> None:
        self.kind, self.file, self.parts = kind, file, []

    def add(self, unit_rows: np.ndarray) -> None:
        self.parts.append(np.array(unit_rows, dtype=np.float32))

    def replace(self, row: int, unit_row: np.ndarray) -> None:
        whole = np.concatenate(self.parts)
        whole[row] = unit_row
        self.parts = [whole]

    def finish(self, rows: int) -> None:
        self.file.write(faiss.serialize_index(self.kind.build(np.concatenate(self.parts))).tobytes())


@pytest.fixture
def hnsw(monkeypatch: pytest.MonkeyPatch) -> HnswIndex:
    kind = HnswIndex()
    monkeypatch.setitem(vecstore.index.KINDS, kind.name, kind)
    return kind


def hnsw_store(path: Path, kind: HnswIndex) -> Store:
    store = Store(path)
    store.indexes = IndexFolder(store.location.index_dir, kind)
    return store


def test_a_kind_written_as_one_class_is_built_searched_and_checked(tmp_path: Path, hnsw: HnswIndex) -> None:
    path = tmp_path / "s.db"
    store = hnsw_store(path, hnsw)
    store.import_file(write_lines(tmp_path / "w.txt", LINES), "w")
    manifest = json.loads(store.indexes.paths(store.get("w").info.uid)[1].read_text())
    assert manifest["index"] == "IndexHNSWFlat/cosine" and manifest["params"] == {"M": 16}
    assert isinstance(store.indexes.load(store.get("w").info), faiss.IndexHNSWFlat)
    unit = normalized(VECTORS)
    for row in (0, 17, 399):
        scores = unit @ unit[row]
        scores[row] = -np.inf
        hit = store.get("w").neighbours(f"w{row}", k=1)[0]
        assert hit.word == f"w{int(np.argmax(scores))}" and hit.score == pytest.approx(float(scores.max()), abs=1e-5)
    assert store.check().ok

    # A store whose folder builds flat indexes uses the HNSW files as they are: the manifest says their kind.
    flat = Store(path)
    assert isinstance(flat.indexes.load(flat.get("w").info), faiss.IndexHNSWFlat)
    assert flat.check().ok


def test_a_damaged_file_of_the_new_kind_is_found_and_repaired(tmp_path: Path, hnsw: HnswIndex) -> None:
    store = hnsw_store(tmp_path / "s.db", hnsw)
    store.import_file(write_lines(tmp_path / "w.txt", LINES), "w")
    index_path = store.indexes.paths(store.get("w").info.uid)[0]
    data = bytearray(index_path.read_bytes())
    data[200] ^= 0xFF
    index_path.write_bytes(bytes(data))
    assert store.indexes.load(store.get("w").info) is None  # refused, not used
    found = store.check()
    assert not found.ok and any("fails its checksum" in f.message for f in found.findings)
    repaired = store.check(repair=True)
    assert [f.repaired for f in repaired.findings if f.severity == "problem"] == [True]
    assert store.check().ok
    assert store.get("w").neighbours("w1", k=3)
