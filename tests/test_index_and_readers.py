"""Persisted indexes are checked against their manifest; both store readers agree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_lines

from vecstore import Store
from vecstore.cosine import normalized
from vecstore.integrity import TRAILER_BYTES
from vecstore.io.readers import ReadOptions
from vecstore.query import EmbeddingSet
from vecstore.storage.catalog import Catalog
from vecstore.storage.engine import EngineDriver
from vecstore.storage.sqlite import SqliteDriver

rng = np.random.default_rng(7)
LINES = [f"w{i} " + " ".join(f"{x:.6g}" for x in row) for i, row in enumerate(rng.normal(size=(300, 8)).tolist())]
VECTORS = np.array([line.split()[1:] for line in LINES], dtype=np.float32)


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Store:
    s = Store(tmp_path / "s.db") if backend == "sqlite" else Store()  # (the default: a server database)
    s.import_file(write_lines(tmp_path / "w.txt", LINES), "w")
    return s


def index_files(store: Store) -> tuple[Path, Path]:
    """The exact index's data (the raw rows: the rows kind has no file of its own) and the manifest."""
    uid = store.get("w").info.uid
    return store.indexes.rows_path(uid), store.indexes.paths(uid)[1]


def persisted(store: Store):
    """The exact index as the derived files give it (None: they would be rebuilt)."""
    return store.get("w")._persisted_index()


def fresh_neighbours(store: Store) -> list[str]:
    return [h.word for h in Store(store.location.url).get("w").neighbours("w0", k=5)]


@pytest.mark.parametrize("duplicates", ["first", "last"])
def test_streamed_index_file_is_what_faiss_writes(tmp_path: Path, duplicates: str) -> None:
    # The import writes the raw rows, block by block (and patches rows for --duplicates
    # last): byte for byte the stored rows, the exact search's data, with no second copy.
    # A folder of the legacy flat kind writes the IndexFlatIP file itself: byte for byte
    # the file FAISS writes for those rows.
    import faiss

    from vecstore.index.flat import FlatIndex
    from vecstore.index.folder import IndexFolder

    lines = [*LINES, *(f"w{i} " + " ".join(["0.5"] * 8) for i in (3, 150, 299))]
    expected_rows = VECTORS.copy()
    if duplicates == "last":
        expected_rows[[3, 150, 299]] = 0.5
    for folder_kind in (None, FlatIndex()):
        s = Store(tmp_path / f"s-{folder_kind is None}.db")
        if folder_kind is not None:
            s.indexes = IndexFolder(s.location.index_dir, folder_kind)
        s.import_file(write_lines(tmp_path / "d.txt", lines), "w",
                      options=ReadOptions(duplicates=duplicates))  # type: ignore[arg-type]
        embedding_set = s.get("w")
        assert np.array_equal(embedding_set.matrix(), expected_rows)
        assert payload(s.indexes.rows_path(embedding_set.info.uid)) == expected_rows.astype("<f4").tobytes()
        index_path, _ = s.indexes.paths(embedding_set.info.uid)
        if folder_kind is None:
            assert not index_path.exists()
            continue
        reference = faiss.IndexFlatIP(8)
        reference.add(normalized(expected_rows))
        faiss.write_index(reference, str(tmp_path / "reference.faiss"))
        assert payload(index_path) == (tmp_path / "reference.faiss").read_bytes()


def rows_file(store: Store, info):
    """The set's raw rows file as a query opens it (checked against the stored chunks' checksums)."""
    checksums, _ = store.open().chunk_checksums(info.id)
    return store.indexes.rows(info, [checksums[n] for n in sorted(checksums)])


def payload(path: Path) -> bytes:
    """A derived file without its checksum footer (which FAISS ignores)."""
    data = path.read_bytes()
    assert data.endswith(b"VSFOOTER")
    blocks = int.from_bytes(data[-24:-16], "little")
    return data[:len(data) - blocks * 8 - TRAILER_BYTES]


@pytest.mark.both_backends
@pytest.mark.parametrize("damage", ["delete", "truncate", "another set's file", "a flipped byte"])
def test_a_missing_stale_or_altered_raw_copy_is_never_used(store: Store, tmp_path: Path, damage: str) -> None:
    info = store.get("w").info
    rows_path = store.indexes.rows_path(info.uid)
    assert rows_file(store, info) is not None
    if damage == "delete":
        rows_path.unlink()
    elif damage == "truncate":
        rows_path.write_bytes(rows_path.read_bytes()[:-4])
    elif damage == "another set's file":  # same shape, other numbers
        store.import_file(write_lines(tmp_path / "v.txt", [f"v{i} " + " ".join(["0.5"] * 8) for i in range(300)]),
                          "v")
        rows_path.write_bytes(store.indexes.rows_path(store.get("v").info.uid).read_bytes())
    else:
        data = bytearray(rows_path.read_bytes())
        data[299 * 8 * 4 + 1] ^= 0x40  # a value of row 299
        rows_path.write_bytes(bytes(data))
    if damage != "a flipped byte":
        assert rows_file(store, info) is None  # refused on open (footer: size, set uid, content)
    fresh = Store(store.location.url).get("w")
    assert np.array_equal(fresh.vectors_of_rows([299, 0, 5]), VECTORS[[299, 0, 5]])  # from the chunks
    assert np.array_equal(fresh.vector("w299"), VECTORS[299])


def test_an_unwritable_index_folder_costs_a_rebuild_not_the_import(tmp_path: Path) -> None:
    s = Store(tmp_path / "s.db")
    s.indexes.folder.parent.mkdir(parents=True, exist_ok=True)
    s.indexes.folder.write_text("not a folder")  # so no index file can be created in it
    s.import_file(write_lines(tmp_path / "w.txt", LINES), "w")
    assert [h.word for h in s.get("w").neighbours("w0", k=3)] == [
        h.word for h in Store(tmp_path / "s.db").get("w").neighbours("w0", k=3)]
    assert s.get("w").similarity("w1", "w1") == pytest.approx(1.0)
    assert not [p.name for p in tmp_path.iterdir() if ".tmp" in p.name or p.suffix == ".faiss"]


@pytest.mark.both_backends
def test_import_persists_index_and_manifest(store: Store) -> None:
    index_path, manifest_path = index_files(store)
    manifest = json.loads(manifest_path.read_text())
    info = store.get("w").info
    assert manifest["rows"] == 300 and manifest["dim"] == 8
    assert manifest["content_checksum"] == info.content_checksum and manifest["set_uid"] == info.uid
    assert manifest["index"] == "rows/cosine" and manifest["file_size"] is None
    assert manifest["rows_file_size"] == index_path.stat().st_size
    assert not store.indexes.paths(info.uid)[0].exists()  # (no second copy of the rows)
    assert persisted(store) is not None


@pytest.mark.parametrize("damage", ["delete index", "delete manifest", "truncate index", "wrong rows",
                                    "wrong content checksum"])
@pytest.mark.both_backends
def test_stale_or_missing_index_is_rebuilt_not_used(store: Store, damage: str) -> None:
    expected = fresh_neighbours(store)
    index_path, manifest_path = index_files(store)
    manifest = json.loads(manifest_path.read_text())
    if damage == "delete index":
        index_path.unlink()
    elif damage == "delete manifest":
        manifest_path.unlink()
    elif damage == "truncate index":
        index_path.write_bytes(index_path.read_bytes()[:1000])
    elif damage == "wrong rows":
        manifest_path.write_text(json.dumps({**manifest, "rows": 299}))
    elif damage == "wrong content checksum":
        manifest_path.write_text(json.dumps({**manifest, "content_checksum": "0" * 32}))
    assert persisted(store) is None
    assert fresh_neighbours(store) == expected  # rebuilt from the stored vectors ...
    assert persisted(store) is not None  # ... and persisted again
    assert json.loads(manifest_path.read_text()) == manifest | {"rows_file_size": index_path.stat().st_size}


@pytest.mark.both_backends
def test_replacing_a_set_never_reuses_the_old_index(store: Store, tmp_path: Path) -> None:
    old_index, _ = index_files(store)
    # Same words and shape, other vectors: only the per-import uid tells the indexes apart.
    shuffled = [line.split(" ", 1)[0] + " " + other.split(" ", 1)[1]
                for line, other in zip(LINES, LINES[::-1], strict=True)]
    store.import_file(write_lines(tmp_path / "v.txt", shuffled), "w", replace=True)
    new_index, _ = index_files(store)
    assert not old_index.exists() and new_index.exists() and new_index != old_index
    reversed_unit = VECTORS[::-1] / np.linalg.norm(VECTORS[::-1], axis=1, keepdims=True)
    sims = reversed_unit @ reversed_unit[0]
    sims[0] = -np.inf
    assert Store(store.location.url).get("w").neighbours("w0", k=1)[0].word == f"w{int(np.argmax(sims))}"


@pytest.mark.both_backends
def test_remove_deletes_the_index(store: Store) -> None:
    index_path, manifest_path = index_files(store)
    store.remove("w")
    assert not index_path.exists() and not manifest_path.exists()


def backends(store: Store):
    path = store.location.sqlite_path
    fast = SqliteDriver.open_if_current(path)
    assert fast is not None
    return {"sqlite3": Catalog(fast), "sqlalchemy": Catalog(EngineDriver(store.location))}


def test_both_readers_return_the_same_sets_words_and_vectors(store: Store) -> None:
    results = {}
    for name, catalog in backends(store).items():
        (info,) = catalog.list_sets()
        assert catalog.find_set("w") == info and catalog.find_set("nope") is None
        embedding_set = EmbeddingSet(info, catalog, store.indexes)
        results[name] = (info, embedding_set.words, embedding_set.matrix(),
                         embedding_set.vectors_of_rows([299, 0, 150]), catalog.vector_chunks(info.id, [0]))
        catalog.close()
    fast, orm = results["sqlite3"], results["sqlalchemy"]
    assert fast[0] == orm[0] and fast[1] == orm[1] == [f"w{i}" for i in range(300)]
    assert np.array_equal(fast[2], VECTORS) and np.array_equal(orm[2], VECTORS)
    assert np.array_equal(fast[3], VECTORS[[299, 0, 150]]) and np.array_equal(orm[3], fast[3])
    assert fast[4] == orm[4]


@pytest.mark.parametrize("writer", ["sqlite3", "sqlalchemy"])
def test_what_either_backend_writes_the_other_reads(tmp_path: Path, writer: str) -> None:
    from vecstore.importer import write_set
    from vecstore.storage.records import SetHeader

    store = Store(tmp_path / "s.db")
    store.upgrade()
    chosen = backends(store)
    words = [f"w{i}" for i in range(300)]
    header = SetHeader("w", 8, "glove", "test")
    info, _ = write_set(chosen[writer], store.indexes, header, [(words, VECTORS)], lambda: "0" * 64)
    reader = chosen["sqlalchemy" if writer == "sqlite3" else "sqlite3"]
    assert reader.find_set("w") == info
    assert np.array_equal(EmbeddingSet(info, reader, store.indexes).matrix(), VECTORS)
    assert EmbeddingSet(info, reader, store.indexes).words == words
    assert store.check().ok
    again, replaced_info = write_set(chosen[writer], store.indexes, header, [(["a"], VECTORS[:1])],
                                     lambda: "1" * 64, replace=True)
    assert replaced_info == info
    (replaced,) = reader.list_sets()
    assert replaced == again and replaced.count == 1 and replaced.source_sha256 == "1" * 64
    assert chosen[writer].delete_set("w") == replaced
    assert reader.list_sets() == [] and reader.word_chunks(replaced.id) == []
    assert reader.vector_chunks(replaced.id) == []
    for backend in chosen.values():
        backend.close()


def test_a_word_is_found_in_any_place_of_any_chunk() -> None:
    """A lookup searches each word chunk by itself: the first, a middle and the last word
    of every chunk (and of a chunk of one word) give their row; a word's prefix, suffix,
    or two words run together across a chunk boundary are not words."""
    from vecstore.set_words import SetWords

    words = ["a", "ab", "abc", "b", "bc", "c", "cab", "d", "x"]  # chunks of 4: ... and ["x"]
    chunks = [b"\n".join(w.encode() for w in words[at:at + 4]) for at in range(0, len(words), 4)]
    for row, word in enumerate(words):
        assert SetWords(chunks, len(words), 4).row(word) == row, word
    for absent in ("", "ca", "bcc", "abc\nb", "cd", "dx", "xx", "é"):
        assert SetWords(chunks, len(words), 4).row(absent) is None, absent
